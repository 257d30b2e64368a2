// trustml/smoothing/denoised.hpp: denoised smoothing (Salman et al., NeurIPS 2020): a denoiser D
// trained in front of a fixed classifier f, so that randomized smoothing of f(D(.)) certifies a
// classifier that was never trained on noise; f may be a black box (DeepZero §9.1, ZO-AE-DS).
//
//   DenoiserTraining<float, Cpu> training(denoiser, classifier, {.sigma = 0.25});
//   auto step = training.gradient(images, targets, estimators::Backprop{}, step_index);  // first order
//   auto step = training.gradient(images, targets, estimators::RandomZO({.queries = 20}), step_index);
//   auto step = training.gradient(images, targets, OverWeights<CoordinateZO, float, Cpu>{cge, &masks}, step_index);
//   optimizer.step();            // the denoiser's grad() is filled as backward would fill it
//   GaussianSmoothing<float, Cpu> smoothed(training.denoised_classifier(), 10, {.sigma = 0.25});
//
// Loss on a batch x with noise delta ~ N(0, sigma^2 I), z = D(x + delta):
//   stability_weight * mean_i CE(f(z_i), t_i), t the targets (labels, or f's own predictions on
//              clean images: then no label is needed, Salman et al.'s "stability" objective)
//   + mse_weight * mean (z - x)^2, which needs D only and always goes by backprop (with
//              stability_weight = 0 it is the whole loss: the MSE denoiser, f never queried).
// How the stability term reaches D's weights, by the gradient policy, any estimators::Estimator:
//   an estimator   through f: the per-sample gradient g_z of f's loss at z is the estimator's
//              (estimators/input_gradient.hpp), then carried back through D by reverse mode,
//              dL/dtheta = (dz/dtheta)' g_z. Backprop: f is a white box (first-order denoised
//              smoothing); RandomZO / CoordinateZO: f is a black box (ZO-AE-DS without its
//              auto-encoder);
//   OverWeights{estimator, masks}  f and the loss are one black box in D's weights: the estimator
//              estimates the gradient over D's (masked) weights directly (with CoordinateZO,
//              DeepZero's sparse CGE defense).
// The noise of step s is a pure function of (seed, s), the same for every policy, and s is the
// estimator's step. Queries count evaluations of f per training image.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "trustml/autograd/engine.hpp"
#include "trustml/core/config.hpp"
#include "trustml/estimators/estimator.hpp"
#include "trustml/estimators/input_gradient.hpp"
#include "trustml/estimators/zeroth_order.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::smoothing {

struct DenoiserOptions {
  double sigma = 0.25;
  double stability_weight = 1;
  double mse_weight = 0;
  std::uint64_t seed = 0;
};

// An estimator applied to the denoiser's weights, with optional masks (one per parameter,
// nonzero = estimated).
template <class E, class T, class D>
requires estimators::Estimator<E, T, D>
struct OverWeights {
  E estimator;
  const std::vector<Tensor<T, D>>* masks = nullptr;
};

struct DenoiserStep {
  double loss = 0;           // stability (+ weighted MSE) at the current weights
  std::int64_t queries = 0;  // evaluations of f per image
};

template <class T, class D>
class DenoiserTraining {
 public:
  using Function = estimators::BatchFunction<T, D>;

  DenoiserTraining(nn::Module<T, D>& denoiser, Function classifier, DenoiserOptions options)
      : denoiser_(denoiser), classifier_(std::move(classifier)), options_(options) {
    TRUSTML_CHECK(options.sigma >= 0 && std::isfinite(options.sigma), "smoothing::DenoiserTraining",
                  "sigma must be finite and >= 0, got ", options.sigma);
    TRUSTML_CHECK(options.mse_weight >= 0 && std::isfinite(options.mse_weight) && options.stability_weight >= 0 &&
                      std::isfinite(options.stability_weight) && options.mse_weight + options.stability_weight > 0,
                  "smoothing::DenoiserTraining",
                  "mse_weight and stability_weight must be finite, >= 0 and not both 0, got ", options.mse_weight,
                  " and ", options.stability_weight);
  }

  // Adds the gradient of the loss on (images, targets) at step `step` to the denoiser's grad(), the
  // stability term through f by `estimator`.
  template <estimators::Estimator<T, D> E>
  DenoiserStep gradient(const Tensor<T, D>& images, const Tensor<std::int64_t, D>& targets, const E& estimator,
                        std::uint64_t step) {
    const auto noisy = noisy_images(images, targets, step);
    if (options_.stability_weight == 0) return mse_only(noisy, images);
    autograd::GradModeGuard recording(true);
    auto params = denoiser_.parameters();
    const T weight = T(options_.stability_weight);
    auto z = denoiser_(noisy);
    auto total = scale(mse(z, images), T(options_.mse_weight));
    // g_z of the mean stability loss, estimated from f, then through D.
    Function loss_of = [&](const Tensor<T, D>& logits) {
      return stability(logits, estimators::tile_rows(targets, logits.size(0)));
    };
    auto r = estimators::input_gradient(estimator, classifier_, loss_of, z.detach(), step);
    DenoiserStep out;
    out.queries = r.queries;
    out.loss = static_cast<double>(add(scale(mean(r.loss), weight), total).item());
    auto g_z = scale(r.grad, weight / T(images.size(0)));
    auto from_z = grad(std::vector{z}, params, std::vector{g_z}, true);
    if (options_.mse_weight > 0) {
      auto from_mse = grad(std::vector{total}, params);
      for (std::size_t i = 0; i < from_z.size(); ++i) from_z[i] = add(from_z[i], from_mse[i]);
    }
    accumulate(from_z);
    return out;
  }

  // The same with the stability term's gradient over the denoiser's weights by policy.estimator.
  template <class E>
  DenoiserStep gradient(const Tensor<T, D>& images, const Tensor<std::int64_t, D>& targets,
                        const OverWeights<E, T, D>& policy, std::uint64_t step) {
    const auto noisy = noisy_images(images, targets, step);
    if (options_.stability_weight == 0) return mse_only(noisy, images);
    autograd::GradModeGuard recording(true);
    DenoiserStep out;
    // A forward in training mode updates BatchNorm running statistics once per step, as the
    // forward of a backprop step does; the MSE term's gradient comes from it before the estimator
    // moves the weights.
    auto z = denoiser_(noisy);
    if (options_.mse_weight > 0) {
      auto mse_term = scale(mse(z, images), T(options_.mse_weight));
      accumulate(grad(std::vector{mse_term}, denoiser_.parameters()));
      out.loss += static_cast<double>(mse_term.item());
    }
    // The statistics stay where that forward left them, whatever forwards the estimator runs.
    estimators::CommonRandomNumbers<T, D> frozen_statistics(denoiser_);
    const T weight = T(options_.stability_weight);
    Function loss = [&](const Tensor<T, D>& denoised) {
      return scale(mean(stability(classifier_(denoised), targets)), weight);
    };
    const auto stats = policy.estimator.estimate(
        estimators::ParameterProblem<T, D>{denoiser_, noisy, loss, policy.masks}, {.step = step});
    out.queries = stats.queries;
    out.loss += stats.loss;
    return out;
  }

  // f(D(x)): the base classifier randomized smoothing certifies; no tape.
  Function denoised_classifier() const {
    return [this](const Tensor<T, D>& x) {
      NoGradGuard no_grad;
      return classifier_(denoiser_(x));
    };
  }

  const DenoiserOptions& options() const { return options_; }

 private:
  // x + delta, delta ~ N(0, sigma^2 I) drawn from (seed, step).
  Tensor<T, D> noisy_images(const Tensor<T, D>& images, const Tensor<std::int64_t, D>& targets, std::uint64_t step) {
    TRUSTML_CHECK(images.dim() >= 2 && targets.dim() == 1 && targets.size(0) == images.size(0) && images.size(0) > 0,
                  "smoothing::DenoiserTraining", "needs images [N, ...] and targets [N], got ", images.shape(), " and ",
                  targets.shape());
    return add(images, scale(Tensor<T, D>::randn(images.shape(), options_.seed,
                                                 step * static_cast<std::uint64_t>(images.numel())),
                             T(options_.sigma)));
  }

  // The MSE denoiser (stability_weight = 0): f is never queried.
  DenoiserStep mse_only(const Tensor<T, D>& noisy, const Tensor<T, D>& images) {
    autograd::GradModeGuard recording(true);
    auto total = scale(mse(denoiser_(noisy), images), T(options_.mse_weight));
    accumulate(grad(std::vector{total}, denoiser_.parameters()));
    return {.loss = static_cast<double>(total.item())};
  }

  // Per-sample cross-entropy of logits against the targets.
  static Tensor<T, D> stability(const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& targets) {
    TRUSTML_CHECK(logits.dim() == 2 && logits.size(0) == targets.size(0), "smoothing::DenoiserTraining",
                  "the classifier must return logits [N, C] for N images, got ", logits.shape(), " for ",
                  targets.size(0), " targets");
    return cross_entropy_per_sample(logits, targets);
  }
  void accumulate(const std::vector<Tensor<T, D>>& grads) {
    auto params = denoiser_.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) estimators::accumulate_grad(params[i], grads[i]);
  }

  nn::Module<T, D>& denoiser_;
  Function classifier_;
  DenoiserOptions options_;
};

}  // namespace trustml::smoothing
