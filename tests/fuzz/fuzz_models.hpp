// tests/fuzz/fuzz_models.hpp: the small models that the checkpoint and module-state harnesses load
// into, and that make_seeds.cpp saves to make their seeds (so valid seeds fit them exactly).
#pragma once

#include <memory>

#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/nn/zoo/bert.hpp"
#include "trustml/optim/adam.hpp"

namespace trustml_fuzz {

// Parameters, float buffers (running_mean/var) and an int64 index buffer (num_batches_tracked):
// "0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked", "1.weight", "1.bias".
template <class T>
std::shared_ptr<trustml::nn::Sequential<T>> small_model() {
  return std::make_shared<trustml::nn::Sequential<T>>(std::initializer_list<std::shared_ptr<trustml::nn::Module<T>>>{
      std::make_shared<trustml::nn::BatchNorm2d<T>>(2), std::make_shared<trustml::nn::Linear<T>>(3, 2, true, 1)});
}

// The optimizer of the checkpoint harness.
template <class T>
std::unique_ptr<trustml::optim::Adam<T>> small_optimizer(trustml::nn::Module<T>& model) {
  return std::make_unique<trustml::optim::Adam<T>>(model.parameters(), trustml::optim::AdamOptions{.lr = 1e-2});
}

// A MiniLM-shaped BERT small enough to run per fuzzer input (make_seeds writes its config.json).
inline trustml::nn::zoo::BertConfig tiny_bert_config() {
  trustml::nn::zoo::BertConfig c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  c.type_vocab_size = 2;
  c.layer_norm_eps = 1e-12;
  return c;
}

// The tiny model's vocabulary, 16 tokens (ids are positions).
inline constexpr const char* kTinyVocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the",
                                             "a",     "play",  "##ing", "##s",   ".",      ",",     "!",     "?"};

}  // namespace trustml_fuzz
