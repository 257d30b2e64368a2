// trustml/ops/pool.hpp: pooling and resampling over NCHW images (PyTorch semantics).
//
// max_pool2d is a primitive with its own kernel, which records where each maximum was; its rule
// scatters g there with scatter_add, so double backward works. The others are composites:
// avg_pool2d sums the windows that im2col lays out ([N, C * kh * kw, L] viewed as
// [N, C, kh * kw, Ho, Wo]); adaptive_avg_pool2d is separable, so it is two small matmuls with
// averaging matrices; upsample_nearest2d and pixel_(un)shuffle are reshapes, expands
// and permutes. Their derivatives come from the rules of those primitives.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "trustml/ops/conv.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml {

namespace ops {
// The window checks of the pooling ops, plus PyTorch's limit padding <= kernel / 2, which keeps
// every window partly inside the image (an all-padding window would have no maximum).
inline Window2d pool_window(const char* op, const Shape& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  TRUSTML_CHECK(x.rank == 4, op, "needs input [N, C, H, W], got ", x);
  const auto win = make_window(op, x, {x[2], x[3]}, kernel, stride, padding, dilation);
  TRUSTML_CHECK(2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w, op, "padding ", padding,
                " must be at most half the kernel ", kernel, " (input ", x, ")");
  return win;
}

// The [N, C, kh * kw, Ho, Wo] windows of x, padded with `pad_value`.
template <class T, class D>
Tensor<T, D> pool_windows(const Tensor<T, D>& x, const Window2d& win, T pad_value) {
  return reshape(run_im2col(x, win, pad_value), {x.size(0), x.size(1), win.kh * win.kw, win.lh(), win.lw()});
}

// The [out, in] matrix whose row i averages inputs [floor(i * in / out), ceil((i + 1) * in / out)).
template <class T, class D>
Tensor<T, D> adaptive_pool_matrix(std::int64_t in, std::int64_t out) {
  std::vector<T> m(static_cast<std::size_t>(out * in), T(0));
  for (std::int64_t i = 0; i < out; ++i) {
    const std::int64_t start = i * in / out, end = ((i + 1) * in + out - 1) / out;
    for (std::int64_t j = start; j < end; ++j) m[i * in + j] = T(1) / T(static_cast<real_t<T>>(end - start));
  }
  return Tensor<T, D>::from_vector(m, Shape{out, in});
}

// The taps [lo, hi) of a window that start at `start` with `step` between them and land inside
// [0, size).
struct TapRange {
  std::int64_t lo, hi;
};
TRUSTML_HD inline TapRange taps_inside(std::int64_t start, std::int64_t step, std::int64_t taps, std::int64_t size) {
  const std::int64_t lo = start >= 0 ? 0 : (-start + step - 1) / step;
  const std::int64_t hi = start + (taps - 1) * step < size ? taps : (size - 1 - start) / step + 1;
  return {lo, hi};
}

// Where the maximum `best` of window (oh, ow) of `image` is, as the flat position ih * W + iw in
// the plane (torch's return_indices): its first occurrence in window order, or for a NaN maximum the
// last NaN (PyTorch's kernels take a tap when `v > max || isnan(v)`). The forward kernels find the
// maximum, this finds the tap: the rule's gradient goes there.
template <class V>
TRUSTML_HD std::int64_t max_tap(const V* image, const Window2d& k, std::int64_t oh, std::int64_t ow, V best) {
  const TapRange rows = taps_inside(oh * k.sh - k.ph, k.dh, k.kh, k.h);
  const TapRange cols = taps_inside(ow * k.sw - k.pw, k.dw, k.kw, k.w);
  const bool nan = best != best;
  std::int64_t last_nan = -1;
  for (std::int64_t ki = rows.lo; ki < rows.hi; ++ki) {
    const std::int64_t ih = oh * k.sh - k.ph + ki * k.dh;
    for (std::int64_t kj = cols.lo; kj < cols.hi; ++kj) {
      const std::int64_t at = ih * k.w + ow * k.sw - k.pw + kj * k.dw;
      if (nan && image[at] != image[at]) last_nan = at;
      if (!nan && image[at] == best) return at;
    }
  }
  return last_nan;  // -1 is not reached: `best` is one of the window's values
}

// The maximum of window (oh, ow) of `image`, whose taps inside the image span rows `rows`; a NaN
// in the window is its maximum, as in PyTorch; padding never wins.
template <class V>
TRUSTML_HD V window_max(const V* image, const Window2d& k, const TapRange& rows, std::int64_t oh, std::int64_t ow) {
  const std::int64_t w0 = ow * k.sw - k.pw;
  const TapRange cols = taps_inside(w0, k.dw, k.kw, k.w);
  V best = image[(oh * k.sh - k.ph + rows.lo * k.dh) * k.w + w0 + cols.lo * k.dw];
  bool nan = false;
  for (std::int64_t ki = rows.lo; ki < rows.hi; ++ki) {
    const V* row = image + (oh * k.sh - k.ph + ki * k.dh) * k.w + w0;
    for (std::int64_t kj = cols.lo; kj < cols.hi; ++kj) {
      const V v = row[kj * k.dw];
      nan |= v != v;
      best = std::max(best, v);
    }
  }
  return nan ? std::numeric_limits<V>::quiet_NaN() : best;
}

// The maxima of one row of windows per call (r indexes the [N * C, Ho] output rows).
template <class V>
struct MaxPoolRow {
  const V* x;
  V* out;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const Window2d k = win;  // a local copy: stores through `out` cannot alias it
    const std::int64_t lh = k.lh(), lw = k.lw(), oh = r % lh;
    const V* image = x + (r / lh) * k.h * k.w;
    const TapRange rows = taps_inside(oh * k.sh - k.ph, k.dh, k.kh, k.h);
    for (std::int64_t ow = 0; ow < lw; ++ow) out[r * lw + ow] = window_max(image, k, rows, oh, ow);
  }
};

// The maximum of one window per call (o indexes the [N * C, Ho, Wo] output), for GPUs.
template <class V>
struct MaxPoolElement {
  const V* x;
  V* out;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t o) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw(), ow = o % lw, oh = (o / lw) % lh;
    const TapRange rows = taps_inside(oh * k.sh - k.ph, k.dh, k.kh, k.h);
    out[o] = window_max(x + (o / (lh * lw)) * k.h * k.w, k, rows, oh, ow);
  }
};

// The 2x2 window with stride 2 and no padding of most CNNs, which has its own kernels.
TRUSTML_HD inline bool is_2x2_stride_2(const Window2d& k) {
  return k.kh == 2 && k.kw == 2 && k.sh == 2 && k.sw == 2 && k.ph == 0 && k.pw == 0 && k.dh == 1 && k.dw == 1;
}

// The common 2x2 window with stride 2 and no padding, one image plane per call: max instructions
// only (a compare-and-select chain compiled to mispredicted branches and ran 4x slower).
template <class V>
struct MaxPool2x2Plane {
  const V* x;
  V* out;
  std::int64_t h, w;
  TRUSTML_HD void operator()(std::int64_t plane) const {
    const std::int64_t lh = h / 2, lw = w / 2;
    for (std::int64_t oh = 0; oh < lh; ++oh) {
      const V* __restrict__ top = x + plane * h * w + 2 * oh * w;
      const V* __restrict__ bottom = top + w;
      V* __restrict__ out_row = out + (plane * lh + oh) * lw;
      for (std::int64_t ow = 0; ow < lw; ++ow) {
        const V a = top[2 * ow], b = top[2 * ow + 1], c = bottom[2 * ow], d = bottom[2 * ow + 1];
        const bool nan = (a != a) | (b != b) | (c != c) | (d != d);
        out_row[ow] = nan ? a + b + c + d : std::max(std::max(a, b), std::max(c, d));  // the sum is NaN then
      }
    }
  }
};

// The gradient of max_pool2d for one image plane per call: each window's g at its maximum (max_tap),
// 0 elsewhere. Each call owns its plane, so overlapping windows never collide.
template <class V>
struct MaxPoolGradPlane {
  const V* x;
  const V* y;
  const V* g;
  V* dx;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t plane) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw(), h = k.h, w = k.w;
    const V* image = x + plane * h * w;
    V* grad = dx + plane * h * w;
    if (!is_2x2_stride_2(k)) {
      for (std::int64_t i = 0; i < h * w; ++i) grad[i] = V(0);
      for (std::int64_t oh = 0; oh < lh; ++oh)
        for (std::int64_t ow = 0; ow < lw; ++ow) {
          const std::int64_t o = (plane * lh + oh) * lw + ow;
          grad[max_tap(image, k, oh, ow, y[o])] += g[o];
        }
      return;
    }
    // 2x2 windows with stride 2 tile the plane: every pixel of a window is written once, the rows
    // and columns outside all windows are zeroed, and the maximum is found without branches (bar
    // the rare NaN window).
    for (std::int64_t oh = 0; oh < lh; ++oh) {
      const V* top = image + 2 * oh * w;
      V* gtop = grad + 2 * oh * w;
      const std::int64_t o = (plane * lh + oh) * lw;
      for (std::int64_t ow = 0; ow < lw; ++ow) {
        const V a = top[2 * ow], b = top[2 * ow + 1], c = top[w + 2 * ow], d = top[w + 2 * ow + 1];
        const V best = y[o + ow];
        const int not_a = a != best, not_b = b != best, not_c = c != best;
        int at = not_a * (1 + not_b * (1 + not_c));
        if (best != best) at = d != d ? 3 : (c != c ? 2 : (b != b ? 1 : 0));  // the last NaN, as max_tap
        // Zeros, then g at the maximum through a computed address (selects here became branches).
        gtop[2 * ow] = gtop[2 * ow + 1] = gtop[w + 2 * ow] = gtop[w + 2 * ow + 1] = V(0);
        gtop[(at >> 1) * w + 2 * ow + (at & 1)] = g[o + ow];
      }
      for (std::int64_t iw = 2 * lw; iw < w; ++iw) gtop[iw] = gtop[w + iw] = V(0);
    }
    for (std::int64_t i = 2 * lh * w; i < h * w; ++i) grad[i] = V(0);
  }
};

// The gradient of max_pool2d for one input pixel per call, for GPUs: the g of every window whose
// maximum (max_tap) the pixel is, added in the order of MaxPoolGradPlane (block rows, then columns).
template <class V>
struct MaxPoolGradPixel {
  const V* x;
  const V* y;
  const V* g;
  V* dx;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw(), iw = i % k.w, ih = (i / k.w) % k.h, plane = i / (k.h * k.w);
    const V* image = x + plane * k.h * k.w;
    V sum = V(0);
    for (std::int64_t ki = k.kh - 1; ki >= 0; --ki) {  // block rows ascending
      const std::int64_t ys = ih + k.ph - ki * k.dh;
      if (ys < 0 || ys % k.sh != 0 || ys / k.sh >= lh) continue;
      const std::int64_t oh = ys / k.sh;
      for (std::int64_t kj = k.kw - 1; kj >= 0; --kj) {
        const std::int64_t xs = iw + k.pw - kj * k.dw;
        if (xs < 0 || xs % k.sw != 0 || xs / k.sw >= lw) continue;
        const std::int64_t o = (plane * lh + oh) * lw + xs / k.sw;
        if (max_tap(image, k, oh, xs / k.sw, y[o]) == ih * k.w + iw) sum += g[o];
      }
    }
    dx[i] = sum;
  }
};

// The maximum (max_tap) of each window as a flat position in its plane, for the recorded gradient
// (create_graph), which scatters g there with scatter_add.
template <class V>
struct MaxPoolArgmax {
  const V* x;
  const V* y;
  std::int64_t* argmax;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t o) const {
    const std::int64_t lh = win.lh(), lw = win.lw();
    const std::int64_t plane = o / (lh * lw), oh = (o / lw) % lh, ow = o % lw;
    argmax[o] = max_tap(x + plane * win.h * win.w, win, oh, ow, y[o]);
  }
};
}  // namespace ops

// The maximum over each kernel window (torch.nn.functional.max_pool2d, floor mode). Padding never
// wins; the gradient goes to the first maximal element of each window (the last NaN of a window
// holding one), as in PyTorch.
template <ops::RealFloating T, class D>
Tensor<T, D> max_pool2d(const Tensor<T, D>& x, Size2 kernel, Size2 stride, Size2 padding = 0, Size2 dilation = 1) {
  const auto win = ops::pool_window("max_pool2d", x.shape(), kernel, stride, padding, dilation);
  auto out = Tensor<T, D>::empty(Shape{x.size(0), x.size(1), win.lh(), win.lw()});
  const auto src = x.contiguous_data();
  using V = value_t<T, D>;
  if constexpr (kernels::Kernels<D>::per_element_threads)
    kernels::Kernels<D>::for_each(out.numel(), ops::MaxPoolElement<V>{ops::dptr(src), ops::dptr(out), win});
  else if (ops::is_2x2_stride_2(win))
    kernels::Kernels<D>::for_each(x.size(0) * x.size(1),
                                  ops::MaxPool2x2Plane<V>{ops::dptr(src), ops::dptr(out), win.h, win.w}, win.h * win.w);
  else
    kernels::Kernels<D>::for_each(x.size(0) * x.size(1) * win.lh(),
                                  ops::MaxPoolRow<V>{ops::dptr(src), ops::dptr(out), win}, win.lw() * win.kh * win.kw);
  return autograd::record<Op::max_pool2d>(out, win, x);
}
// With the stride equal to the kernel, as PyTorch's default.
template <ops::RealFloating T, class D>
Tensor<T, D> max_pool2d(const Tensor<T, D>& x, Size2 kernel) {
  return max_pool2d(x, kernel, kernel);
}

// The mean over each kernel window (torch.nn.functional.avg_pool2d, floor mode): divided by the
// kernel size, or with count_include_pad = false by the number of window elements inside the image.
template <FloatingScalar T, class D>
Tensor<T, D> avg_pool2d(const Tensor<T, D>& x, Size2 kernel, Size2 stride, Size2 padding = 0,
                        bool count_include_pad = true) {
  const auto win = ops::pool_window("avg_pool2d", x.shape(), kernel, stride, padding, 1);
  auto sums = sum(ops::pool_windows(x, win, T(0)), {2});
  if (count_include_pad || (padding.h == 0 && padding.w == 0))
    return scale(sums, T(1) / T(static_cast<real_t<T>>(win.kh * win.kw)));
  // The in-image count of each window is the same for every image and channel: a constant [Ho, Wo].
  auto ones = Tensor<T, D>::ones(Shape{1, 1, x.size(2), x.size(3)});
  auto counts = sum(ops::pool_windows(ones, win, T(0)), {0, 1, 2});
  return div(sums, counts);
}
template <FloatingScalar T, class D>
Tensor<T, D> avg_pool2d(const Tensor<T, D>& x, Size2 kernel) {
  return avg_pool2d(x, kernel, kernel);
}

// The mean over output_size windows that tile the image (torch.nn.functional.adaptive_avg_pool2d):
// output (i, j) averages rows [floor(i * H / Ho), ceil((i + 1) * H / Ho)) and the same for columns.
template <FloatingScalar T, class D>
Tensor<T, D> adaptive_avg_pool2d(const Tensor<T, D>& x, Size2 output_size) {
  TRUSTML_CHECK(x.dim() == 4, "adaptive_avg_pool2d", "needs input [N, C, H, W], got ", x.shape());
  TRUSTML_CHECK(output_size.h > 0 && output_size.w > 0, "adaptive_avg_pool2d", "output size must be positive, got ",
                output_size, " (input ", x.shape(), ")");
  const std::int64_t h = x.size(2), w = x.size(3), oh = output_size.h, ow = output_size.w;
  TRUSTML_CHECK(h > 0 && w > 0, "adaptive_avg_pool2d", "needs a non-empty image, got ", x.shape());
  if (oh == 1 && ow == 1) return mean(x, {2, 3}, true);  // global average pooling
  // The window average is separable: rows_matrix @ x @ cols_matrix^T, contracted in the cheaper order.
  auto rows = ops::adaptive_pool_matrix<T, D>(h, oh), cols = transpose(ops::adaptive_pool_matrix<T, D>(w, ow), 0, 1);
  if (oh * w * (h + ow) <= ow * h * (w + oh)) return matmul(matmul(rows, x), cols);
  return matmul(rows, matmul(x, cols));
}

// Nearest-neighbour upsampling by integer factors (torch.nn.functional.interpolate, mode "nearest"):
// output (i, j) = input (i / scale.h, j / scale.w).
template <FloatingScalar T, class D>
Tensor<T, D> upsample_nearest2d(const Tensor<T, D>& x, Size2 scale) {
  TRUSTML_CHECK(x.dim() == 4, "upsample_nearest2d", "needs input [N, C, H, W], got ", x.shape());
  TRUSTML_CHECK(scale.h > 0 && scale.w > 0, "upsample_nearest2d", "scale factor must be positive, got ", scale,
                " (input ", x.shape(), ")");
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto spread = expand(reshape(x, {n, c, h, 1, w, 1}), {n, c, h, scale.h, w, scale.w});
  return reshape(spread, {n, c, h * scale.h, w * scale.w});
}

// [N, C * r * r, H, W] -> [N, C, H * r, W * r] (torch.nn.functional.pixel_shuffle):
// output (c, h * r + i, w * r + j) = input (c * r * r + i * r + j, h, w).
template <FloatingScalar T, class D>
Tensor<T, D> pixel_shuffle(const Tensor<T, D>& x, std::int64_t r) {
  TRUSTML_CHECK(x.dim() == 4 && r > 0 && x.size(1) % (r * r) == 0, "pixel_shuffle",
                "needs input [N, C * r * r, H, W] and r > 0, got ", x.shape(), " with r = ", r);
  const std::int64_t n = x.size(0), c = x.size(1) / (r * r), h = x.size(2), w = x.size(3);
  return reshape(permute(reshape(x, {n, c, r, r, h, w}), {0, 1, 4, 2, 5, 3}), {n, c, h * r, w * r});
}

// The inverse of pixel_shuffle: [N, C, H * r, W * r] -> [N, C * r * r, H, W].
template <FloatingScalar T, class D>
Tensor<T, D> pixel_unshuffle(const Tensor<T, D>& x, std::int64_t r) {
  TRUSTML_CHECK(x.dim() == 4 && r > 0 && x.size(2) % r == 0 && x.size(3) % r == 0, "pixel_unshuffle",
                "needs input [N, C, H * r, W * r] and r > 0, got ", x.shape(), " with r = ", r);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2) / r, w = x.size(3) / r;
  return reshape(permute(reshape(x, {n, c, h, r, w, r}), {0, 1, 3, 5, 2, 4}), {n, c * r * r, h, w});
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

// max_pool2d: g goes to the maximum of each window (max_tap). Without create_graph one kernel writes
// the whole gradient; with it, the same positions feed scatter_add, whose rule is gather.
TRUSTML_RULE(max_pool2d, both) {
  using G = std::decay_t<decltype(c.grad)>;
  using V = trustml::value_t<InT<C>, typename G::device_type>;
  using K = kernels::Kernels<typename G::device_type>;
  const Shape& shape = c.template in_shape<0>();
  const auto x = c.template in<0>().contiguous_data(), y = c.out().contiguous_data();
  const std::int64_t planes = shape[0] * shape[1], windows = y.numel() / std::max<std::int64_t>(planes, 1);
  if (!grad_enabled()) {
    auto dx = G::empty(shape);
    const auto g = c.grad.contiguous_data();
    if constexpr (K::per_element_threads)
      K::for_each(dx.numel(),
                  ops::MaxPoolGradPixel<V>{ops::dptr(x), ops::dptr(y), ops::dptr(g), ops::dptr(dx), c.attrs});
    else
      K::for_each(planes, ops::MaxPoolGradPlane<V>{ops::dptr(x), ops::dptr(y), ops::dptr(g), ops::dptr(dx), c.attrs},
                  shape[2] * shape[3]);
    return grads(dx);
  }
  auto argmax = Tensor<std::int64_t, typename G::device_type>::empty(Shape{planes, windows});
  K::for_each(y.numel(), ops::MaxPoolArgmax<V>{ops::dptr(x), ops::dptr(y), argmax.data(), c.attrs});
  auto scattered = ops::scatter_add_unchecked(G::zeros(Shape{planes, shape[2] * shape[3]}), 1, argmax,
                                              reshape(c.grad, {planes, windows}));
  return grads(reshape(scattered, shape));
}

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
