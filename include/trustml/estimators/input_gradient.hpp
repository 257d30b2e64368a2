// trustml/estimators/input_gradient.hpp: per-sample gradients of a loss with respect to a batch of
// inputs, by backprop or from loss values only: what attacks and ZO denoisers need; and Backprop,
// the exact estimator every other one approximates.
//
//   auto r = input_gradient(Backprop{}, model, loss, x, step);      // white box
//   auto r = input_gradient(RandomZO({.mu = 5e-3, .queries = 20}), model, loss, x, step);  // black box
//   r.grad [N, ...]: d loss_i / d x_i;  r.outputs: model(x);  r.loss [N];  r.queries per sample
//
// input_gradient takes any Estimator (estimator.hpp) and asks it for the InputProblem's estimate
// at `step`. `model` maps inputs [N, ...] to outputs [N, ...] (logits, say) and `loss` maps outputs
// (and nothing else) to one value per row; sample i's loss must depend on sample i only. An
// estimator may stack G copies of the batch into one call, so `loss` may get G * N rows, row
// g * N + i being sample i (tile_rows below repeats per-sample labels). Zeroth-order estimators
// score every sample by its own loss difference (a sum over the batch would mix the others'
// differences into each sample's estimate); zeroth_order.hpp gives their query counts.
#pragma once

#include <cstdint>
#include <vector>

#include "trustml/autograd/engine.hpp"
#include "trustml/estimators/estimator.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/ops/rows.hpp"

namespace trustml::estimators {

// Per-sample values (labels, targets) repeated over the G copies of the batch CoordinateZO stacks
// into one call: `rows` = G * N, row g * N + i taking value i.
template <class T, class D>
Tensor<T, D> tile_rows(const Tensor<T, D>& per_sample, std::int64_t rows) {
  const std::int64_t n = per_sample.numel();
  TRUSTML_CHECK(per_sample.dim() == 1 && n > 0 && rows % n == 0, "tile_rows", "cannot tile ", per_sample.shape(),
                " over ", rows, " rows");
  if (rows == n) return per_sample;
  const auto host = per_sample.to_vector();
  std::vector<T> tiled;
  tiled.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t g = 0; g < rows / n; ++g) tiled.insert(tiled.end(), host.begin(), host.end());
  return Tensor<T, D>::from_vector(tiled);
}

namespace detail {
template <class T, class D>
Tensor<T, D> per_sample_loss(const BatchFunction<T, D>& loss, const Tensor<T, D>& outputs, std::int64_t n,
                             const char* op) {
  auto l = loss(outputs);
  TRUSTML_CHECK(l.dim() == 1 && l.size(0) == n, op, "the loss must return one value per sample [", n, "], got shape ",
                l.shape());
  return l;
}

// The base of the forward differences (or, central, the outputs reported at x): one more query.
template <class T, class D>
void evaluate_base(InputGradient<T, D>& r, const BatchFunction<T, D>& model, const BatchFunction<T, D>& loss,
                   const Tensor<T, D>& x, const char* op) {
  r.outputs = model(x);
  r.loss = per_sample_loss(loss, r.outputs, x.size(0), op);
  ++r.queries;
}
}  // namespace detail

// White-box gradients by reverse mode: exact, one forward and one backward.
struct Backprop {
  template <class T, class D>
  InputGradient<T, D> estimate(const InputProblem<T, D>& p, const EstimateContext&) const {
    check_batch(p.inputs, "input_gradient");
    autograd::GradModeGuard recording(true);
    auto leaf = p.inputs.detach().set_requires_grad();
    auto outputs = p.model(leaf);
    auto l = detail::per_sample_loss(p.loss, outputs, p.inputs.size(0), "input_gradient");
    InputGradient<T, D> r;
    r.grad = grad(std::vector{sum(l)}, std::vector{leaf})[0];
    r.outputs = outputs.detach();
    r.loss = l.detach();
    r.queries = 1;
    return r;
  }

  template <class T, class D>
  EstimateStats estimate(const ParameterProblem<T, D>& p, const EstimateContext&) const {
    auto params = p.model.parameters();
    detail::check_parameters("Backprop", params, p.masks);
    autograd::GradModeGuard recording(true);
    auto l = p.loss(p.model(p.input));
    TRUSTML_CHECK(l.numel() == 1, "Backprop", "the loss must be one value, got shape ", l.shape());
    // A parameter the loss does not use gets a zero gradient, as a loss-value estimate gives it.
    auto grads = grad(std::vector{l}, params, {}, false, false, true);
    EstimateStats stats{.queries = 1, .loss = static_cast<double>(l.item())};
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto g = grads[i].defined() ? grads[i] : Tensor<T, D>::zeros(params[i].shape());
      if (p.masks) {
        const auto kept = detail::active((*p.masks)[i]);
        g = mul(g, kept);
        stats.coordinates += static_cast<std::int64_t>(sum(kept).item());
      } else {
        stats.coordinates += params[i].numel();
      }
      accumulate_grad(params[i], g);
    }
    return stats;
  }
};

template <class T, class D, Estimator<T, D> E>
InputGradient<T, D> input_gradient(const E& estimator, const BatchFunction<T, D>& model,
                                   const BatchFunction<T, D>& loss, const Tensor<T, D>& x, std::uint64_t step = 0) {
  return estimator.estimate(InputProblem<T, D>{model, loss, x}, EstimateContext{.step = step});
}

}  // namespace trustml::estimators
