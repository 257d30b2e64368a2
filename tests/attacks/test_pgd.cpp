// Attacks (attacks/): steepest ascent and projections in closed form, uniform random starts, the
// linear-model oracle (exact margin drops eps |w|_1 and eps |w|_2, exact robust accuracy) for
// white-box and black-box PGD and FGSM, the invariants of PGD (eps-ball, box, early stop) on a CNN, and
// bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/attacks/pgd.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>

#include "attacks/attack_support.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::attacks;
using Td = Tensor<double>;
using Tf = Tensor<float>;
using Labels = Tensor<std::int64_t>;
using tests::check_error;
using tests::max_abs_diff;

namespace {
// A binary linear classifier: logits (0, w'x + b), so class 1 iff w'x + b > 0. `classes` > 2 adds
// rows of random weights for a multiclass linear model.
struct LinearModel {
  Td weights;  // [d, classes]
  Td bias;     // [classes]
  std::vector<double> w;
  double b = 0.3;
  LinearModel(std::int64_t d, std::uint64_t seed, std::int64_t classes = 2) {
    auto all = Td::randn({d, classes}, seed);
    std::vector<double> host = all.to_vector(), bias_host(classes, 0.0);
    for (std::int64_t k = 0; k < d; ++k) host[k * classes] = 0;  // class 0: the zero logit
    weights = Td::from_vector(host, {d, classes});
    for (std::int64_t k = 0; k < d; ++k) w.push_back(host[k * classes + 1]);
    bias_host[1] = b;
    bias = Td::from_vector(bias_host);
  }
  estimators::BatchFunction<double, Cpu> function() const {
    return [=, this](const Td& x) { return add(matmul(reshape(x, {x.size(0), weights.size(0)}), weights), bias); };
  }
  std::vector<double> score(const Td& x) const {  // w'x + b per sample
    auto s = add_scalar(sum(mul(x, Td::from_vector(w)), {1}), b);
    return s.to_vector();
  }
  template <class Ball>
  double dual_norm() const {
    double l1 = 0, l2 = 0;
    for (double v : w) l1 += std::abs(v), l2 += v * v;
    return std::same_as<Ball, LinfBall> ? l1 : std::sqrt(l2);
  }
  Labels labels(const Td& x) const {
    std::vector<std::int64_t> y;
    for (double s : score(x)) y.push_back(s > 0);
    return Labels::from_vector(y);
  }
};
constexpr double unbounded = 1e30;
// Runs f(LinfBall{eps}) and f(L2Ball{eps}).
template <class F>
void for_linf_and_l2(double eps, F&& f) {
  f(LinfBall{eps});
  f(L2Ball{eps});
}
}  // namespace

TEST_CASE("steepest ascent meets the norm with equality and maximizes <g, eta>") {
  const auto g = Td::from_vector({3, -3, 1, 0, 0, 0, -2, 0.5}, {2, 4});
  const double eps = 0.2;
  auto linf = LinfBall{}.steepest_ascent(g, eps).to_vector();
  CHECK(linf == std::vector<double>{0.2, -0.2, 0.2, 0, 0, 0, -0.2, 0.2});
  auto l1 = L1Ball{}.steepest_ascent(g, eps).to_vector();  // ties split evenly
  CHECK(l1 == std::vector<double>{0.1, -0.1, 0, 0, 0, 0, -0.2, 0});
  auto l2 = L2Ball{}.steepest_ascent(g, eps);
  const auto l2_norms = L2Ball{}.norms(l2);
  CHECK(l2_norms[0] == doctest::Approx(eps).epsilon(1e-14));
  CHECK(l2_norms[1] == doctest::Approx(eps).epsilon(1e-14));
  // <g, eta> = eps |g|_q, q the dual norm.
  auto inner = sum(mul(g, l2), {1}).to_vector();
  CHECK(inner[0] == doctest::Approx(eps * std::sqrt(19.0)).epsilon(1e-14));
  CHECK(inner[1] == doctest::Approx(eps * std::sqrt(4.25)).epsilon(1e-14));
  // A zero gradient gives a zero step in every norm.
  CHECK(amax(abs(LinfBall{}.steepest_ascent(Td::zeros({1, 4}), eps))).item() == 0);
  CHECK(amax(abs(L2Ball{}.steepest_ascent(Td::zeros({1, 4}), eps))).item() == 0);
  CHECK(amax(abs(L1Ball{}.steepest_ascent(Td::zeros({1, 4}), eps))).item() == 0);
}

TEST_CASE("projection: L-inf clamps, L2 rescales only rows outside the ball") {
  const auto delta = Td::from_vector({0.3, -0.4, 0.05, 0.02}, {2, 2});
  CHECK(LinfBall{0.1}.project(delta).to_vector() == std::vector<double>{0.1, -0.1, 0.05, 0.02});
  auto l2 = L2Ball{0.1}.project(delta).to_vector();
  CHECK(l2[0] == doctest::Approx(0.06).epsilon(1e-14));
  CHECK(l2[1] == doctest::Approx(-0.08).epsilon(1e-14));
  CHECK(l2[2] == 0.05);  // inside: bit for bit
  CHECK(l2[3] == 0.02);
}

TEST_CASE("random starts are uniform in the ball (10^4 draws, d = 100)") {
  const double eps = 0.5;
  const std::int64_t draws = 10000, d = 100;
  auto l2 = L2Ball{eps}.random_start<double, Cpu>(Shape{draws, d}, 3);
  const auto radii = L2Ball{eps}.norms(l2);
  double mean_radius = 0, largest = 0;
  for (double r : radii) mean_radius += r / draws, largest = std::max(largest, r);
  CHECK(mean_radius == doctest::Approx(eps * d / (d + 1)).epsilon(0.01));
  CHECK(largest <= eps * (1 + 1e-12));
  auto linf = LinfBall{eps}.random_start<double, Cpu>(Shape{draws, d}, 3);
  CHECK(mean(abs(linf)).item() == doctest::Approx(eps / 2).epsilon(0.01));
  CHECK(amax(abs(linf)).item() <= eps);
  // A seed reproduces its draw.
  CHECK(max_abs_diff(L2Ball{eps}.random_start<double, Cpu>(Shape{draws, d}, 3), l2) == 0);
}

TEST_CASE("linear oracle: PGD and FGSM lower the margin by exactly eps |w|_q, white box and black box") {
  const std::int64_t d = 10, n = 200;
  LinearModel model(d, 5);
  const auto x = Td::randn({n, d}, 6);
  const auto y = model.labels(x);
  const auto before = model.score(x);
  const double eps = 0.15;
  for_linf_and_l2(eps, [&]<class Ball>(const Ball& ball) {
    CAPTURE(ball.name());
    const double drop = eps * model.dual_norm<Ball>();
    // |s| shrinks by exactly `drop` at points farther than `drop` from the boundary (nearer ones
    // cross it, and there |s| is not |s0| - drop).
    std::vector<std::int64_t> far;
    for (std::int64_t i = 0; i < n; ++i)
      if (std::abs(before[i]) > drop) far.push_back(i);
    REQUIRE(far.size() > 20);
    const auto xf = index_select(x, 0, Labels::from_vector(far));
    const auto yf = model.labels(xf);
    const auto before_far = model.score(xf);
    auto exact_drop = [&](const AttackResult<double, Cpu>& r) {
      const auto after = model.score(r.adversarial);
      for (std::size_t i = 0; i < far.size(); ++i)
        CHECK(std::abs(before_far[i]) - std::abs(after[i]) == doctest::Approx(drop).epsilon(1e-9));
      for (double v : r.norm) CHECK(v == doctest::Approx(eps).epsilon(1e-12));
    };
    for (int steps : {1, 3, 10}) {
      PgdOptions o{.ball = ball,
                   .step_size = eps / steps,
                   .steps = steps,
                   .random_start = false,
                   .early_stop = false,
                   .lower = -unbounded,
                   .upper = unbounded};
      exact_drop(pgd<double, Cpu>(model.function(), xf, yf, o, margin_objective<double, Cpu>()));
      // Black box: central CGE is exact on a linear model.
      exact_drop(
          pgd<double, Cpu>(model.function(), xf, yf, o, margin_objective<double, Cpu>(),
                           estimators::CoordinateZO({.mu = 1e-4, .difference = estimators::Difference::central})));
    }
    exact_drop(fgsm<double, Cpu>(model.function(), xf, yf,
                                 PgdOptions{.ball = ball, .lower = -unbounded, .upper = unbounded},
                                 margin_objective<double, Cpu>()));
    // Robust accuracy is exactly the fraction with margin > eps |w|_q (cross-entropy, early stop).
    // Without a random start: from one, L2 PGD reaches the optimum only in the limit of many steps.
    PgdOptions o{.ball = ball, .steps = 20, .random_start = false, .lower = -unbounded, .upper = unbounded};
    auto r = pgd<double, Cpu>(model.function(), x, y, o);
    for (std::int64_t i = 0; i < n; ++i) CHECK(r.success[i] == (std::abs(before[i]) <= drop));
  });
}

TEST_CASE("linear oracle: success never decreases with eps; zeroth-order PGD nears the white-box result") {
  const std::int64_t d = 10, n = 300;
  LinearModel model(d, 8);
  const auto x = Td::randn({n, d}, 9);
  const auto y = model.labels(x);
  std::vector<bool> previous(n, false);
  for (double eps : {0.0, 0.05, 0.1, 0.2, 0.4}) {
    PgdOptions o{.ball = {eps}, .steps = 10, .lower = -unbounded, .upper = unbounded};
    auto r = pgd<double, Cpu>(model.function(), x, y, o);
    for (std::int64_t i = 0; i < n; ++i) CHECK((!previous[i] || r.success[i]));
    previous = r.success;
  }
  PgdOptions o{.ball = {0.2}, .steps = 20, .lower = -unbounded, .upper = unbounded};
  auto white = pgd<double, Cpu>(model.function(), x, y, o);
  auto black = pgd<double, Cpu>(model.function(), x, y, o, cross_entropy_objective<double, Cpu>(),
                                estimators::RandomZO({.mu = 1e-4, .queries = 10, .seed = 2}));
  CHECK(black.successes() <= white.successes());  // white box is optimal on the linear model
  CHECK(black.successes() >= 0.9 * white.successes());
}

TEST_CASE("targeted PGD reaches the target on a linear multiclass model") {
  const std::int64_t d = 8, n = 100;
  LinearModel model(d, 12, 4);
  const auto x = Td::randn({n, d}, 13);
  std::vector<std::int64_t> targets;
  for (std::int64_t i = 0; i < n; ++i) targets.push_back(i % 4);
  PgdOptions o{.ball = L2Ball{20}, .steps = 30, .targeted = true, .lower = -unbounded, .upper = unbounded};
  for (auto objective : {cross_entropy_objective<double, Cpu>(), margin_objective<double, Cpu>()}) {
    auto r = pgd<double, Cpu>(model.function(), x, Labels::from_vector(targets), o, objective);
    const auto predicted = argmax(model.function()(r.adversarial), 1).to_vector();
    for (std::int64_t i = 0; i < n; ++i) CHECK((predicted[i] == targets[i]) == r.success[i]);
    CHECK(r.success_rate() >= 0.95);
  }
}

TEST_CASE("PGD invariants on a CNN: ball, range, exact eps = 0, input untouched, mask, seeds, restarts") {
  auto model = nn::zoo::SmallCnn<float>(1, 10, 7, 4);
  const auto x = Tf::rand({16, 1, 28, 28}, 3);
  const auto saved = x.clone();
  std::vector<std::int64_t> labels_host;
  for (int i = 0; i < 16; ++i) labels_host.push_back(i % 10);
  const auto y = Labels::from_vector(labels_host);
  for (double eps : {0.0, 0.05, 1.0}) {
    for_linf_and_l2(eps, [&](const auto& ball) {
      for (int steps : {1, 5}) {
        CAPTURE(ball.name());
        CAPTURE(steps);
        auto r = pgd(*model, x, y, PgdOptions{.ball = ball, .steps = steps, .seed = 2});
        // Up to the rounding of x + delta (half an ulp of values <= 1).
        for (double v : r.norm) CHECK(v <= eps * (1 + 1e-6) + 1e-7);
        CHECK(amin(r.adversarial).item() >= 0.0f);
        CHECK(amax(r.adversarial).item() <= 1.0f);
        CHECK(std::isfinite(sum(r.adversarial).item()));
        if (eps == 0) CHECK(max_abs_diff(r.adversarial, x) == 0);
        CHECK(max_abs_diff(x, saved) == 0);
      }
    });
  }
  // Pixels outside a mask (one sample's shape, broadcast) come back unchanged.
  std::vector<float> mask_host(28 * 28, 0.0f);
  for (int k = 0; k < 28 * 14; ++k) mask_host[k] = 1;
  const auto mask = Tf::from_vector(mask_host, {1, 1, 28, 28});
  auto masked = pgd(*model, x, y, PgdOptions{.ball = L2Ball{2}, .steps = 5}, cross_entropy_objective<float, Cpu>(),
                    estimators::Backprop{}, mask);
  CHECK(amax(abs(mul(sub(masked.adversarial, x), sub(Tf::ones(mask.shape()), mask)))).item() == 0.0f);
  CHECK(amax(abs(sub(masked.adversarial, x))).item() > 0.0f);
  // A seed reproduces the attack bit for bit; another seed changes it.
  PgdOptions o{.ball = {0.1}, .steps = 3, .early_stop = false, .seed = 5};
  auto a = pgd(*model, x, y, o), b = pgd(*model, x, y, o);
  CHECK(max_abs_diff(a.adversarial, b.adversarial) == 0);
  o.seed = 6;
  CHECK(max_abs_diff(pgd(*model, x, y, o).adversarial, a.adversarial) > 0);
  // More restarts never lower the best loss (the first restart is the same run).
  o.seed = 5;
  o.restarts = 3;
  auto more = pgd(*model, x, y, o);
  for (int i = 0; i < 16; ++i) {
    if (a.success[i]) CHECK(more.success[i]);
    else if (!more.success[i]) CHECK(more.loss[i] >= a.loss[i]);
  }
  // The model's mode is restored.
  model->train();
  pgd(*model, x, y, o);
  CHECK(model->is_training());
}

TEST_CASE("PGD counts queries and stops samples early") {
  const std::int64_t d = 10, n = 50;
  LinearModel model(d, 21);
  const auto x = Td::randn({n, d}, 22);
  const auto y = model.labels(x);
  PgdOptions o{.ball = {0.1}, .steps = 10, .early_stop = false, .lower = -unbounded, .upper = unbounded};
  auto white = pgd<double, Cpu>(model.function(), x, y, o);
  for (auto q : white.queries) CHECK(q == 11);  // a forward-backward per step and the final iterate
  auto black = pgd<double, Cpu>(model.function(), x, y, o, cross_entropy_objective<double, Cpu>(),
                                estimators::RandomZO({.mu = 1e-4, .queries = 5}));
  for (auto q : black.queries) CHECK(q == 10 * 6 + 1);
  // Early stop: a sample that succeeds stops spending queries; one misclassified from the start
  // (no random start) stops after its first evaluation.
  o.early_stop = true;
  o.random_start = false;
  std::vector<std::int64_t> flipped = y.to_vector();
  flipped[0] = 1 - flipped[0];
  auto early = pgd<double, Cpu>(model.function(), x, Labels::from_vector(flipped), o);
  CHECK(early.success[0]);
  CHECK(early.queries[0] == 1);
  CHECK(early.norm[0] == 0);
  for (std::int64_t i = 0; i < n; ++i) CHECK(early.queries[i] <= 11);
}

TEST_CASE("attacks: bad input is an error that says what is wrong") {
  LinearModel model(4, 1);
  const auto x = Td::rand({3, 4}, 2);
  const auto y = Labels::from_vector({0, 1, 1});
  auto f = model.function();
  check_error([&] { pgd<double, Cpu>(f, x, y, {.ball = {-0.1}}); }, "attacks::pgd", "eps must be finite and >= 0");
  check_error([&] { pgd<double, Cpu>(f, x, y, {.steps = 0}); }, "attacks::pgd", "at least one step");
  check_error([&] { pgd<double, Cpu>(f, x, y, {.restarts = 0}); }, "attacks::pgd", "at least one restart");
  check_error([&] { pgd<double, Cpu>(f, x, Labels::from_vector({0, 1}), {}); }, "attacks::pgd", "one label per sample");
  check_error([&] { pgd<double, Cpu>(f, add_scalar(x, 2.0), y, {}); }, "attacks::pgd", "outside the valid range");
  check_error([&] { pgd<double, Cpu>(f, x, y, {.lower = 1, .upper = 0}); }, "attacks::pgd", "is empty");
  check_error([&] { pgd<double, Cpu>(f, x, y, {.restarts = 2, .keep_best = false}); }, "attacks::pgd", "restarts = 1");
  check_error(
      [&] {
        pgd<double, Cpu>(f, x, y, {}, cross_entropy_objective<double, Cpu>(), estimators::Backprop{}, Td::ones({2, 4}));
      },
      "attacks::pgd", "mask shape");
  check_error([&] { fgsm<double, Cpu>(f, x, y, {.ball = {-1.0}}); }, "attacks::pgd", "eps");
  check_error(
      [&] {
        L2Ball{1}.steepest_ascent(Td::ones({2, 2}), std::nan(""));
      },
      "attacks::L2Ball::steepest_ascent", "step size");
  check_error(
      [&] {
        cross_entropy_objective<double, Cpu>()(Td::ones({2, 3}), Labels::from_vector({0}));
      },
      "attacks::cross_entropy_objective", "logits [N, C] and labels [N]");
}
