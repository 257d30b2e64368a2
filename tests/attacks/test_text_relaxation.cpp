// TextGrad's building blocks (docs: text/substitution.hpp, attacks/straight_through.hpp,
// the masked and "at most k" projections of attacks/simplex.hpp), against the spec's acceptance
// checks 1-3:
//   1. the site projection {0 <= z <= 1, sum z <= k} and the candidate projection (probability
//      simplex), masked, equal an exact breakpoint solver on 1,000 random rows and edge cases; they
//      are feasible, idempotent and satisfy the KKT conditions;
//   2. the straight-through draws are exactly binary / one-hot, their frequencies pass a chi-square
//      test (p > 0.01, 10^4 draws, fixed seeds), and the backward pass is clip(upstream, -1, 1);
//   3. with continuous z and u the objective's gradients match central differences in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <trustml/attacks/simplex.hpp>
#include <trustml/attacks/straight_through.hpp>
#include <trustml/text/substitution.hpp>
#include <trustml/text/textgrad.hpp>
#include <trustml/autograd/gradcheck.hpp>
#include <trustml/nn.hpp>
#include <vector>

#include "attacks/attack_support.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::attacks;
using Td = Tensor<double>;
using tests::check_error;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();

// The shift mu with sum_i clamp(a_i - mu, 0, cap) = target, exactly: the sum is piecewise linear
// and nonincreasing in mu with breakpoints a_i and a_i - cap, so mu lies on the segment between two
// neighbouring breakpoints where the sum crosses the target (or left of all of them when cap is
// infinite), and is found by linear interpolation on it.
double exact_shift(const std::vector<double>& a, double cap, double target) {
  auto g = [&](double mu) {
    double s = 0;
    for (double v : a) s += std::clamp(v - mu, 0.0, cap);
    return s;
  };
  std::vector<double> points;
  for (double v : a) {
    points.push_back(v);
    if (cap < inf) points.push_back(v - cap);
  }
  std::sort(points.begin(), points.end());
  if (g(points.front()) < target)  // slope -n left of every breakpoint (cap = inf only)
    return points.front() - (target - g(points.front())) / static_cast<double>(a.size());
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    const double g0 = g(points[i]), g1 = g(points[i + 1]);
    if (g0 >= target && g1 <= target)
      return g0 == g1 ? points[i] : points[i] + (g0 - target) / (g0 - g1) * (points[i + 1] - points[i]);
  }
  return points.back();
}

// The reference projection of one row over its kept entries (the others are 0).
std::vector<double> reference_projection(const std::vector<double>& a, const std::vector<double>& keep, bool capped,
                                          double k) {
  std::vector<double> kept, out(a.size(), 0.0);
  for (std::size_t j = 0; j < a.size(); ++j)
    if (keep[j] != 0) kept.push_back(a[j]);
  if (kept.empty()) return out;
  double mu = 0;
  if (capped) {
    double clipped = 0;
    for (double v : kept) clipped += std::clamp(v, 0.0, 1.0);
    mu = clipped <= k ? 0.0 : exact_shift(kept, 1.0, k);
  } else {
    mu = exact_shift(kept, inf, 1.0);
  }
  for (std::size_t j = 0; j < a.size(); ++j)
    if (keep[j] != 0) out[j] = std::clamp(a[j] - mu, 0.0, capped ? 1.0 : inf);
  return out;
}

struct RowCheck {
  double max_diff = 0, max_violation = 0, max_kkt = 0;
};

// One batch [rows, d] through the library and the reference, with feasibility and KKT measured.
template <class B>
void check_batch_projection(const B& ball, bool capped, double k, const Td& a, const Td& mask, RowCheck& out) {
  const auto p = ball.project(a, mask);
  const auto pv = p.to_vector(), av = a.to_vector(), mv = mask.to_vector();
  const std::int64_t rows = a.size(0), d = a.size(1);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::vector<double> ar(av.begin() + r * d, av.begin() + (r + 1) * d);
    const std::vector<double> mr(mv.begin() + r * d, mv.begin() + (r + 1) * d);
    const auto ref = reference_projection(ar, mr, capped, k);
    double total = 0, mu = std::numeric_limits<double>::quiet_NaN();
    for (std::int64_t j = 0; j < d; ++j) {
      const double x = pv[static_cast<std::size_t>(r * d + j)];
      out.max_diff = std::max(out.max_diff, std::abs(x - ref[static_cast<std::size_t>(j)]));
      if (mr[static_cast<std::size_t>(j)] == 0) {
        CHECK(x == 0.0);  // masked entries are exactly 0
        continue;
      }
      total += x;
      out.max_violation = std::max({out.max_violation, -x, capped ? x - 1 : 0.0});
      // KKT: every coordinate strictly inside the bounds has a_j - x_j = mu, one mu per row.
      if (x > 1e-9 && (!capped || x < 1 - 1e-9)) {
        const double shift = ar[static_cast<std::size_t>(j)] - x;
        if (std::isnan(mu)) mu = shift;
        out.max_kkt = std::max(out.max_kkt, std::abs(shift - mu));
      }
    }
    out.max_violation = std::max(out.max_violation, capped ? total - k : std::abs(total - 1));
  }
  // Idempotent.
  CHECK(tests::max_abs_diff(ball.project(p, mask), p) <= 1e-9);
}
}  // namespace

TEST_CASE("text relaxation: the masked site and candidate projections equal an exact breakpoint solver") {
  RowCheck site, candidate;
  std::uint64_t seed = 100;
  for (int trial = 0; trial < 125; ++trial) {  // 125 batches of 8 rows: 1,000 rows of each projection
    const std::int64_t d = 2 + trial % 29;
    const double spread = trial % 3 == 0 ? 0.3 : (trial % 3 == 1 ? 1.0 : 4.0);
    auto a = add_scalar(scale(Td::randn({8, d}, seed++), spread), trial % 5 == 0 ? -1.0 : 0.3);
    auto mask = step(add_scalar(Td::rand({8, d}, seed++), -0.2));  // about 80% kept
    // Keep the first entry of every row, so that every row has mass to place.
    mask = maximum(mask, concat(std::vector<Td>{Td::ones({8, 1}), Td::zeros({8, d - 1})}, 1));
    const double k = 1 + trial % std::max<std::int64_t>(1, d / 2);
    check_batch_projection(CappedSimplex{.k = k, .at_most = true}, true, k, a, mask, site);
    check_batch_projection(Simplex{}, false, 1.0, a, mask, candidate);
  }
  MESSAGE("site projection: max diff " << site.max_diff << ", violation " << site.max_violation << ", KKT "
                                       << site.max_kkt);
  MESSAGE("candidate projection: max diff " << candidate.max_diff << ", violation " << candidate.max_violation
                                            << ", KKT " << candidate.max_kkt);
  CHECK(site.max_diff <= 1e-6);
  CHECK(candidate.max_diff <= 1e-6);
  CHECK(site.max_violation <= 1e-6);
  CHECK(candidate.max_violation <= 1e-6);
  CHECK(site.max_kkt <= 1e-9);
  CHECK(candidate.max_kkt <= 1e-9);
}

TEST_CASE("text relaxation: projection edge cases") {
  const CappedSimplex sites{.k = 2, .at_most = true};
  const auto all = Td::ones({1, 4});
  // All negative: every site at 0 (inside the budget).
  CHECK(sites.project(Td::from_vector({-1, -0.5, -3, -0.1}, {1, 4}), all).to_vector() ==
        std::vector<double>{0, 0, 0, 0});
  // Already within the budget after clipping: the clip, unchanged.
  CHECK(sites.project(Td::from_vector({0.5, 1.7, -0.2, 0.25}, {1, 4}), all).to_vector() ==
        std::vector<double>{0.5, 1, 0, 0.25});
  // Over the budget: the sum is k, and a masked entry stays 0 however large.
  const auto over = sites.project(Td::from_vector({0.9, 0.8, 0.7, 5.0}, {1, 4}), Td::from_vector({1, 1, 1, 0}, {1, 4}));
  CHECK(std::abs(sum(over).item() - 2.0) <= 1e-12);
  CHECK(over.to_vector()[3] == 0.0);
  // k = 1 keeps the largest entry when the others are far below it.
  const auto one = CappedSimplex{.k = 1, .at_most = true}.project(Td::from_vector({3, 0.1, 0.2}, {1, 3}));
  CHECK(one.to_vector() == std::vector<double>{1, 0, 0});
  // The "at most" set's name, and a mask of another shape or with other values than 0 and 1.
  CHECK(sites.name() == "capped simplex of mass at most 2");
  check_error([&] { sites.project(Td::ones({1, 4}), Td::ones({1, 3})); }, "attacks::CappedSimplex::project",
              "mask's shape [1, 3]");
  check_error([&] { Simplex{}.project(Td::ones({1, 3}), Td::from_vector({1, 0.5, 1}, {1, 3})); },
              "attacks::Simplex::project", "0 or 1");
  check_error([&] { Simplex{}.project(Td::ones({2, 3}), Td::from_vector({1, 0, 1, 0, 0, 0}, {2, 3})); },
              "attacks::Simplex::project", "row 1 of the mask keeps no entry");
  check_error([&] { CappedSimplex{.k = 2}.project(Td::ones({1, 3}), Td::from_vector({1, 0, 0}, {1, 3})); },
              "attacks::CappedSimplex::project", "fewer than the mass k = 2");
  // On the "at most" set the ascent step is the plain gradient step (the mass may change).
  CHECK(sites.steepest_ascent(Td::from_vector({1, 2, 3, 4}, {1, 4}), 0.5).to_vector() ==
        std::vector<double>{0.5, 1, 1.5, 2});
}

namespace {
// Pearson's chi-square statistic of observed counts against expected probabilities (those > 0).
double chi_square(const std::vector<double>& counts, const std::vector<double>& p, double draws) {
  double s = 0;
  for (std::size_t j = 0; j < counts.size(); ++j)
    if (p[j] > 0) s += (counts[j] - draws * p[j]) * (counts[j] - draws * p[j]) / (draws * p[j]);
  return s;
}
}  // namespace

TEST_CASE("text relaxation: Bernoulli draws are binary, Bernoulli(z) distributed, and pass clip(g, -1, 1) back") {
  const std::int64_t draws = 10000;
  for (double p : {0.1, 0.37, 0.5, 0.93}) {
    auto z = Td::full({draws}, p).set_requires_grad();
    const auto hard = bernoulli_sample(z, 7);
    const auto h = hard.to_vector();
    double ones = 0;
    for (double v : h) {
      REQUIRE((v == 0.0 || v == 1.0));
      ones += v;
    }
    const double chi2 = chi_square({ones, draws - ones}, {p, 1 - p}, draws);
    INFO("p = " << p << ", ones " << ones << ", chi2 " << chi2);
    CHECK(chi2 < 6.635);  // the 0.99 quantile of chi-square with 1 degree of freedom
    // Backward: the upstream gradient, clipped, reaches z.
    auto w = scale(Td::randn({draws}, 8), 2.0);
    sum(mul(hard, w)).backward();
    CHECK(tests::max_abs_diff(z.grad(), clamp(w, -1.0, 1.0)) == 0.0);
  }
  // z = 0 never draws 1; the same seed draws the same sample; another offset draws another.
  CHECK(sum(bernoulli_sample(Td::zeros({1000}), 3)).item() == 0.0);
  const auto z = Td::rand({500}, 4);
  CHECK(tests::max_abs_diff(bernoulli_sample(z, 5), bernoulli_sample(z, 5)) == 0.0);
  CHECK(tests::max_abs_diff(bernoulli_sample(z, 5), bernoulli_sample(z, 5, 500)) > 0.0);
}

TEST_CASE("text relaxation: categorical draws are one-hot, follow u (masked entries never), clip(g, -1, 1) back") {
  const std::int64_t draws = 10000, m = 5;
  const std::vector<double> p = {0.1, 0.0, 0.5, 0.15, 0.25};
  std::vector<double> rows;
  for (std::int64_t i = 0; i < draws; ++i) rows.insert(rows.end(), p.begin(), p.end());
  auto u = Td::from_vector(rows, {draws, m}).set_requires_grad();
  const auto hard = categorical_sample(u, 11);
  const auto h = hard.to_vector();
  std::vector<double> counts(m, 0.0);
  for (std::int64_t i = 0; i < draws; ++i) {
    double row_sum = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      const double v = h[static_cast<std::size_t>(i * m + j)];
      REQUIRE((v == 0.0 || v == 1.0));
      row_sum += v;
      counts[static_cast<std::size_t>(j)] += v;
    }
    REQUIRE(row_sum == 1.0);
  }
  CHECK(counts[1] == 0.0);
  const double chi2 = chi_square(counts, p, draws);
  INFO("counts " << counts[0] << " " << counts[2] << " " << counts[3] << " " << counts[4] << ", chi2 " << chi2);
  CHECK(chi2 < 11.345);  // the 0.99 quantile with 3 degrees of freedom (4 drawable categories)
  auto w = scale(Td::randn({draws, m}, 12), 2.0);
  sum(mul(hard, w)).backward();
  CHECK(tests::max_abs_diff(u.grad(), clamp(w, -1.0, 1.0)) == 0.0);
  // Rows need not sum to 1: scaled rows draw the same candidates.
  NoGradGuard no_grad;
  CHECK(tests::max_abs_diff(categorical_sample(scale(u, 3.0), 11), hard) == 0.0);
  check_error([] { categorical_sample(Td::from_vector({0.5, -0.1, 0.6}, {1, 3}), 1); }, "attacks::categorical_sample",
              "must be >= 0");
  check_error([] { categorical_sample(Td::from_vector({0.5, 0.5, 0, 0}, {2, 2}), 1); }, "attacks::categorical_sample",
              "row 1 of [2, 2] has no positive finite mass");
}

namespace {
// A tiny victim in double: logits = tanh(mean over tokens of e' @ W1) @ W2, [R, L, d] -> [R, 2].
struct TinyVictim {
  Td w1 = scale(Td::randn({4, 6}, 21), 0.7), w2 = scale(Td::randn({6, 2}, 22), 0.9);
  Td operator()(const Td& e) const { return matmul(tanh(matmul(mean(e, {1}), w1)), w2); }
};
}  // namespace

TEST_CASE("text relaxation: substituted embeddings are exact for discrete draws; dJ/dz and dJ/du match central "
          "differences") {
  const std::int64_t L = 5, m = 3, d = 4;
  const auto original = Td::randn({L, d}, 31), candidates = Td::randn({L, m, d}, 32);
  // Discrete draws give the embeddings of the substituted sentence exactly: site 1 -> candidate 2,
  // site 3 -> candidate 0, the others unchanged.
  const auto z01 = Td::from_vector({0, 1, 0, 1, 0}, {1, L});
  std::vector<double> onehot(L * m, 0.0);
  onehot[1 * m + 2] = 1, onehot[3 * m + 0] = 1, onehot[0] = 1, onehot[2 * m + 1] = 1, onehot[4 * m + 2] = 1;
  const auto e = text::substituted_embeddings(z01, Td::from_vector(onehot, {1, L, m}), original, candidates);
  auto expected = original.clone();
  {
    auto ev = expected.to_vector();
    const auto cv = candidates.to_vector();
    for (std::int64_t j = 0; j < d; ++j) {
      ev[static_cast<std::size_t>(1 * d + j)] = cv[static_cast<std::size_t>((1 * m + 2) * d + j)];
      ev[static_cast<std::size_t>(3 * d + j)] = cv[static_cast<std::size_t>((3 * m + 0) * d + j)];
    }
    expected = Td::from_vector(ev, {1, L, d});
  }
  CHECK(tests::max_abs_diff(e, expected) == 0.0);

  // The objective with continuous z and u (sampling off), two rows of variables at interior points:
  // J = mean_r hinge_margin_gain(victim(e'_r), y, kappa) + beta fluency. kappa = 10 keeps the hinge
  // active (the victim's margin is far below 10), so J is smooth there.
  const TinyVictim victim;
  const auto log_ratio = Td::randn({L, m}, 33);
  const std::int64_t label = 1;
  auto objective = [&](const std::vector<Td>& v) {
    const auto gain = text::hinge_margin_gain(victim(text::substituted_embeddings(v[0], v[1], original, candidates)),
                                              label, 10.0);
    return add(mean(gain), scale(mean(text::fluency(v[0], v[1], log_ratio)), 0.1));
  };
  const auto z = CappedSimplex{.k = 2, .at_most = true}.project(add_scalar(scale(Td::rand({2, L}, 34), 0.8), 0.1));
  // Each site's candidate distribution is one row of the simplex: rows [2 L, m].
  const auto u = reshape(Simplex{}.project(add_scalar(Td::rand({2 * L, m}, 35), 0.2)), Shape{2, L, m});
  const auto check = gradcheck(objective, std::vector<Td>{z, u}, {.eps = 1e-6, .atol = 1e-9, .rtol = 1e-4});
  INFO(check.message);
  CHECK(check.ok);
  // Bad shapes name the operation and the shapes.
  check_error([&] { text::substituted_embeddings(z, u, original, Td::zeros({L, m, d + 1})); },
              "text::substituted_embeddings", "[5, 3, 5]");
  check_error([&] { text::hinge_margin_gain(Td::zeros({2, 2}), 2); }, "text::hinge_margin_gain",
              "label 2 is outside the 2 classes");
  check_error([&] { text::fluency(z, u, Td::zeros({L, m + 1})); }, "text::fluency", "[5, 4]");
}

namespace {
// A sentence of 6 tokens for a bag-of-embeddings victim, logits (s, -s) with s = mean_i <e_i, w>:
// every token scores +1, so the label is 0. Each site has 3 candidates, one scoring -5 (a
// different one per site); changing one site gives s = 0 (still class 0, argmax takes the first),
// two sites give s = -1: the attack needs 2 of the budget of 2, and the right candidates.
struct BagProblem {
  static constexpr std::int64_t L = 6, m = 3, d = 4;
  Td w = Td::from_vector({1, 0, 0, 0});
  text::SubstitutionProblem<double, Cpu> problem;
  BagProblem() {
    std::vector<double> original(L * d, 0.0), candidates(L * m * d, 0.0);
    for (std::int64_t i = 0; i < L; ++i) {
      original[static_cast<std::size_t>(i * d)] = 1;
      original[static_cast<std::size_t>(i * d + 1 + i % 3)] = 0.5;  // not on w: words differ
      for (std::int64_t j = 0; j < m; ++j)
        candidates[static_cast<std::size_t>((i * m + j) * d)] = j == i % m ? -5.0 : 1.0;
    }
    problem.original = Td::from_vector(original, {L, d});
    problem.candidates = Td::from_vector(candidates, {L, m, d});
    problem.site_mask = Td::from_vector({1, 1, 1, 1, 0, 1});  // site 4 may not change
    problem.candidate_mask = Td::ones({L, m});
    problem.label = 0;
    problem.budget = 2;
  }
  Td victim(const Td& e) const {  // [R, L, d] -> [R, 2]
    auto s = matmul(mean(e, {1}), reshape(w, Shape{d, 1}));
    return concat(std::vector<Td>{s, neg(s)}, 1);
  }
  // The discrete sentence, classified exactly.
  std::int64_t query(const std::vector<std::int64_t>& choice) const {
    const auto o = problem.original.to_vector(), c = problem.candidates.to_vector();
    double s = 0;
    for (std::int64_t i = 0; i < L; ++i)
      s += choice[static_cast<std::size_t>(i)] < 0 ? o[static_cast<std::size_t>(i * d)]
                                                   : c[static_cast<std::size_t>((i * m + choice[static_cast<std::size_t>(i)]) * d)];
    return s > 0 ? 0 : (s < 0 ? 1 : 0);
  }
};
}  // namespace

TEST_CASE("textgrad: finds the two-site substitution on a bag-of-embeddings victim, within budget and masks, "
          "reproducibly") {
  const BagProblem bag;
  auto victim = [&](const Td& e) { return bag.victim(e); };
  auto query = [&](const std::vector<std::int64_t>& c) { return bag.query(c); };
  const text::TextGradOptions options{.steps = 10, .samples = 8, .final_samples = 10, .restarts = 3, .beta = 0};
  const auto r = text::textgrad(victim, query, bag.problem, options);
  MESSAGE("textgrad on the bag victim: success " << r.success << ", changed " << r.changed << ", queries " << r.queries
                                                  << ", restarts " << r.restarts_used);
  REQUIRE(r.success);
  CHECK(r.changed == 2);
  CHECK(bag.query(r.choice) == 1);
  CHECK(r.choice[4] == -1);  // the masked site never changes
  for (std::int64_t i = 0; i < BagProblem::L; ++i)
    if (r.choice[static_cast<std::size_t>(i)] >= 0) CHECK(r.choice[static_cast<std::size_t>(i)] == i % BagProblem::m);
  CHECK(r.queries >= options.samples);
  // The same seed gives the same attack; the queries are counted the same.
  const auto again = text::textgrad(victim, query, bag.problem, options);
  CHECK(again.choice == r.choice);
  CHECK(again.queries == r.queries);
  // Candidates that do not exist are never chosen: mask the -5 candidate of sites 0 and 1.
  auto masked = bag.problem;
  auto cm = masked.candidate_mask.to_vector();
  cm[0 * 3 + 0] = 0, cm[1 * 3 + 1] = 0;
  masked.candidate_mask = Td::from_vector(cm, {6, 3});
  const auto m = text::textgrad(victim, query, masked, options);
  REQUIRE(m.success);
  CHECK(m.choice[0] == -1);
  CHECK(m.choice[1] == -1);
}

TEST_CASE("textgrad: bad input is an error, a sentence without an attackable site is reported") {
  const BagProblem bag;
  auto victim = [&](const Td& e) { return bag.victim(e); };
  auto query = [&](const std::vector<std::int64_t>& c) { return bag.query(c); };
  auto none = bag.problem;
  none.site_mask = Td::zeros({6});
  const auto r = text::textgrad(victim, query, none);
  CHECK(!r.attackable);
  CHECK(!r.success);
  CHECK(r.queries == 0);
  auto zero_budget = bag.problem;
  zero_budget.budget = 0;
  check_error([&] { text::textgrad(victim, query, zero_budget); }, "text::textgrad", "budget k must be in [1, 6]");
  auto big_budget = bag.problem;
  big_budget.budget = 7;
  check_error([&] { text::textgrad(victim, query, big_budget); }, "text::textgrad", "budget");
  auto bad_mask = bag.problem;
  bad_mask.candidate_mask = Td::ones({6, 2});
  check_error([&] { text::textgrad(victim, query, bad_mask); }, "text::textgrad", "candidate mask [6, 3]");
  check_error([&] { text::textgrad(victim, query, bag.problem, {.steps = 0}); }, "text::textgrad", "must be >= 1");
}
