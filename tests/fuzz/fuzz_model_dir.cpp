// libFuzzer harness: text::SentenceEncoder<float>::load of a model directory, then embedding one
// sentence with what loaded. The input is split by trustml_fuzz::split_parts into config.json,
// vocab.txt, model.safetensors, sentence_bert_config.json and tokenizer.json; an empty part is a
// missing file (so tokenizer.json, preferred to vocab.txt when present, is absent from some seeds).
#include <string>

#include "fuzz_common.hpp"
#include "trustml/text/minilm.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* const kFiles[] = {"config.json", "vocab.txt", "model.safetensors", "sentence_bert_config.json",
                                       "tokenizer.json"};
  const auto parts = trustml_fuzz::split_parts(data, size, std::size(kFiles));
  for (std::size_t i = 0; i < std::size(kFiles); ++i) {
    if (parts[i].empty()) trustml_fuzz::remove_file(kFiles[i]);
    else trustml_fuzz::write_file(kFiles[i], parts[i]);
  }
  trustml_fuzz::guard([&] {
    auto encoder = trustml::text::SentenceEncoder<float>::load(trustml_fuzz::scratch_dir());
    (void)encoder.embed({"hello world, the playing!"});
  });
  return 0;
}
