// trustml/kernels/rows.hpp: row functors of softmax, log_softmax and layer_norm (ops/nn.hpp), one
// TRUSTML_HD definition for every device, launched through Kernels<D>::for_each.
//
// A "row" is the n elements an op normalizes over. Softmax rows lie along any dim of a contiguous
// tensor viewed as [outer, n, inner]: row r starts at (r / inner) * n * inner + r % inner and steps
// by inner (Contig: inner == 1, the hot case, where every loop below is a plain contiguous loop
// that the compiler vectorizes). Layer-norm rows are the trailing normalized_shape.numel() elements.
//
// Two launches of the same math:
//   *Rows      one call per row (SoftmaxColumns: per block of neighbouring strided rows):
//              statistics and output in one visit of the row, which stays in cache (the CPU:
//              for_each splits the rows among the OpenMP threads);
//   *Stats + *Elements   one call per row for the statistics, then one call per output element
//              (devices with per_element_threads, a GPU: a few thousand threads each walking a long
//              row leave it idle, and neighbouring threads read neighbouring elements).
// Both sum in the same order (row_sum) and write the same expression, so they give the same bits
// (tests/ops/test_nn_rows.cpp runs both on the CPU).
#pragma once

#include <cstdint>
#include <limits>

#include "trustml/core/config.hpp"
#include "trustml/core/scalar.hpp"

namespace trustml::kernels::rows {

// Independent partial sums per row: no loop-carried dependency on one accumulator, so the loops
// vectorize, and each lane adds n / kLanes terms (the error of a float sum of a 1536-element row
// grows with 96 terms, not 1536).
inline constexpr int kLanes = 16;

// Offset of element j of a row with step `inner`.
template <bool Contig>
TRUSTML_HD inline std::int64_t at(std::int64_t j, std::int64_t inner) {
  if constexpr (Contig) {
    (void)inner;
    return j;
  } else {
    return j * inner;
  }
}

// Start of row r of a tensor viewed as [outer, n, inner].
template <bool Contig>
TRUSTML_HD inline std::int64_t row_start(std::int64_t r, std::int64_t n, std::int64_t inner) {
  if constexpr (Contig) {
    (void)inner;
    return r * n;
  } else {
    return (r / inner) * n * inner + r % inner;
  }
}

// The largest element of a row (a NaN is not propagated here: it makes every exp(x - max) of its
// row NaN, and so the whole row of the output, as in PyTorch).
template <bool Contig, class V>
TRUSTML_HD V row_max(const V* p, std::int64_t n, std::int64_t inner) {
  V part[kLanes];
  for (int q = 0; q < kLanes; ++q) part[q] = -std::numeric_limits<V>::infinity();
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int q = 0; q < kLanes; ++q) {
      const V x = p[at<Contig>(j + q, inner)];
      part[q] = x > part[q] ? x : part[q];
    }
  for (; j < n; ++j) {
    const V x = p[at<Contig>(j, inner)];
    part[0] = x > part[0] ? x : part[0];
  }
  V m = part[0];
  for (int q = 1; q < kLanes; ++q) m = part[q] > m ? part[q] : m;
  return m;
}

// Sum over a row of f(x_j, offset_j), in kLanes partial sums added in a fixed order.
// Strided rows (Contig false) add in order, one term after the other: the order in which
// SoftmaxColumns adds a column.
template <bool Contig, class V, class F>
TRUSTML_HD V row_sum(const V* p, std::int64_t n, std::int64_t inner, const F& f) {
  V s = V(0);
  if constexpr (!Contig) {
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t k = at<Contig>(j, inner);
      s += f(p[k], k);
    }
  } else {
    V part[kLanes];
    for (int q = 0; q < kLanes; ++q) part[q] = V(0);
    std::int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
      for (int q = 0; q < kLanes; ++q) part[q] += f(p[j + q], j + q);
    for (; j < n; ++j) part[0] += f(p[j], j);
    for (int q = 0; q < kLanes; ++q) s += part[q];
  }
  return s;
}

template <class V>
struct ExpShift {  // exp(x - m)
  V m;
  TRUSTML_HD V operator()(V x, std::int64_t) const { return math::exp(x - m); }
};
template <class V>
struct ExpShiftStore {  // exp(x - m), also written to out
  V m;
  V* out;
  TRUSTML_HD V operator()(V x, std::int64_t k) const {
    const V e = math::exp(x - m);
    out[k] = e;
    return e;
  }
};
template <class V>
struct Value {
  TRUSTML_HD V operator()(V x, std::int64_t) const { return x; }
};
template <class V>
struct SquaredDeviation {
  V mean;
  TRUSTML_HD V operator()(V x, std::int64_t) const { return (x - mean) * (x - mean); }
};

// ---- softmax and log_softmax: y = exp(x - m) / s, or y = (x - m) - log s, with m the row's
// largest element and s = sum exp(x - m). A row of -inf only gives NaN (-inf - -inf), as PyTorch.

template <class V, bool Contig, bool Log>
struct SoftmaxRows {
  const V* x;
  V* y;
  std::int64_t n, inner;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const std::int64_t base = row_start<Contig>(r, n, inner);
    const V* p = x + base;
    V* o = y + base;
    const V m = row_max<Contig>(p, n, inner);
    if constexpr (Log) {
      const V ls = math::log(row_sum<Contig>(p, n, inner, ExpShift<V>{m}));
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t k = at<Contig>(j, inner);
        o[k] = (p[k] - m) - ls;
      }
    } else {
      const V inv = V(1) / row_sum<Contig>(p, n, inner, ExpShiftStore<V>{m, o});
      for (std::int64_t j = 0; j < n; ++j) o[at<Contig>(j, inner)] *= inv;
    }
  }
};

// The same along a dim that is not the last, for devices that run one call per row: call c takes
// up to kWidth neighbouring rows (columns of one [n, inner] slab) at once, so that every loop runs
// over contiguous elements and vectorizes; the rows' statistics live in arrays on the stack.
template <class V, bool Log>
struct SoftmaxColumns {
  static constexpr std::int64_t kWidth = 64;
  const V* x;
  V* y;
  std::int64_t n, inner;
  TRUSTML_HD static std::int64_t calls(std::int64_t outer, std::int64_t inner) {
    return outer * ((inner + kWidth - 1) / kWidth);
  }
  TRUSTML_HD void operator()(std::int64_t c) const {
    const std::int64_t per = (inner + kWidth - 1) / kWidth, o = c / per, k0 = (c - o * per) * kWidth;
    const std::int64_t len = inner - k0 < kWidth ? inner - k0 : kWidth;
    const V* p = x + o * n * inner + k0;
    V* q = y + o * n * inner + k0;
    V m[kWidth], s[kWidth];
    for (std::int64_t k = 0; k < len; ++k) {
      m[k] = -std::numeric_limits<V>::infinity();
      s[k] = V(0);
    }
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < len; ++k) {
        const V v = p[j * inner + k];
        m[k] = v > m[k] ? v : m[k];
      }
    if constexpr (Log) {
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t k = 0; k < len; ++k) s[k] += math::exp(p[j * inner + k] - m[k]);
      for (std::int64_t k = 0; k < len; ++k) s[k] = math::log(s[k]);
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t k = 0; k < len; ++k) q[j * inner + k] = (p[j * inner + k] - m[k]) - s[k];
    } else {
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t k = 0; k < len; ++k) {
          const V e = math::exp(p[j * inner + k] - m[k]);
          q[j * inner + k] = e;
          s[k] += e;
        }
      for (std::int64_t k = 0; k < len; ++k) s[k] = V(1) / s[k];
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t k = 0; k < len; ++k) q[j * inner + k] *= s[k];
    }
  }
};

// stats[r] = m, stats[rows + r] = 1 / s (softmax) or log s (log_softmax).
template <class V, bool Contig, bool Log>
struct SoftmaxStats {
  const V* x;
  V* stats;
  std::int64_t rows, n, inner;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const V* p = x + row_start<Contig>(r, n, inner);
    const V m = row_max<Contig>(p, n, inner);
    const V s = row_sum<Contig>(p, n, inner, ExpShift<V>{m});
    stats[r] = m;
    if constexpr (Log) stats[rows + r] = math::log(s);
    else stats[rows + r] = V(1) / s;
  }
};
template <class V, bool Log>
struct SoftmaxElements {
  const V* x;
  const V* stats;
  V* y;
  std::int64_t rows, n, inner;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const std::int64_t r = (i / (n * inner)) * inner + i % inner;
    const V m = stats[r];
    if constexpr (Log) {
      y[i] = (x[i] - m) - stats[rows + r];
    } else {
      const V e = math::exp(x[i] - m);
      y[i] = e * stats[rows + r];
    }
  }
};

// ---- layer_norm over contiguous rows of n elements: y = (x - mean) * rstd * w + b, with
// rstd = 1 / sqrt(var + eps) and the biased variance, from two passes over the row (the mean, then
// the squared deviations from it: no cancellation, unlike E[x^2] - mean^2). w and b are rows of n
// elements, each optional.

template <class V>
struct RowMoments {
  V mean, rstd;
};
template <class V>
TRUSTML_HD RowMoments<V> row_moments(const V* p, std::int64_t n, V eps) {
  const V mean = row_sum<true>(p, n, 1, Value<V>{}) / V(n);
  const V var = row_sum<true>(p, n, 1, SquaredDeviation<V>{mean}) / V(n);
  return {mean, V(1) / math::sqrt(var + eps)};
}
// One expression for both launches; which of w and b exist is a template argument, so that the
// loops have no branches and the compiler contracts (fuses multiply-adds in) the same expression
// the same way in both.
template <class V, bool HasW, bool HasB>
TRUSTML_HD V layer_norm_value(V x, V mean, V rstd, const V* w, const V* b, std::int64_t j) {
  V v = (x - mean) * rstd;
  if constexpr (HasW) v = v * w[j];
  if constexpr (HasB) v = v + b[j];
  return v;
}

template <class V, bool HasW, bool HasB>
struct LayerNormRows {
  const V* x;
  const V* w;
  const V* b;
  V* y;
  std::int64_t n;
  V eps;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const V* p = x + r * n;
    V* o = y + r * n;
    const RowMoments<V> s = row_moments(p, n, eps);
    for (std::int64_t j = 0; j < n; ++j) o[j] = layer_norm_value<V, HasW, HasB>(p[j], s.mean, s.rstd, w, b, j);
  }
};

// stats[r] = mean, stats[rows + r] = rstd.
template <class V>
struct LayerNormStats {
  const V* x;
  V* stats;
  std::int64_t rows, n;
  V eps;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const RowMoments<V> s = row_moments(x + r * n, n, eps);
    stats[r] = s.mean;
    stats[rows + r] = s.rstd;
  }
};
template <class V, bool HasW, bool HasB>
struct LayerNormElements {
  const V* x;
  const V* stats;
  const V* w;
  const V* b;
  V* y;
  std::int64_t rows, n;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const std::int64_t r = i / n;
    y[i] = layer_norm_value<V, HasW, HasB>(x[i], stats[r], stats[rows + r], w, b, i - r * n);
  }
};

// ---- first-order backward, one call per row (the rules of ops/nn.hpp use them on devices without
// per_element_threads when no graph of the gradient is recorded; otherwise they compose tensor ops).

template <class V>
struct TimesRow {  // x * g[k]
  const V* g;
  TRUSTML_HD V operator()(V x, std::int64_t k) const { return x * g[k]; }
};

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g). y, g, dx are
// contiguous tensors of the same shape, rows laid out as in SoftmaxRows.
template <class V, bool Contig, bool Log>
struct SoftmaxBackwardRows {
  const V* y;
  const V* g;
  V* dx;
  std::int64_t n, inner;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const std::int64_t base = row_start<Contig>(r, n, inner);
    const V* yp = y + base;
    const V* gp = g + base;
    V* o = dx + base;
    if constexpr (Log) {
      const V s = row_sum<Contig>(gp, n, inner, Value<V>{});
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t k = at<Contig>(j, inner);
        o[k] = gp[k] - math::exp(yp[k]) * s;
      }
    } else {
      const V dot = row_sum<Contig>(yp, n, inner, TimesRow<V>{gp});
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t k = at<Contig>(j, inner);
        o[k] = yp[k] * (gp[k] - dot);
      }
    }
  }
};

// layer_norm's dx over contiguous rows of n, with xhat = (x - mean) * rstd and gx = g * w:
// dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)); also stores each row's mean and rstd in
// stats (as LayerNormStats) for LayerNormParamGrads.
template <class V, bool HasW>
struct GradTimesWeight {  // g[k] * w[k], or g[k]
  const V* w;
  TRUSTML_HD V operator()(V g, std::int64_t k) const {
    if constexpr (HasW) return g * w[k];
    else return g;
  }
};
template <class V, bool HasW>
struct GradTimesWeightXhat {  // g[k] * w[k] * xhat[k]
  const V* w;
  const V* x;
  V mean, rstd;
  TRUSTML_HD V operator()(V g, std::int64_t k) const {
    return GradTimesWeight<V, HasW>{w}(g, k) * ((x[k] - mean) * rstd);
  }
};
template <class V, bool HasW>
struct LayerNormBackwardRows {
  const V* x;
  const V* w;
  const V* g;
  V* dx;
  V* stats;
  std::int64_t rows, n;
  V eps;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const V* xp = x + r * n;
    const V* gp = g + r * n;
    V* o = dx + r * n;
    const RowMoments<V> s = row_moments(xp, n, eps);
    stats[r] = s.mean;
    stats[rows + r] = s.rstd;
    const V mean_gx = row_sum<true>(gp, n, 1, GradTimesWeight<V, HasW>{w}) / V(n);
    const V mean_gx_xhat = row_sum<true>(gp, n, 1, GradTimesWeightXhat<V, HasW>{w, xp, s.mean, s.rstd}) / V(n);
    for (std::int64_t j = 0; j < n; ++j) {
      const V xhat = (xp[j] - s.mean) * s.rstd;
      o[j] = s.rstd * (GradTimesWeight<V, HasW>{w}(gp[j], j) - mean_gx - xhat * mean_gx_xhat);
    }
  }
};

// dweight[j] = sum over rows of g * xhat, dbias[j] = sum over rows of g (either may be nullptr), for
// the columns [c * kColumns, (c + 1) * kColumns) of call c: each call walks all rows over its
// block of columns, so the calls together read x and g once.
template <class V>
struct LayerNormParamGrads {
  static constexpr std::int64_t kColumns = 32;
  const V* x;
  const V* g;
  const V* stats;
  V* dw;
  V* db;
  std::int64_t rows, n;
  TRUSTML_HD void operator()(std::int64_t c) const {
    const std::int64_t j0 = c * kColumns, len = n - j0 < kColumns ? n - j0 : kColumns;
    V acc_w[kColumns], acc_b[kColumns];
    for (std::int64_t j = 0; j < kColumns; ++j) acc_w[j] = acc_b[j] = V(0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const V* xp = x + r * n + j0;
      const V* gp = g + r * n + j0;
      const V mean = stats[r], rstd = stats[rows + r];
      for (std::int64_t j = 0; j < len; ++j) {
        acc_w[j] += gp[j] * ((xp[j] - mean) * rstd);
        acc_b[j] += gp[j];
      }
    }
    for (std::int64_t j = 0; j < len; ++j) {
      if (dw) dw[j0 + j] = acc_w[j];
      if (db) db[j0 + j] = acc_b[j];
    }
  }
};

}  // namespace trustml::kernels::rows
