// trustml/core/vmath.hpp: exp, log, tanh, sigmoid, erf and GELU for float and double, written once
// for the CPU and CUDA, branch-free so that a CPU loop over them compiles to SIMD code.
//
// The C library's expf/tanhf/erff are scalar calls GCC does not vectorize, which kept every
// transcendental elementwise op at a few percent of memory bandwidth. The functions here use only
// operations IEEE 754 rounds the same way on every device (+, -, *, /, explicit fma: never a*b+c,
// which a compiler may or may not contract), bit moves through memcpy, and selects (ternaries,
// which compile to blends): no library call, no branch, no table. So the CPU and CUDA compute the
// same function, bit for bit, and the CUDA build does not switch to the device math library
// (except double tanh, erf and GELU, which still call the C library, or CUDA's on the device).
//
// Accuracy (tests/core/test_vmath.cpp measures it, against glibc, over every float with a stride
// and over the special values): within 2 ulp of the C library everywhere, including denormal
// inputs and outputs, +-inf, NaN (propagated), the overflow and underflow boundaries and -0
// (float GELU: within 2 ulp of the double C library's x erfc(-x / sqrt 2) / 2 rounded to float).
//
// Methods (each polynomial's coefficients are Taylor coefficients, or, for erfcx, a Chebyshev fit
// made for this file: long-double erfc at 200 Chebyshev nodes, converted to monomials):
//   exp      Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial written
//            as 1 + r + r^2 q(r), and 2^n applied so that denormal results are rounded once
//            (float: n added to the exponent field, and for n < -125 n + 64 then a product with
//            2^-64; double: two factors 2^n1 2^n2).
//   log      x = m 2^e, m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f):
//            ln m = 2 atanh(s) = f - s (f - R(s^2)), R the atanh series less its first term.
//   tanh     (float) odd Taylor polynomial for |x| < 0.55, 1 - 2 / (e^{2|x|} + 1) above, where
//            tanh >= 1/2 and the subtraction loses nothing.
//   sigmoid  num / (1 + e^{-|x|}) with num = 1 or e^{-|x|}: never overflows, so denormal results
//            near x = -100 are kept (float: evaluated in double).
//   erf      (float, computed in double) its Taylor series for |x| < 1/2, otherwise
//            1 - erfc(z), erfc(z) = e^{-z^2} erfcx(z), erfcx as a polynomial in t = (z - 3) / (z + 3),
//            which maps [0, inf) to [-1, 1) (degree 14, relative error 2.2e-10).
//   gelu     x Phi(x) = x erfc(-x / sqrt 2) / 2 (float: e^{-x^2/2} in float from x^2 split exactly
//            by an fma, the erfcx polynomial in double), so that it does not cancel for negative x
//            as 1 + erf(x / sqrt 2) does.
// Double tanh and erf still call the C library (not vectorized); see docs/performance.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "trustml/core/config.hpp"

// Always inlined: GCC would otherwise keep the longer ones (gelu, erf) as calls, and a call in a
// loop keeps the loop scalar. (nvcc's __forceinline__ is the same attribute.)
#if defined(__GNUC__) || defined(__clang__) || defined(__CUDACC__)
#define TRUSTML_VMATH_INLINE inline __attribute__((always_inline))
#else
#define TRUSTML_VMATH_INLINE inline
#endif

namespace trustml::vmath {

namespace detail {
TRUSTML_HD TRUSTML_VMATH_INLINE std::uint32_t bits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
TRUSTML_HD TRUSTML_VMATH_INLINE std::uint64_t bits(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
TRUSTML_HD TRUSTML_VMATH_INLINE float float_of(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
TRUSTML_HD TRUSTML_VMATH_INLINE double double_of(std::uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
// |x| and x with the sign of s, by bits (std::fabs/copysign are fine too, but this is certain to
// stay a bit operation on every compiler).
TRUSTML_HD TRUSTML_VMATH_INLINE float abs(float x) { return float_of(bits(x) & 0x7fffffffu); }
TRUSTML_HD TRUSTML_VMATH_INLINE double abs(double x) { return double_of(bits(x) & 0x7fffffffffffffffull); }
TRUSTML_HD TRUSTML_VMATH_INLINE float with_sign_of(float x, float s) {
  return float_of(bits(x) | (bits(s) & 0x80000000u));
}
TRUSTML_HD TRUSTML_VMATH_INLINE double with_sign_of(double x, double s) {
  return double_of(bits(x) | (bits(s) & 0x8000000000000000ull));
}
// min(a, c) for non-negative floats a and c, on their bits (a NaN counts as larger than c).
TRUSTML_HD TRUSTML_VMATH_INLINE float min_bits(float a, float c) {
  const std::uint32_t ab = bits(a), cb = bits(c);
  return float_of(ab < cb ? ab : cb);
}
// 2^n for a double n-as-integer in [-1022, 1023].
TRUSTML_HD TRUSTML_VMATH_INLINE double pow2(std::int64_t n) {
  return double_of(static_cast<std::uint64_t>(n + 1023) << 52);
}

// The coefficients of the polynomials that kernels/cpu/vmath_avx512.hpp evaluates too, highest
// degree first, listed once for both. (A function, not an array: nvcc's device code cannot read a
// host constexpr array; constant indices fold either way.)
struct ExpTaylor {  // e^r = 1 + r + r^2 q(r): q's coefficients, 1/7! down to 1/2!
  static constexpr int size = 6;
  TRUSTML_HD static constexpr float at(int i) {
    constexpr float c[size] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f};
    return c[i];
  }
};
struct TanhTaylor {  // tanh x = x + x^3 P(x^2) for |x| < 0.55: the Taylor series to x^19
  static constexpr int size = 9;
  TRUSTML_HD static constexpr float at(int i) {
    constexpr float c[size] = {-2.391291142e-04f, 5.900274409e-04f, -1.455834387e-03f,
                               3.592128037e-03f,  -8.863235530e-03f, 2.186948854e-02f,
                               -5.396825397e-02f, 1.333333333e-01f,  -3.333333333e-01f};
    return c[i];
  }
};
struct ErfcxFit {  // erfcx(z), z >= 0, as a polynomial of degree 14 in t = (z - 3) / (z + 3)
  static constexpr int size = 15;
  TRUSTML_HD static constexpr double at(int i) {
    constexpr double c[size] = {6.3831699254751628e-07, 1.2544102494203846e-06, -7.1274263327633647e-06,
                                -1.1676507516942061e-05, 6.3392736474814082e-05, 4.4393376653432612e-05,
                                -0.00059676547615486973, 0.00070808881947865784, 0.0042690632441895783,
                                -0.024392569808490368,  0.071665846129017913,  -0.15011593006618662,
                                0.24560380129417445,    -0.32623356021355449,  0.1790011511846144};
    return c[i];
  }
};
TRUSTML_HD TRUSTML_VMATH_INLINE float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
TRUSTML_HD TRUSTML_VMATH_INLINE double fma(double a, double b, double c) { return ::fma(a, b, c); }
// Horner's rule with fma over one of the coefficient lists above.
template <class P, class R>
TRUSTML_HD TRUSTML_VMATH_INLINE R horner(R x) {
  R p = P::at(0);
  TRUSTML_UNROLL
  for (int i = 1; i < P::size; ++i) p = detail::fma(p, x, static_cast<R>(P::at(i)));
  return p;
}

// e^y for y in [-745, 0] (the double precision used inside the float functions: relative error
// below 1e-11): Taylor polynomial of degree 10, 2^n in two factors for the denormal range.
TRUSTML_HD TRUSTML_VMATH_INLINE double exp_neg(double y) {
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer in the low bits
  const double t = ::fma(y, 1.44269504088896340736, shifter);
  const double n = t - shifter;
  const std::int64_t k = static_cast<std::int64_t>(bits(t) - bits(shifter));
  double r = ::fma(-n, 6.93147180369123816490e-01, y);  // ln2 high part (32 bits): n * hi exact
  r = ::fma(-n, 1.90821492927058770002e-10, r);         // ln2 low part
  double q = 1.0 / 3628800;
  q = ::fma(q, r, 1.0 / 362880);
  q = ::fma(q, r, 1.0 / 40320);
  q = ::fma(q, r, 1.0 / 5040);
  q = ::fma(q, r, 1.0 / 720);
  q = ::fma(q, r, 1.0 / 120);
  q = ::fma(q, r, 1.0 / 24);
  q = ::fma(q, r, 1.0 / 6);
  q = ::fma(q, r, 0.5);
  const double p = 1.0 + ::fma(r * r, q, r);
  const std::int64_t k1 = ((k + 2048) >> 1) - 1024;  // shifted to non-negative first: a logical shift
  return p * pow2(k1) * pow2(k - k1);
}
// erfcx(z) = e^{z^2} erfc(z) for z >= 0, relative error 2.2e-10 (Chebyshev fit made for this file,
// see the top).
TRUSTML_HD TRUSTML_VMATH_INLINE double erfcx_poly(double z) { return horner<ErfcxFit>((z - 3.0) / (z + 3.0)); }
// erfc(z) for z in [0, 10.5]: e^{-z^2} erfcx(z).
TRUSTML_HD TRUSTML_VMATH_INLINE double erfc_nonneg(double z) { return exp_neg(-z * z) * erfcx_poly(z); }
}  // namespace detail

// ---- exp ----
TRUSTML_HD TRUSTML_VMATH_INLINE float exp(float x) {
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float t = ::fmaf(x, 1.44269504088896341f, shifter);
  const float n = t - shifter;
  const std::int32_t k = static_cast<std::int32_t>(detail::bits(t) - detail::bits(shifter));
  float r = ::fmaf(-n, 0.693145751953125f, x);   // ln2 high part (16 bits): n * hi is exact
  r = ::fmaf(-n, 1.428606765330187045e-06f, r);  // ln2 low part
  // e^r = 1 + r + r^2 q(r), Taylor to r^7: truncation 5.2e-9 relative (0.09 ulp) at |r| = ln2/2.
  const float p = 1.0f + ::fmaf(r * r, detail::horner<detail::ExpTaylor>(r), r);  // in [0.70, 1.42]
  // p 2^k by adding k to p's exponent field. Below k = -125 the result is denormal: there k + 64 is
  // added and the product with 2^-64 rounds once. At k = 128 (x <= 88.7228317, the largest float
  // whose exp is finite) r < 0, so p <= 1 and the field does not overflow.
  const bool low = k < -125;
  const std::uint32_t kb = static_cast<std::uint32_t>(low ? k + 64 : k);
  float y = detail::float_of(detail::bits(p) + (kb << 23));
  y = low ? y * 5.42101086242752217e-20f : y;  // 2^-64
  // Outside [-104, 88.7228317] the result is 0 or inf (e^-104 is below half the smallest denormal);
  // there, and for +-inf and NaN, k is meaningless and the result is replaced.
  y = x > 88.72283172607421875f ? std::numeric_limits<float>::infinity() : y;
  y = x < -104.0f ? 0.0f : y;
  return x == x ? y : x + x;  // NaN in, NaN out (adding to its bits above may have unmade it)
}
TRUSTML_HD TRUSTML_VMATH_INLINE double exp(double x) {
  double xc = x > 710.0 ? 710.0 : x;  // e^710 overflows; e^-746 rounds to 0
  xc = xc < -746.0 ? -746.0 : xc;
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52
  const double t = ::fma(xc, 1.44269504088896340736, shifter);
  const double n = t - shifter;
  const std::int64_t k = static_cast<std::int64_t>(detail::bits(t) - detail::bits(shifter));
  double r = ::fma(-n, 6.93147180369123816490e-01, xc);  // ln2 high part (32 bits)
  r = ::fma(-n, 1.90821492927058770002e-10, r);          // ln2 low part
  // Taylor to r^13: truncation 4e-18 relative at |r| = ln2/2.
  double q = 1.0 / 6227020800.0;
  q = ::fma(q, r, 1.0 / 479001600.0);
  q = ::fma(q, r, 1.0 / 39916800.0);
  q = ::fma(q, r, 1.0 / 3628800.0);
  q = ::fma(q, r, 1.0 / 362880.0);
  q = ::fma(q, r, 1.0 / 40320.0);
  q = ::fma(q, r, 1.0 / 5040.0);
  q = ::fma(q, r, 1.0 / 720.0);
  q = ::fma(q, r, 1.0 / 120.0);
  q = ::fma(q, r, 1.0 / 24.0);
  q = ::fma(q, r, 1.0 / 6.0);
  q = ::fma(q, r, 0.5);
  const double p = 1.0 + ::fma(r * r, q, r);
  const std::int64_t k1 = ((k + 2048) >> 1) - 1024;  // k in [-1077, 1025]: both factors normal
  return p * detail::pow2(k1) * detail::pow2(k - k1);
}

// ---- log ----
namespace detail {
inline constexpr double inf = std::numeric_limits<double>::infinity();
inline constexpr double minus_inf = -inf;
inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();
// ln x for x > 0 finite and normal, with `terms` coefficients of the atanh series after the first.
template <int terms>
TRUSTML_HD TRUSTML_VMATH_INLINE double log_normal(double x) {
  const std::uint64_t b = bits(x);
  double e = static_cast<double>(static_cast<std::int64_t>(b >> 52) - 1023);
  double m = double_of((b & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
  const bool high = m > 1.41421356237309504880;
  m = high ? 0.5 * m : m;
  e = high ? e + 1.0 : e;
  const double f = m - 1.0;  // exact
  const double s = f / (2.0 + f), s2 = s * s;
  double R = 2.0 / (2 * terms + 1);
  TRUSTML_UNROLL
  for (int j = terms - 1; j >= 1; --j) R = ::fma(R, s2, 2.0 / (2 * j + 1));  // unrolled: constants fold
  R = R * s2;
  const double lm = ::fma(-s, f - R, f);
  return ::fma(e, 6.93147180369123816490e-01, ::fma(e, 1.90821492927058770002e-10, lm));
}
}  // namespace detail
TRUSTML_HD TRUSTML_VMATH_INLINE float log(float x) {
  // In double: every positive float, denormals included, is a normal double.
  const double xd = static_cast<double>(x);
  // For 0, negative, inf and NaN inputs log_normal returns a finite value that is then replaced.
  const double ok = detail::log_normal<6>(xd);  // truncation s^14 / 15 < 1e-11
  const double special = x == 0.0f ? detail::minus_inf : (x < 0.0f ? detail::nan : xd + xd);  // +inf, NaN: x
  const bool normal = (xd > 0.0) & (xd < detail::inf);
  return static_cast<float>(normal ? ok : special);
}
TRUSTML_HD TRUSTML_VMATH_INLINE double log(double x) {
  const bool tiny = x < 2.2250738585072014e-308;  // denormal (or <= 0): scaled by 2^54 first
  const double xs = tiny ? x * 18014398509481984.0 : x;
  const double ok = detail::log_normal<10>(xs) - (tiny ? 37.429947750237047 : 0.0);  // 54 ln 2
  const double special = x == 0.0 ? detail::minus_inf : (x < 0.0 ? detail::nan : x + x);
  const bool normal = (x > 0.0) & (x < detail::inf);
  return normal ? ok : special;
}

// ---- sigmoid ----
// (float: in double, where the three roundings of e, 1 + e and the quotient cost 1e-11, not the
// 2 ulp they may reach in float.)
TRUSTML_HD TRUSTML_VMATH_INLINE float sigmoid(float x) {
  double a = detail::abs(static_cast<double>(x));
  a = a > 110.0 ? 110.0 : a;             // sigmoid(-110) is below the smallest float
  const double e = detail::exp_neg(-a);  // in (0, 1]: never overflows; NaN passes through
  return static_cast<float>((x >= 0.0f ? 1.0 : e) / (1.0 + e));
}
TRUSTML_HD TRUSTML_VMATH_INLINE double sigmoid(double x) {
  const double e = vmath::exp(-detail::abs(x));
  return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}

// ---- tanh ----
TRUSTML_HD TRUSTML_VMATH_INLINE float tanh(float x) {
  const float a = detail::abs(x);
  // |x| < 0.55: x + x^3 P(x^2), the Taylor series of tanh to x^19 (truncation 6e-10 relative).
  const float x2 = x * x;
  const float small = ::fmaf(a * x2, detail::horner<detail::TanhTaylor>(x2), a);
  // |x| >= 0.55: 1 - 2 / (e^{2|x|} + 1) >= 1/2; e^{2|x|} = inf for large |x| gives exactly 1.
  const float big = 1.0f - 2.0f / (vmath::exp(2.0f * a) + 1.0f);
  return detail::with_sign_of(a < 0.55f ? small : big, x);  // keeps -0; NaN: both are NaN
}
TRUSTML_HD TRUSTML_VMATH_INLINE double tanh(double x) { return ::tanh(x); }

// ---- erf ----
TRUSTML_HD TRUSTML_VMATH_INLINE float erf(float x) {
  const double xd = static_cast<double>(x);
  double z = detail::abs(xd);
  z = z > 10.0 ? 10.0 : z;  // erf(10) is 1 in float and double; NaN passes through
  const double z2 = z * z;  // exact: a float squared fits a double
  // |x| < 1/2: x P(x^2), the Taylor series (2/sqrt(pi)) sum (-1)^n x^(2n+1) / (n! (2n+1)) to n = 8.
  double p = 1.6462114365889246e-06;
  p = ::fma(p, z2, -1.492565035840625e-05);
  p = ::fma(p, z2, 0.00012055332981789664);
  p = ::fma(p, z2, -0.0008548327023450852);
  p = ::fma(p, z2, 0.005223977625442188);
  p = ::fma(p, z2, -0.026866170645131252);
  p = ::fma(p, z2, 0.11283791670955126);
  p = ::fma(p, z2, -0.37612638903183754);
  p = ::fma(p, z2, 1.1283791670955126);
  const double small = xd * p;
  const double big = detail::with_sign_of(::fma(-detail::exp_neg(-z2), detail::erfcx_poly(z), 1.0), xd);
  return static_cast<float>(z < 0.5 ? small : big);
}
TRUSTML_HD TRUSTML_VMATH_INLINE double erf(double x) { return ::erf(x); }

// ---- GELU: x Phi(x) = x erfc(-x / sqrt 2) / 2 (the exact GELU, PyTorch's default) ----
namespace detail {
// Phi(-|x|) = erfc(|x| / sqrt 2) / 2 for |x| <= 15: e^{-x^2/2} erfcx(|x| / sqrt 2) / 2, with
// e^{-x^2/2} in float from x^2 split exactly into h + l (fma), e^{-h/2} (1 - l/2), so that it keeps
// its accuracy where x^2 is large, and erfcx in double (the degree-14 polynomial; in float it
// loses up to 2e-7 to rounding). Also returns e^{-x^2/2} in e.
TRUSTML_HD TRUSTML_VMATH_INLINE double half_erfc_abs(float a, float& e) {
  const float h = a * a, l = ::fmaf(a, a, -h);
  const float e0 = vmath::exp(-0.5f * h);
  e = ::fmaf(e0, -0.5f * l, e0);
  const double z = static_cast<double>(a) * 0.70710678118654752440;
  return 0.5 * static_cast<double>(e) * erfcx_poly(z);
}
}  // namespace detail
TRUSTML_HD TRUSTML_VMATH_INLINE float gelu(float x) {
  // |x| clamped at 15, where Phi(-15) = 4e-51 is 0 in float: -15 * 0 = -0 at -inf, inf * 1 at +inf.
  // (The clamp is an integer min of the bits, and the selects choose between computed values: a
  // float clamp or arithmetic inside a select leads GCC to branch, and the loop stays scalar.)
  const float a = detail::abs(x);
  const float ac = detail::min_bits(a, 15.0f);  // a NaN becomes 15 here, but xs below keeps it
  float e;
  const double hc = detail::half_erfc_abs(ac, e);  // Phi(-|x|)
  const double cdf = x < 0.0f ? hc : 1.0 - hc;
  const float xs = x < 0.0f ? -ac : x;
  return static_cast<float>(static_cast<double>(xs) * cdf);
}
TRUSTML_HD TRUSTML_VMATH_INLINE float gelu_grad(float x) {
  const float a = detail::abs(x);
  const float ac = detail::min_bits(a, 15.0f);  // 1 and 0 in float beyond; x phi(x) stays finite at +-inf
  float e;
  const double hc = detail::half_erfc_abs(ac, e);
  const double cdf = x < 0.0f ? hc : 1.0 - hc;
  const float xs = x == x ? detail::with_sign_of(ac, x) : x;
  return static_cast<float>(::fma(static_cast<double>(xs) * 0.39894228040143267794, static_cast<double>(e), cdf));
}
TRUSTML_HD TRUSTML_VMATH_INLINE double gelu(double x) {
  const double h = 0.5 * ::erfc(detail::abs(x) * 0.70710678118654752440);
  return x < -40.0 ? -0.0 : x * (x < 0.0 ? h : 1.0 - h);
}
// d/dx GELU = Phi(x) + x phi(x), phi the standard normal density (float: above).
TRUSTML_HD TRUSTML_VMATH_INLINE double gelu_grad(double x) {
  const double h = 0.5 * ::erfc(detail::abs(x) * 0.70710678118654752440);
  const double cdf = x < 0.0 ? h : 1.0 - h;
  return cdf + x * 0.39894228040143267794 * ::exp(-0.5 * x * x);
}

}  // namespace trustml::vmath
