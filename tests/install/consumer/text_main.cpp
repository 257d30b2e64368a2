// The installed trustml::text: utf8proc found through trustmlConfig.cmake, a tokenizer built from
// a vocabulary file and used.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <trustml/text/tokenizer.hpp>

int main() {
  const auto path = std::filesystem::temp_directory_path() / "trustml_consumer_vocab.txt";
  std::ofstream(path) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nwor\n##ld\n!\n";
  const auto tok = trustml::text::WordPieceTokenizer::from_vocab_file(path);
  std::filesystem::remove(path);
  const auto ids = tok.encode("Héllo, WORLD!");
  const bool ok = ids == std::vector<std::int64_t>{2, 4, 1, 5, 6, 7, 3} && tok.decode(ids) == "hello world!";
  std::cout << "text tokenizer " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
