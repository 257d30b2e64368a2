// trustml/ops/fft.hpp: the centered, orthonormal 2-D FFT of MRI reconstruction (fastMRI's fft2c).
//
//   fft2c(x)  = fftshift(fft2(ifftshift(x), norm="ortho"))
//   ifft2c(x) = fftshift(ifft2(ifftshift(x), norm="ortho"))
//
// over the last two dimensions of a complex tensor of rank >= 2, batched over the leading ones. The
// shifts put the zero frequency (k-space centre) at index n / 2, where the image centre is too; the
// 1/sqrt(n0 n1) scaling makes both maps unitary, so each is the other's inverse and adjoint. That is
// also their derivative rule: the gradient of fft2c is ifft2c of the output gradient, and vice versa.
//
// Each op is one strided gather that applies ifftshift (and makes the data contiguous), the
// device's in-place unnormalized transform (kernels::Fft<D>), and one gather that applies fftshift
// and the scaling; a device with the optional Kernels<D>::roll2 (the CPU) copies row by row.
#pragma once

#include <cmath>

#include "trustml/kernels/cpu/fft.hpp"
#include "trustml/ops/common.hpp"

namespace trustml {

namespace ops {
// out[..., i, j] = scale * src[..., (i + h0) % n0, (j + h1) % n1]: a cyclic shift of the last two
// dims of a strided source into a contiguous output. ifftshift is h = n / 2, fftshift h = n - n / 2;
// as 0 <= h <= n the wrap is one subtraction, and the last two coordinates cost one division each
// (integer division dominates this kernel).
template <class V, class R>
struct Roll2 {
  Shape shape;
  const V* src;
  Strides src_strides;
  V* out;
  std::int64_t h0, h1;
  R scale;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const int r = shape.rank;
    const std::int64_t n0 = shape.dims[r - 2], n1 = shape.dims[r - 1];
    std::int64_t row = i / n1, j = i - row * n1 + h1;
    std::int64_t batch = row / n0, k = row - batch * n0 + h0;
    if (j >= n1) j -= n1;
    if (k >= n0) k -= n0;
    std::int64_t s = j * src_strides.dims[r - 1] + k * src_strides.dims[r - 2];
    for (int d = r - 3; d > 0; --d) {
      s += (batch % shape.dims[d]) * src_strides.dims[d];
      batch /= shape.dims[d];
    }
    if (r > 2) s += batch * src_strides.dims[0];
    out[i] = src[s] * scale;
  }
};

template <class T, class D>
Tensor<T, D> centered_fft2(const Tensor<T, D>& x, bool inverse, const char* op) {
  using V = value_t<T, D>;
  using R = real_t<T>;
  TRUSTML_CHECK(x.dim() >= 2, op, "needs a tensor of rank >= 2 (the last two dims are transformed), got shape ",
                x.shape());
  const std::int64_t n0 = x.size(-2), n1 = x.size(-1), n = x.numel();
  auto work = Tensor<T, D>::empty(x.shape());
  auto out = Tensor<T, D>::empty(x.shape());
  if (n == 0) return out;
  const R scale = static_cast<R>(1.0 / std::sqrt(static_cast<double>(n0) * static_cast<double>(n1)));
  if constexpr (requires(const V* src, V* dst) { Kernels<D>::roll2(src, dst, n, n0, n1, n0, n1, scale); }) {
    const Tensor<T, D> xc = x.contiguous();
    Kernels<D>::roll2(dptr(xc), dptr(work), n / n1, n0, n1, n0 / 2, n1 / 2, R(1));
    kernels::Fft<D>::fft2(dptr(work), n / (n0 * n1), n0, n1, inverse);
    Kernels<D>::roll2(dptr(work), dptr(out), n / n1, n0, n1, n0 - n0 / 2, n1 - n1 / 2, scale);
  } else {
    Kernels<D>::for_each(n, Roll2<V, R>{x.shape(), dptr(x), x.strides(), dptr(work), n0 / 2, n1 / 2, R(1)});
    kernels::Fft<D>::fft2(dptr(work), n / (n0 * n1), n0, n1, inverse);
    Kernels<D>::for_each(
        n, Roll2<V, R>{x.shape(), dptr(work), work.strides(), dptr(out), n0 - n0 / 2, n1 - n1 / 2, scale});
  }
  return out;
}
}  // namespace ops

// Centered orthonormal 2-D FFT over the last two dims (complex<float> or complex<double>).
template <FloatingScalar T, class D>
requires is_complex_v<T> Tensor<T, D> fft2c(const Tensor<T, D>& x) {
  return ops::record<Op::fft2c>(ops::centered_fft2(x, false, "fft2c"), NoAttrs{}, x);
}

// Its inverse (and adjoint).
template <FloatingScalar T, class D>
requires is_complex_v<T> Tensor<T, D> ifft2c(const Tensor<T, D>& x) {
  return ops::record<Op::ifft2c>(ops::centered_fft2(x, true, "ifft2c"), NoAttrs{}, x);
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

// fft2c and ifft2c are unitary: each one's adjoint is the other.
TRUSTML_RULE(fft2c, nothing) { return grads(ifft2c(c.grad)); }
TRUSTML_RULE(ifft2c, nothing) { return grads(fft2c(c.grad)); }

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
