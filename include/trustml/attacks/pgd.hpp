// trustml/attacks/pgd.hpp: projected gradient descent (Madry et al., 2018) and FGSM, generic over
// the ball, the objective and the gradient estimator.
//
//   auto r = attacks::pgd(model, x, y, {.norm = Norm::linf, .eps = 0.1, .steps = 10});        // white box
//   auto r = attacks::pgd(model, x, y, {.eps = 0.1}, margin_objective<float, Cpu>(),
//                         estimators::RandomZO({.mu = 1e-3, .queries = 50}));                 // black box
//   r.adversarial, r.success[i], r.loss[i], r.norm[i], r.queries[i], r.success_rate()
//   auto f = attacks::fgsm(model, x, y, {.eps = 0.1});                // one step of size eps
//
// x_0 = clip(x + delta_0) (delta_0 uniform in the ball with random_start, else 0), then
//   x_{t+1} = clip(x + P(x_t + step_size * s_t - x), lower, upper),
// s_t the steepest-ascent direction of the estimated gradient (sign for L-inf), P the projection
// on the eps-ball; clipping keeps every pixel in [lower, upper] and only shortens a perturbation.
// Per sample:
//   - untargeted attacks succeed when argmax != label; targeted ones (labels are the targets) when
//     argmax == target, and ascend -objective;
//   - with early_stop a sample stops at its first successful iterate (no further queries);
//   - the returned iterate is the best one seen over all steps and restarts (successful first,
//     then the highest objective), or with keep_best = false the last iterate of the first
//     restart (what torchattacks returns; for differential tests against it);
//   - restarts run only on the samples that have not succeeded;
//   - queries counts model evaluations: those of the estimator at every step (1 for backprop: a
//     forward and its backward) plus 1 for the final iterate;
//   - an optional mask (the shape of x or of one sample; nonzero = may change) confines the
//     perturbation: masked-out pixels are returned exactly as they were.
// The ball holds up to the rounding of x + delta (half an ulp of x). The input x is not modified.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "trustml/attacks/objectives.hpp"
#include "trustml/attacks/threat_model.hpp"
#include "trustml/estimators/input_gradient.hpp"
#include "trustml/nn/module.hpp"

namespace trustml::attacks {

struct PgdOptions {
  Norm norm = Norm::linf;
  double eps = 0.03;
  double step_size = 0;  // 0: 2.5 eps / steps (Madry et al.)
  int steps = 10;
  int restarts = 1;
  bool random_start = true;
  bool targeted = false;
  bool early_stop = true;
  bool keep_best = true;
  double lower = 0, upper = 1;  // the valid input range
  std::uint64_t seed = 0;
};

template <class T, class D>
struct AttackResult {
  Tensor<T, D> adversarial;           // [N, ...]
  std::vector<bool> success;          // per sample
  std::vector<double> loss;           // the objective ascended (targeted: -objective) at the result
  std::vector<double> norm;           // |adversarial_i - x_i| in the attack's norm
  std::vector<std::int64_t> queries;  // model evaluations spent on the sample

  std::int64_t successes() const {
    std::int64_t n = 0;
    for (bool s : success) n += s;
    return n;
  }
  double success_rate() const { return success.empty() ? 0.0 : static_cast<double>(successes()) / success.size(); }
};

namespace detail {
// Rows `index` of a batch.
template <class T, class D>
Tensor<T, D> rows(const Tensor<T, D>& x, const std::vector<std::int64_t>& index) {
  return index_select(x, 0, Tensor<std::int64_t, D>::from_vector(index));
}
// `target` with row index[k] replaced by row k of `values`; every copied value is exact.
template <class T, class D>
Tensor<T, D> replace_rows(const Tensor<T, D>& target, const std::vector<std::int64_t>& index,
                          const Tensor<T, D>& values) {
  if (index.empty()) return target;
  const std::int64_t n = target.size(0);
  std::vector<std::int64_t> source(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) source[i] = i;
  for (std::size_t k = 0; k < index.size(); ++k) source[index[k]] = n + static_cast<std::int64_t>(k);
  return rows(concat(std::vector{target, values}, 0), source);
}
template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::int64_t>& index) {
  std::vector<T> out;
  for (auto i : index) out.push_back(v[i]);
  return out;
}

struct SampleBest {
  bool success = false;
  double loss = -std::numeric_limits<double>::infinity();
  bool improved_by(bool s, double l) const { return (s && !success) || (s == success && l > loss); }
};

template <class T, class D>
void check_pgd(const Tensor<T, D>& x, const std::vector<std::int64_t>& labels, const PgdOptions& o,
               const Tensor<T, D>& mask) {
  estimators::detail::check_batch(x, "attacks::pgd");
  TRUSTML_CHECK(static_cast<std::int64_t>(labels.size()) == x.size(0), "attacks::pgd",
                "needs one label per sample: ", labels.size(), " labels for inputs ", x.shape());
  check_eps("attacks::pgd", o.eps);
  TRUSTML_CHECK(o.steps >= 1, "attacks::pgd", "needs at least one step, got ", o.steps);
  TRUSTML_CHECK(o.restarts >= 1, "attacks::pgd", "needs at least one restart (a single run is 1), got ", o.restarts);
  TRUSTML_CHECK(o.step_size >= 0 && std::isfinite(o.step_size), "attacks::pgd",
                "step_size must be finite and >= 0 (0 picks 2.5 eps / steps), got ", o.step_size);
  TRUSTML_CHECK(o.keep_best || o.restarts == 1, "attacks::pgd",
                "keep_best = false returns the last iterate of a single run; it needs restarts = 1, got ", o.restarts);
  TRUSTML_CHECK(o.lower < o.upper, "attacks::pgd", "the valid range [", o.lower, ", ", o.upper, "] is empty");
  TRUSTML_CHECK(o.norm != Norm::l1 || (o.steps == 1 && !o.random_start && (o.step_size == 0 || o.step_size <= o.eps)),
                "attacks::pgd",
                "L1 attacks are one steepest-ascent step of size <= eps without a random start (FGM); "
                "PGD projects onto L-inf and L2 balls");
  const double lo = static_cast<double>(amin(x).item()), hi = static_cast<double>(amax(x).item());
  TRUSTML_CHECK(lo >= o.lower && hi <= o.upper, "attacks::pgd", "inputs span [", lo, ", ", hi,
                "], outside the valid range [", o.lower, ", ", o.upper, "]");
  if (mask.defined()) {
    Shape one = x.shape();
    one.dims[0] = 1;
    TRUSTML_CHECK(mask.shape() == x.shape() || mask.shape() == one, "attacks::pgd", "mask shape ", mask.shape(),
                  " must be the inputs' ", x.shape(), " or one sample's ", one);
  }
}
}  // namespace detail

template <class T, class D, class Estimator = estimators::Backprop>
AttackResult<T, D> pgd(const std::type_identity_t<estimators::BatchFunction<T, D>>& model, const Tensor<T, D>& x,
                       const Tensor<std::int64_t, D>& labels, const PgdOptions& options,
                       const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                       const Estimator& estimator = {}, const Tensor<T, D>& mask = {}) {
  TRUSTML_CHECK(labels.dim() == 1, "attacks::pgd", "labels must be 1-D, got shape ", labels.shape());
  const auto label_host = labels.to_vector();
  detail::check_pgd(x, label_host, options, mask);
  const std::int64_t n = x.size(0);
  const double step_size = options.step_size > 0 ? options.step_size : 2.5 * options.eps / options.steps;
  // The binary mask, broadcast over the batch when it is one sample's.
  const Tensor<T, D> allowed = mask.defined() ? step(abs(mask)) : Tensor<T, D>();
  auto restrict = [&](const Tensor<T, D>& t, const std::vector<std::int64_t>& index) {
    if (!allowed.defined()) return t;
    return mul(t, allowed.size(0) == n && n > 1 ? detail::rows(allowed, index) : allowed);
  };

  AttackResult<T, D> result;
  result.adversarial = x;
  result.success.assign(n, false);
  result.loss.assign(n, -std::numeric_limits<double>::infinity());
  result.queries.assign(n, 0);
  std::vector<detail::SampleBest> best(n);

  for (int restart = 0; restart < options.restarts; ++restart) {
    std::vector<std::int64_t> live;  // global indices still iterating
    for (std::int64_t i = 0; i < n; ++i)
      if (!best[i].success) live.push_back(i);
    if (live.empty()) break;
    const auto origin_all = detail::rows(x, live);
    Tensor<T, D> origin = origin_all, current;
    {
      NoGradGuard no_grad;
      Tensor<T, D> delta = Tensor<T, D>::zeros(origin.shape());
      if (options.random_start)
        delta = restrict(random_start<T, D>(origin.shape(), options.norm, options.eps,
                                            options.seed + 0x100000001b3ull * static_cast<std::uint64_t>(restart)),
                         live);
      current = clamp(add(origin, delta), T(options.lower), T(options.upper));
    }
    // Scores the rows of `live` at `at` (outputs, loss) and keeps what improves each sample.
    auto record = [&](const Tensor<T, D>& at, const Tensor<T, D>& outputs, const Tensor<T, D>& loss,
                      bool last) -> std::vector<bool> {
      const auto predicted = argmax(outputs, 1).to_vector();
      const auto losses = loss.to_vector();
      std::vector<bool> succeeded(live.size());
      std::vector<std::int64_t> improved, improved_rows;
      for (std::size_t k = 0; k < live.size(); ++k) {
        const std::int64_t i = live[k];
        const bool s = options.targeted ? predicted[k] == label_host[i] : predicted[k] != label_host[i];
        succeeded[k] = s;
        const bool take = options.keep_best ? best[i].improved_by(s, losses[k]) : last || (s && options.early_stop);
        if (take) {
          best[i] = {s, static_cast<double>(losses[k])};
          improved.push_back(i);
          improved_rows.push_back(static_cast<std::int64_t>(k));
        }
      }
      if (!improved.empty())
        result.adversarial = detail::replace_rows(result.adversarial, improved, detail::rows(at, improved_rows));
      return succeeded;
    };
    auto loss_of = [&](const Tensor<T, D>& outputs) {
      const auto live_labels = Tensor<std::int64_t, D>::from_vector(detail::pick(label_host, live));
      auto value = objective(outputs, estimators::tile_rows(live_labels, outputs.size(0)));
      return options.targeted ? neg(value) : value;
    };

    for (int t = 0; t < options.steps; ++t) {
      auto g = estimators::input_gradient(estimator, model, estimators::BatchFunction<T, D>(loss_of), current,
                                          static_cast<std::uint64_t>(restart) * options.steps + t);
      for (auto i : live) result.queries[i] += g.queries;
      const auto succeeded = record(current, g.outputs, g.loss, false);
      NoGradGuard no_grad;
      auto stepped = add(current, steepest_ascent(restrict(g.grad, live), options.norm, step_size));
      auto delta = sub(stepped, origin);
      current = clamp(add(origin, options.norm == Norm::l1 ? delta : project(delta, options.norm, options.eps)),
                      T(options.lower), T(options.upper));
      if (options.early_stop) {
        std::vector<std::int64_t> keep;
        for (std::size_t k = 0; k < live.size(); ++k)
          if (!succeeded[k]) keep.push_back(static_cast<std::int64_t>(k));
        if (keep.size() != live.size()) {
          live = detail::pick(live, keep);
          if (live.empty()) break;
          current = detail::rows(current, keep);
          origin = detail::rows(origin, keep);
        }
      }
    }
    if (live.empty()) continue;
    NoGradGuard no_grad;
    auto outputs = model(current);
    auto loss = loss_of(outputs);
    for (auto i : live) ++result.queries[i];
    record(current, outputs, loss, true);
  }
  for (std::int64_t i = 0; i < n; ++i) result.success[i] = best[i].success, result.loss[i] = best[i].loss;
  result.norm = norms(sub(result.adversarial, x), options.norm);
  return result;
}

// FGSM (L-inf) and FGM (L2, L1): one steepest-ascent step of size eps from x, clipped to the range.
// Of `options` it reads norm, eps, targeted, lower and upper.
template <class T, class D, class Estimator = estimators::Backprop>
AttackResult<T, D> fgsm(const std::type_identity_t<estimators::BatchFunction<T, D>>& model, const Tensor<T, D>& x,
                        const Tensor<std::int64_t, D>& labels, PgdOptions options,
                        const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                        const Estimator& estimator = {}) {
  options.step_size = options.eps;
  options.steps = 1;
  options.restarts = 1;
  options.random_start = options.early_stop = options.keep_best = false;
  return pgd<T, D>(model, x, labels, options, objective, estimator);
}

// A module as the attacked function, run in eval mode (its mode is restored after).
template <class T, class D>
estimators::BatchFunction<T, D> module_function(nn::Module<T, D>& model) {
  return [&model](const Tensor<T, D>& x) { return model(x); };
}

template <class T, class D, class Estimator = estimators::Backprop>
AttackResult<T, D> pgd(nn::Module<T, D>& model, const Tensor<T, D>& x, const Tensor<std::int64_t, D>& labels,
                       const PgdOptions& options,
                       const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                       const Estimator& estimator = {}, const Tensor<T, D>& mask = {}) {
  nn::EvalModeGuard<T, D> eval(model);
  return pgd<T, D>(module_function(model), x, labels, options, objective, estimator, mask);
}

template <class T, class D, class Estimator = estimators::Backprop>
AttackResult<T, D> fgsm(nn::Module<T, D>& model, const Tensor<T, D>& x, const Tensor<std::int64_t, D>& labels,
                        const PgdOptions& options,
                        const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                        const Estimator& estimator = {}) {
  nn::EvalModeGuard<T, D> eval(model);
  return fgsm<T, D>(module_function(model), x, labels, options, objective, estimator);
}

}  // namespace trustml::attacks
