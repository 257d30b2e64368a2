// Balls (attacks/ball.hpp, norm_balls.hpp, simplex.hpp) and the ascent loop (attacks/ascent.hpp):
// for every ball, projections land in the set, are idempotent and nearest (against random feasible
// points, and in closed form or by their KKT conditions on small cases); steepest-ascent steps have
// the set's norm and beat random feasible directions; random starts are feasible (and uniform where
// a moment says so); PGD keeps every iterate in the ball; the loop converges to the known maximizer
// of concave objectives on the simplices and keeps its per-sample bookkeeping; bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/attacks/pgd.hpp>
#include <trustml/nn.hpp>

#include "attacks/attack_support.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::attacks;
using Td = Tensor<double>;
using Labels = Tensor<std::int64_t>;
using tests::check_error;
using tests::max_abs_diff;

namespace {
constexpr double tol = 1e-12;

// Every sample's row of z lies in the ball's set (up to `slack` relative rounding).
template <class B>
bool in_set(const B& ball, const Td& z, double slack = tol) {
  const auto rows = as_rows(z);
  const auto n = rows.size(0), d = rows.size(1);
  const auto v = rows.contiguous().to_vector();
  for (std::int64_t i = 0; i < n; ++i) {
    double lo = 1e300, hi = -1e300, total = 0, l1 = 0, l2 = 0, linf = 0;
    for (std::int64_t j = 0; j < d; ++j) {
      const double x = v[i * d + j];
      lo = std::min(lo, x), hi = std::max(hi, x), total += x;
      l1 += std::abs(x), l2 += x * x, linf = std::max(linf, std::abs(x));
    }
    bool ok = true;
    if constexpr (std::same_as<B, LinfBall>) ok = linf <= ball.eps * (1 + slack);
    if constexpr (std::same_as<B, L2Ball>) ok = std::sqrt(l2) <= ball.eps * (1 + slack) + slack;
    if constexpr (std::same_as<B, L1Ball>) ok = l1 <= ball.eps * (1 + slack) + slack;
    if constexpr (std::same_as<B, Simplex>) ok = lo >= -slack && std::abs(total - 1) <= slack * d;
    if constexpr (std::same_as<B, CappedSimplex>)
      ok = lo >= -slack && hi <= 1 + slack && std::abs(total - ball.k) <= slack * d * (1 + ball.k);
    if (!ok) return false;
  }
  return true;
}

std::vector<double> row_distances(const Td& a, const Td& b) { return L2Ball{}.norms(sub(a, b)); }

// Runs f on one ball of each type, on samples of d = 8 elements.
template <class F>
void for_every_ball(F&& f) {
  f(LinfBall{0.3});
  f(L2Ball{0.7});
  f(L1Ball{1.1});
  f(Simplex{});
  f(CappedSimplex{3});
}
}  // namespace

TEST_CASE("balls: projections land in the set, are idempotent and nearest") {
  const Shape shape{6, 2, 4};
  for_every_ball([&](const auto& ball) {
    CAPTURE(ball.name());
    const auto z = scale(Td::randn(shape, 1), 2.0);
    const auto p = ball.project(z);
    CHECK(p.shape() == shape);
    CHECK(in_set(ball, p));
    CHECK(max_abs_diff(ball.project(p), p) <= 1e-14);
    // No feasible point is nearer: random starts and their mixtures with the projection.
    const auto to_p = row_distances(z, p);
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      auto q = ball.template random_start<double, Cpu>(shape, 100 + seed);
      if (seed % 2) q = add(scale(q, 0.1), scale(p, 0.9));  // convex sets: still feasible, and near p
      REQUIRE(in_set(ball, q));
      const auto to_q = row_distances(z, q);
      for (std::size_t i = 0; i < to_p.size(); ++i) CHECK(to_p[i] <= to_q[i] * (1 + 1e-12));
    }
  });
}

TEST_CASE("balls: projections in closed form and by their KKT conditions") {
  auto close = [](const Td& a, const std::vector<double>& b) {
    const auto v = a.to_vector();
    REQUIRE(v.size() == b.size());
    for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == doctest::Approx(b[i]).epsilon(1e-14));
  };
  // Simplex (Duchi et al.): tau = -0.4 / 3 keeps all three; tau = 0.55 drops the last; (2, 0, 0) -> e_1.
  close(Simplex{}.project(Td::from_vector({0.5, 0.2, -0.1, 1.2, 0.9, 0.1, 2, 0, 0}, {3, 3})),
        {0.5 + 0.4 / 3, 0.2 + 0.4 / 3, -0.1 + 0.4 / 3, 0.65, 0.35, 0, 1, 0, 0});
  // L1 ball of radius 0.4: |x| on the simplex of mass 0.4 (tau = 0.2), signs restored; inside: kept.
  close(L1Ball{0.4}.project(Td::from_vector({0.5, -0.3, 0.1, 0.1, -0.2, 0.05}, {2, 3})),
        {0.3, -0.1, 0, 0.1, -0.2, 0.05});
  // Capped simplex, k = 2: all three free (tau = -0.2 / 3); k = 1 with a coordinate at the cap.
  close(CappedSimplex{2}.project(Td::from_vector({0.9, 0.8, 0.1, -0.5}, {1, 4})),
        {0.9 + 0.2 / 3, 0.8 + 0.2 / 3, 0.1 + 0.2 / 3, 0});
  // KKT on random rows: p = clamp(x - tau, 0, 1) with one tau per row, sum p = k.
  const std::int64_t n = 20, d = 30;
  for (double k : {0.0, 1.0, 7.5, 29.0, 30.0}) {
    CAPTURE(k);
    const auto x = scale(Td::randn({n, d}, 7), 3.0);
    const auto p = CappedSimplex{k}.project(x);
    const auto xv = x.to_vector(), pv = p.to_vector();
    for (std::int64_t i = 0; i < n; ++i) {
      double total = 0, tau_lo = -1e300, tau_hi = 1e300;
      std::vector<double> free_shifts;
      for (std::int64_t j = 0; j < d; ++j) {
        const double xi = xv[i * d + j], pi = pv[i * d + j];
        total += pi;
        CHECK(pi >= 0);
        CHECK(pi <= 1);
        if (pi == 0) tau_lo = std::max(tau_lo, xi);           // x_j <= tau
        else if (pi == 1) tau_hi = std::min(tau_hi, xi - 1);  // x_j - 1 >= tau
        else free_shifts.push_back(xi - pi);                  // = tau
      }
      CHECK(total == doctest::Approx(k).epsilon(1e-13));
      for (double t : free_shifts) {
        CHECK(t == doctest::Approx(free_shifts[0]).epsilon(1e-12));
        CHECK(t >= tau_lo - 1e-12);
        CHECK(t <= tau_hi + 1e-12);
      }
      CHECK(tau_lo <= tau_hi + 1e-12);
    }
  }
}

TEST_CASE("balls: steepest ascent has the set's norm and beats random feasible directions") {
  const Shape shape{5, 8};
  const double step = 0.25;
  const auto g = Td::randn(shape, 3);
  for_every_ball([&](const auto& ball) {
    using B = std::decay_t<decltype(ball)>;
    CAPTURE(ball.name());
    const auto eta = ball.steepest_ascent(g, step);
    const auto gain = sum(mul(g, eta), {1}).to_vector();
    std::vector<double> size;
    if constexpr (NormBall<B>) {
      size = B{step}.norms(eta);
      for (double s : size) CHECK(s == doctest::Approx(step).epsilon(1e-14));
    } else {
      // A gradient step along the sets: sum eta = 0, |eta|_2 = step |g - mean g|_2.
      for (double s : sum(eta, {1}).to_vector()) CHECK(std::abs(s) <= 1e-14);
      const auto centred = sub(as_rows(g), mean(as_rows(g), {1}, true));
      const auto expected = L2Ball{}.norms(centred);
      size = L2Ball{}.norms(eta);
      for (std::size_t i = 0; i < size.size(); ++i)
        CHECK(size[i] == doctest::Approx(step * expected[i]).epsilon(1e-13));
    }
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
      Td u;
      if constexpr (NormBall<B>) {
        u = B{step}.template random_start<double, Cpu>(shape, 200 + seed);  // |u| <= step
      } else {
        // A random tangent direction of the same L2 length.
        auto v = Td::randn(shape, 200 + seed);
        v = sub(v, mean(v, {1}, true));
        u = scale_rows(v, div(Td::from_vector(size), norm(v, 2, {1})));
      }
      const auto other = sum(mul(g, u), {1}).to_vector();
      for (std::size_t i = 0; i < gain.size(); ++i) CHECK(other[i] <= gain[i] * (1 + 1e-12));
    }
  });
}

TEST_CASE("balls: random starts lie in the set, reproduce, and are uniform where a moment says so") {
  const std::int64_t draws = 4000, d = 8;
  for_every_ball([&](const auto& ball) {
    CAPTURE(ball.name());
    const auto z = ball.template random_start<double, Cpu>(Shape{draws, d}, 5);
    CHECK(in_set(ball, z));
    CHECK(max_abs_diff(ball.template random_start<double, Cpu>(Shape{draws, d}, 5), z) == 0);
    CHECK(max_abs_diff(ball.template random_start<double, Cpu>(Shape{draws, d}, 6), z) > 0);
  });
  // Uniform in the L1 ball: E|z|_1 = eps d / (d + 1), and each sign is equally likely.
  const auto l1 = L1Ball{2}.random_start<double, Cpu>(Shape{draws, d}, 9);
  double mean_l1 = 0;
  for (double v : L1Ball{2}.norms(l1)) mean_l1 += v / draws;
  CHECK(mean_l1 == doctest::Approx(2.0 * d / (d + 1)).epsilon(0.01));
  CHECK(mean(l1).item() == doctest::Approx(0).scale(1).epsilon(0.01));
  // Dirichlet(1): E z_j = 1 / d and E z_j^2 = 2 / (d (d + 1)).
  const auto s = Simplex{}.random_start<double, Cpu>(Shape{draws, d}, 9);
  CHECK(mean(s).item() == doctest::Approx(1.0 / d).epsilon(1e-12));
  CHECK(mean(mul(s, s)).item() == doctest::Approx(2.0 / (d * (d + 1))).epsilon(0.03));
}

TEST_CASE("PGD keeps every iterate in its ball, for every ball") {
  const std::int64_t n = 6, d = 8;
  const auto w = Td::randn({d, 3}, 11);
  const auto x = Td::randn({n, d}, 12);
  const auto y = Labels::from_vector({0, 1, 2, 0, 1, 2});
  for_every_ball([&](const auto& ball) {
    CAPTURE(ball.name());
    int iterates = 0;
    bool all_in = true;
    // The model sees every iterate (the gradient steps and the final one): all rows stay live.
    estimators::BatchFunction<double, Cpu> model = [&](const Td& at) {
      all_in = all_in && in_set(ball, sub(at.detach(), x), 1e-9);
      ++iterates;
      return matmul(at, w);
    };
    auto r = pgd<double, Cpu>(model, x, y,
                              PgdOptions{.ball = ball,
                                         .step_size = 0.2,
                                         .steps = 6,
                                         .early_stop = false,
                                         .keep_best = false,
                                         .lower = -1e30,
                                         .upper = 1e30,
                                         .seed = 3});
    CHECK(iterates == 7);
    CHECK(all_in);
    CHECK(in_set(ball, sub(r.adversarial, x), 1e-9));
  });
}

TEST_CASE("ascent: converges to the maximizer of a concave objective on the simplices") {
  // f_i(z) = <c_i, z> - |z|^2 / 2 is maximized on a convex set by the projection of c_i; on the
  // simplex and the capped simplex that point is known in closed form (as in the KKT test).
  const auto c = Td::from_vector({0.5, 0.2, -0.1, 1.2, 0.9, 0.1}, {2, 3});
  auto problem_for = [&](const auto& ball, std::vector<std::int64_t>& evaluations) {
    return AscentProblem<double, Cpu>{
        .start =
            [&, ball](const std::vector<std::int64_t>& live, int restart) {
              return ball.template random_start<double, Cpu>(Shape{(std::int64_t)live.size(), 3}, restart);
            },
        .evaluate =
            [&](const Td& z, const std::vector<std::int64_t>& live, std::uint64_t, bool gradient) {
              const auto cl = select_rows(c, live);
              Evaluation<double, Cpu> e;
              const auto value = sub(sum(mul(cl, z), {1}), scale(sum(mul(z, z), {1}), 0.5));
              e.objective = value.to_vector();
              if (gradient) e.grad = sub(cl, z);
              evaluations.push_back(static_cast<std::int64_t>(live.size()));
              return e;
            }};
  };
  std::vector<std::int64_t> evaluations;
  auto simplex = ascend(Simplex{}, problem_for(Simplex{}, evaluations), 2, {.steps = 60, .step_size = 0.5});
  const std::vector<double> optimum{0.5 + 0.4 / 3, 0.2 + 0.4 / 3, -0.1 + 0.4 / 3, 0.65, 0.35, 0};
  const auto found = simplex.best.to_vector();
  for (std::size_t i = 0; i < optimum.size(); ++i) CHECK(found[i] == doctest::Approx(optimum[i]).epsilon(1e-10));
  CHECK(evaluations.size() == 61);
  for (auto q : simplex.queries) CHECK(q == 61);
  CHECK(simplex.success == std::vector<bool>{false, false});
  // The same with a diminishing schedule, on the capped simplex, k = 2.
  evaluations.clear();
  auto capped = ascend(CappedSimplex{2}, problem_for(CappedSimplex{2}, evaluations), 2,
                       {.steps = 200, .schedule = [](int t) { return 1.0 / (1 + 0.01 * t); }});
  const auto capped_found = capped.best.to_vector();
  // Row 0: all three coordinates free, tau = (0.6 - 2) / 3.
  const double tau0 = (0.6 - 2) / 3;
  // Row 1: z = (1, 0.9 - tau, 0.1 - tau) with 1 + 1.0 - 2 tau = 2, tau = 0: (1, 0.9, 0.1).
  const std::vector<double> capped_optimum{0.5 - tau0, 0.2 - tau0, -0.1 - tau0, 1, 0.9, 0.1};
  for (std::size_t i = 0; i < capped_optimum.size(); ++i)
    CHECK(capped_found[i] == doctest::Approx(capped_optimum[i]).epsilon(1e-10));
}

TEST_CASE("ascent: early stop, restarts and the best iterate per sample") {
  // z in the L-inf ball of radius 1 around 0, objective <a_i, z>: sample i succeeds once its
  // objective reaches target_i; an unreachable target keeps sample 2 iterating to the end.
  const auto a = Td::from_vector({1, 2, -1, 1, 3, -3}, {3, 2});
  const std::vector<double> target{0.5, 1.0, 100};
  std::vector<std::vector<std::int64_t>> seen;
  AscentProblem<double, Cpu> problem{
      .start =
          [&](const std::vector<std::int64_t>& live, int) {
            return Td::zeros({(std::int64_t)live.size(), 2});
          },
      .evaluate =
          [&](const Td& z, const std::vector<std::int64_t>& live, std::uint64_t, bool gradient) {
            seen.push_back(live);
            const auto al = select_rows(a, live);
            Evaluation<double, Cpu> e;
            e.objective = sum(mul(al, z), {1}).to_vector();
            for (std::size_t k = 0; k < live.size(); ++k) e.success.push_back(e.objective[k] >= target[live[k]]);
            if (gradient) e.grad = al;
            return e;
          }};
  auto r = ascend(LinfBall{1}, problem, 3, {.steps = 4, .step_size = 0.25, .restarts = 2, .early_stop = true});
  // Objectives after t steps: 0.75 t, 0.5 t, 1.5 t (capped at 6 = |a_2|_1).
  CHECK(r.success == std::vector<bool>{true, true, false});
  CHECK(r.objective[0] == 0.75);
  CHECK(r.objective[1] == 1.0);
  CHECK(r.objective[2] == 6.0);
  CHECK(r.queries == std::vector<std::int64_t>{2, 3, 10});  // sample 2: 5 per run, two runs
  CHECK(max_abs_diff(r.best, Td::from_vector({0.25, 0.25, -0.5, 0.5, 1, -1}, {3, 2})) == 0);
  CHECK(seen.front() == std::vector<std::int64_t>{0, 1, 2});
  CHECK(seen.back() == std::vector<std::int64_t>{2});
}

TEST_CASE("balls and ascent: bad input is an error that names the operation and the shapes") {
  const auto z = Td::ones({2, 3});
  check_error([&] { LinfBall{-0.1}.project(z); }, "attacks::LinfBall::project", "eps must be finite and >= 0");
  check_error([&] { L2Ball{std::nan("")}.project(z); }, "attacks::L2Ball::project", "eps");
  check_error([&] { L1Ball{-1}.project(z); }, "attacks::L1Ball::project", "eps");
  check_error([&] { L1Ball{-1}.random_start<double, Cpu>(Shape{2, 3}, 0); }, "attacks::L1Ball::random_start", "eps");
  check_error([&] { CappedSimplex{4}.project(z); }, "attacks::CappedSimplex::project", "[2, 3]");
  check_error(
      [&] {
        CappedSimplex{-1}.random_start<double, Cpu>(Shape{2, 3}, 0);
      },
      "attacks::CappedSimplex::random_start", "0 <= k <= d");
  check_error([&] { Simplex{}.project(Td()); }, "attacks::Simplex::project", "non-empty batch");
  check_error([&] { Simplex{}.random_start<double, Cpu>(Shape{0, 3}, 0); }, "attacks::Simplex::random_start", "[0, 3]");
  check_error([&] { Simplex{}.steepest_ascent(z, -1); }, "attacks::Simplex::steepest_ascent", "step size");
  check_error([&] { LinfBall{1}.steepest_ascent(z, INFINITY); }, "attacks::LinfBall::steepest_ascent", "step size");
  // The loop: a start of the wrong shape, an evaluation of the wrong length, bad options.
  auto good_start = [](const std::vector<std::int64_t>& live, int) {
    return Td::zeros({(std::int64_t)live.size(), 3});
  };
  auto good_evaluate = [](const Td& at, const std::vector<std::int64_t>& live, std::uint64_t, bool) {
    return Evaluation<double, Cpu>{.grad = at, .objective = std::vector<double>(live.size(), 0.0)};
  };
  check_error(
      [&] {
        ascend(Simplex{},
               AscentProblem<double, Cpu>{.start =
                                              [](const auto&, int) {
                                                return Td::zeros({5, 3});
                                              },
                                          .evaluate = good_evaluate},
               2, {});
      },
      "attacks::ascend", "one row per live sample (2), got shape [5, 3]");
  check_error(
      [&] {
        ascend(Simplex{},
               AscentProblem<double, Cpu>{
                   .start = good_start,
                   .evaluate = [](const Td& at, const auto&, std::uint64_t,
                                  bool) { return Evaluation<double, Cpu>{.grad = at, .objective = {1.0}}; }},
               2, {}, "test::attack");
      },
      "test::attack", "per row of z [2, 3]");
  check_error(
      [&] {
        ascend(Simplex{},
               AscentProblem<double, Cpu>{.start = good_start,
                                          .evaluate =
                                              [](const Td&, const auto& live, std::uint64_t, bool) {
                                                return Evaluation<double, Cpu>{
                                                    .grad = Td::zeros({1, 3}),
                                                    .objective = std::vector<double>(live.size(), 0.0)};
                                              }},
               2, {});
      },
      "attacks::ascend", "gradient of the shape of z [2, 3], got [1, 3]");
  const AscentProblem<double, Cpu> good{.start = good_start, .evaluate = good_evaluate};
  check_error([&] { ascend(Simplex{}, good, 2, {.steps = -1}); }, "attacks::ascend", "steps >= 0");
  check_error([&] { ascend(Simplex{}, good, 2, {.restarts = 0}); }, "attacks::ascend", "at least one restart");
  check_error([&] { ascend(Simplex{}, good, 2, {.step_size = -1}); }, "attacks::ascend", "step_size");
  check_error([&] { ascend(Simplex{}, good, 2, {.schedule = [](int) { return -1.0; }}); }, "attacks::ascend",
              "step size");
  // PGD over a set without a radius needs a step size.
  const auto x = Td::rand({2, 3}, 1);
  check_error(
      [&] {
        pgd<double, Cpu>([](const Td& t) { return t; }, x, Labels::from_vector({0, 1}), PgdOptions{.ball = Simplex{}});
      },
      "attacks::pgd", "set step_size > 0");
  check_error(
      [&] {
        pgd<double, Cpu>([](const Td& t) { return t; }, x, Labels::from_vector({0, 1}),
                         PgdOptions{.ball = CappedSimplex{5}, .step_size = 0.1});
      },
      "attacks::pgd", "got k = 5 for samples of 3 elements");
}
