// tests/text/test_minilm.cpp: trustml's BERT encoder with the all-MiniLM-L6-v2 weights against
// PyTorch (sentence-transformers and transformers' BertModel, float32, CPU). The reference files in
// tests/text/data were made by scripts/minilm_reference.py; this test needs no PyTorch. Without the
// model files (TRUSTML_MINILM_DIR, set by CMake from scripts/deps.sh's install) it exits 77, which
// CTest reports as Skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <trustml/io/safetensors.hpp>
#include <trustml/text/minilm.hpp>
#include <trustml/trustml.hpp>

namespace {

using trustml::Shape;
using F = trustml::Tensor<float>;
using Ids = trustml::Tensor<std::int64_t>;
namespace zoo = trustml::nn::zoo;
namespace text = trustml::text;

const std::filesystem::path kData = TRUSTML_TEXT_TEST_DATA;

std::filesystem::path model_dir() {
  const char* dir = std::getenv("TRUSTML_MINILM_DIR");
  return dir ? dir : "";
}

struct Reference {
  std::map<std::string, trustml::io::Array> arrays;
  template <class T>
  trustml::Tensor<T> get(const std::string& name) const {
    return trustml::io::to_tensor<T>(arrays.at(name));
  }
};

const Reference& reference() {
  static const Reference ref = [] {
    Reference r;
    for (auto& a : trustml::io::load_safetensors(kData / "minilm_reference.safetensors").arrays) r.arrays[a.name] = a;
    return r;
  }();
  return ref;
}

text::SentenceEncoder<float>& encoder() {
  static text::SentenceEncoder<float> e = text::SentenceEncoder<float>::load(model_dir());
  return e;
}

// The same formulas as scripts/minilm_reference.py.
F projection(std::int64_t hidden = 384, std::int64_t k = 2) {
  std::vector<float> v;
  for (std::int64_t i = 0; i < hidden; ++i)
    for (std::int64_t j = 0; j < k; ++j) v.push_back(float(std::cos(0.37 * double(i) + 1.1 * double(j))));
  return F::from_vector(v, Shape{hidden, k});
}
F weight_pattern(std::int64_t length, std::int64_t hidden = 384) {
  std::vector<float> v;
  for (std::int64_t t = 0; t < length; ++t)
    for (std::int64_t h = 0; h < hidden; ++h)
      v.push_back(float(std::sin(0.05 * double(t * hidden) + 0.013 * double(h))));
  return F::from_vector(v, Shape{length, hidden});
}

// The first `count` lines of the reference sentences (all by default).
std::vector<std::string> read_sentences(std::size_t count = std::numeric_limits<std::size_t>::max()) {
  std::ifstream in(kData / "minilm_sentences.txt");
  std::vector<std::string> sentences;
  for (std::string line; sentences.size() < count && std::getline(in, line);) sentences.push_back(line);
  return sentences;
}

float max_abs(const F& a) { return trustml::amax(trustml::abs(a)).item(); }
float max_abs_diff(const F& a, const F& b) { return max_abs(trustml::sub(a, b)); }

// Rows [start, start + n) of the reference ids, cut to the longest of them, and their mask.
std::pair<Ids, Ids> id_batch(std::int64_t start, std::int64_t n) {
  const auto ids = reference().get<std::int64_t>("ids"), lengths = reference().get<std::int64_t>("lengths");
  const auto len = lengths.to_vector();
  const std::int64_t longest = *std::max_element(len.begin() + start, len.begin() + start + n);
  auto batch = trustml::slice(trustml::slice(ids, 0, start, start + n, 1), 1, 0, longest, 1).contiguous();
  std::vector<std::int64_t> mask;
  for (std::int64_t i = start; i < start + n; ++i)
    for (std::int64_t t = 0; t < longest; ++t) mask.push_back(t < len[std::size_t(i)] ? 1 : 0);
  return {batch, Ids::from_vector(mask, Shape{n, longest})};
}

}  // namespace

TEST_CASE("MiniLM: the tokenizer gives the reference ids of the 200 sentences") {
  const auto sentences = read_sentences();
  REQUIRE(sentences.size() == 200);
  const auto ids = reference().get<std::int64_t>("ids").to_vector();
  const auto lengths = reference().get<std::int64_t>("lengths").to_vector();
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    const auto mine = encoder().tokenizer.encode(sentences[i]);
    const std::vector<std::int64_t> theirs(ids.begin() + std::ptrdiff_t(i * 56),
                                           ids.begin() + std::ptrdiff_t(i * 56 + std::size_t(lengths[i])));
    INFO("sentence ", i, ": ", sentences[i]);
    CHECK(mine == theirs);
  }
}

TEST_CASE("MiniLM: sentence embeddings equal sentence-transformers to 1e-5 (200 sentences, padded batches of 8)") {
  const auto expected = reference().get<float>("sentence_embedding");
  trustml::NoGradGuard no_grad;
  float worst = 0;
  for (std::int64_t start = 0; start < 200; start += 8) {
    auto [ids, mask] = id_batch(start, 8);
    auto got = zoo::l2_normalize(zoo::mean_pool(encoder().model->encode(ids, mask), mask));
    worst = std::max(worst, max_abs_diff(got, trustml::slice(expected, 0, start, start + 8, 1)));
  }
  MESSAGE("sentence embeddings: max abs diff ", worst);
  CHECK(worst <= 1e-5f);
}

TEST_CASE("MiniLM: token states equal BertModel's (full states to 1e-5; every token through a projection)") {
  trustml::NoGradGuard no_grad;
  auto [ids, mask] = id_batch(0, 2);
  const auto full = reference().get<float>("states_batch");
  // Padded positions: zero in trustml, values nothing should read in PyTorch.
  const auto real = trustml::unsqueeze(mask.cast<float>(), 2);
  const float full_diff =
      max_abs_diff(trustml::mul(encoder().model->encode(ids, mask), real), trustml::mul(full, real));
  MESSAGE("token states of sentences 0-1 (real tokens): max abs diff ", full_diff);
  CHECK(full_diff <= 1e-5f);

  // A state error of e moves a projected value by at most e * sum_i |P_ij|: the bound scales 1e-5.
  const auto p = projection();
  const float bound = 1e-5f * trustml::amax(trustml::sum(trustml::abs(p), {0})).item();
  const auto expected = reference().get<float>("state_projection");
  float worst = 0;
  for (std::int64_t start = 0; start < 200; start += 8) {
    auto [batch, m] = id_batch(start, 8);
    auto projected =
        trustml::mul(trustml::matmul(encoder().model->encode(batch, m), p), trustml::unsqueeze(m.cast<float>(), 2));
    auto ref = trustml::slice(trustml::slice(expected, 0, start, start + 8, 1), 1, 0, batch.size(1), 1);
    worst = std::max(worst, max_abs_diff(projected, ref));
  }
  MESSAGE("projected token states of 200 sentences: max abs diff ", worst, " (bound ", bound, ")");
  CHECK(worst <= bound);
}

TEST_CASE("MiniLM: the gradient with respect to the input embeddings equals PyTorch's to 1e-4 relative") {
  auto [ids, mask] = id_batch(0, 2);
  auto& model = *encoder().model;
  auto inputs = model.embed_tokens(ids).detach();
  inputs.set_requires_grad(true);
  auto states = model.forward_from_embeddings(inputs, mask);
  trustml::sum(
      trustml::mul(trustml::mul(states, weight_pattern(ids.size(1))), trustml::unsqueeze(mask.cast<float>(), 2)))
      .backward();
  const auto expected = reference().get<float>("grad_inputs_embeds");
  const float relative = max_abs_diff(inputs.grad(), expected) / max_abs(expected);
  MESSAGE("input-embedding gradient: max abs diff / max abs = ", relative);
  CHECK(relative <= 1e-4f);
  for (auto& p : model.parameters()) p.zero_grad();
}

TEST_CASE("MiniLM: SentenceEncoder::embed pads, batches and normalises as SentenceTransformer.encode") {
  const auto sentences = read_sentences(24);
  trustml::NoGradGuard no_grad;
  auto got = encoder().embed(sentences, 8);
  CHECK(got.shape() == Shape{24, 384});
  CHECK(max_abs_diff(got, trustml::slice(reference().get<float>("sentence_embedding"), 0, 0, 24, 1)) <= 1e-5f);
  // Unit rows; a sentence and a close paraphrase are nearer than an unrelated one.
  auto norms = trustml::sqrt(trustml::sum(trustml::mul(got, got), {1}));
  CHECK(max_abs_diff(norms, F::ones(Shape{24})) <= 1e-5f);
  auto e = encoder().embed({"a pair of trousers", "some pants", "the stock market fell"});
  auto cos = trustml::matmul(e, trustml::transpose(e, 0, 1)).to_vector();
  CHECK(cos[1] > cos[2] + 0.1f);
}

TEST_CASE("MiniLM: bad input gives errors that name the file or the input") {
  auto& model = *encoder().model;
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const trustml::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A sequence longer than the 512 positions.
  auto long_ids = Ids::full(Shape{1, 513}, 1000);
  CHECK(message([&] { model.encode(long_ids); }).find("longer than the model's 512 positions") != std::string::npos);
  // An id outside the vocabulary.
  CHECK(message([&] { model.encode(Ids::full(Shape{1, 3}, 30522)); }).find("30522") != std::string::npos);
  // Input embeddings of the wrong width; a mask of the wrong shape.
  CHECK(message([&] {
          model.forward_from_embeddings(F::zeros(Shape{1, 3, 100}));
        }).find("[1, 3, 100]") != std::string::npos);
  CHECK(message([&] {
          model.encode(Ids::full(Shape{2, 3}, 1000), Ids::ones(Shape{2, 4}));
        }).find("does not match") != std::string::npos);
  // A missing folder; a weights file whose tensor has the wrong shape; a vocabulary of the wrong size.
  CHECK(message([] { text::SentenceEncoder<float>::load("/nonexistent/minilm"); }).find("/nonexistent/minilm") !=
        std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / "trustml_test_minilm_bad";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* f : {"config.json", "vocab.txt", "sentence_bert_config.json"})
    std::filesystem::copy_file(model_dir() / f, dir / f);
  {
    auto small = zoo::BertConfig{.vocab_size = 30522,
                                 .hidden_size = 12,
                                 .num_hidden_layers = 1,
                                 .num_attention_heads = 2,
                                 .intermediate_size = 8};
    trustml::nn::save_module(dir / "model.safetensors", zoo::BertModel<float>(small));
  }
  const auto wrong_shape = message([&] { text::SentenceEncoder<float>::load(dir); });
  INFO(wrong_shape);
  CHECK(wrong_shape.find("model.safetensors") != std::string::npos);
  CHECK(wrong_shape.find("embeddings.word_embeddings.weight") != std::string::npos);
  {
    std::ofstream vocab(dir / "vocab.txt");
    vocab << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n";
  }
  const auto wrong_vocab = message([&] { text::SentenceEncoder<float>::load(dir); });
  INFO(wrong_vocab);
  CHECK(wrong_vocab.find("vocab_size 30522") != std::string::npos);
  std::filesystem::remove_all(dir);
}

int main(int argc, char** argv) {
  if (model_dir().empty() || !std::filesystem::exists(model_dir() / "model.safetensors")) {
    std::printf("test_text_minilm: SKIPPED: no all-MiniLM-L6-v2 files (TRUSTML_MINILM_DIR=%s); %s\n",
                model_dir().string().c_str(), text::kMiniLmInstall);
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
