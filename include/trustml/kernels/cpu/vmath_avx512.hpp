// trustml/kernels/cpu/vmath_avx512.hpp: core/vmath.hpp's float exp, tanh and GELU sixteen lanes
// at a time with AVX-512 intrinsics, bit for bit the same functions, for the CPU map kernel.
//
// GCC vectorizes vmath's scalar code (kernels/cpu/loops.hpp's map loop), but two steps cost that
// code most of its instructions: scaling by 2^k with denormal results rounded once (a select
// between the exponent-field add and a two-step product), and the selects that replace out-of-range
// results. AVX-512 has one instruction for the first, `vscalefps` (p 2^n rounded once, overflowing
// to inf and underflowing through the denormals as IEEE 754 multiplication does), and clamping the
// input first makes the selects unnecessary; the rest is vmath's own sequence of +, -, *, / and
// fma, which round the same in any lane. So each function here returns the bits vmath returns (a
// NaN may carry another payload), and tests/core/test_vmath.cpp checks that over 2^24 floats.
//
//   map_span(f, y, x, n)   y[i] = f(x[i]) for i < n (contiguous floats) for f = fn::Exp, fn::Tanh
//                          and fn::Gelu, defined only where this header compiles with AVX-512F and
//                          AVX-512DQ (-march=native on such a CPU); HasMapSpan<F, Out, In...> says
//                          whether an overload exists
//   map_contiguous(f, y, n, x...)   the map kernel's contiguous loop: map_span where it exists,
//                          else the plain loop
//
// Figures (bench/elementwise on 1M floats, 1 thread, Zen 4; docs/performance.md): exp 24 -> 41 GB/s
// (43% of memcpy), tanh 12.6 -> 17.1 GB/s, GELU 5.2 -> 5.8 GB/s.
#pragma once

#include <cstdint>

#include "trustml/core/vmath.hpp"
#include "trustml/kernels/functors.hpp"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>

// GCC 12 warns that the intrinsics' own _mm512_undefined_ps() "may be used uninitialized" wherever
// they are inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace trustml::kernels::cpu {

namespace avx512 {
inline __m512 set(float v) { return _mm512_set1_ps(v); }
inline __m512d set(double v) { return _mm512_set1_pd(v); }
inline __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
inline __m512d fma(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
// vmath::detail::horner on sixteen floats or eight doubles.
template <class P, class V>
V horner(V x) {
  V p = set(P::at(0));
  for (int i = 1; i < P::size; ++i) p = fma(p, x, set(P::at(i)));
  return p;
}
inline __m512 abs(__m512 x) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff))); }

// vmath::exp(float). Clamping to [-104, 88.72284] gives the same 0 below and inf above that
// vmath's selects give (e^-104 rounds to 0; above 128 ln 2 the scaled result overflows), and
// min/max with the constant first keep a NaN (vminps returns its second operand when one is NaN).
inline __m512 exp(__m512 x) {
  __m512 xc = _mm512_min_ps(set(88.72283935546875f), x);
  xc = _mm512_max_ps(set(-104.0f), xc);
  const __m512 shifter = set(12582912.0f);
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(xc, set(1.44269504088896341f), shifter), shifter);
  __m512 r = _mm512_fnmadd_ps(n, set(0.693145751953125f), xc);  // -n * hi + x, as fmaf(-n, hi, x)
  r = _mm512_fnmadd_ps(n, set(1.428606765330187045e-06f), r);
  const __m512 q = horner<vmath::detail::ExpTaylor>(r);
  const __m512 p = _mm512_add_ps(set(1.0f), _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r));
  return _mm512_scalef_ps(p, n);
}

// vmath::tanh(float): both branches, then the select.
inline __m512 tanh(__m512 x) {
  const __m512 a = abs(x), x2 = _mm512_mul_ps(x, x);
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(a, x2), horner<vmath::detail::TanhTaylor>(x2), a);
  const __m512 e = exp(_mm512_mul_ps(set(2.0f), a));
  const __m512 big = _mm512_sub_ps(set(1.0f), _mm512_div_ps(set(2.0f), _mm512_add_ps(e, set(1.0f))));
  const __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, set(0.55f), _CMP_LT_OQ), big, small);
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), sign));
}

// vmath::detail::erfcx_poly on eight doubles.
inline __m512d erfcx_poly(__m512d z) {
  return horner<vmath::detail::ErfcxFit>(_mm512_div_pd(_mm512_sub_pd(z, set(3.0)), _mm512_add_pd(z, set(3.0))));
}

// GELU's double part (vmath::gelu after e = e^{-x^2/2}) on eight lanes: xs Phi(x) with
// Phi = 1 - hc or hc (x < 0), hc = e erfcx(|x| / sqrt 2) / 2.
inline __m256 gelu_half(__m256 ac, __m256 e, __m256 xs, __mmask8 negative) {
  const __m512d z = _mm512_mul_pd(_mm512_cvtps_pd(ac), set(0.70710678118654752440));
  const __m512d hc = _mm512_mul_pd(_mm512_mul_pd(set(0.5), _mm512_cvtps_pd(e)), erfcx_poly(z));
  const __m512d cdf = _mm512_mask_blend_pd(negative, _mm512_sub_pd(set(1.0), hc), hc);
  return _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(xs), cdf));
}

// vmath::gelu(float): |x| clamped at 15 by its bits, e^{-x^2/2} in float from x^2 = h + l, the
// erfcx polynomial and the product in double, eight lanes per half.
inline __m512 gelu(__m512 x) {
  const __m512 ac = _mm512_castsi512_ps(_mm512_min_epu32(_mm512_castps_si512(abs(x)), _mm512_castps_si512(set(15.0f))));
  const __m512 h = _mm512_mul_ps(ac, ac), l = _mm512_fmsub_ps(ac, ac, h);
  const __m512 e0 = exp(_mm512_mul_ps(set(-0.5f), h));
  const __m512 e = _mm512_fmadd_ps(e0, _mm512_mul_ps(set(-0.5f), l), e0);
  const __mmask16 negative = _mm512_cmp_ps_mask(x, set(0.0f), _CMP_LT_OQ);
  const __m512 xs = _mm512_mask_blend_ps(negative, x, _mm512_sub_ps(set(-0.0f), ac));  // -ac, as the scalar's unary minus
  const __m256 lo = gelu_half(_mm512_castps512_ps256(ac), _mm512_castps512_ps256(e), _mm512_castps512_ps256(xs),
                              static_cast<__mmask8>(negative));
  const __m256 hi = gelu_half(_mm512_extractf32x8_ps(ac, 1), _mm512_extractf32x8_ps(e, 1), _mm512_extractf32x8_ps(xs, 1),
                              static_cast<__mmask8>(negative >> 8));
  return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

// y[i] = f(x[i]) for i < n; two groups of 16 per step (two independent dependency chains keep
// more of the FMA pipes busy: exp 1.3x), the last partial group through masked loads and stores.
template <__m512 (*f)(__m512)>
void apply(float* y, const float* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = f(_mm512_loadu_ps(x + i)), b = f(_mm512_loadu_ps(x + i + 16));
    _mm512_storeu_ps(y + i, a);
    _mm512_storeu_ps(y + i + 16, b);
  }
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
}  // namespace avx512

inline void map_span(fn::Exp, float* y, const float* x, std::int64_t n) { avx512::apply<avx512::exp>(y, x, n); }
inline void map_span(fn::Tanh, float* y, const float* x, std::int64_t n) { avx512::apply<avx512::tanh>(y, x, n); }
inline void map_span(fn::Gelu, float* y, const float* x, std::int64_t n) { avx512::apply<avx512::gelu>(y, x, n); }

}  // namespace trustml::kernels::cpu
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace trustml::kernels::cpu {
template <class F, class Out, class... In>
concept HasMapSpan = requires(F f, Out* y, const In*... x, std::int64_t n) { map_span(f, y, x..., n); };

// y[i] = f(x[i]...) for i < n over contiguous arrays: through map_span where it has an overload,
// else the plain loop (which GCC vectorizes). The map kernel calls this on every build: a call to
// map_span itself would name a function that builds without AVX-512 do not declare.
template <class F, class Out, class... In>
void map_contiguous(F f, Out* y, std::int64_t n, const In*... x) {
  if constexpr (HasMapSpan<F, Out, In...>) {
    map_span(f, y, x..., n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]...);
  }
}
}  // namespace trustml::kernels::cpu
