// trustml/estimators/zeroth_order.hpp: gradient estimates from loss values only (DeepZero, spec
// ../shared/specs/deepzero-zo.md sections 3-4).
//
//   CoordinateZO cge({.mu = 5e-3});                      // CGE: one query per active coordinate
//   RandomZO rge({.mu = 5e-3, .queries = 20, .seed = 1}); // RGE: q random directions
//   auto stats = cge.estimate(model, [&] { return cross_entropy(model(x), y).item(); });
//   optimizer.step();                                    // reads the same grad() backprop fills
//
// Both fill each parameter's grad() exactly where backprop would (added to a gradient already
// there, as backward does), so every optimizer and loop works with every estimator.
//
//   CGE:  g = sum_{i in S} [l(t + mu e_i) - l(t)] / mu e_i                   (forward)
//         g = sum_{i in S} [l(t + mu e_i) - l(t - mu e_i)] / (2 mu) e_i      (central)
//   RGE:  g = (phi / q) sum_j [l(t + mu u_j) - l(t)] / mu u_j                (forward; central alike)
//         Gaussian u ~ N(0, I_d): phi = 1. Unit sphere u = z / |z|: phi = d, the number of coordinates
//         actually perturbed (the mask's count when there is one). Both are unbiased for the gradient
//         of a smoothed loss; forward CGE on 1/2 t'At + b't is exactly At + b + (mu / 2) diag(A), central
//         CGE exactly At + b.
//
// Feature reuse, the delta forward, batched queries and sharing the coordinates between processes
// are in staged_cge.hpp.
//
// Queries: weights are written in place and restored bit-exactly (the saved values are written
// back; (t + mu) - mu != t in floating point). Random directions are regenerated from (seed, step,
// query) with Philox, never stored. Called with a module, the estimator also keeps the module's
// randomness common to all queries of a step: BatchNorm running statistics are frozen during the
// queries (batch statistics still normalize, as in training) and every Dropout layer draws the
// same mask for every query. Masks (optional, one per parameter, same shape, nonzero = active)
// restrict the estimate to a coordinate subset; inactive coordinates get no gradient.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/ops/common.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::estimators {

enum class Difference { forward, central };
enum class Direction { gaussian, sphere };

// What an estimate cost.
struct EstimateStats {
  std::int64_t queries = 0;      // loss evaluations, the base included
  std::int64_t coordinates = 0;  // coordinates perturbed
  double loss = std::numeric_limits<double>::quiet_NaN();  // at the unperturbed parameters (forward differences)
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

// The gradient slot of a parameter gets `g` added, as backward would.
template <class T, class D>
void accumulate_grad(Tensor<T, D>& p, const Tensor<T, D>& g) {
  p.set_grad(p.grad().defined() ? add(p.grad(), g) : g);
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

inline void check_mu(const char* op, double mu) {
  TRUSTML_CHECK(mu > 0 && std::isfinite(mu), op, "mu must be positive and finite, got ", mu);
}

// Freezes BatchNorm running statistics and replays Dropout masks while a module is queried;
// restores both afterwards.
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
  explicit CoordinateZO(Options options = {}) : options_(options) {
    detail::check_mu("CoordinateZO", options.mu);
  }

  // `loss` evaluates the loss at the parameters' current values (it runs without recording).
  template <class T, class D>
  EstimateStats estimate(std::vector<Tensor<T, D>> params, const std::function<double()>& loss,
                         const std::vector<Tensor<T, D>>* masks = nullptr) const {
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
      detail::accumulate_grad(p, Tensor<T, D>::from_vector(grad, p.shape()));
    }
    return stats;
  }

  // The module's parameters, with BatchNorm statistics frozen and Dropout masks common to all queries.
  template <class T, class D>
  EstimateStats estimate(nn::Module<T, D>& model, const std::function<double()>& loss,
                         const std::vector<Tensor<T, D>>* masks = nullptr) const {
    detail::CommonRandomNumbers<T, D> common(model);
    return estimate(model.parameters(), [&] { common.rewind(); return loss(); }, masks);
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

  template <class T, class D>
  EstimateStats estimate(std::vector<Tensor<T, D>> params, const std::function<double()>& loss, std::uint64_t step,
                         const std::vector<Tensor<T, D>>* masks = nullptr) const {
    detail::check_parameters("RandomZO", params, masks);
    NoGradGuard no_grad;
    EstimateStats stats;
    std::vector<Tensor<T, D>> saved, sums;
    for (auto& p : params) {
      saved.push_back(p.clone());
      sums.push_back(Tensor<T, D>::zeros(p.shape()));
      stats.coordinates += masks ? static_cast<std::int64_t>(sum(active((*masks)[&p - params.data()])).item()) : p.numel();
    }
    const bool central = options_.difference == Difference::central;
    const double phi = options_.direction == Direction::sphere ? static_cast<double>(stats.coordinates) : 1.0;
    double base = 0;
    if (!central) base = stats.loss = loss(), ++stats.queries;
    for (std::int64_t j = 0; j < options_.queries; ++j) {
      auto u = directions(params, masks, direction_seed(step, j));
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
      detail::accumulate_grad(params[t], sums[t]);
    }
    return stats;
  }

  template <class T, class D>
  EstimateStats estimate(nn::Module<T, D>& model, const std::function<double()>& loss, std::uint64_t step,
                         const std::vector<Tensor<T, D>>* masks = nullptr) const {
    detail::CommonRandomNumbers<T, D> common(model);
    return estimate(model.parameters(), [&] { common.rewind(); return loss(); }, step, masks);
  }

  // The directions of one query, one tensor per parameter: N(0, 1) entries (Gaussian) or the same
  // scaled to unit norm over all active coordinates (sphere); zero outside the masks.
  template <class T, class D>
  std::vector<Tensor<T, D>> directions(const std::vector<Tensor<T, D>>& params,
                                       const std::vector<Tensor<T, D>>* masks, std::uint64_t seed) const {
    std::vector<Tensor<T, D>> u;
    std::uint64_t offset = 0;
    double squares = 0;
    for (std::size_t t = 0; t < params.size(); ++t) {
      auto z = Tensor<T, D>::randn(params[t].shape(), seed, offset);
      offset += static_cast<std::uint64_t>(params[t].numel());
      if (masks) z = mul(z, active((*masks)[t]));
      if (options_.direction == Direction::sphere) squares += static_cast<double>(sum(mul(z, z)).item());
      u.push_back(z);
    }
    if (options_.direction == Direction::sphere)
      for (auto& z : u) z = scale(z, T(1 / std::sqrt(squares)));
    return u;
  }

  const Options& options() const { return options_; }

 private:
  // 1 where the mask is nonzero.
  template <class T, class D>
  static Tensor<T, D> active(const Tensor<T, D>& mask) {
    return step(abs(mask));
  }
  Options options_;
};

}  // namespace trustml::estimators
