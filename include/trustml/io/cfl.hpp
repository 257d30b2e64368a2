// trustml/io/cfl.hpp: BART's .cfl/.hdr pair (one complex array), read and written.
//
// `name.hdr` is text: a line "# Dimensions", then a line of up to 16 sizes (BART writes all 16,
// dimension 0 = readout x, 1 = y, 2 = z, 3 = coil, 4 = ESPIRiT map, ...), and other "# Section"
// blocks (Command, Files, Creator) that readers ignore. `name.cfl` is raw complex64 (re, im pairs,
// little-endian) in column-major order: BART dimension 0 varies fastest. Read as row-major, that is
// the same memory with the dimensions reversed, so no element is moved:
//   BART [8, 8, 1, 2, 1, ..., 1]  <->  trustml shape [2, 1, 8, 8]
// read_cfl drops trailing BART singletons (rank >= 1) but also returns all 16 BART dimensions, so
// a meaningful singleton (say one coil at dimension 3) survives a read-write round trip
// (mrirecon/bart#40). The files are untrusted: the header is parsed strictly and checked against
// the data file's size before anything is allocated; every failure is a trustml::Error
// "trustml::read_cfl: <file>: ...".
#pragma once

#include <algorithm>
#include <array>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/scalar.hpp"
#include "trustml/core/shape.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/io/array.hpp"
#include "trustml/io/atomic_file.hpp"
#include "trustml/io/input_file.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::io {

inline constexpr int kCflMaxDims = 16;  // BART's DIMS

struct CflArray {
  std::array<std::int64_t, kCflMaxDims> dims;  // BART order (dimension 0 fastest), padded with 1
  Tensor<std::complex<float>, Cpu> data;       // row-major: the BART dimensions reversed
};

namespace detail {
// A header is a few hundred bytes; the limit only stops a wrong path from being read whole.
inline constexpr std::uint64_t kMaxCflHeader = 1 << 20;

// "x", "x.cfl" and "x.hdr" all name the pair x.cfl/x.hdr. Other extensions stay part of the base
// ("scan.v1" is the pair scan.v1.cfl/scan.v1.hdr), so the suffix is appended, never replaced.
inline std::string cfl_base(const std::filesystem::path& path) {
  const std::filesystem::path ext = path.extension();
  if (ext == ".cfl" || ext == ".hdr") return (path.parent_path() / path.stem()).string();
  return path.string();
}

// The 16 sizes from a header's text; `file` names the .hdr in errors.
inline std::array<std::int64_t, kCflMaxDims> parse_cfl_header(const std::string& text, const std::string& file) {
  constexpr const char* op = "read_cfl";
  std::array<std::int64_t, kCflMaxDims> dims;
  dims.fill(1);
  std::istringstream lines(text);
  std::string line;
  int line_number = 0, dims_line = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // written on Windows
    if (line.empty() || line[0] != '#') continue;               // the contents of other sections
    // BART reads the keyword with "# %31s": "#Dimensions" and trailing blanks are the same line.
    std::istringstream words(line.substr(1));
    std::string keyword, extra;
    if (!(words >> keyword) || keyword != "Dimensions" || (words >> extra)) continue;
    TRUSTML_CHECK(dims_line == 0, op, file, ": a second '# Dimensions' section at line ", line_number,
                  " (the first is at line ", dims_line, ")");
    dims_line = line_number;
    TRUSTML_CHECK(std::getline(lines, line), op, file, ": no line of sizes after '# Dimensions' (line ", line_number,
                  ")");
    ++line_number;
    std::istringstream sizes(line);
    std::string token;
    int count = 0;
    while (sizes >> token) {
      std::int64_t value = 0;
      for (const char c : token) {
        TRUSTML_CHECK(c >= '0' && c <= '9', op, file, ": line ", line_number, ": '", token,
                      "' is not a dimension size (a positive integer)", token[0] == '-' ? ": it is negative" : "");
        TRUSTML_CHECK(value <= (std::numeric_limits<std::int64_t>::max() - (c - '0')) / 10, op, file, ": line ",
                      line_number, ": dimension size ", token, " exceeds 2^63");
        value = value * 10 + (c - '0');
      }
      TRUSTML_CHECK(value > 0, op, file, ": line ", line_number, ": dimension ", count, " has size 0");
      ++count;
      TRUSTML_CHECK(count <= kCflMaxDims, op, file, ": line ", line_number, " has more than BART's ", kCflMaxDims,
                    " dimensions");
      dims[static_cast<std::size_t>(count - 1)] = value;
    }
    TRUSTML_CHECK(count > 0, op, file, ": line ", line_number, " after '# Dimensions' holds no sizes");
  }
  TRUSTML_CHECK(dims_line > 0, op, file, ": no '# Dimensions' line (not a BART header?)");
  return dims;
}

// Elements of `dims` when their bytes as complex64 fit in 64 bits (and the count in int64).
inline std::optional<std::uint64_t> cfl_numel(std::span<const std::int64_t> dims) {
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 8;
  std::uint64_t count = 1;
  for (const std::int64_t d : dims) {
    if (d <= 0 || count > limit / static_cast<std::uint64_t>(d)) return std::nullopt;
    count *= static_cast<std::uint64_t>(d);
  }
  return count;
}

inline std::string cfl_dims_text(std::span<const std::int64_t> dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}
}  // namespace detail

// Reads base.hdr and base.cfl (`base` may also end in .cfl or .hdr). The tensor's shape is the
// BART dimensions reversed, trailing singletons dropped; where that is more than trustml's rank 8,
// every singleton is dropped (the 16 dims keep them) and only then is the rank an error.
inline CflArray read_cfl(const std::filesystem::path& base) {
  constexpr const char* op = "read_cfl";
  const std::string name = detail::cfl_base(base);
  CflArray result;
  {
    InputFile header = open_input_file(name + ".hdr", op);
    TRUSTML_CHECK(header.size <= detail::kMaxCflHeader, op, header.name, ": ", header.size,
                  " bytes is too long for a header (limit ", detail::kMaxCflHeader, ")");
    std::string text(header.size, '\0');
    header.read_at(0, text.data(), header.size, "the header");
    result.dims = detail::parse_cfl_header(text, header.name);
  }
  InputFile data = open_input_file(name + ".cfl", op);
  const std::optional<std::uint64_t> numel = detail::cfl_numel(result.dims);
  TRUSTML_CHECK(numel.has_value(), op, name, ".hdr: dimensions ", detail::cfl_dims_text(result.dims),
                " hold more bytes than a 64-bit size can count");
  TRUSTML_CHECK(data.size == *numel * 8, op, data.name, ": dimensions ", detail::cfl_dims_text(result.dims),
                " of complex64 need ", *numel * 8, " bytes, but the file has ", data.size);

  int last = kCflMaxDims - 1;
  while (last > 0 && result.dims[static_cast<std::size_t>(last)] == 1) --last;
  std::vector<std::int64_t> shape(result.dims.rbegin() + (kCflMaxDims - 1 - last), result.dims.rend());
  if (shape.size() > static_cast<std::size_t>(kMaxRank)) std::erase(shape, 1);
  TRUSTML_CHECK(shape.size() <= static_cast<std::size_t>(kMaxRank), op, data.name, ": dimensions ",
                detail::cfl_dims_text(result.dims), " have ", shape.size(),
                " non-singleton sizes, more than trustml's ", kMaxRank);
  result.data = Tensor<std::complex<float>, Cpu>::empty(Shape::from(shape.begin(), shape.end()));
  // complex<float> is two floats (re, im) by the standard, and the host is little-endian (array.hpp).
  data.read_at(0, result.data.data(), data.size, "the complex64 data");
  return result;
}

// Writes `tensor` (complex<float>, complex<double> narrowed to complex64, or float/double with
// imaginary part 0; any strides, any device) as base.cfl and base.hdr. `bart_dims` (1 to 16 sizes,
// padded with 1) gives the BART dimensions; their product must be the tensor's numel. Empty, they
// are the tensor's shape reversed, so that read_cfl gives the shape back.
template <Scalar T, class D>
void write_cfl(const std::filesystem::path& base, const Tensor<T, D>& tensor,
               std::span<const std::int64_t> bart_dims = {}) {
  static_assert(FloatingScalar<T>, "write_cfl writes complex or real floating tensors; cast int64 tensors first");
  constexpr const char* op = "write_cfl";
  const std::string name = detail::cfl_base(base);
  std::array<std::int64_t, kCflMaxDims> dims;
  dims.fill(1);
  const Shape& shape = tensor.shape();
  if (bart_dims.empty()) {
    for (int i = 0; i < shape.rank; ++i) dims[static_cast<std::size_t>(i)] = shape.dims[shape.rank - 1 - i];
  } else {
    TRUSTML_CHECK(bart_dims.size() <= static_cast<std::size_t>(kCflMaxDims), op, name, ": ", bart_dims.size(),
                  " BART dimensions ", detail::cfl_dims_text(bart_dims), ", more than BART's ", kCflMaxDims);
    std::copy(bart_dims.begin(), bart_dims.end(), dims.begin());
  }
  const std::optional<std::uint64_t> numel = detail::cfl_numel(dims);
  // Zero sizes are refused because BART (and read_cfl) refuse them: the pair could not be read back.
  TRUSTML_CHECK(numel.has_value(), op, name, ": BART dimensions ", detail::cfl_dims_text(dims), " of tensor shape ",
                shape, " must be positive and small enough to count in bytes");
  TRUSTML_CHECK(*numel == static_cast<std::uint64_t>(tensor.numel()), op, name, ": BART dimensions ",
                detail::cfl_dims_text(bart_dims), " hold ", *numel, " elements, but the tensor of shape ", shape,
                " has ", tensor.numel());

  // to_vector makes a host copy in row-major order whatever the strides or device.
  const std::vector<T> values = tensor.to_vector();
  std::vector<std::complex<float>> converted;
  const std::complex<float>* out = nullptr;
  if constexpr (std::is_same_v<T, std::complex<float>>) {
    out = values.data();
  } else {
    converted.reserve(values.size());
    for (const T& v : values) converted.emplace_back(static_cast<std::complex<float>>(v));
    out = converted.data();
  }
  std::string header = "# Dimensions\n";
  for (const std::int64_t d : dims) header += std::to_string(d) + " ";  // as BART writes it, trailing blank
  header += "\n";
  // Data first, header last: a reader that sees the new header also finds the new data. A crash in
  // between leaves the old header beside the new data, which read_cfl's size check rejects unless
  // both arrays happen to have the same number of elements.
  write_file_atomically(
      name + ".cfl", [&](FileSink& sink) { sink.write(out, values.size() * sizeof(std::complex<float>)); }, op);
  write_file_atomically(
      name + ".hdr", [&](FileSink& sink) { sink.write(header.data(), header.size()); }, op);
}

template <Scalar T, class D>
void write_cfl(const std::filesystem::path& base, const Tensor<T, D>& tensor,
               std::initializer_list<std::int64_t> bart_dims) {
  write_cfl(base, tensor, std::span<const std::int64_t>(bart_dims.begin(), bart_dims.size()));
}

// Writes what read_cfl returned, keeping its BART dimensions (singletons included).
inline void write_cfl(const std::filesystem::path& base, const CflArray& array) {
  write_cfl(base, array.data, std::span<const std::int64_t>(array.dims));
}

}  // namespace trustml::io
