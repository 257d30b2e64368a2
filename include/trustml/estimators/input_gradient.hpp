// trustml/estimators/input_gradient.hpp: per-sample gradients of a loss with respect to a batch of
// inputs, by backprop or from loss values only: what attacks and ZO denoisers need.
//
//   auto r = input_gradient(Backprop{}, model, loss, x, step);      // white box
//   auto r = input_gradient(RandomZO({.mu = 5e-3, .queries = 20}), model, loss, x, step);  // black box
//   r.grad [N, ...]: d loss_i / d x_i;  r.outputs: model(x);  r.loss [N];  r.queries per sample
//
// `model` maps inputs [N, ...] to outputs [N, ...] (logits, say) and `loss` maps outputs (and
// nothing else) to one value per row; sample i's loss must depend on sample i only. CoordinateZO
// stacks G copies of the batch into one call, so `loss` may get G * N rows, row g * N + i being
// sample i (tile_rows below repeats per-sample labels). Each
// query evaluates the whole batch once, every sample with its own perturbation, and every sample
// is scored by its own loss difference (a sum over the batch would mix the others' differences
// into each sample's estimate). Per sample, with d the elements of one sample:
//   Backprop      exact gradient; 1 query (a forward and a backward)
//   RandomZO      g_i = (phi / q) sum_j [l_i(x + mu u_j) - l_i(x)] / mu u_ij, phi = 1 for Gaussian
//                 u, phi = d for u uniform on each sample's unit sphere; q + 1 queries
//   CoordinateZO  one coordinate of every sample per query; d + 1 queries. Queries are stacked
//                 into batches of about 1024 rows, which changes nothing but the speed.
// Central differences take 2q and 2d queries, plus one at x itself for the outputs reported there
// (an attack needs them to see whether it has succeeded).
// Directions come from Philox streams seeded by RandomZO::direction_seed(step, j): a step
// reproduces its directions, and successive steps draw new ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "trustml/estimators/zeroth_order.hpp"
#include "trustml/trustml.hpp"

namespace trustml::estimators {

// White-box gradients by reverse mode.
struct Backprop {};

template <class T, class D>
using BatchFunction = std::function<Tensor<T, D>(const Tensor<T, D>&)>;

template <class T, class D>
struct InputGradient {
  Tensor<T, D> grad;         // [N, ...], the shape of x
  Tensor<T, D> outputs;      // model(x), without a tape
  Tensor<T, D> loss;         // [N], loss(model(x))
  std::int64_t queries = 0;  // model evaluations per sample
};

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

template <class T, class D>
void check_batch(const Tensor<T, D>& x, const char* op) {
  TRUSTML_CHECK(x.defined() && x.dim() >= 1 && x.size(0) > 0 && x.numel() > 0, op,
                "needs a non-empty batch of inputs [N, ...], got shape ", x.defined() ? x.shape() : Shape{});
}

// Rows of a [N, d] view scaled by one factor per row.
template <class T, class D>
Tensor<T, D> scale_rows(const Tensor<T, D>& rows, const Tensor<T, D>& factors) {
  return mul(rows, reshape(factors, {factors.numel(), 1}));
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

template <class T, class D>
InputGradient<T, D> input_gradient(const Backprop&, const BatchFunction<T, D>& model, const BatchFunction<T, D>& loss,
                                   const Tensor<T, D>& x, std::uint64_t = 0) {
  detail::check_batch(x, "input_gradient");
  autograd::GradModeGuard recording(true);
  auto leaf = x.detach().set_requires_grad();
  auto outputs = model(leaf);
  auto l = detail::per_sample_loss(loss, outputs, x.size(0), "input_gradient");
  InputGradient<T, D> r;
  r.grad = grad(std::vector{sum(l)}, std::vector{leaf})[0];
  r.outputs = outputs.detach();
  r.loss = l.detach();
  r.queries = 1;
  return r;
}

template <class T, class D>
InputGradient<T, D> input_gradient(const RandomZO& rge, const BatchFunction<T, D>& model,
                                   const BatchFunction<T, D>& loss, const Tensor<T, D>& x, std::uint64_t step = 0) {
  detail::check_batch(x, "input_gradient");
  NoGradGuard no_grad;
  const auto& o = rge.options();
  const std::int64_t n = x.size(0), d = x.numel() / n;
  const bool central = o.difference == Difference::central, sphere = o.direction == Direction::sphere;
  InputGradient<T, D> r;
  detail::evaluate_base(r, model, loss, x, "input_gradient");
  auto sum = Tensor<T, D>::zeros(Shape{n, d});
  const T mu = T(o.mu);
  for (std::int64_t j = 0; j < o.queries; ++j) {
    auto u = reshape(Tensor<T, D>::randn(x.shape(), rge.direction_seed(step, j)), {n, d});
    if (sphere) u = detail::scale_rows(u, pow(trustml::sum(mul(u, u), {1}), T(-0.5)));
    auto at = [&](T s) {
      return detail::per_sample_loss(loss, model(add(x, reshape(scale(u, s), x.shape()))), n, "input_gradient");
    };
    auto difference = central ? scale(sub(at(mu), at(-mu)), T(0.5) / mu) : scale(sub(at(mu), r.loss), T(1) / mu);
    r.queries += central ? 2 : 1;
    sum = add(sum, detail::scale_rows(u, difference));
  }
  const double phi = sphere ? static_cast<double>(d) : 1.0;
  r.grad = reshape(scale(sum, T(phi / static_cast<double>(o.queries))), x.shape());
  return r;
}

template <class T, class D>
InputGradient<T, D> input_gradient(const CoordinateZO& cge, const BatchFunction<T, D>& model,
                                   const BatchFunction<T, D>& loss, const Tensor<T, D>& x, std::uint64_t = 0) {
  detail::check_batch(x, "input_gradient");
  NoGradGuard no_grad;
  const auto& o = cge.options();
  const std::int64_t n = x.size(0), d = x.numel() / n;
  const bool central = o.difference == Difference::central;
  const T mu = T(o.mu);
  InputGradient<T, D> r;
  detail::evaluate_base(r, model, loss, x, "input_gradient");
  const auto rows = reshape(x, {1, n, d});
  Shape stacked_shape = x.shape();
  // Coordinates [first, first + g) of every sample as g * n rows: coordinate first + k of sample i
  // sits at row k * n + i, shifted by `s`.
  std::vector<Tensor<T, D>> columns;
  const std::int64_t group = std::max<std::int64_t>(1, 1024 / n);
  for (std::int64_t first = 0; first < d; first += group) {
    const std::int64_t g = std::min(group, d - first);
    std::vector<T> shift(static_cast<std::size_t>(g * d), T(0));
    for (std::int64_t k = 0; k < g; ++k) shift[static_cast<std::size_t>(k * d + first + k)] = T(1);
    const auto unit = Tensor<T, D>::from_vector(shift, Shape{g, 1, d});
    stacked_shape.dims[0] = g * n;
    auto at = [&](T s) {
      auto shifted = reshape(add(rows, scale(unit, s)), stacked_shape);
      auto l = detail::per_sample_loss(loss, model(shifted), g * n, "input_gradient");
      return reshape(l, {g, n});
    };
    auto difference =
        central ? scale(sub(at(mu), at(-mu)), T(0.5) / mu) : scale(sub(at(mu), reshape(r.loss, {1, n})), T(1) / mu);
    columns.push_back(difference);  // [g, n]
  }
  r.queries += central ? 2 * d : d;
  r.grad = reshape(transpose(concat(columns, 0), 0, 1).contiguous(), x.shape());
  return r;
}

}  // namespace trustml::estimators
