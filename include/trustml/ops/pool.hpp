// trustml/ops/pool.hpp: pooling and resampling over NCHW images, all composites (PyTorch semantics).
//
// max_pool2d and avg_pool2d reduce the windows that im2col lays out ([N, C * kh * kw, L] viewed as
// [N, C, kh * kw, Ho, Wo]) with amax or sum; adaptive_avg_pool2d is separable, so it is two small
// matmuls with averaging matrices; upsample_nearest2d and pixel_(un)shuffle are reshapes, expands
// and permutes. Their derivatives come from the rules of those primitives.
#pragma once

#include <limits>
#include <vector>

#include "trustml/ops/conv.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml {

namespace ops {
// The window checks of the pooling ops, plus PyTorch's limit padding <= kernel / 2, which keeps
// every window partly inside the image (an all-padding window would have no maximum).
inline Window2d pool_window(const char* op, const Shape& x, Size2 kernel, Size2 stride, Size2 padding,
                            Size2 dilation) {
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
}  // namespace ops

// The maximum over each kernel window (torch.nn.functional.max_pool2d, floor mode). Padding never
// wins; the gradient goes to the maximal elements, shared equally among ties within a window.
template <ops::RealFloating T, class D>
Tensor<T, D> max_pool2d(const Tensor<T, D>& x, Size2 kernel, Size2 stride, Size2 padding = 0, Size2 dilation = 1) {
  const auto win = ops::pool_window("max_pool2d", x.shape(), kernel, stride, padding, dilation);
  return amax(ops::pool_windows(x, win, -std::numeric_limits<T>::infinity()), {2});
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
