// trustml/core/scalar.hpp: the Scalar policy (float, double, complex<float>, complex<double>, and
// int64 for indices) and the math every kernel uses, written once for host and device.
//
// Kernels never call std:: math directly: they call trustml::math::f(x), which resolves to the CUDA
// math library for real types on the device, and by argument-dependent lookup to std:: (host) or
// cuda::std:: (device) for complex types. That is what lets one functor run on both devices.
#pragma once

#include <cmath>
#include <complex>
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "trustml/core/config.hpp"
#include "trustml/core/vmath.hpp"

namespace trustml {

template <class T>
struct is_complex : std::false_type {};
template <class R>
struct is_complex<std::complex<R>> : std::true_type {};
template <class T>
inline constexpr bool is_complex_v = is_complex<T>::value;

// Element types whose tensors carry gradients.
template <class T>
concept FloatingScalar = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::complex<float>> ||
    std::same_as<T, std::complex<double>>;

// Element types a Tensor may hold: the floating ones, and int64 for indices and labels.
template <class T>
concept Scalar = FloatingScalar<T> || std::same_as<T, std::int64_t>;

template <class T>
struct real_type {
  using type = T;
};
template <class R>
struct real_type<std::complex<R>> {
  using type = R;
};
template <class T>
using real_t = typename real_type<T>::type;

template <class R>
using complex_t = std::complex<real_t<R>>;

template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  else if constexpr (std::is_same_v<T, double>) return "float64";
  else if constexpr (std::is_same_v<T, std::complex<float>>) return "complex64";
  else if constexpr (std::is_same_v<T, std::complex<double>>) return "complex128";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  else return "unknown";
}

namespace math {
// Real exp, log, tanh, erf, sigmoid and gelu are core/vmath.hpp's: branch-free code that a CPU loop
// vectorizes and that computes the same function on CUDA. The other real overloads call the C math
// library, which nvcc maps to its device math functions.
#define TRUSTML_REAL_MATH(name, fn)                            \
  TRUSTML_HD inline float name(float x) { return ::fn##f(x); } \
  TRUSTML_HD inline double name(double x) { return ::fn(x); }
#define TRUSTML_VMATH(name)                                        \
  TRUSTML_HD inline float name(float x) { return vmath::name(x); } \
  TRUSTML_HD inline double name(double x) { return vmath::name(x); }
TRUSTML_VMATH(exp)
TRUSTML_VMATH(log)
TRUSTML_REAL_MATH(sqrt, sqrt)
TRUSTML_REAL_MATH(sin, sin)
TRUSTML_REAL_MATH(cos, cos)
TRUSTML_VMATH(tanh)
TRUSTML_VMATH(erf)
TRUSTML_VMATH(sigmoid)
TRUSTML_VMATH(gelu)
TRUSTML_VMATH(gelu_grad)
TRUSTML_REAL_MATH(abs, fabs)
#undef TRUSTML_REAL_MATH
#undef TRUSTML_VMATH
TRUSTML_HD inline float pow(float x, float p) { return ::powf(x, p); }
TRUSTML_HD inline double pow(double x, double p) { return ::pow(x, p); }
TRUSTML_HD inline float atan2(float y, float x) { return ::atan2f(y, x); }
TRUSTML_HD inline double atan2(double y, double x) { return ::atan2(y, x); }

template <class R>
requires std::is_floating_point_v<R> TRUSTML_HD inline R conj(R x) { return x; }
template <class R>
requires std::is_floating_point_v<R> TRUSTML_HD inline R real(R x) { return x; }
template <class R>
requires std::is_floating_point_v<R> TRUSTML_HD inline R imag(R) { return R(0); }

// Complex overloads: any type with real()/imag() members (std::complex, cuda::std::complex).
template <class C>
concept ComplexLike = requires(C c) {
  c.real();
  c.imag();
};
#define TRUSTML_COMPLEX_MATH(name)       \
  TRUSTML_HD_HOST_INSTANCE               \
  template <ComplexLike C>               \
  TRUSTML_HD inline C name(const C& z) { \
    using std::name;                     \
    return name(z);                      \
  }
TRUSTML_COMPLEX_MATH(exp)
TRUSTML_COMPLEX_MATH(log)
TRUSTML_COMPLEX_MATH(sqrt)
TRUSTML_COMPLEX_MATH(sin)
TRUSTML_COMPLEX_MATH(cos)
TRUSTML_COMPLEX_MATH(tanh)
TRUSTML_COMPLEX_MATH(conj)
#undef TRUSTML_COMPLEX_MATH
// 1 / (1 + e^-z) for complex z.
TRUSTML_HD_HOST_INSTANCE
template <ComplexLike C>
TRUSTML_HD inline C sigmoid(const C& z) {
  using std::exp;
  return C(1) / (C(1) + exp(-z));
}
TRUSTML_HD_HOST_INSTANCE
template <ComplexLike C>
TRUSTML_HD inline auto abs(const C& z) {
  using std::abs;
  return abs(z);
}
template <ComplexLike C>
TRUSTML_HD inline auto real(const C& z) {
  return z.real();
}
template <ComplexLike C>
TRUSTML_HD inline auto imag(const C& z) {
  return z.imag();
}
TRUSTML_HD_HOST_INSTANCE
template <ComplexLike C, class P>
TRUSTML_HD inline C pow(const C& z, P p) {
  using std::pow;
  return pow(z, p);
}
}  // namespace math

}  // namespace trustml
