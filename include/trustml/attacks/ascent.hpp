// trustml/attacks/ascent.hpp: the projected-ascent loop that every attack runs, written once:
// steps with a step-size schedule, starts and restarts, early stop, the best iterate, and the
// per-sample bookkeeping (which samples still iterate, each one's best objective and success,
// the evaluations spent on it). What is ascended and how its gradient is had are parameters:
//
//   AscentProblem<T, D> p{
//       .start = [&](const std::vector<std::int64_t>& live, int restart) { ... },  // z_0 of those samples
//       .evaluate = [&](const Tensor<T, D>& z, const std::vector<std::int64_t>& live, std::uint64_t step,
//                       bool gradient) -> Evaluation<T, D> { ... },             // objective (and gradient)
//       .feasible = {}};                                 // optional; default: ball.project(z)
//   auto r = ascend(ball, p, n, {.steps = 100, .step_size = 0.1});
//   r.best [N, ...], r.objective[i], r.success[i], r.queries[i]
//
// z is a batch [rows, ...] of the samples in `live` (global indices into the N samples, in
// increasing order), row k being sample live[k]. Every run does, with s_t = ball.steepest_ascent:
//   z_0 = start(live, restart);
//   for t = 0, ..., steps - 1:  evaluate z_t with its gradient g_t, record it;
//                               z_{t+1} = feasible(z_t + s_t(g_t, step_size(t)), live);
//                               with early_stop, samples that succeeded at z_t leave `live`;
//   evaluate the final z_steps (no gradient) and record it.
// evaluate returns one objective value per row (higher is better for the attacker), optionally one
// success flag per row (empty: success is not defined, nothing stops early) and the evaluations
// charged to every row (a forward and a backward count as one). `step` numbers the gradient
// evaluations of the whole ascent (restart * steps + t), for estimators that seed their directions
// by it. feasible maps a stepped point back into the constraints: the default projects onto the
// ball, a perturbation attack projects z - origin instead and may clip or mask after it.
// Restarts run on the samples that have not succeeded, each from start(live, restart).
// Recording keeps, per sample, the best iterate seen (successful first, then the highest
// objective), or with keep_best = false the last iterate of the (single) run, or the first
// successful one with early stop. A sample whose objective is never a number returns its first
// iterate with objective -inf.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "trustml/attacks/ball.hpp"
#include "trustml/autograd/node.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/rows.hpp"

namespace trustml::attacks {

struct AscentOptions {
  int steps = 10;                                 // gradient steps per run, >= 0
  double step_size = 0;                           // the step of steepest_ascent, >= 0
  std::function<double(int step)> schedule = {};  // step size at step t of a run; empty: step_size
  int restarts = 1;                               // runs; each after the first starts the failed samples anew
  bool early_stop = false;                        // a sample stops at its first successful iterate
  bool keep_best = true;                          // false: the last iterate of the single run
};

template <class T, class D>
struct Evaluation {
  Tensor<T, D> grad = {};              // d objective_k / d z_k, the shape of z; only when asked for
  std::vector<double> objective = {};  // one per row of z
  std::vector<bool> success = {};      // one per row, or empty: no sample succeeds
  std::int64_t queries = 1;            // evaluations charged to each row
};

template <class T, class D>
struct AscentProblem {
  std::function<Tensor<T, D>(const std::vector<std::int64_t>& live, int restart)> start;
  std::function<Evaluation<T, D>(const Tensor<T, D>& z, const std::vector<std::int64_t>& live, std::uint64_t step,
                                 bool gradient)>
      evaluate;
  std::function<Tensor<T, D>(const Tensor<T, D>& stepped, const std::vector<std::int64_t>& live)> feasible = {};
};

template <class T, class D>
struct AscentResult {
  Tensor<T, D> best;                  // [N, ...]
  std::vector<bool> success;          // per sample
  std::vector<double> objective;      // at `best`
  std::vector<std::int64_t> queries;  // evaluations spent on the sample
};

namespace detail {
inline void check_ascent(const AscentOptions& o, std::int64_t samples, const char* op) {
  TRUSTML_CHECK(samples >= 1, op, "needs at least one sample, got ", samples);
  TRUSTML_CHECK(o.steps >= 0, op, "needs steps >= 0, got ", o.steps);
  TRUSTML_CHECK(o.restarts >= 1, op, "needs at least one restart (a single run is 1), got ", o.restarts);
  TRUSTML_CHECK(o.step_size >= 0 && std::isfinite(o.step_size), op, "step_size must be finite and >= 0, got ",
                o.step_size);
  TRUSTML_CHECK(o.keep_best || o.restarts == 1, op,
                "keep_best = false returns the last iterate of a single run; it needs restarts = 1, got ", o.restarts);
}

template <class T, class D>
void check_evaluation(const Evaluation<T, D>& e, const Tensor<T, D>& z, bool gradient, const char* op) {
  const auto rows = static_cast<std::size_t>(z.size(0));
  TRUSTML_CHECK(e.objective.size() == rows && (e.success.empty() || e.success.size() == rows), op,
                "evaluate must return one objective (and success flag, if any) per row of z ", z.shape(), ", got ",
                e.objective.size(), " objectives and ", e.success.size(), " flags");
  TRUSTML_CHECK(!gradient || (e.grad.defined() && e.grad.shape() == z.shape()), op,
                "evaluate must return a gradient of the shape of z ", z.shape(), ", got ",
                e.grad.defined() ? e.grad.shape() : Shape{});
}

// Whether an iterate with success s and objective v beats the best so far: success first, then
// the higher objective.
inline bool improves(bool s, double v, bool best_success, double best_objective) {
  return (s && !best_success) || (s == best_success && v > best_objective);
}
}  // namespace detail

// `samples`: N, the number of samples the problem's start and evaluate index; `op` names the
// attack in error messages.
template <class T, class D, Ball B>
AscentResult<T, D> ascend(const B& ball, const AscentProblem<T, D>& problem, std::int64_t samples,
                          const AscentOptions& options, const char* op = "attacks::ascend") {
  detail::check_ascent(options, samples, op);
  TRUSTML_CHECK(problem.start && problem.evaluate, op, "the problem needs start and evaluate");
  const auto n = static_cast<std::size_t>(samples);
  AscentResult<T, D> result;
  result.success.assign(n, false);
  result.objective.assign(n, -std::numeric_limits<double>::infinity());
  result.queries.assign(n, 0);
  auto feasible = [&](const Tensor<T, D>& stepped, const std::vector<std::int64_t>& live) {
    return problem.feasible ? problem.feasible(stepped, live) : ball.project(stepped);
  };

  for (int restart = 0; restart < options.restarts; ++restart) {
    std::vector<std::int64_t> live;
    for (std::size_t i = 0; i < n; ++i)
      if (!result.success[i]) live.push_back(static_cast<std::int64_t>(i));
    if (live.empty()) break;
    Tensor<T, D> z = problem.start(live, restart);
    TRUSTML_CHECK(z.defined() && z.dim() >= 1 && z.size(0) == static_cast<std::int64_t>(live.size()), op,
                  "start must return one row per live sample (", live.size(), "), got shape ",
                  z.defined() ? z.shape() : Shape{});
    if (!result.best.defined()) result.best = z;
    for (int t = 0; t <= options.steps; ++t) {
      const bool last = t == options.steps;
      const auto e = problem.evaluate(z, live, static_cast<std::uint64_t>(restart) * options.steps + t, !last);
      detail::check_evaluation(e, z, !last, op);
      std::vector<std::int64_t> improved, improved_rows, failed_rows;
      for (std::size_t k = 0; k < live.size(); ++k) {
        const auto i = static_cast<std::size_t>(live[k]);
        const bool s = !e.success.empty() && e.success[k];
        result.queries[i] += e.queries;
        if (!s) failed_rows.push_back(static_cast<std::int64_t>(k));
        const bool take = options.keep_best
                              ? detail::improves(s, e.objective[k], result.success[i], result.objective[i])
                              : last || (s && options.early_stop);
        if (take) {
          result.success[i] = s;
          result.objective[i] = e.objective[k];
          improved.push_back(live[k]);
          improved_rows.push_back(static_cast<std::int64_t>(k));
        }
      }
      if (!improved.empty()) result.best = replace_rows(result.best, improved, select_rows(z, improved_rows));
      if (last) break;
      {
        NoGradGuard no_grad;
        const double step = options.schedule ? options.schedule(t) : options.step_size;
        detail::check_step(op, step);
        z = feasible(add(z, ball.steepest_ascent(e.grad, step)), live);
      }
      if (options.early_stop && failed_rows.size() != live.size()) {
        live = select_entries(live, failed_rows);
        if (live.empty()) break;
        z = select_rows(z, failed_rows);
      }
    }
  }
  return result;
}

}  // namespace trustml::attacks
