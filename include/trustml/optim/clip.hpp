// trustml/optim/clip.hpp: gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
//
//   double total = clip_grad_norm_(params, /*max_norm=*/1.0);   // 2-norm of all gradients together
//   clip_grad_norm_(params, 1.0, kInfNorm);                      // largest |element|
//   clip_grad_value_(params, 0.5);                               // every element into [-0.5, 0.5]
//
// Both change the gradients in place (bumping their version) and skip parameters without one. The
// norm is accumulated in double on the device, one reduction per gradient into one device buffer,
// and read back with a single copy.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <vector>

#include "trustml/autograd/node.hpp"
#include "trustml/core/config.hpp"
#include "trustml/core/scalar.hpp"
#include "trustml/optim/optimizer.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::optim {

// norm_type of the infinity norm (the largest absolute element).
inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

namespace detail {
// Sum of |x|^p, in double whatever the element type.
template <class V>
struct AbsPowSum {
  double p;
  TRUSTML_HD double init() const { return 0; }
  TRUSTML_HD double step(double acc, V x, std::int64_t) const {
    const double a = math::abs(static_cast<double>(x));
    return acc + (p == 2 ? a * a : (p == 1 ? a : math::pow(a, p)));
  }
  TRUSTML_HD double combine(double a, double b) const { return a + b; }
  TRUSTML_HD double done(double acc, std::int64_t) const { return acc; }
};
// Largest |x|; a NaN wins, so that a NaN gradient gives a NaN norm.
template <class V>
struct AbsMax {
  TRUSTML_HD double init() const { return 0; }
  TRUSTML_HD double step(double acc, V x, std::int64_t) const {
    return combine(acc, math::abs(static_cast<double>(x)));
  }
  TRUSTML_HD double combine(double a, double b) const { return a != a ? a : ((b != b || b > a) ? b : a); }
  TRUSTML_HD double done(double acc, std::int64_t) const { return acc; }
};

template <class V>
struct ScaleInPlace {
  Elements<V> x;
  V factor;
  TRUSTML_HD void operator()(std::int64_t i) const { x[i] = x[i] * factor; }
};
// torch.clamp: NaN stays NaN.
template <class V>
struct ClampInPlace {
  Elements<V> x;
  V bound;
  TRUSTML_HD void operator()(std::int64_t i) const {
    const V v = x[i];
    x[i] = v < -bound ? -bound : (v > bound ? bound : v);
  }
};

template <class T, class D>
std::vector<Tensor<T, D>> defined_grads(const std::vector<Tensor<T, D>>& params) {
  std::vector<Tensor<T, D>> grads;
  for (const auto& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  return grads;
}
}  // namespace detail

// The norm of order `norm_type` (> 0, or kInfNorm) of all gradients of `params` taken as one vector.
// When it exceeds max_norm, every gradient is multiplied by max_norm / (norm + 1e-6). Returns the
// norm before clipping (0 when no parameter has a gradient). A NaN or infinite norm is an error with
// error_if_nonfinite; otherwise the gradients are scaled by the resulting factor, as PyTorch does.
template <std::floating_point T, class D>
double clip_grad_norm_(const std::vector<Tensor<T, D>>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false) {
  using V = typename D::template value_t<T>;
  TRUSTML_CHECK(norm_type > 0, "clip_grad_norm_", "norm_type must be > 0 (or kInfNorm), got ", norm_type);
  TRUSTML_CHECK(max_norm >= 0, "clip_grad_norm_", "max_norm must be >= 0, got ", max_norm);
  NoGradGuard no_grad;
  const std::vector<Tensor<T, D>> grads = detail::defined_grads(params);
  if (grads.empty()) return 0;

  const bool inf_norm = std::isinf(norm_type);
  auto partials = Tensor<double, D>::empty(Shape{static_cast<std::int64_t>(grads.size())});
  for (std::size_t k = 0; k < grads.size(); ++k) {
    const Tensor<T, D>& g = grads[k];
    const kernels::Strided<V> in{reinterpret_cast<const V*>(g.data()), g.strides()};
    double* out = reinterpret_cast<double*>(partials.data()) + k;
    if (inf_norm) kernels::Kernels<D>::reduce(g.shape(), 0, out, in, detail::AbsMax<V>{});
    else kernels::Kernels<D>::reduce(g.shape(), 0, out, in, detail::AbsPowSum<V>{norm_type});
  }
  double total = 0;
  for (double part : partials.to_vector()) total = inf_norm ? detail::AbsMax<V>{}.combine(total, part) : total + part;
  if (!inf_norm) total = norm_type == 2 ? std::sqrt(total) : (norm_type == 1 ? total : std::pow(total, 1 / norm_type));

  TRUSTML_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_", "the total norm of order ", norm_type,
                " of the gradients of ", grads.size(), " parameters is ", total,
                ", so they cannot be clipped (pass error_if_nonfinite=false to scale them anyway)");
  const double factor = max_norm / (total + 1e-6);
  if (!(factor >= 1)) {  // also a NaN factor, which PyTorch applies too
    for (const auto& g : grads) {
      kernels::Kernels<D>::for_each(g.numel(), detail::ScaleInPlace<V>{detail::elements(g), V(factor)});
      g.bump_version();
    }
  }
  return total;
}

// Clamps every gradient element of `params` into [-clip_value, clip_value] (clip_value >= 0).
template <std::floating_point T, class D>
void clip_grad_value_(const std::vector<Tensor<T, D>>& params, double clip_value) {
  using V = typename D::template value_t<T>;
  TRUSTML_CHECK(clip_value >= 0, "clip_grad_value_", "clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (const auto& g : detail::defined_grads(params)) {
    kernels::Kernels<D>::for_each(g.numel(), detail::ClampInPlace<V>{detail::elements(g), V(clip_value)});
    g.bump_version();
  }
}

}  // namespace trustml::optim
