// trustml/attacks/pgd.hpp: projected gradient descent (Madry et al., 2018) and FGSM, generic over
// the ball (attacks/ball.hpp), the objective and the gradient estimator.
//
//   auto r = attacks::pgd(model, x, y, {.ball = {.eps = 0.1}, .steps = 10});       // white box, L-inf
//   auto r = attacks::pgd(model, x, y, PgdOptions{.ball = L2Ball{.eps = 0.5}});    // L2
//   auto r = attacks::pgd(model, x, y, {.ball = {.eps = 0.1}}, margin_objective<float, Cpu>(),
//                         estimators::RandomZO({.mu = 1e-3, .queries = 50}));       // black box
//   r.adversarial, r.success[i], r.loss[i], r.norm[i], r.queries[i], r.success_rate()
//   auto f = attacks::fgsm(model, x, y, {.ball = {.eps = 0.1}});          // one step of size eps
//
// The ball is the threat model: the set of perturbations delta = x_adv - x of each sample
// (LinfBall, L2Ball, L1Ball, or a Simplex / CappedSimplex of added mass). x_0 = clip(x + delta_0)
// (delta_0 = ball.random_start with random_start, else 0), then
//   x_{t+1} = clip(x + P(x_t + s_t - x), lower, upper),
// s_t = ball.steepest_ascent of the estimated gradient with the step size (sign for L-inf), P the
// projection on the ball; the loop is attacks/ascent.hpp. Clipping keeps every pixel in
// [lower, upper]; it only shortens a perturbation, so the norm balls hold (up to the rounding of
// x + delta, half an ulp of x), while a simplex set's mass holds only where the range does not
// bind. Per sample:
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
// The input x is not modified.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "trustml/attacks/ascent.hpp"
#include "trustml/attacks/norm_balls.hpp"
#include "trustml/attacks/objectives.hpp"
#include "trustml/attacks/simplex.hpp"
#include "trustml/estimators/input_gradient.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/ops/rows.hpp"

namespace trustml::attacks {

template <Ball B = LinfBall>
struct PgdOptions {
  B ball = {};           // the perturbations allowed to each sample
  double step_size = 0;  // 0: 2.5 eps / steps for the norm balls (Madry et al.); needed for the others
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
  std::vector<double> norm;           // ball.norms(adversarial - x): the size in the ball's norm
  std::vector<std::int64_t> queries;  // model evaluations spent on the sample

  std::int64_t successes() const {
    std::int64_t n = 0;
    for (bool s : success) n += s;
    return n;
  }
  double success_rate() const { return success.empty() ? 0.0 : static_cast<double>(successes()) / success.size(); }
};

namespace detail {
template <class B>
double pgd_step_size(const PgdOptions<B>& o) {
  if constexpr (NormBall<B>)
    if (o.step_size == 0) return 2.5 * o.ball.eps / o.steps;
  TRUSTML_CHECK(o.step_size > 0, "attacks::pgd", "the ", o.ball.name(),
                " has no radius to scale a default step by: set step_size > 0");
  return o.step_size;
}

template <class T, class D, class B>
void check_pgd(const Tensor<T, D>& x, const std::vector<std::int64_t>& labels, const PgdOptions<B>& o,
               const Tensor<T, D>& mask) {
  check_batch(x, "attacks::pgd");
  TRUSTML_CHECK(static_cast<std::int64_t>(labels.size()) == x.size(0), "attacks::pgd",
                "needs one label per sample: ", labels.size(), " labels for inputs ", x.shape());
  o.ball.check(x.shape(), "attacks::pgd");
  TRUSTML_CHECK(o.steps >= 1, "attacks::pgd", "needs at least one step, got ", o.steps);
  TRUSTML_CHECK(o.step_size >= 0 && std::isfinite(o.step_size), "attacks::pgd",
                "step_size must be finite and >= 0 (0 picks 2.5 eps / steps), got ", o.step_size);
  TRUSTML_CHECK(o.lower < o.upper, "attacks::pgd", "the valid range [", o.lower, ", ", o.upper, "] is empty");
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

template <class T, class D, Ball B = LinfBall, estimators::Estimator<T, D> E = estimators::Backprop>
AttackResult<T, D> pgd(const std::type_identity_t<estimators::BatchFunction<T, D>>& model, const Tensor<T, D>& x,
                       const Tensor<std::int64_t, D>& labels, const PgdOptions<B>& options,
                       const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                       const E& estimator = {}, const Tensor<T, D>& mask = {}) {
  TRUSTML_CHECK(labels.dim() == 1, "attacks::pgd", "labels must be 1-D, got shape ", labels.shape());
  const auto label_host = labels.to_vector();
  detail::check_pgd(x, label_host, options, mask);
  const std::int64_t n = x.size(0);
  const B& ball = options.ball;
  // The binary mask, broadcast over the batch when it is one sample's.
  const Tensor<T, D> allowed = mask.defined() ? step(abs(mask)) : Tensor<T, D>();
  auto restrict = [&](const Tensor<T, D>& t, const std::vector<std::int64_t>& live) {
    if (!allowed.defined()) return t;
    return mul(t, allowed.size(0) == n && n > 1 ? select_rows(allowed, live) : allowed);
  };
  auto clip = [&](const Tensor<T, D>& t) { return clamp(t, T(options.lower), T(options.upper)); };
  auto loss_of = [&](const std::vector<std::int64_t>& live) {
    return estimators::BatchFunction<T, D>([&, live](const Tensor<T, D>& outputs) {
      const auto live_labels = Tensor<std::int64_t, D>::from_vector(select_entries(label_host, live));
      auto value = objective(outputs, estimators::tile_rows(live_labels, outputs.size(0)));
      return options.targeted ? neg(value) : value;
    });
  };

  AscentProblem<T, D> problem{
      .start =
          [&](const std::vector<std::int64_t>& live, int restart) {
            NoGradGuard no_grad;
            const auto origin = select_rows(x, live);
            if (!options.random_start) return clip(origin);
            const std::uint64_t seed = options.seed + 0x100000001b3ull * static_cast<std::uint64_t>(restart);
            return clip(add(origin, restrict(ball.template random_start<T, D>(origin.shape(), seed), live)));
          },
      .evaluate =
          [&](const Tensor<T, D>& at, const std::vector<std::int64_t>& live, std::uint64_t step_index, bool gradient) {
            Evaluation<T, D> e;
            Tensor<T, D> outputs, loss;
            if (gradient) {
              auto g = estimators::input_gradient(estimator, model, loss_of(live), at, step_index);
              e.grad = restrict(g.grad, live);
              e.queries = g.queries;
              outputs = g.outputs, loss = g.loss;
            } else {
              NoGradGuard no_grad;
              outputs = model(at);
              loss = loss_of(live)(outputs);
            }
            const auto predicted = argmax(outputs, 1).to_vector();
            for (auto l : loss.to_vector()) e.objective.push_back(static_cast<double>(l));
            for (std::size_t k = 0; k < live.size(); ++k)
              e.success.push_back(options.targeted ? predicted[k] == label_host[live[k]]
                                                   : predicted[k] != label_host[live[k]]);
            return e;
          },
      .feasible =
          [&](const Tensor<T, D>& stepped, const std::vector<std::int64_t>& live) {
            const auto origin = select_rows(x, live);
            return clip(add(origin, ball.project(sub(stepped, origin))));
          }};
  const AscentOptions ascent{.steps = options.steps,
                             .step_size = detail::pgd_step_size(options),
                             .restarts = options.restarts,
                             .early_stop = options.early_stop,
                             .keep_best = options.keep_best};
  auto found = ascend(ball, problem, n, ascent, "attacks::pgd");

  AttackResult<T, D> result;
  result.adversarial = found.best;
  result.success = std::move(found.success);
  result.loss = std::move(found.objective);
  result.queries = std::move(found.queries);
  result.norm = ball.norms(sub(result.adversarial, x));
  return result;
}

// FGSM (L-inf) and FGM (L2, L1): one steepest-ascent step of size eps from x, clipped to the range.
// Of `options` it reads the ball, targeted, lower and upper.
template <class T, class D, NormBall B = LinfBall, estimators::Estimator<T, D> E = estimators::Backprop>
AttackResult<T, D> fgsm(const std::type_identity_t<estimators::BatchFunction<T, D>>& model, const Tensor<T, D>& x,
                        const Tensor<std::int64_t, D>& labels, PgdOptions<B> options,
                        const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                        const E& estimator = {}) {
  options.step_size = options.ball.eps;
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

template <class T, class D, Ball B = LinfBall, estimators::Estimator<T, D> E = estimators::Backprop>
AttackResult<T, D> pgd(nn::Module<T, D>& model, const Tensor<T, D>& x, const Tensor<std::int64_t, D>& labels,
                       const PgdOptions<B>& options,
                       const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                       const E& estimator = {}, const Tensor<T, D>& mask = {}) {
  nn::EvalModeGuard<T, D> eval(model);
  return pgd<T, D>(module_function(model), x, labels, options, objective, estimator, mask);
}

template <class T, class D, NormBall B = LinfBall, estimators::Estimator<T, D> E = estimators::Backprop>
AttackResult<T, D> fgsm(nn::Module<T, D>& model, const Tensor<T, D>& x, const Tensor<std::int64_t, D>& labels,
                        const PgdOptions<B>& options,
                        const std::type_identity_t<Objective<T, D>>& objective = cross_entropy_objective<T, D>(),
                        const E& estimator = {}) {
  nn::EvalModeGuard<T, D> eval(model);
  return fgsm<T, D>(module_function(model), x, labels, options, objective, estimator);
}

}  // namespace trustml::attacks
