// trustml/mri/losses.hpp: training losses of MoDL and the SMUG family (MoDL, arXiv:1712.02862;
// SMUG, arXiv:2303.12735 and arXiv:2312.07784; docs/papers.md).
//
//   mse_channels(x, target)          mean over [B, 2, H, W] of the squared real and imaginary errors,
//                                    MoDL's loss MSE(x_K, x*) as the SMUG code computes it
//   unrolled_stability(trace, T)     sum over steps n of (1/S) sum_i MSE(D(clip(x_n + eta_i)), T):
//                                    SMUG's UStab term, T = x* (ICASSP code) or D(x*) (journal code,
//                                    not detached: gradients reach D through both sides)
//   smug_loss(trace, x_K, x*, T, w)  UStab + w MSE(x_K, x*), the SMUG fine-tuning objective
#pragma once

#include <complex>

#include "trustml/mri/unrolled.hpp"
#include "trustml/ops/nn.hpp"

namespace trustml::mri {

template <class R, class D>
Tensor<R, D> mse_channels(const Tensor<std::complex<R>, D>& x, const Tensor<std::complex<R>, D>& target) {
  // The mean of |x - t|^2 over pixels is the sum of both channels' squared errors: twice their mean.
  return scale(mse(x, target), R(0.5));
}

// target: [B, 2, H, W] channels, tiled over the trace's S samples.
template <class R, class D>
Tensor<R, D> unrolled_stability(const UnrolledTrace<R, D>& trace, const Tensor<R, D>& target) {
  TRUSTML_CHECK(!trace.denoiser_outputs.empty(), "mri::unrolled_stability",
                "the trace holds no denoiser call (a reconstruction with K = 0 steps, or no trace was passed)");
  const Tensor<R, D> tiled = tile_samples(target, trace.samples);
  Tensor<R, D> total;
  for (const auto& out : trace.denoiser_outputs) {
    TRUSTML_CHECK(out.shape() == tiled.shape(), "mri::unrolled_stability", "denoiser output ", out.shape(),
                  " does not match the tiled target ", tiled.shape());
    const Tensor<R, D> term = mse(out, tiled);
    total = total.defined() ? add(total, term) : term;
  }
  return total;
}

template <class R, class D>
Tensor<R, D> smug_loss(const UnrolledTrace<R, D>& trace, const Tensor<std::complex<R>, D>& x_k,
                       const Tensor<std::complex<R>, D>& x_star, const Tensor<R, D>& stability_target,
                       double end_to_end_weight = 1.0) {
  return add(unrolled_stability(trace, stability_target), scale(mse_channels(x_k, x_star), R(end_to_end_weight)));
}

}  // namespace trustml::mri
