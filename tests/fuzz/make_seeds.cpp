// tests/fuzz/make_seeds.cpp: writes the fuzzers' seed corpora with trustml's own writers.
//
//   make_seeds OUT_DIR        OUT_DIR/<fuzzer>/<seed> for every harness in this folder
//
// Every seed is a valid file (or set of files, joined as fuzz_common.hpp's split_parts reads them)
// that the reader under test accepts: save_safetensors, save_npy, write_cfl, write_fastmri_kspace
// (when built with HDF5), save_checkpoint, save_module; the IDX files, vocabularies and
// config.json files, which trustml only reads, are written here byte by byte. Nothing binary is
// kept in the source tree: the build runs this program into its own folder.
#include <zlib.h>

#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "fuzz_models.hpp"
#include "trustml/io/cfl.hpp"
#include "trustml/io/npy.hpp"
#include "trustml/io/safetensors.hpp"
#include "trustml/nn/serialize.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/train/checkpoint.hpp"
#ifdef TRUSTML_HAS_HDF5
#include "trustml/io/fastmri_h5.hpp"
#endif
#ifdef TRUSTML_FUZZ_TEXT
#include "trustml/text/minilm.hpp"
#endif

namespace fs = std::filesystem;
using namespace trustml;
using Json = nlohmann::json;

namespace {

fs::path g_out, g_work;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void seed(const std::string& fuzzer, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_out / fuzzer;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

template <class T>
io::Array array_of(const std::string& name, io::DType dtype, std::vector<std::int64_t> shape, const std::vector<T>& v) {
  io::Array a{name, dtype, std::move(shape), {}};
  a.bytes.resize(v.size() * sizeof(T));
  std::memcpy(a.bytes.data(), v.data(), a.bytes.size());
  return a;
}

// One array of every dtype, small shapes, a 0-d scalar and an empty array.
std::vector<io::Array> sample_arrays() {
  using io::DType;
  return {array_of<float>("f32", DType::F32, {2, 3}, {1, -2, 3.5f, 0, 1e-3f, 7}),
          array_of<double>("f64", DType::F64, {3}, {1, 2, 3}),
          array_of<std::int64_t>("i64", DType::I64, {2, 1}, {-1, 5}),
          array_of<std::int32_t>("i32", DType::I32, {2}, {7, -7}),
          array_of<std::uint8_t>("u8", DType::U8, {4}, {0, 1, 128, 255}),
          array_of<std::uint8_t>("bool", DType::BOOL, {3}, {0, 1, 1}),
          array_of<std::uint16_t>("f16", DType::F16, {2}, {0x3c00, 0xc000}),
          array_of<std::uint16_t>("bf16", DType::BF16, {2}, {0x3f80, 0xc000}),
          array_of<float>("scalar", DType::F32, {}, {42}),
          array_of<float>("empty", DType::F32, {0, 4}, {})};
}

void safetensors_seeds() {
  const auto arrays = sample_arrays();
  io::save_safetensors(g_work / "all.safetensors", arrays, {{"format", "pt"}, {"note", "seed"}});
  seed("fuzz_safetensors", "all_dtypes", read_bytes(g_work / "all.safetensors"));
  io::save_safetensors(g_work / "one.safetensors", {arrays[0]});
  seed("fuzz_safetensors", "one_f32", read_bytes(g_work / "one.safetensors"));
  io::save_safetensors(g_work / "none.safetensors", {});
  seed("fuzz_safetensors", "empty", read_bytes(g_work / "none.safetensors"));
}

void npy_seeds() {
  for (const auto& array : sample_arrays()) {
    if (array.dtype == io::DType::BF16) continue;  // NPY has no bfloat16
    io::save_npy(g_work / (array.name + ".npy"), array);
    seed("fuzz_npy", array.name, read_bytes(g_work / (array.name + ".npy")));
  }
}

// IDX has no writer in trustml (it only reads MNIST-style files): unsigned-byte arrays, plain and gzipped.
void idx_seeds() {
  auto idx = [](std::vector<std::uint32_t> dims) {
    std::string bytes = {0, 0, 0x08, static_cast<char>(dims.size())};
    std::size_t count = 1;
    for (auto d : dims) {
      for (int s = 24; s >= 0; s -= 8) bytes += static_cast<char>((d >> s) & 0xff);
      count *= d;
    }
    for (std::size_t i = 0; i < count; ++i) bytes += static_cast<char>(i * 37 % 256);
    return bytes;
  };
  const std::string images = idx({3, 4, 4}), labels = idx({3}), empty = idx({0, 28});
  seed("fuzz_idx", "images", images);
  seed("fuzz_idx", "labels", labels);
  seed("fuzz_idx", "empty", empty);
  const fs::path gz = g_work / "images.idx.gz";
  gzFile f = gzopen(gz.c_str(), "wb");
  if (!f || gzwrite(f, images.data(), static_cast<unsigned>(images.size())) != static_cast<int>(images.size()) ||
      gzclose(f) != Z_OK)
    throw std::runtime_error("cannot write " + gz.string());
  seed("fuzz_idx", "images_gz", read_bytes(gz));
}

void cfl_seeds() {
  auto pair = [](const std::string& name) {
    const fs::path base = g_work / name;
    return trustml_fuzz::join_parts({read_bytes(base.string() + ".hdr"), read_bytes(base.string() + ".cfl")});
  };
  std::vector<std::complex<float>> values;
  for (int i = 0; i < 6; ++i) values.emplace_back(float(i), float(-i) / 2);
  io::write_cfl(g_work / "complex", Tensor<std::complex<float>>::from_vector(values, Shape{2, 3}));
  seed("fuzz_cfl", "complex_2x3", pair("complex"));
  // One coil at BART dimension 3: a singleton that only the 16 dims keep.
  io::write_cfl(g_work / "coils", Tensor<float>::from_vector({1, 2, 3, 4}, Shape{2, 2}), {2, 2, 1, 1});
  seed("fuzz_cfl", "real_coils", pair("coils"));
}

void fastmri_seeds() {
#ifdef TRUSTML_HAS_HDF5
  std::vector<std::complex<float>> k;
  for (int i = 0; i < 2 * 2 * 4 * 4; ++i) k.emplace_back(float(i % 7), float(i % 3) - 1);
  const auto kspace = Tensor<std::complex<float>>::from_vector(k, Shape{2, 2, 4, 4});
  const auto rss = Tensor<float>::ones(Shape{2, 4, 4});
  io::write_fastmri_kspace(g_work / "volume.h5", kspace, rss);
  seed("fuzz_fastmri_h5", "kspace_rss", read_bytes(g_work / "volume.h5"));
  // Regression: the compound's member "i" moved to offset 0x60f000 of its 8-byte element (the
  // 4-byte offset after the member's padded name); HDF5 1.10's H5Dread read freed memory.
  std::string damaged = read_bytes(g_work / "volume.h5");
  const auto at = damaged.find(std::string("i\0\0\0\0\0\0\0\x04\0\0\0", 12));
  if (at == std::string::npos) throw std::runtime_error("volume.h5: member 'i' of the k-space compound not found");
  damaged.replace(at + 8, 4, std::string("\0\xf0\x60\0", 4));
  seed("fuzz_fastmri_h5", "regress_member_offset", damaged);
  io::write_fastmri_kspace(g_work / "kspace.h5", kspace);
  seed("fuzz_fastmri_h5", "kspace_only", read_bytes(g_work / "kspace.h5"));
#endif
}

void model_seeds() {
  auto model = trustml_fuzz::small_model<float>();
  auto optimizer = trustml_fuzz::small_optimizer(*model);
  // One training step, so that the checkpoint holds Adam's moments as well as the weights.
  optimizer->zero_grad();
  sum((*model)(Tensor<float>::randn(Shape{2, 2, 1, 3}, 3))).backward();
  optimizer->step();
  train::save_checkpoint(g_work / "ckpt.safetensors", *model, *optimizer,
                         {.epoch = 2, .step = 1, .notes = {{"best", "0.5"}}});
  seed("fuzz_checkpoint", "after_one_step", read_bytes(g_work / "ckpt.safetensors"));
  auto fresh = trustml_fuzz::small_model<float>();
  auto fresh_optimizer = trustml_fuzz::small_optimizer(*fresh);
  train::save_checkpoint(g_work / "fresh.safetensors", *fresh, *fresh_optimizer, {});
  seed("fuzz_checkpoint", "fresh", read_bytes(g_work / "fresh.safetensors"));

  nn::save_module(g_work / "module.safetensors", *model, {{"source", "make_seeds"}});
  seed("fuzz_module_state", "float", read_bytes(g_work / "module.safetensors"));
  nn::save_module(g_work / "module64.safetensors", *trustml_fuzz::small_model<double>());
  seed("fuzz_module_state", "double", read_bytes(g_work / "module64.safetensors"));
}

#ifdef TRUSTML_FUZZ_TEXT
std::string vocab_txt() {
  std::string text;
  for (const char* token : trustml_fuzz::kTinyVocab) text += std::string(token) + "\n";
  return text;
}

Json tokenizer_json(bool bert_processing) {
  Json vocab = Json::object();
  for (std::size_t i = 0; i < std::size(trustml_fuzz::kTinyVocab); ++i) vocab[trustml_fuzz::kTinyVocab[i]] = i;
  Json added = Json::array();
  for (int id = 0; id < 5; ++id)
    added.push_back({{"id", id},
                     {"content", trustml_fuzz::kTinyVocab[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  Json special = [](const char* id) { return Json{{"SpecialToken", {{"id", id}, {"type_id", 0}}}}; }("[CLS]");
  Json post = bert_processing ? Json{{"type", "BertProcessing"}, {"cls", {"[CLS]", 2}}, {"sep", {"[SEP]", 3}}}
                              : Json{{"type", "TemplateProcessing"},
                                     {"single",
                                      {special,
                                       {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                       Json{{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}}}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", bert_processing ? Json{{"pad_id", 0}, {"pad_token", "[PAD]"}} : Json(nullptr)},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", true},
            {"strip_accents", nullptr},
            {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", post},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model",
           {{"type", "WordPiece"},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", 100},
            {"vocab", vocab}}}};
}

void tokenizer_seeds() {
  seed("fuzz_tokenizer_vocab", "vocab_lowercase", std::string(1, '\x02') + vocab_txt());
  seed("fuzz_tokenizer_vocab", "vocab_cased", std::string(1, '\x00') + vocab_txt());
  seed("fuzz_tokenizer_vocab", "json_template", std::string(1, '\x01') + tokenizer_json(false).dump(1));
  seed("fuzz_tokenizer_vocab", "json_bert", std::string(1, '\x01') + tokenizer_json(true).dump());
  // Regressions: inputs that crashed the reader once (each must now give a trustml::Error).
  Json huge_id = tokenizer_json(true);  // a 2^31-entry id table was allocated for this id
  huge_id["model"]["vocab"]["zzz"] = 2147483000;
  seed("fuzz_tokenizer_vocab", "regress_huge_id", std::string(1, '\x01') + huge_id.dump());
  Json huge_added = tokenizer_json(true);
  huge_added["added_tokens"].push_back({{"id", 2147483000}, {"content", "[NEW]"}, {"special", true}});
  seed("fuzz_tokenizer_vocab", "regress_huge_added_id", std::string(1, '\x01') + huge_added.dump());
  Json empty_cls = tokenizer_json(true);  // nlohmann::json::out_of_range escaped
  empty_cls["post_processor"]["cls"] = Json::array();
  seed("fuzz_tokenizer_vocab", "regress_empty_cls", std::string(1, '\x01') + empty_cls.dump());
  Json number_special = tokenizer_json(false);  // nlohmann::json::type_error escaped
  number_special["post_processor"]["single"][0]["SpecialToken"]["id"] = 5;
  seed("fuzz_tokenizer_vocab", "regress_number_special", std::string(1, '\x01') + number_special.dump());
}

void model_dir_seeds() {
  const auto c = trustml_fuzz::tiny_bert_config();
  const Json config = {{"architectures", {"BertModel"}},
                       {"hidden_act", "gelu"},
                       {"position_embedding_type", "absolute"},
                       {"vocab_size", c.vocab_size},
                       {"hidden_size", c.hidden_size},
                       {"num_hidden_layers", c.num_hidden_layers},
                       {"num_attention_heads", c.num_attention_heads},
                       {"intermediate_size", c.intermediate_size},
                       {"max_position_embeddings", c.max_position_embeddings},
                       {"type_vocab_size", c.type_vocab_size},
                       {"layer_norm_eps", c.layer_norm_eps}};
  nn::zoo::BertModel<float> model(c, 5);
  nn::save_module(g_work / "model.safetensors", model);
  const std::string weights = read_bytes(g_work / "model.safetensors");
  const std::string sentence_config = Json{{"max_seq_length", 12}, {"do_lower_case", false}}.dump();
  // Written as a directory first and loaded, so that a seed the reader refuses fails the build.
  const fs::path dir = g_work / "minilm";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  std::ofstream(dir / "vocab.txt") << vocab_txt();
  std::ofstream(dir / "sentence_bert_config.json") << sentence_config;
  fs::copy_file(g_work / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  (void)text::SentenceEncoder<float>::load(dir).embed({"hello world"});
  seed("fuzz_model_dir", "vocab_txt",
       trustml_fuzz::join_parts({config.dump(2), vocab_txt(), weights, sentence_config, ""}));
  seed("fuzz_model_dir", "tokenizer_json",
       trustml_fuzz::join_parts({config.dump(), "", weights, sentence_config, tokenizer_json(false).dump()}));
  // Regression: a config.json whose sizes need 2^43 bytes, allocated before the weights were read.
  Json huge = config;
  huge["intermediate_size"] = std::int64_t{1} << 40;
  seed("fuzz_model_dir", "regress_huge_config",
       trustml_fuzz::join_parts({huge.dump(), vocab_txt(), weights, sentence_config, ""}));
}
#else
void tokenizer_seeds() {}
void model_dir_seeds() {}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT_DIR\n";
    return 2;
  }
  g_out = argv[1];
  g_work = g_out / ".work";
  try {
    fs::remove_all(g_out);
    fs::create_directories(g_work);
    safetensors_seeds();
    npy_seeds();
    idx_seeds();
    cfl_seeds();
    fastmri_seeds();
    model_seeds();
    tokenizer_seeds();
    model_dir_seeds();
    fs::remove_all(g_work);
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  std::size_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(g_out)) count += entry.is_regular_file();
  std::cout << "make_seeds: " << count << " seeds in " << g_out.string() << "\n";
  return 0;
}
