// trustml/text/unicode.hpp: the Unicode pieces of BERT's text pipeline, with Hugging Face
// `tokenizers`' exact semantics: strict UTF-8 decoding, the BertNormalizer (clean text, spaces
// around CJK ideographs, NFD with nonspacing marks removed, lowercasing) and the character classes
// of the BertPreTokenizer (whitespace, punctuation).
//
// The contract is bit-exactness with `tokenizers` (Rust), whose definitions differ from the obvious
// Unicode ones in ways that change token ids:
//   - whitespace is Rust's char::is_whitespace (the White_Space property) plus \t \n \r;
//   - control is the general categories Cc, Cf, Cs and Co (not Cn: unassigned code points are kept as
//     letters), except \t \n \r; clean_text drops those, U+0000 and U+FFFD, and turns whitespace
//     into ' ';
//   - punctuation is any ASCII punctuation ('$', '+', '^', '`', '|', '~' are symbols for Unicode)
//     or a P* category;
//   - lowercasing is per character (so no final-sigma rule: 'Σ' is always 'σ') with full mappings
//     ('İ' becomes "i̇", two characters), and runs after accent stripping;
//   - categories are those of tokenizers' own (old) tables, not today's: see category() below.
// Categories, decompositions and case come from utf8proc (link it; trustml::text does), corrected
// by small tables to what tokenizers 0.23 does: tests/text compares every code point with it.
//
// Errors: decode_utf8 throws trustml::Error naming the input and the byte offset of the first
// invalid sequence (a stray continuation byte, a sequence cut short, an overlong form, a surrogate,
// a code point above U+10FFFF); nothing here reads past its input.
#pragma once

#include <utf8proc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "trustml/core/config.hpp"

namespace trustml::text::unicode {

// Code points, decoded, with the checks the Rust side gets for free from &str.
inline std::u32string decode_utf8(std::string_view bytes, std::string_view input_name, const char* op) {
  std::u32string out;
  out.reserve(bytes.size());
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const auto bad = [&](std::size_t at, const char* why) {
    std::string hex;
    for (std::size_t i = at; i < std::min(bytes.size(), at + 4); ++i) {
      static const char* digits = "0123456789abcdef";
      hex += hex.empty() ? "" : " ";
      hex += {'0', 'x', digits[byte(i) >> 4], digits[byte(i) & 15]};
    }
    ::trustml::detail::fail(op, input_name, ": invalid UTF-8 at byte offset ", at, " (", why, ", bytes ", hex, ")");
  };
  for (std::size_t i = 0; i < bytes.size();) {
    const unsigned char b = byte(i);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int extra = 0;
    char32_t c = 0, min = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      extra = 1, c = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      extra = 2, c = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
      extra = 3, c = b & 0x07, min = 0x10000;
    } else if (b >= 0x80 && b <= 0xBF) {
      bad(i, "continuation byte without a lead byte");
    } else if (b == 0xC0 || b == 0xC1) {
      bad(i, "overlong encoding");
    } else {
      bad(i, "byte that never occurs in UTF-8");
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= bytes.size()) bad(i, "sequence cut short by the end of the input");
      if ((byte(i + k) & 0xC0) != 0x80) bad(i, "sequence cut short");
      c = (c << 6) | (byte(i + k) & 0x3F);
    }
    if (c < min) bad(i, "overlong encoding");
    if (c >= 0xD800 && c <= 0xDFFF) bad(i, "surrogate code point");
    if (c > 0x10FFFF) bad(i, "code point above U+10FFFF");
    out.push_back(c);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

inline std::string to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

// tokenizers reads general categories from the `unicode_categories` crate, whose tables are far
// older than utf8proc's. Comparing the two over every code point (BertNormalizer and
// BertPreTokenizer of tokenizers 0.23 against this file with utf8proc 2.8, Unicode 15) leaves these
// differences; tables this small are cheaper than shipping a second copy of UnicodeData. A newer
// utf8proc knows more characters, which may then need entries here: the code-point test of
// tests/text names the block of 4096 where they are.
namespace detail {
struct Range {
  char32_t first, last;
};
// Marks, punctuation and format characters assigned after those tables: to tokenizers they are
// unassigned (Cn), which it treats as ordinary letters (its "control" test omits Cn).
inline constexpr Range kUnknownToTokenizers[] = {
    {0x61D, 0x61D},     {0x7FD, 0x7FD},     {0x890, 0x891},     {0x898, 0x89F},     {0x8CA, 0x8E2},
    {0x9FD, 0x9FE},     {0xA76, 0xA76},     {0xAFA, 0xAFF},     {0xB55, 0xB55},     {0xC04, 0xC04},
    {0xC3C, 0xC3C},     {0xC77, 0xC77},     {0xC84, 0xC84},     {0xD00, 0xD00},     {0xD3B, 0xD3C},
    {0xD81, 0xD81},     {0xEBA, 0xEBA},     {0xECE, 0xECE},     {0x180F, 0x180F},   {0x1885, 0x1886},
    {0x1ABF, 0x1ACE},   {0x1B7D, 0x1B7E},   {0x1DF6, 0x1DFB},   {0x2E43, 0x2E4F},   {0x2E52, 0x2E5D},
    {0xA82C, 0xA82C},   {0xA8C5, 0xA8C5},   {0xA8FF, 0xA8FF},   {0xA9BD, 0xA9BD},   {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAD}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F55, 0x10F59}, {0x10F82, 0x10F89},
    {0x11070, 0x11070}, {0x11073, 0x11074}, {0x110C2, 0x110C2}, {0x110CD, 0x110CD}, {0x111CF, 0x111CF},
    {0x1123E, 0x1123E}, {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F}, {0x11442, 0x11444},
    {0x11446, 0x11446}, {0x1144B, 0x1144F}, {0x1145A, 0x1145B}, {0x1145D, 0x1145E}, {0x11660, 0x1166C},
    {0x116B9, 0x116B9}, {0x1182F, 0x11837}, {0x11839, 0x1183B}, {0x11938, 0x11938}, {0x1193B, 0x1193C},
    {0x1193E, 0x1193E}, {0x11943, 0x11946}, {0x119D4, 0x119D7}, {0x119DA, 0x119DB}, {0x119E0, 0x119E0},
    {0x119E2, 0x119E2}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38}, {0x11A3B, 0x11A47}, {0x11A51, 0x11A56},
    {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A9C}, {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09},
    {0x11C30, 0x11C36}, {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F}, {0x11C41, 0x11C45}, {0x11C70, 0x11C71},
    {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3}, {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36},
    {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91},
    {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x11EF7, 0x11EF8}, {0x11F00, 0x11F01},
    {0x11F36, 0x11F3A}, {0x11F40, 0x11F40}, {0x11F42, 0x11F4F}, {0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2},
    {0x13430, 0x13440}, {0x13447, 0x13455}, {0x16E97, 0x16E9A}, {0x16F4F, 0x16F4F}, {0x16FE2, 0x16FE2},
    {0x16FE4, 0x16FE4}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46}, {0x1E000, 0x1E006}, {0x1E008, 0x1E018},
    {0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136},
    {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1E944, 0x1E94A}, {0x1E95E, 0x1E95F}};
}  // namespace detail

// The general category as tokenizers sees it.
inline utf8proc_category_t category(char32_t c) {
  // Recategorized since those tables: U+166D and U+111C9 were Po, U+1734 was Mn.
  if (c == 0x166D || c == 0x111C9) return UTF8PROC_CATEGORY_PO;
  if (c == 0x1734) return UTF8PROC_CATEGORY_MN;
  if (c >= 0x61D && c <= 0x1E95F) {
    const auto* end = std::end(detail::kUnknownToTokenizers);
    const auto* it = std::upper_bound(std::begin(detail::kUnknownToTokenizers), end, c,
                                      [](char32_t x, const detail::Range& r) { return x < r.first; });
    if (it != std::begin(detail::kUnknownToTokenizers) && c <= std::prev(it)->last) return UTF8PROC_CATEGORY_CN;
  }
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// The White_Space property (what Rust's char::is_whitespace tests); it is small and has not
// changed since Unicode 6.3, so it is spelled out rather than read from tables.
inline bool is_white_space_property(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

inline bool is_whitespace(char32_t c) { return is_white_space_property(c); }

inline bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: return true;
    default: return false;
  }
}

inline bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

// The CJK ideograph blocks BERT splits into single characters (not Hangul, Hiragana or Katakana,
// whose words are space-separated).
inline bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

struct NormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;  // tokenizer.json's null means "as lowercase"
  bool lowercase = true;
};

// Canonical decomposition (NFD): full decomposition, then combining marks put in canonical order
// (a stable sort by combining class within each run of nonzero classes).
inline std::u32string nfd(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  utf8proc_int32_t buffer[32];
  for (char32_t c : text) {
    // A character tokenizers does not know has no decomposition there either (U+11938 has one
    // since Unicode 13).
    if (c >= 0x61D && category(c) == UTF8PROC_CATEGORY_CN) {
      out.push_back(c);
      continue;
    }
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    const utf8proc_ssize_t n =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32, UTF8PROC_DECOMPOSE, &boundclass);
    TRUSTML_CHECK(n > 0 && n <= 32, "text::unicode::nfd", "cannot decompose U+", static_cast<std::uint32_t>(c));
    for (utf8proc_ssize_t k = 0; k < n; ++k) out.push_back(static_cast<char32_t>(buffer[k]));
  }
  const auto ccc = [](char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; };
  for (std::size_t i = 0; i < out.size();) {
    if (ccc(out[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && ccc(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(j),
                     [&](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  return out;
}

// Rust's char::to_lowercase: simple mappings, except U+0130, the one unconditional multi-character
// lowercase mapping of SpecialCasing.txt.
inline void append_lowercase(std::u32string& out, char32_t c) {
  if (c == 0x130) {
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  // Rust's standard library lowercases by Unicode 16, utf8proc 2.8 by Unicode 15: the mappings
  // Unicode 16 added.
  if ((c >= 0x10D50 && c <= 0x10D65)) {
    out += c + 0x20;
    return;
  }
  if (c >= 0x16EA0 && c <= 0x16EB8) {
    out += c + 0x1B;
    return;
  }
  switch (c) {
    case 0x1C89: out += char32_t{0x1C8A}; return;
    case 0xA7CB: out += char32_t{0x264}; return;
    case 0xA7DC: out += char32_t{0x19B}; return;
    case 0xA7CC:
    case 0xA7CE:
    case 0xA7D2:
    case 0xA7D4:
    case 0xA7DA: out += c + 1; return;
    default: break;
  }
  out += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

// The BertNormalizer's steps, in its order.
inline std::u32string normalize(std::u32string_view text, const NormalizerOptions& options) {
  std::u32string s;
  s.reserve(text.size() + 8);
  for (char32_t c : text) {
    if (options.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) c = U' ';
    }
    if (options.handle_chinese_chars && is_chinese_char(c)) {
      s += U' ';
      s += c;
      s += U' ';
    } else {
      s += c;
    }
  }
  if (options.strip_accents) {
    std::u32string decomposed = nfd(s);
    s.clear();
    for (char32_t c : decomposed)
      if (category(c) != UTF8PROC_CATEGORY_MN) s += c;
  }
  if (options.lowercase) {
    std::u32string lower;
    lower.reserve(s.size());
    for (char32_t c : s) append_lowercase(lower, c);
    s = std::move(lower);
  }
  return s;
}

// The BertPreTokenizer: split on whitespace (dropped), then every punctuation character is a word
// of its own.
inline std::vector<std::u32string> pre_tokenize(std::u32string_view text) {
  std::vector<std::u32string> words;
  std::u32string word;
  const auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : text) {
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      word += c;
    }
  }
  flush();
  return words;
}

}  // namespace trustml::text::unicode
