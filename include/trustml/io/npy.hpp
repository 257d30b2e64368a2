// trustml/io/npy.hpp: NumPy's .npy format for one array, read and written.
//
// Layout: "\x93NUMPY", a version byte pair (1.0, 2.0 or 3.0), the header length (2 bytes in 1.0,
// 4 bytes after), and the header, a Python dict literal padded with spaces and ended by '\n':
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// then the elements in C order. save_npy writes what numpy.save writes (version 1.0, unless a
// shape is too long for its 2-byte header length, and data aligned to 64 bytes); load_npy accepts
// every version numpy writes, C order only.
//
// The loader treats the file as untrusted: the header is parsed by a small strict parser (never
// evaluated), and its shape is checked against the file's real size before anything is
// allocated. Every failure is a trustml::Error "trustml::load_npy: <path>: ...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/io/array.hpp"
#include "trustml/io/atomic_file.hpp"
#include "trustml/io/input_file.hpp"

namespace trustml::io {

namespace detail {
inline constexpr std::string_view kNpyMagic = "\x93NUMPY";
// numpy itself refuses headers over 10000 bytes unless told to trust the file.
inline constexpr std::uint64_t kMaxNpyHeader = 1 << 20;

struct NpyDescr {
  const char* descr;
  DType dtype;
};
// Little-endian only: numpy.save writes the machine's order, and every machine trustml runs on
// is little-endian. BF16 has no NumPy dtype.
inline constexpr NpyDescr kNpyDescrs[] = {{"<f4", DType::F32}, {"<f8", DType::F64}, {"<i8", DType::I64},
                                          {"<i4", DType::I32}, {"|u1", DType::U8},  {"|b1", DType::BOOL},
                                          {"<f2", DType::F16}};

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

// A strict parser for the one dict literal numpy writes: string keys; string, True/False and
// tuple-of-integers values; Python's optional trailing commas. Errors say where parsing stopped.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{');
    while (!consume('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr" && !seen_descr) {
        seen_descr = true;
        skip_space();
        check(peek() == '\'' || peek() == '"', "'descr' is not a string (structured dtypes are not supported)");
        header.descr = string_literal();
      } else if (key == "fortran_order" && !seen_fortran) {
        seen_fortran = true;
        header.fortran_order = bool_literal();
      } else if (key == "shape" && !seen_shape) {
        seen_shape = true;
        header.shape = int_tuple();
      } else {
        fail("unexpected or repeated key '" + key + "' (expected descr, fortran_order, shape once each)");
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    check(pos_ == text_.size(), "unexpected text after the dict");
    check(seen_descr && seen_fortran && seen_shape, "the dict lacks one of descr, fortran_order, shape");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    // The header as numpy wrote it, without its padding, cut short if it is long.
    const std::string_view shown = text_.substr(0, text_.find_last_not_of(" \n") + 1);
    ::trustml::detail::fail("load_npy", file_, ": header ", what, " (at character ", pos_, " of ", shown.substr(0, 200),
                            shown.size() > 200 ? "..." : "", ")");
  }
  void check(bool ok, const char* what) const {
    if (!ok) fail(what);
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    check(quote == '\'' || quote == '"', "expected a quoted string");
    const std::size_t close = text_.find(quote, pos_ + 1);
    check(close != std::string_view::npos, "has an unterminated string");
    std::string value(text_.substr(pos_ + 1, close - pos_ - 1));
    check(value.find('\\') == std::string::npos, "has an escape sequence in a string, which is not supported");
    pos_ = close + 1;
    return value;
  }
  bool bool_literal() {
    skip_space();
    for (const bool value : {true, false}) {
      const std::string_view word = value ? "True" : "False";
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail("expected True or False");
  }
  std::int64_t integer() {
    skip_space();
    check(peek() != '-', "has a negative dimension");
    check(peek() >= '0' && peek() <= '9', "expected a non-negative integer");
    std::int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = text_[pos_++] - '0';
      check(value <= (std::numeric_limits<std::int64_t>::max() - digit) / 10, "has a dimension beyond 2^63");
      value = value * 10 + digit;
    }
    return value;
  }
  // (), (n,), (n, m), (n, m,): one element needs its comma, or Python reads a parenthesized int.
  std::vector<std::int64_t> int_tuple() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (!consume(')')) {
      dims.push_back(integer());
      if (!consume(',')) {
        skip_space();
        check(peek() == ')', "has a shape that is not a tuple of non-negative integers");
        check(dims.size() > 1, "has a one-element shape without its comma, which is not a tuple");
        ++pos_;
        break;
      }
    }
    return dims;
  }

  std::string_view text_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

// The header dict exactly as numpy.save writes it (keys sorted, repr of the values), including the
// spare spaces numpy leaves so that the first dimension can grow in place.
inline std::string npy_header_dict(const char* descr, const std::vector<std::int64_t>& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  constexpr std::size_t kGrowthAxisMaxDigits = 21;
  if (!shape.empty()) dict.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
  return dict;
}
}  // namespace detail

// Writes one array to `path` as NPY (see the top of this file), atomically. BF16 has no NPY dtype.
inline void save_npy(const std::filesystem::path& path, const Array& array) {
  constexpr const char* op = "save_npy";
  const std::string file = path.string();
  check_array(array, op, file + ": ");
  const detail::NpyDescr* descr = nullptr;
  for (const auto& d : detail::kNpyDescrs)
    if (d.dtype == array.dtype) descr = &d;
  TRUSTML_CHECK(descr != nullptr, op, file, ": array '", array.name, "' holds ", array.dtype,
                ", which NPY has no dtype for");

  const std::string dict = detail::npy_header_dict(descr->descr, array.shape);
  // numpy pads magic, version, length, dict and '\n' to a multiple of 64 (a full 64 when already
  // aligned), and moves to version 2.0 (4-byte length) only when 1.0's 2-byte length is too small.
  auto padding = [&](std::size_t length_bytes) { return 64 - (8 + length_bytes + dict.size() + 1) % 64; };
  const bool version1 = dict.size() + 1 + padding(2) <= std::numeric_limits<std::uint16_t>::max();
  const std::size_t length_bytes = version1 ? 2 : 4;
  const std::string header = dict + std::string(padding(length_bytes), ' ') + "\n";

  std::string prefix(detail::kNpyMagic);
  prefix += static_cast<char>(version1 ? 1 : 2);
  prefix += '\0';
  for (std::size_t i = 0; i < length_bytes; ++i) prefix += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_file_atomically(
      path,
      [&](FileSink& sink) {
        sink.write(prefix.data(), prefix.size());
        sink.write(header.data(), header.size());
        sink.write(array.bytes);
      },
      op);
}

// Reads one array from an NPY file; its name is the file's stem ("weights" for weights.npy).
inline Array load_npy(const std::filesystem::path& path) {
  constexpr const char* op = "load_npy";
  InputFile input = open_input_file(path, op);
  std::ifstream& in = input.stream;
  const std::string& file = input.name;
  const std::uint64_t file_size = input.size;

  // Every read below is of a size already checked against file_size, so none can fail short
  // unless the file changes meanwhile, which the final check of the stream catches.
  char magic[8];
  TRUSTML_CHECK(file_size >= sizeof magic, op, file, ": the file has ", file_size,
                " bytes, fewer than the 8 of the NPY magic and version");
  in.read(magic, sizeof magic);
  TRUSTML_CHECK(std::string_view(magic, 6) == detail::kNpyMagic, op, file,
                ": not an NPY file (it does not start with \\x93NUMPY)");
  const int major = static_cast<unsigned char>(magic[6]), minor = static_cast<unsigned char>(magic[7]);
  TRUSTML_CHECK(major >= 1 && major <= 3 && minor == 0, op, file, ": NPY version ", major, ".", minor,
                " is not supported (1.0, 2.0 and 3.0 are)");
  const std::uint64_t length_bytes = major == 1 ? 2 : 4;
  TRUSTML_CHECK(file_size >= sizeof magic + length_bytes, op, file, ": the file has ", file_size,
                " bytes, too few for the header length of NPY version ", major, ".0");
  unsigned char length[4] = {};
  in.read(reinterpret_cast<char*>(length), static_cast<std::streamsize>(length_bytes));
  std::uint64_t header_size = 0;
  for (std::uint64_t i = length_bytes; i-- > 0;) header_size = header_size << 8 | length[i];
  const std::uint64_t header_start = sizeof magic + length_bytes;
  TRUSTML_CHECK(header_size <= detail::kMaxNpyHeader, op, file, ": the header length ", header_size,
                " exceeds the limit of ", detail::kMaxNpyHeader, " bytes");
  TRUSTML_CHECK(header_size <= file_size - header_start, op, file, ": the header length ", header_size, " exceeds the ",
                file_size - header_start, " bytes that follow it");
  std::string header_text(header_size, '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_size));
  const detail::NpyHeader header = detail::NpyHeaderParser(header_text, file).parse();

  Array array;
  array.name = path.stem().string();
  array.shape = header.shape;
  const detail::NpyDescr* descr = nullptr;
  for (const auto& d : detail::kNpyDescrs)
    if (header.descr == d.descr) descr = &d;
  std::string supported;
  for (const auto& d : detail::kNpyDescrs) supported += (supported.empty() ? "'" : ", '") + std::string(d.descr) + "'";
  TRUSTML_CHECK(descr != nullptr, op, file, ": unsupported descr '", header.descr, "' (supported: ", supported, ")");
  array.dtype = descr->dtype;
  TRUSTML_CHECK(!header.fortran_order, op, file, ": shape ", ShapeText{array.shape},
                " is stored in Fortran order; only C order is supported (save a C-contiguous array)");
  const auto expected = byte_size(array.shape, array.dtype);
  TRUSTML_CHECK(expected.has_value(), op, file, ": shape ", ShapeText{array.shape}, " of ", header.descr, kTooLarge);
  const std::uint64_t data_start = header_start + header_size;
  const std::uint64_t data_size = file_size - data_start;
  TRUSTML_CHECK(data_size == *expected, op, file, ": shape ", ShapeText{array.shape}, " of ", header.descr, " needs ",
                *expected, " bytes of data, but the file has ", data_size, " after the header (at byte ", data_start,
                ")");
  array.bytes.resize(data_size);
  in.read(reinterpret_cast<char*>(array.bytes.data()), static_cast<std::streamsize>(data_size));
  TRUSTML_CHECK(in && static_cast<std::uint64_t>(in.gcount()) == data_size, op, file,
                ": the file ended early while reading ", data_size, " bytes of data at byte ", data_start);
  check_array(array, op, file + ": ");
  return array;
}

}  // namespace trustml::io
