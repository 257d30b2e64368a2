// tests/nn/test_bert.cpp: the BERT encoder of nn/zoo/bert.hpp on a tiny random configuration (the
// pretrained all-MiniLM-L6-v2 against PyTorch is tests/text/test_minilm.cpp).
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <trustml/nn/zoo/bert.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Td = Tensor<double>;
using Ids = Tensor<std::int64_t>;
using tests::check_error;
namespace zoo = nn::zoo;

namespace {
const zoo::BertConfig kTiny{.vocab_size = 23,
                            .hidden_size = 8,
                            .num_hidden_layers = 2,
                            .num_attention_heads = 2,
                            .intermediate_size = 12,
                            .max_position_embeddings = 16,
                            .type_vocab_size = 2,
                            .layer_norm_eps = 1e-12};

// LayerNorm weights and biases away from 1 and 0, so that the check sees them act.
std::shared_ptr<zoo::BertModel<double>> tiny_model() {
  auto model = std::make_shared<zoo::BertModel<double>>(kTiny, 3);
  NoGradGuard no_grad;
  std::uint64_t seed = 50;
  for (auto& [name, p] : model->named_parameters())
    if (name.ends_with("LayerNorm.weight") || name.ends_with("LayerNorm.bias"))
      ops::assign(p, add(p, scale(Td::randn(p.shape(), seed++), 0.3)));
  return model;
}

// Two sequences of 5 and 3 real tokens, padded to 5.
Ids mask_5_3() { return Ids::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, Shape{2, 5}); }
}  // namespace

TEST_CASE("nn zoo: BertModel has Hugging Face's parameter names") {
  zoo::BertModel<float> model(kTiny);
  std::set<std::string> names;
  for (auto& [name, p] : model.named_parameters()) names.insert(name);
  for (const char* name :
       {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
        "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.key.bias",
        "encoder.layer.1.attention.self.value.weight", "encoder.layer.1.attention.output.dense.weight",
        "encoder.layer.1.attention.output.LayerNorm.bias", "encoder.layer.1.intermediate.dense.weight",
        "encoder.layer.1.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight", "pooler.dense.weight"}) {
    INFO(name);
    CHECK(names.count(name) == 1);
  }
  CHECK(names.size() == 5 + 2 * 16 + 2);  // embeddings, 16 per layer, pooler
  auto index = model.named_index_buffers();
  REQUIRE(index.size() == 1);
  CHECK(index[0].first == "embeddings.position_ids");
  CHECK(index[0].second.shape() == Shape{1, 16});
}

TEST_CASE("nn zoo: BertModel gradients w.r.t. the input embeddings gradcheck in double, with padding") {
  auto owner = tiny_model();
  auto& model = *owner;
  const auto mask = mask_5_3();
  tests::check_grad([&](auto& v) { return model.forward_from_embeddings(v[0], mask); },
                    std::vector{Td::randn({2, 5, 8}, 7)});
  tests::check_grad([&](auto& v) { return model.forward_from_embeddings(v[0]); }, std::vector{Td::randn({1, 4, 8}, 8)});
  // The sentence embedding: masked mean pooling and L2 normalisation.
  tests::check_grad(
      [&](auto& v) { return zoo::l2_normalize(zoo::mean_pool(model.forward_from_embeddings(v[0], mask), mask)); },
      std::vector{Td::randn({2, 5, 8}, 9)});
}

TEST_CASE("nn zoo: padding changes no real token's state, and padded states are zero") {
  auto owner = tiny_model();
  auto& model = *owner;
  NoGradGuard no_grad;
  const auto ids = Ids::from_vector({2, 7, 9, 4, 3, 2, 11, 3, 0, 0}, Shape{2, 5});
  const auto batch = model.encode(ids, mask_5_3());
  const auto alone0 = model.encode(Ids::from_vector({2, 7, 9, 4, 3}, Shape{1, 5}));
  const auto alone1 = model.encode(Ids::from_vector({2, 11, 3}, Shape{1, 3}));
  auto diff = [](const Td& a, const Td& b) { return amax(abs(sub(a, b))).item(); };
  CHECK(diff(slice(batch, 0, 0, 1, 1), alone0) < 1e-12);
  CHECK(diff(slice(slice(batch, 0, 1, 2, 1), 1, 0, 3, 1), alone1) < 1e-12);
  CHECK(amax(abs(slice(slice(batch, 0, 1, 2, 1), 1, 3, 5, 1))).item() == 0.0);
  // A mask of all ones is the same as none.
  CHECK(diff(model.encode(ids, Ids::ones(Shape{2, 5})), model.encode(ids)) == 0.0);
  // Mean pooling counts the real tokens only.
  const auto pooled = zoo::mean_pool(batch, mask_5_3());
  CHECK(diff(slice(pooled, 0, 1, 2, 1), mean(alone1, {1})) < 1e-12);
}

TEST_CASE("nn zoo: BertModel backward reaches every parameter but the pooler") {
  auto owner = tiny_model();
  auto& model = *owner;
  const auto ids = Ids::from_vector({2, 7, 9, 4, 3, 2, 11, 3, 0, 0}, Shape{2, 5});
  sum(mul(model.encode(ids, mask_5_3()), Td::randn({2, 5, 8}, 4))).backward();
  for (auto& [name, p] : model.named_parameters()) {
    INFO(name);
    const bool pooler = name.starts_with("pooler.");
    CHECK(p.grad().defined() != pooler);
  }
  // The pooler: tanh(dense(state of [CLS])).
  auto states = model.encode(ids, mask_5_3());
  auto pooled = model.pooler_output(states);
  CHECK(pooled.shape() == Shape{2, 8});
  CHECK(amax(abs(pooled)).item() < 1.0);
}

TEST_CASE("nn zoo: a frozen BertModel passes gradients to its input embeddings and keeps none itself") {
  auto owner = tiny_model();
  auto& model = *owner;
  model.requires_grad_(false);
  auto inputs = Td::randn({2, 5, 8}, 6);
  inputs.set_requires_grad(true);
  sum(mul(model.forward_from_embeddings(inputs, mask_5_3()), Td::randn({2, 5, 8}, 7))).backward();
  REQUIRE(inputs.grad().defined());
  CHECK(amax(abs(inputs.grad())).item() > 0);
  for (auto& [name, p] : model.named_parameters()) {
    INFO(name);
    CHECK(!p.grad().defined());
  }
  model.requires_grad_(true);  // fine-tuning again
  sum(model.forward_from_embeddings(inputs, mask_5_3())).backward();
  CHECK(model.embeddings->LayerNorm->weight.grad().defined());
}

TEST_CASE("nn zoo: BertModel rejects bad input with the op and the shapes") {
  auto owner = tiny_model();
  auto& model = *owner;
  check_error([&] { model.encode(Ids::zeros(Shape{1, 17})); }, "nn::zoo::BertModel", "longer than the model's 16");
  check_error([&] { model.encode(Ids::zeros(Shape{5})); }, "nn::zoo::BertModel", "[5]");
  check_error([&] { model.encode(Ids::full(Shape{1, 3}, 23)); }, "embedding", "23");
  check_error([&] { model.forward_from_embeddings(Td::zeros(Shape{1, 3, 7})); }, "nn::zoo::BertModel", "[1, 3, 7]");
  check_error(
      [&] {
        model.encode(Ids::zeros(Shape{2, 3}), Ids::ones(Shape{2, 4}));
      },
      "nn::zoo::BertModel", "does not match");
  check_error(
      [&] {
        model.encode(Ids::zeros(Shape{1, 3}), Ids::full(Shape{1, 3}, 2));
      },
      "nn::zoo::BertModel", "0 or 1");
  check_error(
      [&] {
        model.encode(Ids::zeros(Shape{1, 3}), Ids::from_vector({0, 1, 1}, Shape{1, 3}));
      },
      "nn::zoo::BertModel", "first token");
  check_error([] { zoo::BertModel<float>(zoo::BertConfig{.hidden_size = 10, .num_attention_heads = 3}); },
              "nn::zoo::BertModel", "divisible");
}
