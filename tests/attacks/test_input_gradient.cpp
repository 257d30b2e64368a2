// Per-sample input gradients (estimators/input_gradient.hpp): backprop against central differences,
// the closed-form error of Gaussian and sphere RGE on a linear loss (DeepZero, arXiv:2310.02025),
// exact CGE on a quadratic, query counts, and that a grad() for the input skips weight gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/estimators/input_gradient.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>

#include "attacks/attack_support.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::estimators;
using Td = Tensor<double>;
using tests::check_error;
using tests::max_abs_diff;

namespace {
// Per-row loss l_i = a'x_i on [N, d] inputs; the model is the identity, so the loss is the black box.
struct LinearLoss {
  Td a;
  explicit LinearLoss(std::int64_t d, std::uint64_t seed) {
    a = Td::randn({d}, seed);
    a = scale(a, 1 / norm(a).item());  // |a| = 1
  }
  BatchFunction<double, Cpu> loss() const {
    return [a = a](const Td& x) { return sum(mul(x, a), {1}); };
  }
};
BatchFunction<double, Cpu> identity() {
  return [](const Td& x) { return x; };
}
// Mean over samples of |g_i - a|^2.
double mean_squared_error(const Td& g, const Td& a) {
  auto e = sub(g, a);
  return mean(sum(mul(e, e), {1})).item();
}
}  // namespace

TEST_CASE("input_gradient: backprop equals central differences per sample") {
  auto model = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{6, 5, 3}, 4);
  const auto x = Td::randn({4, 6}, 7);
  const auto labels = std::vector<std::int64_t>{0, 2, 1, 2};
  BatchFunction<double, Cpu> f = [&](const Td& in) { return (*model)(in); };
  BatchFunction<double, Cpu> loss = [&](const Td& logits) {
    auto target = smoothed_one_hot<double>(Tensor<std::int64_t>::from_vector(labels), 3);
    return neg(sum(mul(target, log_softmax(logits, 1)), {1}));
  };
  auto r = input_gradient(Backprop{}, f, loss, x);
  CHECK(r.queries == 1);
  CHECK(r.grad.shape() == x.shape());
  CHECK_FALSE(r.grad.requires_grad());
  const auto g = r.grad.to_vector();
  auto host = x.to_vector();
  for (std::size_t k = 0; k < host.size(); ++k) {
    const double saved = host[k], h = 1e-6;
    host[k] = saved + h;
    const auto up = loss(f(Td::from_vector(host, x.shape()))).to_vector();
    host[k] = saved - h;
    const auto down = loss(f(Td::from_vector(host, x.shape()))).to_vector();
    host[k] = saved;
    const std::size_t i = k / 6;
    CHECK(g[k] == doctest::Approx((up[i] - down[i]) / (2 * h)).epsilon(1e-7));
  }
  // The loss at x is reported as well.
  CHECK(r.loss.to_vector()[1] == doctest::Approx(loss(f(x)).to_vector()[1]).epsilon(1e-14));
}

TEST_CASE("input_gradient: grad for the input computes no weight gradient") {
  auto model = nn::zoo::SmallCnn<double>(1, 10, 3, 4);
  auto x = Td::rand({2, 1, 28, 28}, 5).set_requires_grad();
  auto l = sum((*model)(x));
  auto gx = grad(std::vector{l}, std::vector{x})[0];
  CHECK(gx.shape() == x.shape());
  for (auto& p : model->parameters()) CHECK_FALSE(p.grad().defined());
  // The pruned backward gives the same input gradient as a full one.
  auto x2 = x.detach().set_requires_grad();
  sum((*model)(x2)).backward();
  CHECK(max_abs_diff(gx, x2.grad()) == 0.0);
}

TEST_CASE("input_gradient: Gaussian and sphere RGE errors match their closed forms (d = 20, q = 5)") {
  // 20,000 independent trials at once: each row of the batch draws its own directions.
  const std::int64_t d = 20, q = 5, trials = 20000;
  LinearLoss linear(d, 11);
  const auto x = Td::randn({trials, d}, 12);
  const auto a = reshape(linear.a, {1, d});
  auto gaussian = input_gradient(RandomZO({.mu = 1e-3, .queries = q, .seed = 3}), identity(), linear.loss(), x);
  CHECK(gaussian.queries == q + 1);
  // E|g - a|^2 = (d + 1) |a|^2 / q = 4.2 for Gaussian u; (d - 1) |a|^2 / q = 3.8 on the sphere (factor d).
  CHECK(mean_squared_error(gaussian.grad, a) == doctest::Approx(4.2).epsilon(0.05));
  auto sphere = input_gradient(RandomZO({.mu = 1e-3, .queries = q, .direction = Direction::sphere, .seed = 3}),
                               identity(), linear.loss(), x);
  CHECK(mean_squared_error(sphere.grad, a) == doctest::Approx(3.8).epsilon(0.05));
  // Unbiased: the mean estimate is a within 5 standard errors per coordinate.
  const auto mean_g = mean(gaussian.grad, {0}).to_vector();
  const auto av = linear.a.to_vector();
  for (std::int64_t k = 0; k < d; ++k) CHECK(std::abs(mean_g[k] - av[k]) < 5 * std::sqrt(4.2 / d / trials) * 1.5);
  // A step reproduces its directions; the next step draws new ones.
  auto again = input_gradient(RandomZO({.mu = 1e-3, .queries = q, .seed = 3}), identity(), linear.loss(), x);
  CHECK(max_abs_diff(again.grad, gaussian.grad) == 0.0);
  auto next = input_gradient(RandomZO({.mu = 1e-3, .queries = q, .seed = 3}), identity(), linear.loss(), x, 1);
  CHECK(max_abs_diff(next.grad, gaussian.grad) > 0.1);
}

TEST_CASE("input_gradient: CGE is exact on a quadratic (central) and off by mu/2 diag(H) (forward)") {
  // l_i = 1/2 x_i'A x_i + b'x_i with a symmetric A, for 3 samples of 700 coordinates: the
  // coordinates are stacked over several calls of up to 1024 rows.
  const std::int64_t d = 700, n = 3;
  auto m = Td::randn({d, d}, 21);
  auto hessian = scale(add(m, transpose(m, 0, 1)), 0.05);
  auto b = Td::randn({d}, 22);
  BatchFunction<double, Cpu> quadratic = [&](const Td& x) {
    return add(scale(sum(mul(x, matmul(x, hessian)), {1}), 0.5), sum(mul(x, b), {1}));
  };
  std::int64_t rows = 0;
  BatchFunction<double, Cpu> counting = [&](const Td& x) {
    rows += x.size(0);
    return x;
  };
  const auto x = Td::randn({n, d}, 23);
  const auto exact = add(matmul(x, hessian), b);
  auto central = input_gradient(CoordinateZO({.mu = 1e-3, .difference = Difference::central}), counting, quadratic, x);
  CHECK(central.queries == 2 * d + 1);  // + the outputs at x
  CHECK(rows == n * (2 * d + 1));
  CHECK(max_abs_diff(central.grad, exact) < 1e-8);
  rows = 0;
  const double mu = 1e-3;
  auto forward = input_gradient(CoordinateZO({.mu = mu}), counting, quadratic, x);
  CHECK(forward.queries == d + 1);
  CHECK(rows == n * (d + 1));
  std::vector<double> diagonal(d);
  const auto h = hessian.to_vector();
  for (std::int64_t k = 0; k < d; ++k) diagonal[k] = h[k * d + k];
  auto expected = add(exact, scale(reshape(Td::from_vector(diagonal), {1, d}), mu / 2));
  CHECK(max_abs_diff(forward.grad, expected) < 1e-7);
}

TEST_CASE("input_gradient: RGE agrees with backprop on a CNN in direction") {
  auto model = nn::zoo::SmallCnn<double>(1, 10, 2, 4);
  BatchFunction<double, Cpu> f = [&](const Td& x) { return (*model)(x); };
  BatchFunction<double, Cpu> loss = [](const Td& logits) { return logsumexp(logits, {1}); };
  const auto x = Td::rand({2, 1, 28, 28}, 9);
  auto exact = input_gradient(Backprop{}, f, loss, x).grad;
  auto estimate = input_gradient(RandomZO({.mu = 1e-6, .queries = 4000, .seed = 1}), f, loss, x).grad;
  // Cosine of 4000 Gaussian directions in d = 784: about sqrt(q / (q + d)) = 0.91.
  for (std::int64_t i = 0; i < 2; ++i) {
    auto e = exact.slice(0, i, i + 1), g = estimate.slice(0, i, i + 1);
    const double cosine = sum(mul(e, g)).item() / (norm(e).item() * norm(g).item());
    CHECK(cosine > 0.85);
  }
}

TEST_CASE("input_gradient: bad input") {
  BatchFunction<double, Cpu> wrong = [](const Td& x) { return sum(x); };
  check_error(
      [&] {
        input_gradient(Backprop{}, identity(), wrong, Td::ones({3, 2}));
      },
      "input_gradient", "one value per sample [3]");
  check_error(
      [&] {
        input_gradient(RandomZO(), identity(), wrong, Td::ones({3, 2}));
      },
      "input_gradient", "one value per sample");
  check_error(
      [&] {
        input_gradient(CoordinateZO(), identity(), wrong, Td::ones({0, 2}));
      },
      "input_gradient", "non-empty batch");
}
