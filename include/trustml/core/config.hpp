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
template <class... Parts>
[[noreturn]] void fail(const char* op, Parts&&... parts) {
  std::ostringstream os;
  os << "trustml::" << op << ": ";
  (os << ... << std::forward<Parts>(parts));
  throw Error(os.str());
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
