// trustml/core/config.hpp: build configuration, the library's error type and its checks.
//
// Every failure a user can cause (wrong shapes, wrong dtypes, a tensor on the wrong device, a file
// that is not what it claims to be) is reported as trustml::Error whose message names the
// operation and the offending shapes, never as a crash or a silently wrong answer.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(__CUDACC__)
#define TRUSTML_HD __host__ __device__
#define TRUSTML_DEVICE_CODE 1
// Before a TRUSTML_HD template that the CPU also instantiates with host-only types (std::complex):
// nvcc would warn that it calls host functions, although only the host ever runs that instance.
#define TRUSTML_HD_HOST_INSTANCE _Pragma("nv_exec_check_disable")
#else
#define TRUSTML_HD
#define TRUSTML_DEVICE_CODE 0
#define TRUSTML_HD_HOST_INSTANCE
#endif

// Before a loop with a constant trip count that must be unrolled whole: the loops of the random
// generator, so that a CPU loop over draws has no inner loop left and compiles to SIMD code.
#if defined(__CUDACC__) || defined(__clang__)
#define TRUSTML_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define TRUSTML_UNROLL _Pragma("GCC unroll 32")
#else
#define TRUSTML_UNROLL
#endif

#define TRUSTML_VERSION_MAJOR 0
#define TRUSTML_VERSION_MINOR 1
#define TRUSTML_VERSION_PATCH 0

namespace trustml {

// The one exception type of the library. what() starts with the operation's name.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
// `text` with what would garble a terminal or a log written as \xNN escapes: control characters
// (C0, DEL and C1) and bytes that are not well-formed UTF-8 (stray continuation bytes, overlong
// forms, surrogates, code points past U+10FFFF, cut sequences). Well-formed UTF-8 stays as it is.
// Error messages copy names, keys and strings out of files, whose bytes can be anything.
inline std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char c = byte(i);
    // The length of the sequence c starts and its code point; 0 where c cannot start one.
    const std::size_t length = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                          : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    char32_t code = length == 1 ? c : length == 2 ? c & 0x1f : length == 3 ? c & 0x0f : c & 0x07;
    bool ok = length > 0 && i + length <= n;
    for (std::size_t k = 1; ok && k < length; ++k) {
      ok = (byte(i + k) & 0xc0) == 0x80;
      code = (code << 6) | (byte(i + k) & 0x3f);
    }
    ok = ok && !(length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) &&
         !(length == 4 && (code < 0x10000 || code > 0x10ffff));
    const bool control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    if (ok && !control) {
      out.append(text, i, length);
      i += length;
      continue;
    }
    // Escape the bytes of a control character, or the first byte of a malformed sequence.
    for (std::size_t k = 0; k < (ok ? length : 1); ++k) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[byte(i + k) >> 4];
      out += hex[byte(i + k) & 0xf];
    }
    i += ok ? length : 1;
  }
  return out;
}

template <class... Parts>
[[noreturn]] void fail(const char* op, Parts&&... parts) {
  std::ostringstream os;
  os << "trustml::" << op << ": ";
  (os << ... << std::forward<Parts>(parts));
  throw Error(printable(os.str()));
}

// Lets a static_assert in a primary template fire only when that template is instantiated.
template <class...>
inline constexpr bool dependent_false = false;
}  // namespace detail

}  // namespace trustml

// TRUSTML_CHECK(cond, "op", parts...) throws trustml::Error("trustml::op: parts...") when cond is false.
#define TRUSTML_CHECK(cond, op, ...)            \
  do {                                          \
    if (!(cond)) [[unlikely]]                   \
      ::trustml::detail::fail(op, __VA_ARGS__); \
  } while (0)
