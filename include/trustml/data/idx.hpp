// trustml/data/idx.hpp: a reader for IDX files, the format of MNIST and Fashion-MNIST.
//
// An IDX file is: two zero bytes, an element-type code, the rank r, then r big-endian 32-bit
// dimensions, then the elements in row-major order. Files are usually gzipped; zlib's gzread reads
// gzipped and plain files alike. Only unsigned bytes (type code 0x08, what MNIST-style images and
// labels use) are supported.
//
// A damaged download must never crash a training program or yield a silently short data set, so
// every departure from the format (bad magic, an unknown type, a header or data cut short, a
// damaged gzip stream, bytes after the data) is a trustml::Error "trustml::read_idx: <path>: ..."
// that names the byte offset (in the decompressed stream) where the file stops making sense.
// Memory grows with the data actually read, so a header that claims terabytes costs nothing.
//
// Link zlib (the trustml::data target does).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/shape.hpp"

namespace trustml::data {

// The element-type codes of the IDX format.
inline constexpr std::uint8_t kIdxUnsignedByte = 0x08;

struct IdxArray {
  std::uint8_t type_code = kIdxUnsignedByte;
  std::vector<std::int64_t> dims;   // outermost first
  std::vector<std::uint8_t> bytes;  // the elements, row-major

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : dims) n *= d;
    return n;
  }
  // "[60000, 28, 28]", for messages.
  std::string dims_string() const {
    std::string out = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
    return out + "]";
  }
};

namespace detail {

inline const char* idx_type_name(std::uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

inline std::string hex_byte(unsigned value) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(value >> 4) & 0xF] + digits[value & 0xF];
}

// A gzFile that is closed on every path, with reads that tell a clean end of data from a damaged
// or truncated gzip stream.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    TRUSTML_CHECK(std::filesystem::exists(status), "read_idx", path, ": no such file");
    TRUSTML_CHECK(std::filesystem::is_regular_file(status), "read_idx", path, ": not a regular file");
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    TRUSTML_CHECK(file_ != nullptr, "read_idx", path,
                  ": cannot open: ", errno ? std::strerror(errno) : "out of memory");
    gzbuffer(file_, 1u << 17);  // fewer read() calls than zlib's 8 KiB default
  }
  ~GzReader() {
    if (file_) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes into out; returns how many were read (fewer only at the end of the data).
  // A damaged or truncated gzip stream is an error naming `offset`, where this read started.
  std::size_t read(void* out, std::size_t n, std::uint64_t offset) {
    std::size_t total = 0;
    auto* dst = static_cast<unsigned char*>(out);
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, 1u << 24));
      const int got = gzread(file_, dst + total, chunk);
      check_stream(offset + total);
      TRUSTML_CHECK(got >= 0, "read_idx", path_, ": read error at byte ", offset + total);
      if (got == 0) break;
      total += static_cast<std::size_t>(got);
    }
    return total;
  }

 private:
  void check_stream(std::uint64_t offset) {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_OK) return;
    if (code == Z_BUF_ERROR)
      ::trustml::detail::fail("read_idx", path_,
                              ": gzip stream is truncated (compressed data ends near decompressed byte ", offset, ")");
    if (code == Z_ERRNO)
      ::trustml::detail::fail("read_idx", path_, ": read error near byte ", offset, ": ", std::strerror(errno));
    // zlib's message starts with the path, which this error already names.
    std::string reason = message;
    if (reason.rfind(path_ + ": ", 0) == 0) reason.erase(0, path_.size() + 2);
    ::trustml::detail::fail("read_idx", path_, ": damaged gzip data near decompressed byte ", offset, ": ", reason);
  }

  std::string path_;
  gzFile file_ = nullptr;
};

}  // namespace detail

// Reads an IDX file (gzipped or not). Throws trustml::Error on anything but a complete, well-formed
// unsigned-byte IDX array.
inline IdxArray read_idx(const std::string& path) {
  detail::GzReader in(path);
  unsigned char magic[4];
  const std::size_t got_magic = in.read(magic, 4, 0);
  TRUSTML_CHECK(got_magic == 4, "read_idx", path, ": truncated header: the 4-byte magic number ends at byte ",
                got_magic);
  TRUSTML_CHECK(magic[0] == 0 && magic[1] == 0, "read_idx", path,
                ": bad magic number at byte 0: ", detail::hex_byte(magic[0]), " ", detail::hex_byte(magic[1]),
                " (an IDX file starts with two zero bytes; is this an IDX file?)");
  const std::uint8_t type_code = magic[2];
  TRUSTML_CHECK(type_code == kIdxUnsignedByte, "read_idx", path, ": element type ", detail::hex_byte(type_code), " (",
                detail::idx_type_name(type_code), ") at byte 2 is not supported; only ",
                detail::hex_byte(kIdxUnsignedByte), " (unsigned byte)");
  const int rank = magic[3];
  TRUSTML_CHECK(rank >= 1 && rank <= kMaxRank, "read_idx", path, ": rank ", rank, " at byte 3 is not in [1, ", kMaxRank,
                "]");

  IdxArray array;
  array.type_code = type_code;
  std::uint64_t offset = 4;
  // The product of the non-zero dimensions is kept within 2^40, a bound no IDX data set approaches,
  // by a check before each multiplication. It bounds the element count and every stride, so that
  // an empty array ([0, 2^32 - 1, 2^32 - 1]) cannot overflow them either.
  constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 40;
  std::uint64_t extent = 1;
  bool empty = false;
  for (int d = 0; d < rank; ++d) {
    unsigned char be[4];
    const std::size_t got = in.read(be, 4, offset);
    TRUSTML_CHECK(got == 4, "read_idx", path, ": truncated header: dimension ", d, " of ", rank, " (bytes ", offset,
                  "..", offset + 3, ") is cut off at byte ", offset + got);
    const std::uint64_t dim = (std::uint64_t{be[0]} << 24) | (std::uint64_t{be[1]} << 16) |
                              (std::uint64_t{be[2]} << 8) | std::uint64_t{be[3]};
    array.dims.push_back(static_cast<std::int64_t>(dim));
    TRUSTML_CHECK(dim <= kMaxElements / extent, "read_idx", path, ": dimension ", d, " (", dim, ") at byte ", offset,
                  " makes the array (dimensions ", array.dims_string(), " so far) larger than 2^40 elements; the ",
                  "header is damaged");
    if (dim == 0) empty = true;
    else extent *= dim;
    offset += 4;
  }
  const std::uint64_t elements = empty ? 0 : extent;

  // Read in chunks and grow the buffer as data arrives: the header's claim is checked, not trusted.
  const std::uint64_t header_bytes = offset;
  constexpr std::size_t kChunk = std::size_t{1} << 22;
  array.bytes.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(elements, kChunk)));
  while (array.bytes.size() < elements) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(elements - array.bytes.size(), kChunk));
    const std::size_t before = array.bytes.size();
    array.bytes.resize(before + want);
    const std::size_t got = in.read(array.bytes.data() + before, want, offset);
    offset += got;
    TRUSTML_CHECK(got == want, "read_idx", path, ": truncated data: the header (", header_bytes, " bytes) promises ",
                  elements, " data bytes, ending at byte ", header_bytes + elements, ", but the file ends at byte ",
                  offset);
  }
  unsigned char extra;
  TRUSTML_CHECK(in.read(&extra, 1, offset) == 0, "read_idx", path, ": unexpected bytes after the data, from byte ",
                offset, " (the header promises ", elements, " data bytes); the header or file is damaged");
  return array;
}

}  // namespace trustml::data
