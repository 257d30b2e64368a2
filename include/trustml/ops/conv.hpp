// trustml/ops/conv.hpp: im2col / col2im and the convolutions built on them (NCHW, PyTorch semantics).
//
// im2col unrolls every kernel-sized block of an [N, C, H, W] image into a column of
// [N, C * kh * kw, L] (L = number of block positions, row-major over the output plane); col2im is
// its adjoint, summing each column back into the pixels it came from; each one's derivative is the
// other. conv2d is im2col followed by one GEMM per image. With one group it is a primitive of its
// own, whose kernels below run the batch in cache-sized chunks forward and backward, and whose rule
// (at the end of this file) rebuilds the same products from im2col, col2im and matmul when a
// gradient must itself be differentiated. Grouped conv2d, and conv_transpose2d (that GEMM transposed
// followed by col2im), are composites: they get every order of derivative from those three rules.
//
// The CPU kernels are written row-wise: one functor call fills (im2col) or gathers (col2im) a whole
// output row, so the inner loop runs over contiguous memory. A GPU gets one call per output element
// instead (Kernels<D>::per_element_threads), which adds in the same order. On every device no two
// calls write the same element: no atomics, and sums identical across devices.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>

#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml {

// A (height, width) pair of sizes: `2` means (2, 2), `{2, 1}` means height 2, width 1.
struct Size2 {
  std::int64_t h = 0, w = 0;
  Size2(std::int64_t both) : h(both), w(both) {}  // implicit on purpose: an int stands for the pair
  Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  friend bool operator==(const Size2&, const Size2&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Size2& s) { return os << '(' << s.h << ", " << s.w << ')'; }
};

namespace ops {
// A kernel sliding over an image of h x w: block (oh, ow), kernel tap (ki, kj) reads pixel
// (oh * sh - ph + ki * dh, ow * sw - pw + kj * dw); pixels outside the image are padding.
// An im2col window over [N, C, H, W] images. The column matrix is [N, C * kh * kw, L] (torch's
// unfold), or with `batch_in_columns` [C * kh * kw, N * L]: the whole batch side by side, so that
// a convolution is one large GEMM and its weight gradient needs no sum over a batch of products.
struct Window2d {
  std::int64_t h, w, kh, kw, sh, sw, ph, pw, dh, dw;
  bool batch_in_columns = false;
  std::int64_t batch = 0, channels = 0;  // N and C, used by the batch_in_columns layout
  TRUSTML_HD std::int64_t lh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  TRUSTML_HD std::int64_t lw() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  // The first element of the column-matrix row of image plane n * C + c, tap (ki, kj), block row oh.
  TRUSTML_HD std::int64_t column_row(std::int64_t plane, std::int64_t ki, std::int64_t kj, std::int64_t oh) const {
    const std::int64_t tap = ki * kw + kj, taps = kh * kw;
    if (!batch_in_columns) return ((plane * taps + tap) * lh() + oh) * lw();
    const std::int64_t n = plane / channels, c = plane % channels;
    return (((c * taps + tap) * batch + n) * lh() + oh) * lw();
  }
};

template <class T>
struct Im2colAttr {
  Window2d win;
  T pad_value;
};

// Checks the window parameters of `op` on an image of size `image` (`input` is the shape shown in errors).
inline Window2d make_window(const char* op, const Shape& input, Size2 image, Size2 kernel, Size2 stride, Size2 padding,
                            Size2 dilation) {
  TRUSTML_CHECK(kernel.h > 0 && kernel.w > 0, op, "kernel size must be positive, got ", kernel, " (input ", input, ")");
  TRUSTML_CHECK(stride.h > 0 && stride.w > 0, op, "stride must be positive, got ", stride, " (input ", input, ")");
  TRUSTML_CHECK(dilation.h > 0 && dilation.w > 0, op, "dilation must be positive, got ", dilation, " (input ", input,
                ")");
  TRUSTML_CHECK(padding.h >= 0 && padding.w >= 0, op, "padding must be non-negative, got ", padding, " (input ", input,
                ")");
  const Size2 span{dilation.h * (kernel.h - 1) + 1, dilation.w * (kernel.w - 1) + 1};
  TRUSTML_CHECK(span.h <= image.h + 2 * padding.h && span.w <= image.w + 2 * padding.w, op, "kernel ", kernel,
                " with dilation ", dilation, " spans ", span, ", more than the padded image ", image, " with padding ",
                padding, " (input ", input, ")");
  return {image.h, image.w, kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w};
}

TRUSTML_HD inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// The block columns [lo, hi) whose tap at column offset `off` (input column = ow * sw + off) is
// inside an image of width w; the others read padding.
struct ValidRange {
  std::int64_t lo, hi;
};
TRUSTML_HD inline ValidRange valid_range(std::int64_t off, std::int64_t sw, std::int64_t w, std::int64_t lw) {
  std::int64_t lo = off >= 0 ? 0 : ceil_div(-off, sw);
  std::int64_t hi = w - off > 0 ? ceil_div(w - off, sw) : 0;
  lo = lo < lw ? lo : lw;
  hi = hi < lw ? hi : lw;
  return {lo, hi > lo ? hi : lo};
}

// Unit strides and rows as wide as the image ("same" padding): a tap's block of the column matrix
// is then the image plane shifted by one offset, which im2col and col2im move as one long run.
TRUSTML_HD inline bool is_shifted_plane(const Window2d& k) { return k.sh == 1 && k.sw == 1 && k.lw() == k.w; }

// For such a window and tap row ki (column offset off): entry i of the tap's block is pixel
// i + shift of the plane, and the entries [lo, hi) fall inside it.
struct ShiftedRun {
  std::int64_t shift, lo, hi;
};
TRUSTML_HD inline ShiftedRun shifted_run(const Window2d& k, std::int64_t ki, std::int64_t off) {
  const std::int64_t n = k.lh() * k.lw(), pixels = k.h * k.w, shift = (ki * k.dh - k.ph) * k.w + off;
  const std::int64_t lo = shift < 0 ? (-shift < n ? -shift : n) : 0;
  const std::int64_t hi = pixels - shift < n ? (pixels - shift > lo ? pixels - shift : lo) : n;
  return {shift, lo, hi};
}

// Sets the columns of a tap's lh x lw block outside v (those past the image's left and right
// edges) to `value`, column by column: a kernel reaches one or two columns past an edge, so this is
// a short strided loop over the rows.
template <class V>
TRUSTML_HD void fill_outside_columns(V* block, std::int64_t lh, std::int64_t lw, ValidRange v, V value) {
  for (std::int64_t ow = 0; ow < v.lo; ++ow)
    for (std::int64_t oh = 0; oh < lh; ++oh) block[oh * lw + ow] = value;
  for (std::int64_t ow = v.hi; ow < lw; ++ow)
    for (std::int64_t oh = 0; oh < lh; ++oh) block[oh * lw + ow] = value;
}

// One kernel tap of one image plane per call (r = (plane * kh + ki) * kw + kj, plane = n * C + c):
// its lh rows of the column matrix. Whole taps per call keep the index arithmetic (integer
// divisions) out of the row loop.
template <class V>
struct Im2colTap {
  const V* x;
  V* out;
  Window2d win;
  V pad;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const Window2d k = win;  // a local copy: stores through `out` cannot alias it
    const std::int64_t lh = k.lh(), lw = k.lw();
    const std::int64_t kj = r % k.kw, ki = (r / k.kw) % k.kh, plane = r / (k.kw * k.kh);
    V* o = out + k.column_row(plane, ki, kj, 0);
    const V* image = x + plane * k.h * k.w;
    const std::int64_t off = kj * k.dw - k.pw;
    const ValidRange v = valid_range(off, k.sw, k.w, lw);
    if (is_shifted_plane(k)) {  // one long copy, then the columns that fall outside get the pad
      const ShiftedRun run = shifted_run(k, ki, off);
      for (std::int64_t i = 0; i < run.lo; ++i) o[i] = pad;
      for (std::int64_t i = run.lo; i < run.hi; ++i) o[i] = image[run.shift + i];
      for (std::int64_t i = run.hi; i < lh * lw; ++i) o[i] = pad;
      fill_outside_columns(o, lh, lw, v, pad);
      return;
    }
    for (std::int64_t oh = 0; oh < lh; ++oh, o += lw) {
      const std::int64_t ih = oh * k.sh - k.ph + ki * k.dh;
      if (ih < 0 || ih >= k.h) {
        for (std::int64_t ow = 0; ow < lw; ++ow) o[ow] = pad;
        continue;
      }
      const V* row = image + ih * k.w;
      for (std::int64_t ow = 0; ow < v.lo; ++ow) o[ow] = pad;
      if (k.sw == 1) {
        for (std::int64_t ow = v.lo; ow < v.hi; ++ow) o[ow] = row[ow + off];
      } else {
        for (std::int64_t ow = v.lo; ow < v.hi; ++ow) o[ow] = row[ow * k.sw + off];
      }
      for (std::int64_t ow = v.hi; ow < lw; ++ow) o[ow] = pad;
    }
  }
};

// One image plane of col2im per call (r = n * C + c): each pixel the sum of every column entry
// that im2col would have read from it. Each call owns its plane, so no writes collide.
template <class V>
struct Col2imPlane {
  const V* cols;
  V* out;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t plane) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw();
    V* image = out + plane * k.h * k.w;
    for (std::int64_t i = 0; i < k.h * k.w; ++i) image[i] = V(0);
    // Tap by tap, block row by block row: the same reads as im2col, with += instead of =.
    for (std::int64_t ki = 0; ki < k.kh; ++ki)
      for (std::int64_t kj = 0; kj < k.kw; ++kj) {
        const V* src = cols + k.column_row(plane, ki, kj, 0);
        const std::int64_t off = kj * k.dw - k.pw;
        const ValidRange v = valid_range(off, k.sw, k.w, lw);
        for (std::int64_t oh = 0; oh < lh; ++oh, src += lw) {
          const std::int64_t ih = oh * k.sh - k.ph + ki * k.dh;
          if (ih < 0 || ih >= k.h) continue;
          V* o = image + ih * k.w;
          if (k.sw == 1) {
            for (std::int64_t ow = v.lo; ow < v.hi; ++ow) o[ow + off] += src[ow];
          } else {
            for (std::int64_t ow = v.lo; ow < v.hi; ++ow) o[ow * k.sw + off] += src[ow];
          }
        }
      }
  }
};

// col2im of column matrices the caller owns (conv2d's input gradient). For a shifted-plane window
// the tap's entries that im2col would have filled with padding are set to zero first, so that the
// tap is one long add over the plane instead of a short add per row; the sums are those of
// Col2imPlane, which runs every other window.
template <class V>
struct Col2imPlaneScratch {
  V* cols;
  V* out;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t plane) const {
    const Window2d k = win;
    if (!is_shifted_plane(k)) return Col2imPlane<V>{cols, out, win}(plane);
    const std::int64_t lh = k.lh(), lw = k.lw(), pixels = k.h * k.w;
    V* image = out + plane * pixels;
    for (std::int64_t i = 0; i < pixels; ++i) image[i] = V(0);
    for (std::int64_t ki = 0; ki < k.kh; ++ki)
      for (std::int64_t kj = 0; kj < k.kw; ++kj) {
        V* src = cols + k.column_row(plane, ki, kj, 0);
        const std::int64_t off = kj * k.dw - k.pw;
        fill_outside_columns(src, lh, lw, valid_range(off, 1, k.w, lw), V(0));
        const ShiftedRun run = shifted_run(k, ki, off);
        for (std::int64_t i = run.lo; i < run.hi; ++i) image[run.shift + i] += src[i];
      }
  }
};

// im2col with one column-matrix element per call (i indexes the matrix in its layout), for GPUs.
template <class V>
struct Im2colElement {
  const V* x;
  V* out;
  Window2d win;
  V pad;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw(), taps = k.kh * k.kw;
    const std::int64_t ow = i % lw, oh = (i / lw) % lh, row = i / (lh * lw);
    // row = plane * taps + tap, or with the batch in the columns (c * taps + tap) * N + n.
    const std::int64_t tap = k.batch_in_columns ? (row / k.batch) % taps : row % taps;
    const std::int64_t plane = k.batch_in_columns ? (row % k.batch) * k.channels + row / (k.batch * taps) : row / taps;
    const std::int64_t ih = oh * k.sh - k.ph + (tap / k.kw) * k.dh, iw = ow * k.sw - k.pw + (tap % k.kw) * k.dw;
    out[i] = ih >= 0 && ih < k.h && iw >= 0 && iw < k.w ? x[(plane * k.h + ih) * k.w + iw] : pad;
  }
};

// col2im with one image pixel per call, for GPUs: the column entries read from the pixel, added tap
// by tap as Col2imPlane adds them.
template <class V>
struct Col2imPixel {
  const V* cols;
  V* out;
  Window2d win;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const Window2d k = win;
    const std::int64_t lh = k.lh(), lw = k.lw();
    const std::int64_t iw = i % k.w, ih = (i / k.w) % k.h, plane = i / (k.h * k.w);
    V sum = V(0);
    for (std::int64_t ki = 0; ki < k.kh; ++ki) {
      const std::int64_t y = ih + k.ph - ki * k.dh;  // oh * sh when this tap of block row oh reads the pixel
      if (y < 0 || y % k.sh != 0 || y / k.sh >= lh) continue;
      for (std::int64_t kj = 0; kj < k.kw; ++kj) {
        const std::int64_t x = iw + k.pw - kj * k.dw;
        if (x < 0 || x % k.sw != 0 || x / k.sw >= lw) continue;
        sum += cols[k.column_row(plane, ki, kj, y / k.sh) + x / k.sw];
      }
    }
    out[i] = sum;
  }
};

// im2col of `images` images of win.channels planes each (or of `planes` = images * C planes) from x
// into cols, in win's layout.
template <class D, class V>
void launch_im2col(const V* x, V* cols, const Window2d& win, std::int64_t planes, V pad) {
  const std::int64_t taps = win.kh * win.kw, l = win.lh() * win.lw();
  if constexpr (Kernels<D>::per_element_threads)
    Kernels<D>::for_each(planes * taps * l, Im2colElement<V>{x, cols, win, pad});
  else Kernels<D>::for_each(planes * taps, Im2colTap<V>{x, cols, win, pad}, l);
}

// col2im of `planes` image planes from cols (in win's layout) into out.
template <class D, class V>
void launch_col2im(const V* cols, V* out, const Window2d& win, std::int64_t planes) {
  if constexpr (Kernels<D>::per_element_threads)
    Kernels<D>::for_each(planes * win.h * win.w, Col2imPixel<V>{cols, out, win});
  else Kernels<D>::for_each(planes, Col2imPlane<V>{cols, out, win}, win.kh * win.kw * win.lh() * win.lw());
}

template <class T, class D>
Tensor<T, D> run_im2col(const Tensor<T, D>& x, const Window2d& win, T pad_value) {
  const std::int64_t n = x.size(0), c = x.size(1), lh = win.lh(), lw = win.lw(), taps = win.kh * win.kw;
  auto out = Tensor<T, D>::empty(win.batch_in_columns ? Shape{c * taps, n * lh * lw} : Shape{n, c * taps, lh * lw});
  const auto src = x.contiguous_data();
  launch_im2col<D>(dptr(src), dptr(out), win, n * c, device_value<T, D>(pad_value));
  return record<Op::im2col>(out, Im2colAttr<T>{win, pad_value}, x);
}

template <class T, class D>
Tensor<T, D> run_col2im(const Tensor<T, D>& cols, const Window2d& win) {
  const std::int64_t n = win.batch_in_columns ? win.batch : cols.size(0);
  const std::int64_t c = win.batch_in_columns ? win.channels : cols.size(1) / (win.kh * win.kw);
  auto out = Tensor<T, D>::empty(Shape{n, c, win.h, win.w});
  const auto src = cols.contiguous_data();
  launch_col2im<D>(dptr(src), dptr(out), win, n * c);
  return record<Op::col2im>(out, win, cols);
}

// 1x1 kernel, stride 1, no padding: im2col is a reshape, and conv a plain GEMM.
inline bool is_pointwise(const Window2d& win) {
  return win.kh == 1 && win.kw == 1 && win.sh == 1 && win.sw == 1 && win.ph == 0 && win.pw == 0;
}

// conv2d with groups = 1 is a primitive with its own kernels, forward and backward. The batch goes
// through them in chunks: on the CPU as many images as keep a chunk's column matrix near 1 MB in
// float, so that im2col writes it into the cache and the GEMM reads it from there; a GPU takes the
// whole batch in one chunk. Each chunk is one (batched) GEMM that writes its images straight into
// the NCHW result: no column matrix of the whole batch, no permute, no separate bias pass.
struct ConvChunks {
  std::int64_t n, size, count;  // batch, images per chunk, chunks
};
template <class D>
ConvChunks conv_chunks(std::int64_t n, std::int64_t k, std::int64_t l) {
  std::int64_t size = std::max<std::int64_t>(n, 1);
  if constexpr (!Kernels<D>::per_element_threads)
    size = std::clamp<std::int64_t>((std::int64_t{1} << 18) / std::max<std::int64_t>(1, k * l), 1, size);
  return {n, size, ceil_div(n, size)};
}

// f(chunk index, first image, images) for every chunk. Where the device's kernels run host tasks
// concurrently (Kernels<D>::for_each_task, the CPU's OpenMP threads), the chunks are those tasks,
// each chunk's im2col, GEMM and bias running on its thread: a parallel region per kernel of every
// chunk cost more in thread wake-ups than the kernels took. Otherwise they run in order.
template <class D, class F>
void for_each_chunk(const ConvChunks& chunks, std::int64_t work_per_chunk, F&& f) {
  auto run = [&](std::int64_t i) { f(i, i * chunks.size, std::min(chunks.size, chunks.n - i * chunks.size)); };
  if constexpr (requires { Kernels<D>::for_each_task(chunks.count, work_per_chunk, run); }) {
    Kernels<D>::for_each_task(chunks.count, work_per_chunk, run);
  } else {
    for (std::int64_t i = 0; i < chunks.count; ++i) run(i);
  }
}

// Row r = image * C + channel of an [N, C, L] output gets bias[channel] (a CPU call per row: the map
// of a broadcast operand walks it with a runtime stride, which does not vectorize).
template <class V>
struct AddBiasRow {
  V* out;
  const V* bias;
  std::int64_t channels, l;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const V b = bias[r % channels];
    V* row = out + r * l;
    for (std::int64_t j = 0; j < l; ++j) row[j] += b;
  }
};

// y = conv2d(x, weight) + bias (bias may be undefined), unrecorded.
template <class T, class D>
Tensor<T, D> conv2d_forward(const Tensor<T, D>& x, const Tensor<T, D>& weight, const Tensor<T, D>& bias,
                            const Window2d& win) {
  using V = value_t<T, D>;
  const std::int64_t n = x.size(0), cin = x.size(1), cout = weight.size(0);
  const std::int64_t k = cin * win.kh * win.kw, l = win.lh() * win.lw();
  const ConvChunks chunks = conv_chunks<D>(n, k, l);
  auto out = Tensor<T, D>::empty(Shape{n, cout, l});
  const auto w = weight.contiguous_data();
  const auto b = bias.defined() ? bias.contiguous_data() : Tensor<T, D>();
  const auto images = x.contiguous_data();
  for_each_chunk<D>(chunks, chunks.size * cout * k * l, [&](std::int64_t, std::int64_t first, std::int64_t c) {
    const V* part = dptr(images) + first * cin * win.h * win.w;
    const auto cols = is_pointwise(win) ? Tensor<T, D>() : Tensor<T, D>::empty(Shape{c, k, l});
    if (!is_pointwise(win)) launch_im2col<D>(part, dptr(cols), win, c * cin, V(0));
    kernels::GemmArgs<V> g;
    g.m = cout, g.n = l, g.k = k, g.batch = c;
    g.a = dptr(w), g.lda = k, g.stride_a = 0;
    g.b = is_pointwise(win) ? part : dptr(cols), g.ldb = l, g.stride_b = k * l;
    g.c = dptr(out) + first * cout * l, g.ldc = l, g.stride_c = cout * l;
    Kernels<D>::gemm(g);
    if (!b.defined()) return;
    // The bias, added while the chunk's output is still in the cache.
    if constexpr (Kernels<D>::per_element_threads) {
      const Shape part_shape{c, cout, l};
      Kernels<D>::map(part_shape, g.c, fn::Add{}, kernels::Strided<V>{g.c, contiguous_strides(part_shape)},
                      kernels::Strided<V>{dptr(b), Shape{0, 1, 0}});
    } else {
      Kernels<D>::for_each(c * cout, AddBiasRow<V>{g.c, dptr(b), cout, l}, l);
    }
  });
  return reshape(out, {n, cout, win.lh(), win.lw()});
}

// The input gradient of conv2d (conv_transpose2d of gy with the weight), unrecorded: per chunk, the
// columns W^T gy, then col2im into the chunk's images.
template <class T, class D>
Tensor<T, D> conv2d_input_grad(const Tensor<T, D>& gy, const Tensor<T, D>& weight, const Window2d& win) {
  using V = value_t<T, D>;
  const std::int64_t n = gy.size(0), cout = weight.size(0), cin = weight.size(1);
  const std::int64_t k = cin * win.kh * win.kw, l = win.lh() * win.lw();
  const ConvChunks chunks = conv_chunks<D>(n, k, l);
  auto dx = Tensor<T, D>::empty(Shape{n, cin, win.h, win.w});
  const auto w = weight.contiguous_data();
  const auto g = gy.contiguous_data();
  for_each_chunk<D>(chunks, chunks.size * cout * k * l, [&](std::int64_t, std::int64_t first, std::int64_t c) {
    V* part = dptr(dx) + first * cin * win.h * win.w;
    const auto cols = is_pointwise(win) ? Tensor<T, D>() : Tensor<T, D>::empty(Shape{c, k, l});
    kernels::GemmArgs<V> p;
    p.trans_a = true, p.m = k, p.n = l, p.k = cout, p.batch = c;
    p.a = dptr(w), p.lda = k, p.stride_a = 0;
    p.b = dptr(g) + first * cout * l, p.ldb = l, p.stride_b = cout * l;
    p.c = is_pointwise(win) ? part : dptr(cols), p.ldc = l, p.stride_c = k * l;
    Kernels<D>::gemm(p);
    if (is_pointwise(win)) return;
    if constexpr (Kernels<D>::per_element_threads) launch_col2im<D>(dptr(cols), part, win, c * cin);
    else Kernels<D>::for_each(c * cin, Col2imPlaneScratch<V>{dptr(cols), part, win}, k * l / cin);
  });
  return dx;
}

// The weight gradient of conv2d, unrecorded: per chunk, gy with the chunk's images side by side
// ([Cout, c L]) times the chunk's columns in the same layout ([Cin kh kw, c L]) transposed; the
// chunks' products are then added in chunk order, so the sum does not depend on the thread count.
template <class T, class D>
Tensor<T, D> conv2d_weight_grad(const Tensor<T, D>& gy, const Tensor<T, D>& x, const Window2d& win,
                                const Shape& weight_shape) {
  using V = value_t<T, D>;
  const std::int64_t n = x.size(0), cin = x.size(1), cout = gy.size(1);
  const std::int64_t k = cin * win.kh * win.kw, l = win.lh() * win.lw();
  const ConvChunks chunks = conv_chunks<D>(n, k, l);
  auto per_chunk = Tensor<T, D>::empty(Shape{chunks.count, cout, k});
  const auto images = x.contiguous_data();
  const auto g = gy.contiguous_data();
  for_each_chunk<D>(chunks, chunks.size * cout * k * l, [&](std::int64_t i, std::int64_t first, std::int64_t c) {
    auto side_by_side = [&](const Tensor<T, D>& t, std::int64_t channels) {  // [c, ch, ...] -> [ch, c L]
      return contiguous(permute(reshape(t.slice(0, first, first + c), {c, channels, l}), {1, 0, 2}));
    };
    Tensor<T, D> cols;
    if (is_pointwise(win)) {
      cols = side_by_side(images, cin);
    } else {
      auto wide = win;
      wide.batch_in_columns = true, wide.batch = c, wide.channels = cin;
      cols = Tensor<T, D>::empty(Shape{k, c * l});
      launch_im2col<D>(dptr(images) + first * cin * win.h * win.w, dptr(cols), wide, c * cin, V(0));
    }
    const auto gc = side_by_side(g, cout);
    kernels::GemmArgs<V> p;
    p.trans_b = true, p.m = cout, p.n = k, p.k = c * l;
    p.a = dptr(gc), p.lda = c * l;
    p.b = dptr(cols), p.ldb = c * l;
    p.c = dptr(per_chunk) + i * cout * k, p.ldc = k;
    Kernels<D>::gemm(p);
  });
  return reshape(chunks.count == 1 ? per_chunk : sum(per_chunk, {0}), weight_shape);
}
}  // namespace ops

// [N, C, H, W] -> [N, C * kh * kw, L] (torch.nn.functional.unfold): column l holds the block at
// position l, channel-major then kernel row then kernel column; taps in the padding read pad_value.
template <FloatingScalar T, class D>
Tensor<T, D> im2col(const Tensor<T, D>& x, Size2 kernel, Size2 stride = 1, Size2 padding = 0, Size2 dilation = 1,
                    std::type_identity_t<T> pad_value = T(0)) {
  TRUSTML_CHECK(x.dim() == 4, "im2col", "needs input [N, C, H, W], got ", x.shape());
  const auto win = ops::make_window("im2col", x.shape(), {x.size(2), x.size(3)}, kernel, stride, padding, dilation);
  return ops::run_im2col(x, win, pad_value);
}

// [N, C * kh * kw, L] -> [N, C, H, W] with (H, W) = output_size (torch.nn.functional.fold): the
// adjoint of im2col, each pixel the sum of the column entries taken from it.
template <FloatingScalar T, class D>
Tensor<T, D> col2im(const Tensor<T, D>& cols, Size2 output_size, Size2 kernel, Size2 stride = 1, Size2 padding = 0,
                    Size2 dilation = 1) {
  TRUSTML_CHECK(cols.dim() == 3, "col2im", "needs columns [N, C * kh * kw, L], got ", cols.shape());
  TRUSTML_CHECK(output_size.h > 0 && output_size.w > 0, "col2im", "output size must be positive, got ", output_size);
  const auto win = ops::make_window("col2im", cols.shape(), output_size, kernel, stride, padding, dilation);
  TRUSTML_CHECK(cols.size(1) % (win.kh * win.kw) == 0, "col2im", "columns ", cols.shape(),
                " do not hold a whole number of ", kernel, " kernels");
  TRUSTML_CHECK(cols.size(2) == win.lh() * win.lw(), "col2im", "columns ", cols.shape(), " hold ", cols.size(2),
                " blocks, but a ", kernel, " kernel over ", output_size, " makes ", win.lh(), " x ", win.lw());
  return ops::run_col2im(cols, win);
}

// 2-D cross-correlation (torch.nn.functional.conv2d): x [N, Cin, H, W], weight [Cout, Cin / groups,
// kh, kw], bias [Cout] or undefined -> [N, Cout, Ho, Wo].
template <FloatingScalar T, class D>
Tensor<T, D> conv2d(const Tensor<T, D>& x, const Tensor<T, D>& weight, const Tensor<T, D>& bias = {}, Size2 stride = 1,
                    Size2 padding = 0, Size2 dilation = 1, std::int64_t groups = 1) {
  TRUSTML_CHECK(x.dim() == 4 && weight.dim() == 4, "conv2d", "needs input [N, C, H, W] and weight [Cout, C / groups, ",
                "kh, kw], got ", x.shape(), " and ", weight.shape());
  const std::int64_t n = x.size(0), cin = x.size(1), cout = weight.size(0);
  TRUSTML_CHECK(groups > 0 && cout % groups == 0 && weight.size(1) * groups == cin, "conv2d", "input ", x.shape(),
                " and weight ", weight.shape(), " do not match ", groups, " groups (needs Cin = weight.size(1) * ",
                "groups and Cout divisible by groups)");
  TRUSTML_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == cout), "conv2d", "bias ",
                bias.defined() ? bias.shape() : Shape{}, " does not match weight ", weight.shape());
  const auto win = ops::make_window("conv2d", x.shape(), {x.size(2), x.size(3)}, {weight.size(2), weight.size(3)},
                                    stride, padding, dilation);
  const std::int64_t k = weight.size(1) * win.kh * win.kw, l = win.lh() * win.lw();
  if (groups == 1) {
    // A bias-free conv records a zero bias, which asks for no gradient: one rule for both.
    auto out = ops::conv2d_forward(x, weight, bias, win);
    return ops::record<Op::conv2d>(out, win, x, weight, bias.defined() ? bias : Tensor<T, D>::zeros(Shape{cout}));
  }
  auto cols = ops::is_pointwise(win) ? reshape(x, {n, cin, l}) : ops::run_im2col(x, win, T(0));
  auto out = matmul(reshape(weight, {groups, cout / groups, k}), reshape(cols, {n, groups, k, l}));
  out = reshape(out, {n, cout, win.lh(), win.lw()});
  return bias.defined() ? add(out, reshape(bias, {cout, 1, 1})) : out;
}

// The adjoint of conv2d with respect to its input (torch.nn.functional.conv_transpose2d): x [N, Cin,
// H, W], weight [Cin, Cout / groups, kh, kw], bias [Cout] or undefined -> [N, Cout, Ho, Wo] with
// Ho = (H - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding_h + 1.
template <FloatingScalar T, class D>
Tensor<T, D> conv_transpose2d(const Tensor<T, D>& x, const Tensor<T, D>& weight, const Tensor<T, D>& bias = {},
                              Size2 stride = 1, Size2 padding = 0, Size2 output_padding = 0, std::int64_t groups = 1,
                              Size2 dilation = 1) {
  TRUSTML_CHECK(x.dim() == 4 && weight.dim() == 4, "conv_transpose2d", "needs input [N, C, H, W] and weight [C, ",
                "Cout / groups, kh, kw], got ", x.shape(), " and ", weight.shape());
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), w = x.size(3);
  TRUSTML_CHECK(groups > 0 && cin % groups == 0 && weight.size(0) == cin, "conv_transpose2d", "input ", x.shape(),
                " and weight ", weight.shape(), " do not match ", groups,
                " groups (needs Cin = weight.size(0) divisible by groups)");
  const std::int64_t cout = weight.size(1) * groups, kh = weight.size(2), kw = weight.size(3);
  TRUSTML_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == cout), "conv_transpose2d", "bias ",
                bias.defined() ? bias.shape() : Shape{}, " does not match ", cout, " output channels");
  TRUSTML_CHECK(stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0, "conv_transpose2d", "stride ", stride,
                " and dilation ", dilation, " must be positive (input ", x.shape(), ")");
  TRUSTML_CHECK(output_padding.h >= 0 && output_padding.w >= 0 &&
                    (output_padding.h < stride.h || output_padding.h < dilation.h) &&
                    (output_padding.w < stride.w || output_padding.w < dilation.w),
                "conv_transpose2d", "output padding ", output_padding, " must be smaller than stride ", stride,
                " or dilation ", dilation);
  const Size2 out_size{(h - 1) * stride.h - 2 * padding.h + dilation.h * (kh - 1) + output_padding.h + 1,
                       (w - 1) * stride.w - 2 * padding.w + dilation.w * (kw - 1) + output_padding.w + 1};
  TRUSTML_CHECK(out_size.h > 0 && out_size.w > 0, "conv_transpose2d", "input ", x.shape(), " with weight ",
                weight.shape(), " and padding ", padding, " gives an empty output ", out_size);
  const auto win = ops::make_window("conv_transpose2d", x.shape(), out_size, {kh, kw}, stride, padding, dilation);
  // An output padding of at least the stride adds block rows/columns past the input's H x W
  // (col2im counts win.lh() x win.lw() blocks); they read zeros, so the input is zero-padded to match.
  Tensor<T, D> xin = x;
  if (win.lh() != h || win.lw() != w) xin = pad(x, {0, win.lw() - w, 0, win.lh() - h});
  const std::int64_t k = weight.size(1) * kh * kw, l = win.lh() * win.lw();
  Tensor<T, D> cols;
  if (groups == 1) {
    cols = matmul(transpose(reshape(weight, {cin, k}), 0, 1), reshape(xin, {n, cin, l}));
  } else {
    cols =
        matmul(transpose(reshape(weight, {groups, cin / groups, k}), 1, 2), reshape(xin, {n, groups, cin / groups, l}));
    cols = reshape(cols, {n, groups * k, l});
  }
  auto out = ops::is_pointwise(win) ? reshape(cols, {n, cout, out_size.h, out_size.w}) : ops::run_col2im(cols, win);
  if (bias.defined()) out = add(out, reshape(bias, {cout, 1, 1}));
  return out;
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

// conv2d (groups = 1; grouped convolutions are im2col + matmul): without create_graph the chunked
// kernels of ops/conv.hpp; with it (or for complex values) the same products from recorded ops, so
// that they differentiate again: for the input conv_transpose2d of g with conj(W) (the output
// padding restores the rows and columns the strides dropped), for the weight g times the input's
// columns conjugated.
TRUSTML_RULE(conv2d, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  const ops::Window2d& win = c.attrs;
  auto x = c.template in<0>(), w = c.template in<1>();
  G dx, dw, db;
  if (c.template needs<2>()) db = sum(c.grad, {0, 2, 3});
  if (!grad_enabled() && !is_complex_v<InT<C>>) {  // the GEMM kernels have no conjugate transpose
    if (c.template needs<0>()) dx = ops::conv2d_input_grad(c.grad, w, win);
    if (c.template needs<1>()) dw = ops::conv2d_weight_grad(c.grad, x, win, w.shape());
    return grads(dx, dw, db);
  }
  if (c.template needs<0>()) {
    const Size2 dropped{(win.h + 2 * win.ph - win.dh * (win.kh - 1) - 1) % win.sh,
                        (win.w + 2 * win.pw - win.dw * (win.kw - 1) - 1) % win.sw};
    dx = conv_transpose2d(c.grad, conj(w), G(), {win.sh, win.sw}, {win.ph, win.pw}, dropped, 1, {win.dh, win.dw});
  }
  if (c.template needs<1>()) {
    const std::int64_t n = x.size(0), cin = x.size(1), l = win.lh() * win.lw();
    auto cols = ops::is_pointwise(win) ? reshape(x, {n, cin, l}) : ops::run_im2col(x, win, InT<C>(0));
    auto g = reshape(c.grad, {n, w.size(0), l});
    dw = reshape(sum(matmul(g, conj(transpose(cols, 1, 2))), {0}), w.shape());
  }
  return grads(dx, dw, db);
}
// im2col and col2im are each other's adjoint; padding taps carry no gradient.
TRUSTML_RULE(im2col, nothing) { return grads(ops::run_col2im(c.grad, c.attrs.win)); }
TRUSTML_RULE(col2im, nothing) { return grads(ops::run_im2col(c.grad, c.attrs, InT<C>(0))); }

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
