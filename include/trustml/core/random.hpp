// trustml/core/random.hpp: Philox4x32-10, the one counter-based random generator of the library.
//
// A draw is a pure function of (seed, index): no state is carried between calls, so the CPU and the
// CUDA kernels produce the same numbers for the same seed and offset, in any order and on any
// number of threads, and zeroth-order estimators can regenerate a direction from (seed, step, query)
// instead of storing it. Reference: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"
// (SC'11); the constants are those of Random123 and of cuRAND's Philox.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "trustml/core/config.hpp"

namespace trustml::random {

struct Philox4x32 {
  std::uint32_t v[4];
};

TRUSTML_HD inline void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

// Ten rounds of Philox4x32 on the 128-bit counter (c0..c3) under the 64-bit key.
TRUSTML_HD inline Philox4x32 philox4x32(std::uint64_t counter_lo, std::uint64_t counter_hi, std::uint64_t key) {
  std::uint32_t c0 = static_cast<std::uint32_t>(counter_lo), c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(counter_hi), c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  TRUSTML_UNROLL
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// A uniform float in (0, 1] from 32 random bits: never 0, so log() of it is finite.
TRUSTML_HD inline double uint_to_unit(std::uint32_t x) { return (static_cast<double>(x) + 1.0) * (1.0 / 4294967296.0); }

// Element `index` of the uniform stream (seed, stream): lane index % 4 of block index / 4.
TRUSTML_HD inline double uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const Philox4x32 r = philox4x32(index >> 2, stream, seed);
  return uint_to_unit(r.v[index & 3]);
}

// Box-Muller needs log, sqrt, sin and cos. The device math library and glibc round log, sin and cos
// differently in the last bit, so these are computed here from operations IEEE 754 rounds exactly
// on both (+, -, *, /, sqrt, bit moves and explicit fma: never a*b+c, which a compiler may or may
// not contract into an fma), which makes normal draws bit-identical on the CPU and on CUDA. They are
// also branch-free and call no library function, so a CPU loop over draws compiles to SIMD code.
namespace portable {
// The IEEE 754 bits of a double, and back (memcpy: defined behaviour on the host and on CUDA).
TRUSTML_HD inline std::uint64_t bits_of(double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}
TRUSTML_HD inline double double_of(std::uint64_t bits) {
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
// x = m 2^e with m in [1/2, 1) for a normal (not subnormal) double x > 0: frexp by bit moves.
TRUSTML_HD inline double split_exponent(double x, int& e) {
  const std::uint64_t bits = bits_of(x);
  e = static_cast<int>((bits >> 52) & 0x7ff) - 1022;
  return double_of((bits & 0x800fffffffffffffull) | 0x3fe0000000000000ull);
}
// ln(x) for a normal double x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s),
// s = (m-1)/(m+1).
TRUSTML_HD inline double log(double x) {
  int e;
  double m = split_exponent(x, e);
  const bool low = m < 0.70710678118654752440;
  m = low ? m * 2 : m;
  e = low ? e - 1 : e;
  const double s = (m - 1) / (m + 1), s2 = s * s;  // |s| < 0.1716: terms up to s^23 reach 1e-19
  double p = 1.0 / 23;
  TRUSTML_UNROLL
  for (int k = 21; k >= 1; k -= 2) p = ::fma(p, s2, 1.0 / k);  // unrolled: the 1.0 / k fold to constants
  return ::fma(static_cast<double>(e), 0.69314718055994530942, 2 * s * p);
}
// sqrt(x) for a normal double x > 0 (the C library's sqrt may set errno, which keeps compilers from
// using SIMD square roots): 1/sqrt(x) from a bit-level first guess (error < 3.5%) and four Newton
// steps (3.5e-2, 1.8e-3, 4.9e-6, 3.6e-11, 2e-21), then one residual correction of x / sqrt(x).
TRUSTML_HD inline double sqrt(double x) {
  double r = double_of(0x5fe6eb50c7b537a9ull - (bits_of(x) >> 1));
  const double half = 0.5 * x;
  TRUSTML_UNROLL
  for (int step = 0; step < 4; ++step) r = r * ::fma(-half * r, r, 1.5);
  const double y = x * r;
  return ::fma(::fma(-y, y, x), 0.5 * r, y);
}
// sin and cos of theta in [0, pi/2] by their Taylor series (terms to theta^22 and theta^23: < 1e-17).
TRUSTML_HD inline void sincos_quadrant(double theta, double& sine, double& cosine) {
  const double t2 = theta * theta;
  double ps = 1.0, pc = 1.0;
  TRUSTML_UNROLL
  for (int k = 22; k >= 2; k -= 2) {                   // unrolled: the reciprocals fold to constants (no division)
    ps = ::fma(t2 * (-1.0 / ((k + 1) * k)), ps, 1.0);  // sin: 1 - t^2/(2*3) (1 - t^2/(4*5) (...))
    pc = ::fma(t2 * (-1.0 / (k * (k - 1))), pc, 1.0);  // cos: 1 - t^2/(1*2) (1 - t^2/(3*4) (...))
  }
  sine = theta * ps;
  cosine = pc;
}
}  // namespace portable

// Elements 2 * block and 2 * block + 1 of the standard normal stream: Box-Muller on lanes 0 and 1
// of Philox block `block`, the cosine branch for the even element and the sine branch for the odd.
TRUSTML_HD inline void normal_pair(std::uint64_t seed, std::uint64_t stream, std::uint64_t block, double& even,
                                   double& odd) {
  const Philox4x32 r = philox4x32(block, stream, seed ^ 0x5851F42D4C957F2Dull);
  const double u1 = uint_to_unit(r.v[0]);
  const double radius = portable::sqrt(-2.0 * portable::log(u1));
  // The angle 2 pi u, u = v / 2^32 in (0, 1], as a quarter turn q = floor(4 u) and the fraction of
  // a quarter turn past it, both exact, read from the bits of v (std::floor would keep the compiler
  // from vectorizing a loop of draws).
  const std::uint64_t v = static_cast<std::uint64_t>(r.v[1]) + 1;
  const double q = static_cast<double>(v >> 30);
  const double within = static_cast<double>(v & 0x3fffffffu) * (1.0 / 1073741824.0);
  double s, c;
  portable::sincos_quadrant(within * 1.57079632679489661923, s, c);
  // q is 0, 1, 2, 3, or 4 for u = 1 (a full turn, the same as q = 0). Compared as doubles: a
  // conversion to int would keep the compiler from vectorizing a loop of draws.
  const bool odd_quadrant = (q == 1) | (q == 3);
  const double sine = (odd_quadrant ? c : s) * ((q >= 2) & (q < 4) ? -1.0 : 1.0);
  const double cosine = (odd_quadrant ? s : c) * ((q >= 1) & (q < 3) ? -1.0 : 1.0);
  even = radius * cosine;
  odd = radius * sine;
}

// Element `index` of the standard normal stream (one half of normal_pair).
TRUSTML_HD inline double normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  double even, odd;
  normal_pair(seed, stream, index >> 1, even, odd);
  return (index & 1) ? odd : even;
}

}  // namespace trustml::random
