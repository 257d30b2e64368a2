// trustml/text/tokenizer.hpp: BERT's WordPiece tokenizer, token for token what Hugging Face
// `tokenizers` (0.23) produces from a BERT tokenizer.json such as all-MiniLM-L6-v2's.
//
// The pipeline, as in tokenizers:
//   1. special tokens written in the text ("[MASK]", "[SEP]", ...) are cut out first, leftmost and
//      longest match, on the raw text, and map straight to their ids;
//   2. each remaining piece is normalized (text/unicode.hpp: clean text, CJK ideographs spaced,
//      NFD with nonspacing marks dropped, lowercase) and split into words at whitespace and around
//      every punctuation character;
//   3. each word becomes the greedy longest-match-first WordPiece sequence ("playing" -> "play",
//      "##ing"), or a single [UNK] when some part of it matches nothing or it has more than
//      max_input_chars_per_word code points;
//   4. encode() wraps the ids as [CLS] ... [SEP]; encode_batch() truncates each text to max_length
//      tokens, [CLS] and [SEP] included and kept, and pads with [PAD] (attention mask 0).
// decode() maps ids back to text as tokens' WordPiece decoder with cleanup does: "##" pieces are
// glued to the previous token, the others get a space, and " ." " ," " ?" " !" lose their space.
//
// Contract: for every valid UTF-8 text, encode() equals
// tokenizers.Tokenizer.from_file(tokenizer.json).encode(text).ids with truncation and padding off,
// and decode() equals Tokenizer.decode(ids) (tests/text checks a 2,000-line corpus and every code
// point). One deliberate difference: an id outside the vocabulary is an error here, where
// tokenizers silently leaves it out of decode().
//
// Errors (trustml::Error "trustml::text::WordPieceTokenizer: ..."): invalid UTF-8 in a text names
// the text ("text", "texts[3]") and the byte offset; a vocabulary file that cannot be read, is empty,
// repeats a token, has invalid UTF-8 or lacks [UNK], [CLS], [SEP] or [PAD] names the file (and
// line); a tokenizer.json that is not JSON, or describes a tokenizer this class does not implement
// (another model, normalizer or pre-tokenizer, added tokens that are normalized or strip spaces),
// names the file and the field.
//
// Link trustml::text (utf8proc and nlohmann-json).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/tensor/tensor.hpp"
#include "trustml/text/unicode.hpp"

namespace trustml::text {

// How encode_batch() makes the rows equally long: to the longest row, to max_length, or not at all
// (then the texts must already give equally long rows).
enum class Padding { longest, max_length, none };

struct BatchEncoding {
  Tensor<std::int64_t> ids;             // [B, L], padded with pad_id
  Tensor<std::int64_t> attention_mask;  // [B, L], 1 on real tokens, 0 on padding
  Tensor<std::int64_t> token_type_ids;  // [B, L], all 0 (single sequences)
  std::vector<std::int64_t> lengths;    // real tokens per row, specials included
};

class WordPieceTokenizer {
 public:
  static constexpr const char* kOp = "text::WordPieceTokenizer";

  // An empty tokenizer (no vocabulary), to be assigned one made by a factory below.
  WordPieceTokenizer() = default;

  // A BERT vocab.txt (one token per line, the id is the line number from 0); lowercase also strips
  // accents, as BertWordPieceTokenizer(lowercase=...) does.
  static WordPieceTokenizer from_vocab_file(const std::filesystem::path& vocab_txt, bool lowercase = true) {
    std::ifstream in(vocab_txt, std::ios::binary);
    TRUSTML_CHECK(in.good(), kOp, "cannot open the vocabulary file ", vocab_txt.string());
    WordPieceTokenizer t;
    t.normalizer_ = {true, true, lowercase, lowercase};
    std::string line;
    std::int64_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      const std::string where = vocab_txt.string() + ":" + std::to_string(number);
      std::u32string token = unicode::decode_utf8(line, where, kOp);
      // tokenizers reads each line with Rust's trim_end (a trailing '\r' included).
      while (!token.empty() && unicode::is_white_space_property(token.back())) token.pop_back();
      t.add_token(unicode::to_utf8(token), number - 1, where);
    }
    TRUSTML_CHECK(!t.id_to_token_.empty(), kOp, vocab_txt.string(), ": the vocabulary file is empty");
    for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
      if (t.vocab_.count(special)) t.added_.push_back({special, t.vocab_.at(special), true});
    t.finish(vocab_txt.string(), "[CLS]", "[SEP]", std::nullopt);
    return t;
  }

  // A tokenizer.json with a WordPiece model, a BertNormalizer (or none) and a BertPreTokenizer.
  // Its truncation and padding settings are ignored: encode_batch() takes them as arguments.
  static WordPieceTokenizer from_tokenizer_json(const std::filesystem::path& tokenizer_json) {
    using Json = nlohmann::json;
    const std::string file = tokenizer_json.string();
    std::ifstream in(tokenizer_json, std::ios::binary);
    TRUSTML_CHECK(in.good(), kOp, "cannot open ", file);
    Json j;
    try {
      j = Json::parse(in);
    } catch (const Json::exception& e) {
      ::trustml::detail::fail(kOp, file, ": not valid JSON: ", e.what());
    }
    const auto field = [&](const Json& parent, const char* key, Json::value_t type, const char* where) -> const Json& {
      TRUSTML_CHECK(parent.is_object() && parent.contains(key), kOp, file, ": ", where, " has no field \"", key, "\"");
      const Json& v = parent.at(key);
      const bool ok = v.type() == type || (type == Json::value_t::number_integer && v.is_number_unsigned());
      TRUSTML_CHECK(ok, kOp, file, ": ", where, ".", key, " has the wrong type (", v.type_name(), ")");
      return v;
    };
    const auto optional = [&](const Json& parent, const char* key, auto fallback, const char* where) {
      using V = decltype(fallback);
      if (!parent.contains(key) || parent.at(key).is_null()) return fallback;
      try {
        return parent.at(key).template get<V>();
      } catch (const Json::exception&) {
        ::trustml::detail::fail(kOp, file, ": ", where, ".", key, " has the wrong type (", parent.at(key).type_name(),
                                ")");
      }
    };
    const auto type_of = [&](const Json& parent, const char* key) -> std::string {
      if (!parent.contains(key) || parent.at(key).is_null()) return "null";
      const Json& v = parent.at(key);
      return v.is_object() && v.contains("type") && v.at("type").is_string() ? v.at("type").get<std::string>() : "?";
    };
    TRUSTML_CHECK(j.is_object(), kOp, file, ": the top level is not a JSON object");

    const Json& model = field(j, "model", Json::value_t::object, "the file");
    TRUSTML_CHECK(type_of(j, "model") == "WordPiece", kOp, file, ": model.type is \"", type_of(j, "model"),
                  "\", only \"WordPiece\" is supported");
    WordPieceTokenizer t;
    const Json& vocab = field(model, "vocab", Json::value_t::object, "model");
    std::vector<std::pair<std::int64_t, std::string>> entries;
    for (const auto& [token, id] : vocab.items()) {
      TRUSTML_CHECK(id.is_number_integer(), kOp, file, ": model.vocab[\"", token, "\"] is not an integer id");
      entries.emplace_back(id.get<std::int64_t>(), token);
    }
    std::sort(entries.begin(), entries.end());
    std::int64_t next_id = 0;  // the sorted ids must be 0, 1, 2, ... (a token may share an id)
    for (const auto& [id, token] : entries) {
      // check_no_gaps's error, before add_token sizes the table by a stray large id.
      TRUSTML_CHECK(id <= next_id, kOp, file, ": no token has the id ", next_id, " (ids must run from 0 without gaps)");
      if (id == next_id) ++next_id;
      t.add_token(token, id, file + ": model.vocab[\"" + token + "\"]");
    }
    TRUSTML_CHECK(!t.id_to_token_.empty(), kOp, file, ": model.vocab is empty");
    t.check_no_gaps(file);
    t.unk_token_ = optional(model, "unk_token", std::string("[UNK]"), "model");
    t.prefix_ = optional(model, "continuing_subword_prefix", std::string("##"), "model");
    t.max_word_chars_ = optional(model, "max_input_chars_per_word", std::int64_t{100}, "model");

    const std::string normalizer = type_of(j, "normalizer");
    if (normalizer == "null") {
      t.normalizer_ = {false, false, false, false};
    } else {
      TRUSTML_CHECK(normalizer == "BertNormalizer", kOp, file, ": normalizer.type is \"", normalizer,
                    "\", only \"BertNormalizer\" (or none) is supported");
      const Json& n = j.at("normalizer");
      t.normalizer_.clean_text = optional(n, "clean_text", true, "normalizer");
      t.normalizer_.handle_chinese_chars = optional(n, "handle_chinese_chars", true, "normalizer");
      t.normalizer_.lowercase = optional(n, "lowercase", true, "normalizer");
      // null: strip accents exactly when lowercasing.
      t.normalizer_.strip_accents = optional(n, "strip_accents", t.normalizer_.lowercase, "normalizer");
    }
    TRUSTML_CHECK(type_of(j, "pre_tokenizer") == "BertPreTokenizer", kOp, file, ": pre_tokenizer.type is \"",
                  type_of(j, "pre_tokenizer"), "\", only \"BertPreTokenizer\" is supported");
    const std::string decoder = type_of(j, "decoder");
    TRUSTML_CHECK(decoder == "WordPiece" || decoder == "null", kOp, file, ": decoder.type is \"", decoder,
                  "\", only \"WordPiece\" (or none) is supported");
    t.join_with_spaces_ = decoder == "null";
    if (decoder == "WordPiece") {
      t.decode_prefix_ = optional(j.at("decoder"), "prefix", std::string("##"), "decoder");
      t.cleanup_ = optional(j.at("decoder"), "cleanup", true, "decoder");
    }

    if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
      const Json& added = field(j, "added_tokens", Json::value_t::array, "the file");
      for (std::size_t i = 0; i < added.size(); ++i) {
        const std::string where = "added_tokens[" + std::to_string(i) + "]";
        const Json& a = added[i];
        const auto content = field(a, "content", Json::value_t::string, where.c_str()).get<std::string>();
        const auto id = field(a, "id", Json::value_t::number_integer, where.c_str()).get<std::int64_t>();
        for (const char* flag : {"normalized", "single_word", "lstrip", "rstrip"})
          TRUSTML_CHECK(!optional(a, flag, false, where.c_str()), kOp, file, ": ", where, " (\"", content, "\") has ",
                        flag, " true, which is not supported");
        TRUSTML_CHECK(!content.empty(), kOp, file, ": ", where, " is empty");
        const auto known = t.vocab_.find(content);
        if (known == t.vocab_.end()) {
          // As for model.vocab: an id past every token the file names would leave a gap.
          TRUSTML_CHECK(id < static_cast<std::int64_t>(entries.size() + added.size()), kOp, file, ": ", where, " (\"",
                        content, "\") has the id ", id, ", but the ids must run from 0 without gaps");
          t.add_token(content, id, file + ": " + where);
        } else {
          TRUSTML_CHECK(known->second == id, kOp, file, ": ", where, " gives \"", content, "\" the id ", id,
                        ", the vocabulary ", known->second);
        }
        t.added_.push_back({content, id, optional(a, "special", false, where.c_str())});
      }
    }

    std::string cls = "[CLS]", sep = "[SEP]";
    const std::string post = type_of(j, "post_processor");
    const Json& pp = j.contains("post_processor") ? j.at("post_processor") : Json();
    if (post == "BertProcessing") {
      const auto token = [&](const char* key) {
        const Json& pair = field(pp, key, Json::value_t::array, "post_processor");
        TRUSTML_CHECK(!pair.empty() && pair[0].is_string(), kOp, file, ": post_processor.", key,
                      " is not [token, id] with a string token");
        return pair[0].get<std::string>();
      };
      cls = token("cls");
      sep = token("sep");
    } else {
      TRUSTML_CHECK(post == "TemplateProcessing", kOp, file, ": post_processor.type is \"", post,
                    "\", only \"TemplateProcessing\" and \"BertProcessing\" are supported");
      const Json& single = field(pp, "single", Json::value_t::array, "post_processor");
      const auto special = [&](std::size_t k) -> std::string {
        const bool ok = single.size() == 3 && single[k].contains("SpecialToken") && single[1].contains("Sequence");
        TRUSTML_CHECK(ok, kOp, file, ": post_processor.single is not [special, $A, special]: ", single.dump());
        const Json& token = single[k].at("SpecialToken");
        TRUSTML_CHECK(token.contains("id") && token.at("id").is_string(), kOp, file, ": post_processor.single[", k,
                      "].SpecialToken has no string \"id\"");
        return token.at("id").get<std::string>();
      };
      cls = special(0), sep = special(2);
    }
    std::optional<std::int64_t> pad;
    if (j.contains("padding") && j.at("padding").is_object())
      pad = optional(j.at("padding"), "pad_id", std::int64_t{0}, "padding");
    t.finish(file, cls, sep, pad);
    return t;
  }

  // The word pieces of a text, without [CLS]/[SEP] (special tokens written in the text stay).
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (std::int64_t id : encode_as(text, "text")) out.push_back(id_to_token_[static_cast<std::size_t>(id)]);
    return out;
  }

  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const {
    std::vector<std::int64_t> ids = encode_as(text, "text");
    if (add_special_tokens) wrap(ids);
    return ids;
  }

  // Rows of [CLS] ... [SEP]: a text longer than max_length tokens (specials counted) keeps its
  // first max_length - 2 pieces; max_length 0 means no truncation (not with Padding::max_length).
  BatchEncoding encode_batch(const std::vector<std::string>& texts, std::int64_t max_length = 0,
                             Padding padding = Padding::longest, bool add_special_tokens = true) const {
    const std::int64_t specials = add_special_tokens ? 2 : 0;
    TRUSTML_CHECK(max_length == 0 || max_length >= std::max<std::int64_t>(specials, 1), kOp,
                  "encode_batch: max_length ", max_length, " is too small (0 for none, else at least ",
                  std::max<std::int64_t>(specials, 1), ")");
    TRUSTML_CHECK(padding != Padding::max_length || max_length > 0, kOp,
                  "encode_batch: Padding::max_length needs a max_length > 0");
    BatchEncoding out;
    std::vector<std::vector<std::int64_t>> rows;
    std::int64_t width = padding == Padding::max_length ? max_length : 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::vector<std::int64_t> ids = encode_as(texts[i], "texts[" + std::to_string(i) + "]");
      if (max_length > 0 && static_cast<std::int64_t>(ids.size()) + specials > max_length)
        ids.resize(static_cast<std::size_t>(max_length - specials));
      if (add_special_tokens) wrap(ids);
      const auto n = static_cast<std::int64_t>(ids.size());
      if (padding == Padding::none && i > 0)
        TRUSTML_CHECK(n == width, kOp, "encode_batch: Padding::none, but texts[", i, "] gives ", n,
                      " tokens and texts[0] ", width);
      if (padding != Padding::max_length) width = std::max(width, n);
      out.lengths.push_back(n);
      rows.push_back(std::move(ids));
    }
    const auto batch = static_cast<std::int64_t>(texts.size());
    std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * width), pad_id);
    std::vector<std::int64_t> mask(ids.size(), 0);
    for (std::size_t b = 0; b < rows.size(); ++b)
      for (std::size_t k = 0; k < rows[b].size(); ++k) {
        ids[b * static_cast<std::size_t>(width) + k] = rows[b][k];
        mask[b * static_cast<std::size_t>(width) + k] = 1;
      }
    out.ids = Tensor<std::int64_t>::from_vector(ids, Shape{batch, width});
    out.attention_mask = Tensor<std::int64_t>::from_vector(mask, Shape{batch, width});
    out.token_type_ids = Tensor<std::int64_t>::zeros(Shape{batch, width});
    return out;
  }

  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = true) const {
    std::string out;
    bool first = true;
    for (std::int64_t id : ids) {
      const std::string& token = id_to_token(id);
      if (skip_special_tokens && is_special(id)) continue;
      std::string piece;
      if (join_with_spaces_) {
        piece = first ? token : " " + token;
      } else {
        if (first || token.compare(0, decode_prefix_.size(), decode_prefix_) != 0) piece = first ? token : " " + token;
        else piece = token.substr(decode_prefix_.size());
        if (cleanup_) piece = cleanup(std::move(piece));
      }
      out += piece;
      first = false;
    }
    return out;
  }

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(id_to_token_.size()); }
  std::optional<std::int64_t> token_to_id(std::string_view token) const {
    const auto it = vocab_.find(std::string(token));
    return it == vocab_.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
  }
  const std::string& id_to_token(std::int64_t id) const {
    TRUSTML_CHECK(id >= 0 && id < vocab_size(), kOp, "id ", id, " is outside the vocabulary [0, ", vocab_size(), ")");
    return id_to_token_[static_cast<std::size_t>(id)];
  }
  bool is_special(std::int64_t id) const {
    return std::any_of(added_.begin(), added_.end(), [&](const Added& a) { return a.special && a.id == id; });
  }
  const unicode::NormalizerOptions& normalizer() const { return normalizer_; }

  std::int64_t cls_id = -1, sep_id = -1, pad_id = -1, unk_id = -1, mask_id = -1;  // mask: -1 when absent

 private:
  struct Added {
    std::string content;
    std::int64_t id;
    bool special;
  };

  void add_token(std::string token, std::int64_t id, const std::string& where) {
    TRUSTML_CHECK(id >= 0 && id < (std::int64_t{1} << 31), kOp, where, ": id ", id, " is out of range");
    const auto [it, fresh] = vocab_.emplace(token, id);
    TRUSTML_CHECK(fresh, kOp, where, ": the token \"", token, "\" appears twice (ids ", it->second, " and ", id, ")");
    if (static_cast<std::size_t>(id) >= id_to_token_.size()) id_to_token_.resize(static_cast<std::size_t>(id) + 1);
    id_to_token_[static_cast<std::size_t>(id)] = std::move(token);
  }

  void check_no_gaps(const std::string& source) const {
    for (std::size_t id = 0; id < id_to_token_.size(); ++id) {
      const auto it = vocab_.find(id_to_token_[id]);
      TRUSTML_CHECK(it != vocab_.end() && it->second == static_cast<std::int64_t>(id), kOp, source,
                    ": no token has the id ", id, " (ids must run from 0 without gaps)");
    }
  }

  void finish(const std::string& source, const std::string& cls, const std::string& sep,
              std::optional<std::int64_t> pad) {
    check_no_gaps(source);  // again: added tokens may extend the vocabulary
    const auto require = [&](const std::string& token) {
      const auto it = vocab_.find(token);
      TRUSTML_CHECK(it != vocab_.end(), kOp, source, ": the vocabulary has no ", token, " token");
      return it->second;
    };
    unk_id = require(unk_token_);
    cls_id = require(cls);
    sep_id = require(sep);
    pad_id = pad ? *pad : require("[PAD]");
    TRUSTML_CHECK(pad_id >= 0 && pad_id < vocab_size(), kOp, source, ": the padding id ", pad_id,
                  " is outside the vocabulary");
    mask_id = vocab_.count("[MASK]") ? vocab_.at("[MASK]") : -1;
    // Leftmost-longest matching tries the longer of two tokens that start alike first.
    std::stable_sort(added_.begin(), added_.end(),
                     [](const Added& a, const Added& b) { return a.content.size() > b.content.size(); });
  }

  void wrap(std::vector<std::int64_t>& ids) const {
    ids.insert(ids.begin(), cls_id);
    ids.push_back(sep_id);
  }

  std::vector<std::int64_t> encode_as(std::string_view text, const std::string& name) const {
    TRUSTML_CHECK(!id_to_token_.empty(), kOp, "the tokenizer is empty (make it with from_vocab_file or ",
                  "from_tokenizer_json)");
    unicode::decode_utf8(text, name, kOp);  // the whole text first, so offsets are the caller's
    std::vector<std::int64_t> ids;
    std::size_t done = 0;
    for (std::size_t at = 0; at <= text.size(); ++at) {
      const Added* match = nullptr;
      if (at < text.size())
        for (const Added& a : added_)
          if (text.compare(at, a.content.size(), a.content) == 0) {
            match = &a;
            break;
          }
      if (!match && at < text.size()) continue;
      encode_piece(text.substr(done, at - done), ids);
      if (!match) break;
      ids.push_back(match->id);
      at += match->content.size() - 1;
      done = at + 1;
    }
    return ids;
  }

  void encode_piece(std::string_view piece, std::vector<std::int64_t>& ids) const {
    if (piece.empty()) return;
    const std::u32string normalized = unicode::normalize(unicode::decode_utf8(piece, "text", kOp), normalizer_);
    for (const std::u32string& word : unicode::pre_tokenize(normalized)) word_pieces(word, ids);
  }

  // Greedy longest-match-first over the word's characters; any unmatched rest makes the whole
  // word [UNK], as in tokenizers.
  void word_pieces(const std::u32string& word, std::vector<std::int64_t>& ids) const {
    if (static_cast<std::int64_t>(word.size()) > max_word_chars_) {
      ids.push_back(unk_id);
      return;
    }
    std::string bytes;
    std::vector<std::size_t> offset{0};  // byte offset of each character boundary
    for (char32_t c : word) {
      unicode::append_utf8(bytes, c);
      offset.push_back(bytes.size());
    }
    const std::size_t first = ids.size();
    std::string candidate;
    for (std::size_t start = 0; start < word.size();) {
      std::size_t end = word.size();
      std::int64_t found = -1;
      for (; end > start; --end) {
        candidate.assign(start > 0 ? prefix_ : std::string());
        candidate.append(bytes, offset[start], offset[end] - offset[start]);
        const auto it = vocab_.find(candidate);
        if (it != vocab_.end()) {
          found = it->second;
          break;
        }
      }
      if (found < 0) {
        ids.resize(first);
        ids.push_back(unk_id);
        return;
      }
      ids.push_back(found);
      start = end;
    }
  }

  // tokens' WordPiece decoder cleanup, applied to each token (with its leading space) in this order.
  static std::string cleanup(std::string s) {
    static const std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      if (s.find(from) == std::string::npos) continue;
      std::string out;
      std::size_t pos = 0;
      for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
        out.append(s, pos, hit - pos).append(to);
      s = out.append(s, pos, std::string::npos);
    }
    return s;
  }

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<Added> added_;  // matched in the raw text, longest first
  unicode::NormalizerOptions normalizer_;
  std::string unk_token_ = "[UNK]", prefix_ = "##", decode_prefix_ = "##";
  std::int64_t max_word_chars_ = 100;
  bool cleanup_ = true, join_with_spaces_ = false;
};

}  // namespace trustml::text
