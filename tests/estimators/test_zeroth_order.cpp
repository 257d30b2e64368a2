// Zeroth-order estimators (CGE, RGE): exactness on quadratics, agreement with backprop, bit-exact
// restore, common random numbers for BatchNorm and Dropout, masks, seeding, bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::estimators;
using Td = Tensor<double>;
using Tf = Tensor<float>;
using tests::check_error;

namespace {
// f(t) = 1/2 t'At + b't with a fixed symmetric positive definite A (d = 6).
struct Quadratic {
  Td a, b;
  Quadratic() {
    auto m = Td::randn({6, 6}, 1);
    std::vector<double> three_i(36, 0.0);
    for (int i = 0; i < 6; ++i) three_i[i * 7] = 3;
    a = add(matmul(m, transpose(m, 0, 1)), Td::from_vector(three_i, {6, 6}));
    b = Td::randn({6}, 2);
  }
  double value(const Td& t) const { return (scale(sum(mul(t, matmul(a, t))), 0.5) + sum(mul(b, t))).item(); }
  std::vector<double> gradient(const Td& t) const { return add(matmul(a, t), b).to_vector(); }
};

double cosine(const std::vector<double>& x, const std::vector<double>& y) {
  double xy = 0, xx = 0, yy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) xy += x[i] * y[i], xx += x[i] * x[i], yy += y[i] * y[i];
  return xy / std::sqrt(xx * yy);
}
template <class T>
std::vector<double> flat_grads(const std::vector<Tensor<T>>& params) {
  std::vector<double> out;
  for (auto& p : params)
    for (T g : p.grad().to_vector()) out.push_back(g);
  return out;
}
}  // namespace

TEST_CASE("zo: CGE is exact on a quadratic (central) and off by mu/2 diag(A) (forward)") {
  Quadratic f;
  auto t = Td::randn({6}, 3).set_requires_grad();
  const auto want = f.gradient(t);
  const auto diag = f.a.to_vector();
  CoordinateZO central({.mu = 1e-3, .difference = Difference::central});
  auto stats = central.estimate(std::vector{t}, [&] { return f.value(t); });
  CHECK(stats.queries == 12);
  auto got = t.grad().to_vector();
  for (int i = 0; i < 6; ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-8));
  t.zero_grad();
  CoordinateZO forward({.mu = 1e-3});
  CHECK(forward.estimate(std::vector{t}, [&] { return f.value(t); }).queries == 7);
  got = t.grad().to_vector();
  for (int i = 0; i < 6; ++i) CHECK(got[i] == doctest::Approx(want[i] + 0.5e-3 * diag[i * 7]).epsilon(1e-8));
}

TEST_CASE("zo: CGE agrees with backprop on a small CNN (cosine >= 0.999, float, mu = 5e-3)") {
  auto features = std::make_shared<nn::Sequential<float>>();
  features->push_back(std::make_shared<nn::Conv2d<float>>(1, 4, 3, nn::ConvOptions{.padding = 1}, 1));
  features->push_back(nn::ReLU<float>());
  features->push_back(nn::MaxPool2d<float>(2));
  nn::zoo::FeaturesClassifier<float> net("TinyCnn", features, std::make_shared<nn::Linear<float>>(64, 3, true, 2));
  auto x = Tf::randn({16, 1, 8, 8}, 3);
  auto y = Tensor<std::int64_t>::from_vector({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, {16});
  cross_entropy(net(x), y).backward();
  const auto backprop = flat_grads(net.parameters());
  const auto before = net.parameters()[0].to_vector();
  net.zero_grad();
  auto stats = CoordinateZO({.mu = 5e-3}).estimate(ParameterProblem<float, Cpu>{net, x, [&](const Tf& logits) {
                                                                                  return cross_entropy(logits, y);
                                                                                }});
  CHECK(stats.coordinates == net.num_parameters());
  CHECK(stats.queries == net.num_parameters() + 1);
  CHECK(cosine(flat_grads(net.parameters()), backprop) >= 0.999);
  CHECK(net.parameters()[0].to_vector() == before);  // restored bit for bit
}

TEST_CASE("zo: queries leave BatchNorm statistics alone and see the same Dropout mask") {
  auto net = std::make_shared<nn::Sequential<float>>();
  net->push_back(std::make_shared<nn::Conv2d<float>>(1, 2, 3, nn::ConvOptions{.padding = 1}, 1));
  auto bn = net->push_back(std::make_shared<nn::BatchNorm2d<float>>(2));
  auto drop = net->push_back(std::make_shared<nn::Dropout<float>>(0.5, 7));
  auto x = Tf::randn({4, 1, 5, 5}, 2);
  const auto mean_before = bn->running_mean.to_vector();
  const auto draws_before = drop->draws;
  // A loss that is a deterministic function of the weights only when every query sees one mask.
  auto loss = [](const Tf& out) { return sum(out); };
  CoordinateZO cge({.mu = 1e-2, .difference = Difference::central});
  cge.estimate(ParameterProblem<float, Cpu>{*net, x, loss});
  CHECK(bn->running_mean.to_vector() == mean_before);
  CHECK(bn->num_batches_tracked.item() == 0);
  CHECK(!bn->running_stats_frozen());  // the caller's setting is back
  // Central CGE of a function linear in the last conv's bias through BN is exact: compare to backprop
  // on the same mask.
  auto g_zo = net->parameters()[1].grad().to_vector();
  net->zero_grad();
  drop->draws = draws_before;
  bn->freeze_running_stats(true);
  sum((*net)(x)).backward();
  auto g_bp = net->parameters()[1].grad().to_vector();
  for (std::size_t i = 0; i < g_bp.size(); ++i) CHECK(g_zo[i] == doctest::Approx(g_bp[i]).epsilon(1e-2));
}

TEST_CASE("zo: RGE's mean over many draws converges to the gradient within its predicted variance") {
  Quadratic f;
  auto t = Td::randn({6}, 4).set_requires_grad();
  const auto want = f.gradient(t);
  double norm2 = 0;
  for (double w : want) norm2 += w * w;
  for (Direction direction : {Direction::gaussian, Direction::sphere}) {
    INFO("sphere " << (direction == Direction::sphere));
    RandomZO rge({.mu = 1e-4, .queries = 1, .difference = Difference::central, .direction = direction, .seed = 9});
    const int draws = 4000;
    std::vector<double> mean(6, 0.0);
    for (int s = 0; s < draws; ++s) {
      t.zero_grad();
      rge.estimate(std::vector{t}, [&] { return f.value(t); }, {.step = static_cast<std::uint64_t>(s)});
      auto g = t.grad().to_vector();
      for (int i = 0; i < 6; ++i) mean[i] += g[i] / draws;
    }
    double err2 = 0;
    for (int i = 0; i < 6; ++i) err2 += (mean[i] - want[i]) * (mean[i] - want[i]);
    // E|mean - grad|^2 = (d + 1) |grad|^2 / draws (Gaussian), (d - 1) |grad|^2 / draws (sphere): 4 sigma.
    CHECK(err2 <= 16 * 7 * norm2 / draws);
    CHECK(err2 > 0);
  }
}

TEST_CASE("zo: RGE directions come back from (seed, step, query); masks, restore and bad input") {
  Quadratic f;
  auto t = Td::randn({6}, 5).set_requires_grad();
  const auto before = t.to_vector();
  RandomZO rge({.mu = 1e-3, .queries = 3, .seed = 2});
  auto once = [&](std::uint64_t step) {
    t.zero_grad();
    auto stats = rge.estimate(std::vector{t}, [&] { return f.value(t); }, {.step = step});
    CHECK(stats.queries == 4);
    return t.grad().to_vector();
  };
  CHECK(once(5) == once(5));
  CHECK(once(5) != once(6));
  CHECK(t.to_vector() == before);
  // A mask: only active coordinates get a gradient; the sphere factor counts them.
  auto mask = Td::from_vector({1, 0, 1, 0, 0, 1}, {6});
  std::vector<Td> masks{mask};
  t.zero_grad();
  auto stats = RandomZO({.mu = 1e-3, .queries = 2, .direction = Direction::sphere})
                   .estimate(
                       std::vector{t}, [&] { return f.value(t); }, {}, &masks);
  CHECK(stats.coordinates == 3);
  auto g = t.grad().to_vector();
  CHECK(g[1] == 0);
  CHECK(g[3] == 0);
  CHECK(g[0] != 0);
  t.zero_grad();
  stats = CoordinateZO().estimate(
      std::vector{t}, [&] { return f.value(t); }, {}, &masks);
  CHECK(stats.queries == 4);
  CHECK(t.grad().to_vector()[4] == 0);

  check_error([] { CoordinateZO({.mu = 0}); }, "CoordinateZO");
  check_error([] { RandomZO({.mu = -1}); }, "RandomZO");
  check_error([] { RandomZO({.queries = 0}); }, "RandomZO");
  std::vector<Td> wrong{Td::ones({5})};
  check_error(
      [&] {
        CoordinateZO().estimate(
            std::vector{t}, [&] { return f.value(t); }, {}, &wrong);
      },
      "CoordinateZO");
  check_error(
      [&] {
        rge.estimate(
            std::vector{t}, [&] { return f.value(t); }, {}, &wrong);
      },
      "RandomZO");
}

TEST_CASE("zo: mu below a parameter's resolution is an error naming the parameter") {
  auto t = Tf::from_vector({1.0f, 3.0e6f}, {2}).set_requires_grad();
  check_error([&] { CoordinateZO({.mu = 1e-3}).estimate(std::vector{t}, [&] { return double(sum(t).item()); }); },
              "CoordinateZO", "does not change element 1");
}
