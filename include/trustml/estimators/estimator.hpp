// trustml/estimators/estimator.hpp: the Estimator concept, what every gradient estimator provides
// so that attacks, smoothing and pruning take any of them, built in or written by a user, without
// knowing which.
//
//   static_assert(estimators::Estimator<MyEstimator, float, Cpu>);
//   auto r = estimator.estimate(InputProblem<float, Cpu>{model, loss, x}, {.step = t});     // per sample
//   auto s = estimator.estimate(ParameterProblem<float, Cpu>{net, x, loss, &masks}, {.step = t});
//
// Models: Backprop (input_gradient.hpp, exact, reverse mode), CoordinateZO and RandomZO
// (zeroth_order.hpp), StagedCoordinateZO (staged_cge.hpp, CGE over a network given as stages).
//
// ---- The concept ---------------------------------------------------------------------------
//
// A type E models Estimator<E, T, D> when a const E `e` provides the two members below. Both are
// estimates of the gradient of loss(model(input)); they differ in what the gradient is taken
// over, and each problem type says exactly what the estimator may call and what it must return.
//
//   InputGradient<T, D> e.estimate(const InputProblem<T, D>& p, const EstimateContext& c)
//     The gradient with respect to the inputs, sample by sample: p.loss(p.model(p.inputs)) is a
//     vector of N per-sample losses, loss_i depending on sample i only, and the result's grad row
//     i estimates d loss_i / d x_i. The estimator may call p.model on any batch of whole samples,
//     G * N rows stacked (then p.loss gets G * N rows, row g * N + i scored as sample i), and
//     must not move p.inputs. It reports p.model(p.inputs) and its per-sample losses, both
//     without a tape (an attack reads them to see whether it has succeeded), and `queries`, the
//     evaluations of p.model per sample. Throws trustml::Error naming "input_gradient" on an empty
//     batch or a loss that is not one value per row.
//
//   EstimateStats e.estimate(const ParameterProblem<T, D>& p, const EstimateContext& c)
//     The gradient with respect to p.model's parameters, p.loss(p.model(p.input)) being one
//     value. It is added to each parameter's grad(), as backward would add it, so every optimizer
//     works with every estimator; where p.masks is given (one per parameter, same shape), it is
//     zero at every coordinate whose mask is zero. Parameters are left bit for bit as they were
//     (an estimator that moves them writes the saved values back). Queries by loss values keep
//     the model's randomness common to all queries of a call: BatchNorm running statistics do not
//     move, and every Dropout layer draws the same masks for every query; a reverse-mode estimate
//     runs one forward as training would. Returns the loss evaluations, the coordinates
//     estimated and the loss at the current parameters (NaN where the estimator never evaluates
//     it there, as central differences do not).
//
//   In both, c.step selects the random stream of an estimator that draws random numbers: the same
//   step gives the same draws (so two calls can share directions), successive steps new ones; an
//   estimator that draws nothing ignores it. Results are a function of (estimator, problem, step).
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::estimators {

template <class T, class D>
using BatchFunction = std::function<Tensor<T, D>(const Tensor<T, D>&)>;

// What an estimator may depend on besides the problem.
struct EstimateContext {
  std::uint64_t step = 0;  // the training step or attack iteration: selects the random stream
};

// The gradient of per-sample losses with respect to a batch of inputs.
template <class T, class D>
struct InputProblem {
  BatchFunction<T, D> model;  // inputs [rows, ...] -> outputs [rows, ...]
  BatchFunction<T, D> loss;   // outputs [rows, ...] -> one loss per row [rows]
  Tensor<T, D> inputs;        // [N, ...]
};

template <class T, class D>
struct InputGradient {
  Tensor<T, D> grad;         // [N, ...], the shape of the inputs: d loss_i / d x_i
  Tensor<T, D> outputs;      // model(inputs), without a tape
  Tensor<T, D> loss;         // [N], loss(model(inputs))
  std::int64_t queries = 0;  // model evaluations per sample
};

// The gradient of one loss with respect to a model's parameters.
template <class T, class D>
struct ParameterProblem {
  nn::Module<T, D>& model;
  Tensor<T, D> input;
  BatchFunction<T, D> loss;                          // model(input) -> one value (any shape with one element)
  const std::vector<Tensor<T, D>>* masks = nullptr;  // one per model.parameters(), nonzero = estimated
};

// What an estimate over parameters cost.
struct EstimateStats {
  std::int64_t queries = 0;                                // loss evaluations, the base included
  std::int64_t coordinates = 0;                            // coordinates estimated
  double loss = std::numeric_limits<double>::quiet_NaN();  // at the current parameters, where evaluated
};

template <class E, class T, class D>
concept Estimator = requires(const E& e, const InputProblem<T, D>& inputs, const ParameterProblem<T, D>& parameters,
                             const EstimateContext& context) {
  { e.estimate(inputs, context) } -> std::same_as<InputGradient<T, D>>;
  { e.estimate(parameters, context) } -> std::same_as<EstimateStats>;
};

// The gradient slot of a parameter gets `g` added, as backward would: how every estimator over
// parameters (and denoised smoothing's chain rule) hands its result to the optimizer.
template <class T, class D>
void accumulate_grad(Tensor<T, D>& p, const Tensor<T, D>& g) {
  p.set_grad(p.grad().defined() ? add(p.grad(), g) : g);
}

// Shared by the estimators over parameters.
namespace detail {

// 1 where the mask is nonzero.
template <class T, class D>
Tensor<T, D> active(const Tensor<T, D>& mask) {
  return step(abs(mask));
}

template <class T, class D>
void check_parameters(const char* op, const std::vector<Tensor<T, D>>& params, const std::vector<Tensor<T, D>>* masks) {
  TRUSTML_CHECK(!params.empty(), op, "needs at least one parameter");
  for (std::size_t i = 0; i < params.size(); ++i)
    TRUSTML_CHECK(params[i].defined() && params[i].is_contiguous(), op, "parameter ", i,
                  " must be a defined contiguous tensor");
  if (!masks) return;
  TRUSTML_CHECK(masks->size() == params.size(), op, "needs one mask per parameter, got ", masks->size(), " masks for ",
                params.size(), " parameters");
  for (std::size_t i = 0; i < params.size(); ++i)
    TRUSTML_CHECK((*masks)[i].shape() == params[i].shape(), op, "mask ", i, " has shape ", (*masks)[i].shape(),
                  ", parameter ", i, " has shape ", params[i].shape());
}
}  // namespace detail

}  // namespace trustml::estimators
