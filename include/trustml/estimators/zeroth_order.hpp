// trustml/estimators/zeroth_order.hpp: gradient estimates from loss values only (DeepZero,
// arXiv:2310.02025 sections 3-4; docs/papers.md).
//
//   CoordinateZO cge({.mu = 5e-3});                      // CGE: one query per active coordinate
//   RandomZO rge({.mu = 5e-3, .queries = 20, .seed = 1}); // RGE: q random directions
//   auto stats = rge.estimate(ParameterProblem<float, Cpu>{model, x, loss}, {.step = step});
//   optimizer.step();                                    // reads the same grad() backprop fills
//   auto r = cge.estimate(InputProblem<float, Cpu>{f, per_sample_loss, x});  // d loss_i / d x_i
//
// Both model the Estimator concept (estimator.hpp). Over parameters they fill each parameter's
// grad() exactly where backprop would (added to a gradient already there, as backward does), so
// every optimizer and loop works with every estimator; `estimate(params, loss, context, masks)`
// is the same estimate for any list of tensors and any loss closure.
//
//   CGE:  g = sum_{i in S} [l(t + mu e_i) - l(t)] / mu e_i                   (forward)
//         g = sum_{i in S} [l(t + mu e_i) - l(t - mu e_i)] / (2 mu) e_i      (central)
//   RGE:  g = (phi / q) sum_j [l(t + mu u_j) - l(t)] / mu u_j                (forward; central alike)
//         Gaussian u ~ N(0, I_d): phi = 1. Unit sphere u = z / |z|: phi = d, the number of coordinates
//         actually perturbed (the mask's count when there is one). Both are unbiased for the gradient
//         of a smoothed loss; forward CGE on 1/2 t'At + b't is exactly At + b + (mu / 2) diag(A), central
//         CGE exactly At + b.
//
// Over inputs, per sample (d = the elements of one sample): RGE perturbs every sample along its own
// direction u_ij, phi = 1 for Gaussian u, phi = d for u uniform on each sample's unit sphere, q + 1
// queries; CGE moves one coordinate of every sample per query, d + 1 queries, stacked into batches
// of about 1024 rows (which changes nothing but the speed). Central differences take 2q and 2d
// queries, plus one at x itself for the outputs reported there.
//
// Feature reuse, the delta forward, batched queries and sharing the coordinates between processes
// are in staged_cge.hpp.
//
// Queries: weights are written in place and restored bit-exactly (the saved values are written
// back; (t + mu) - mu != t in floating point). Random directions are regenerated from (seed, step,
// query) with Philox, never stored. Over a ParameterProblem, the estimator also keeps the model's
// randomness common to all queries of a step: BatchNorm running statistics are frozen during the
// queries (batch statistics still normalize, as in training) and every Dropout layer draws the
// same mask for every query. Masks (optional, one per parameter, same shape, nonzero = active)
// restrict the estimate to a coordinate subset; inactive coordinates get no gradient.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/estimators/estimator.hpp"
#include "trustml/estimators/input_gradient.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/ops/common.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/ops/rows.hpp"

namespace trustml::estimators {

enum class Difference { forward, central };
enum class Direction { gaussian, sphere };

// Freezes BatchNorm running statistics and replays Dropout masks while a module is queried, so
// that every query of one estimate sees the same model (common random numbers); restores both
// afterwards. Estimators, denoised smoothing and ZO-GraSP hold one for the length of an estimate.
template <class T, class D>
class CommonRandomNumbers {
 public:
  explicit CommonRandomNumbers(nn::Module<T, D>& model) {
    model.apply([&](nn::Module<T, D>& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d<T, D>*>(&m)) {
        norms_.emplace_back(bn, bn->running_stats_frozen());
        bn->freeze_running_stats(true);
      } else if (auto* drop = dynamic_cast<nn::Dropout<T, D>*>(&m)) {
        dropouts_.emplace_back(drop, drop->draws);
      }
    });
  }
  // Before each query: every Dropout layer replays the masks of the step's first query.
  void rewind() {
    for (auto& [drop, draws] : dropouts_) drop->draws = draws;
  }
  ~CommonRandomNumbers() {
    for (auto& [bn, frozen] : norms_) bn->freeze_running_stats(frozen);
  }

 private:
  std::vector<std::pair<nn::BatchNorm2d<T, D>*, bool>> norms_;
  std::vector<std::pair<nn::Dropout<T, D>*, std::uint64_t>> dropouts_;
};

namespace detail {
// One element of a contiguous tensor on any device, read and written through the device policy.
template <class T, class D>
T read_element(const Tensor<T, D>& t, std::int64_t i) {
  T v;
  D::copy_to_host(&v, t.data() + i, 1);
  return v;
}
template <class T, class D>
void write_element(const Tensor<T, D>& t, std::int64_t i, T v) {
  D::copy_from_host(t.data() + i, &v, 1);
}

inline void check_mu(const char* op, double mu) {
  TRUSTML_CHECK(mu > 0 && std::isfinite(mu), op, "mu must be positive and finite, got ", mu);
}

// A ParameterProblem as a loss closure over the model's parameters, with the model's randomness
// common to all queries; the estimate over parameters runs it.
template <class T, class D>
class ProblemLoss {
 public:
  ProblemLoss(const ParameterProblem<T, D>& problem, const char* op)
      : problem_(problem), common_(problem.model), op_(op) {}
  double operator()() {
    common_.rewind();
    auto l = problem_.loss(problem_.model(problem_.input));
    TRUSTML_CHECK(l.numel() == 1, op_, "the loss must be one value, got shape ", l.shape());
    return static_cast<double>(l.item());
  }

 private:
  const ParameterProblem<T, D>& problem_;
  CommonRandomNumbers<T, D> common_;
  const char* op_;
};
}  // namespace detail

struct CoordinateZOOptions {
  double mu = 5e-3;
  Difference difference = Difference::forward;
};
struct RandomZOOptions {
  double mu = 5e-3;
  std::int64_t queries = 1;
  Difference difference = Difference::forward;
  Direction direction = Direction::gaussian;
  std::uint64_t seed = 0;
};

// CGE: one (forward) or two (central) queries per active coordinate.
class CoordinateZO {
 public:
  using Options = CoordinateZOOptions;
  explicit CoordinateZO(Options options = {}) : options_(options) { detail::check_mu("CoordinateZO", options.mu); }

  // `loss` evaluates the loss at the parameters' current values (it runs without recording).
  template <class T, class D>
  EstimateStats estimate(std::vector<Tensor<T, D>> params, const std::function<double()>& loss,
                         const EstimateContext& = {}, const std::vector<Tensor<T, D>>* masks = nullptr) const {
    detail::check_parameters("CoordinateZO", params, masks);
    NoGradGuard no_grad;
    EstimateStats stats;
    const bool central = options_.difference == Difference::central;
    double base = 0;
    if (!central) base = stats.loss = loss(), ++stats.queries;
    for (auto& p : params) {
      const std::int64_t n = p.numel();
      std::vector<T> grad(static_cast<std::size_t>(n), T(0));
      const std::vector<T> active = masks ? (*masks)[&p - params.data()].to_vector() : std::vector<T>();
      for (std::int64_t i = 0; i < n; ++i) {
        if (!active.empty() && active[i] == T(0)) continue;
        const T saved = detail::read_element(p, i);
        TRUSTML_CHECK(T(saved + T(options_.mu)) != saved, "CoordinateZO", "mu = ", options_.mu,
                      " does not change element ", i, " (", saved, ") of parameter ", &p - params.data(),
                      ": raise mu or use a wider type");
        detail::write_element(p, i, T(saved + T(options_.mu)));
        const double up = loss();
        double g;
        if (central) {
          detail::write_element(p, i, T(saved - T(options_.mu)));
          g = (up - loss()) / (2 * options_.mu);
          stats.queries += 2;
        } else {
          g = (up - base) / options_.mu;
          stats.queries += 1;
        }
        detail::write_element(p, i, saved);  // bit-exact restore
        grad[i] = T(g);
        ++stats.coordinates;
      }
      accumulate_grad(p, Tensor<T, D>::from_vector(grad, p.shape()));
    }
    return stats;
  }

  template <class T, class D>
  EstimateStats estimate(const ParameterProblem<T, D>& p, const EstimateContext& context = {}) const {
    detail::ProblemLoss<T, D> loss(p, "CoordinateZO");
    return estimate(p.model.parameters(), std::function<double()>(std::ref(loss)), context, p.masks);
  }

  template <class T, class D>
  InputGradient<T, D> estimate(const InputProblem<T, D>& p, const EstimateContext& = {}) const {
    check_batch(p.inputs, "input_gradient");
    NoGradGuard no_grad;
    const auto& x = p.inputs;
    const std::int64_t n = x.size(0), d = x.numel() / n;
    const bool central = options_.difference == Difference::central;
    const T mu = T(options_.mu);
    InputGradient<T, D> r;
    detail::evaluate_base(r, p.model, p.loss, x, "input_gradient");
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
        auto l = detail::per_sample_loss(p.loss, p.model(shifted), g * n, "input_gradient");
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

  const Options& options() const { return options_; }

 private:
  Options options_;
};

// RGE: q random directions over all (active) coordinates of all parameters at once.
class RandomZO {
 public:
  using Options = RandomZOOptions;
  explicit RandomZO(Options options = {}) : options_(options) {
    detail::check_mu("RandomZO", options.mu);
    TRUSTML_CHECK(options.queries > 0, "RandomZO", "needs at least one query (q > 0), got ", options.queries);
  }

  // The Philox seed of query j at step `step`: directions are regenerated from it, not stored.
  std::uint64_t direction_seed(std::uint64_t step, std::int64_t query) const {
    const auto block = random::philox4x32(step, static_cast<std::uint64_t>(query), options_.seed);
    return (static_cast<std::uint64_t>(block.v[0]) << 32) | block.v[1];
  }

  // `loss` evaluates the loss at the parameters' current values (it runs without recording).
  template <class T, class D>
  EstimateStats estimate(std::vector<Tensor<T, D>> params, const std::function<double()>& loss,
                         const EstimateContext& context = {}, const std::vector<Tensor<T, D>>* masks = nullptr) const {
    detail::check_parameters("RandomZO", params, masks);
    NoGradGuard no_grad;
    EstimateStats stats;
    std::vector<Tensor<T, D>> saved, sums;
    for (auto& p : params) {
      saved.push_back(p.clone());
      sums.push_back(Tensor<T, D>::zeros(p.shape()));
      stats.coordinates +=
          masks ? static_cast<std::int64_t>(sum(detail::active((*masks)[&p - params.data()])).item()) : p.numel();
    }
    const bool central = options_.difference == Difference::central;
    const double phi = options_.direction == Direction::sphere ? static_cast<double>(stats.coordinates) : 1.0;
    double base = 0;
    if (!central) base = stats.loss = loss(), ++stats.queries;
    for (std::int64_t j = 0; j < options_.queries; ++j) {
      auto u = directions(params, masks, direction_seed(context.step, j));
      auto shift_to = [&](double sign) {
        for (std::size_t t = 0; t < params.size(); ++t)
          ops::assign(params[t], add(saved[t], scale(u[t], T(sign * options_.mu))));
      };
      shift_to(+1);
      double difference = loss();
      if (central) {
        shift_to(-1);
        difference = (difference - loss()) / (2 * options_.mu);
        stats.queries += 2;
      } else {
        difference = (difference - base) / options_.mu;
        stats.queries += 1;
      }
      for (std::size_t t = 0; t < params.size(); ++t)
        sums[t] = add(sums[t], scale(u[t], T(phi / static_cast<double>(options_.queries) * difference)));
    }
    for (std::size_t t = 0; t < params.size(); ++t) {
      ops::assign(params[t], saved[t]);  // bit-exact restore
      accumulate_grad(params[t], sums[t]);
    }
    return stats;
  }

  template <class T, class D>
  EstimateStats estimate(const ParameterProblem<T, D>& p, const EstimateContext& context = {}) const {
    detail::ProblemLoss<T, D> loss(p, "RandomZO");
    return estimate(p.model.parameters(), std::function<double()>(std::ref(loss)), context, p.masks);
  }

  template <class T, class D>
  InputGradient<T, D> estimate(const InputProblem<T, D>& p, const EstimateContext& context = {}) const {
    check_batch(p.inputs, "input_gradient");
    NoGradGuard no_grad;
    const auto& x = p.inputs;
    const std::int64_t n = x.size(0), d = x.numel() / n;
    const bool central = options_.difference == Difference::central, sphere = options_.direction == Direction::sphere;
    InputGradient<T, D> r;
    detail::evaluate_base(r, p.model, p.loss, x, "input_gradient");
    auto total = Tensor<T, D>::zeros(Shape{n, d});
    const T mu = T(options_.mu);
    for (std::int64_t j = 0; j < options_.queries; ++j) {
      auto u = reshape(Tensor<T, D>::randn(x.shape(), direction_seed(context.step, j)), {n, d});
      if (sphere) u = scale_rows(u, pow(sum(mul(u, u), {1}), T(-0.5)));
      auto at = [&](T s) {
        return detail::per_sample_loss(p.loss, p.model(add(x, reshape(scale(u, s), x.shape()))), n, "input_gradient");
      };
      auto difference = central ? scale(sub(at(mu), at(-mu)), T(0.5) / mu) : scale(sub(at(mu), r.loss), T(1) / mu);
      r.queries += central ? 2 : 1;
      total = add(total, scale_rows(u, difference));
    }
    const double phi = sphere ? static_cast<double>(d) : 1.0;
    r.grad = reshape(scale(total, T(phi / static_cast<double>(options_.queries))), x.shape());
    return r;
  }

  // The directions of one query, one tensor per parameter: N(0, 1) entries (Gaussian) or the same
  // scaled to unit norm over all active coordinates (sphere); zero outside the masks.
  template <class T, class D>
  std::vector<Tensor<T, D>> directions(const std::vector<Tensor<T, D>>& params, const std::vector<Tensor<T, D>>* masks,
                                       std::uint64_t seed) const {
    std::vector<Tensor<T, D>> u;
    std::uint64_t offset = 0;
    double squares = 0;
    for (std::size_t t = 0; t < params.size(); ++t) {
      auto z = Tensor<T, D>::randn(params[t].shape(), seed, offset);
      offset += static_cast<std::uint64_t>(params[t].numel());
      if (masks) z = mul(z, detail::active((*masks)[t]));
      if (options_.direction == Direction::sphere) squares += static_cast<double>(sum(mul(z, z)).item());
      u.push_back(z);
    }
    if (options_.direction == Direction::sphere)
      for (auto& z : u) z = scale(z, T(1 / std::sqrt(squares)));
    return u;
  }

  const Options& options() const { return options_; }

 private:
  Options options_;
};

}  // namespace trustml::estimators
