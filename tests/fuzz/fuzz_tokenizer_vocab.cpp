// libFuzzer harness: text::WordPieceTokenizer::from_vocab_file (vocab.txt) and
// ::from_tokenizer_json (tokenizer.json). The first byte picks the reader (bit 0: tokenizer.json;
// bit 1: lowercase for vocab.txt), the rest is the file. A tokenizer that loads then encodes and
// decodes a fixed text (special tokens, accents, CJK, punctuation, a long word) and a batch.
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "trustml/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool json = data[0] & 1, lowercase = data[0] & 2;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  using trustml::text::WordPieceTokenizer;
  trustml_fuzz::guard([&] {
    const WordPieceTokenizer t =
        json ? WordPieceTokenizer::from_tokenizer_json(trustml_fuzz::write_file("tokenizer.json", body))
             : WordPieceTokenizer::from_vocab_file(trustml_fuzz::write_file("vocab.txt", body), lowercase);
    const std::string text = "[CLS] Hello, wörld! The playing 東京 [MASK] a.b supercalifragilisticexpialidocious ?";
    const auto ids = t.encode(text);
    (void)t.decode(ids, true);
    (void)t.decode(ids, false);
    (void)t.tokenize(text);
    (void)t.encode_batch({text, "hello", ""}, 8, trustml::text::Padding::max_length);
    (void)t.encode_batch({"a b c d e f g h i j", "world"}, 0, trustml::text::Padding::longest);
  });
  return 0;
}
