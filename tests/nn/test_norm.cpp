// BatchNorm2d, GroupNorm, LayerNorm: values against the formulas, training/eval semantics of the
// running statistics, the frozen mode, and gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Td = Tensor<double>;
using tests::check_error;
using tests::check_grad;

TEST_CASE("nn: BatchNorm2d normalizes with batch statistics in training and running ones in eval") {
  nn::BatchNorm2d<double> bn(2, 1e-5, 0.1);
  CHECK(bn.state_dict().size() == 5);  // weight, bias, running_mean, running_var, num_batches_tracked
  auto x = Td::randn({3, 2, 2, 2}, 1);
  auto xv = x.to_vector();
  auto y = bn(x).to_vector();
  for (int c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    std::vector<double> vals;
    for (int n = 0; n < 3; ++n)
      for (int i = 0; i < 4; ++i) vals.push_back(xv[(n * 2 + c) * 4 + i]);
    for (double a : vals) m += a / 12;
    for (double a : vals) v += (a - m) * (a - m) / 12;
    for (int n = 0; n < 3; ++n)
      for (int i = 0; i < 4; ++i) {
        const int k = (n * 2 + c) * 4 + i;
        CHECK(y[k] == doctest::Approx((xv[k] - m) / std::sqrt(v + 1e-5)).epsilon(1e-10));
      }
    // Running statistics: momentum 0.1 towards the batch mean and the unbiased variance.
    CHECK(bn.running_mean.to_vector()[c] == doctest::Approx(0.1 * m).epsilon(1e-12));
    CHECK(bn.running_var.to_vector()[c] == doctest::Approx(0.9 + 0.1 * v * 12 / 11).epsilon(1e-12));
  }
  CHECK(bn.num_batches_tracked.item() == 1);
  bn.eval();
  auto rm = bn.running_mean.to_vector(), rv = bn.running_var.to_vector();
  auto z = bn(x).to_vector();
  for (int k = 0; k < 24; ++k) {
    const int c = (k / 4) % 2;
    CHECK(z[k] == doctest::Approx((xv[k] - rm[c]) / std::sqrt(rv[c] + 1e-5)).epsilon(1e-10));
  }
  CHECK(bn.num_batches_tracked.item() == 1);  // eval does not count
  CHECK(bn.running_mean.to_vector() == rm);
}

TEST_CASE("nn: frozen BatchNorm2d keeps its running statistics while training on batch statistics") {
  nn::BatchNorm2d<double> bn(2);
  bn.freeze_running_stats();
  auto x = add_scalar(Td::randn({4, 2, 3, 3}, 2), 5.0);
  auto y = bn(x);
  CHECK(bn.running_mean.to_vector() == std::vector<double>{0, 0});
  CHECK(bn.running_var.to_vector() == std::vector<double>{1, 1});
  CHECK(bn.num_batches_tracked.item() == 0);
  CHECK(std::abs(mean(y).item()) < 1e-10);  // still batch-normalized
  bn.freeze_running_stats(false);
  bn(x);
  CHECK(bn.running_mean.to_vector()[0] > 0.4);
}

TEST_CASE("nn: normalization layers gradcheck in double, in training mode") {
  nn::BatchNorm2d<double> bn(3);
  ops::assign(bn.weight, Td::from_vector({0.5, 2, -1}, {3}));
  check_grad([&](auto& v) { return bn(v[0]); }, std::vector{Td::randn({2, 3, 2, 2}, 3)});
  bn.eval();
  check_grad([&](auto& v) { return bn(v[0]); }, std::vector{Td::randn({2, 3, 2, 2}, 4)});
  nn::GroupNorm<double> gn(2, 4);
  check_grad([&](auto& v) { return gn(v[0]); }, std::vector{Td::randn({2, 4, 2, 3}, 5)});
  nn::LayerNorm<double> ln(Shape{3});
  check_grad([&](auto& v) { return ln(v[0]); }, std::vector{Td::randn({2, 5, 3}, 6)}, true);
}

TEST_CASE("nn: GroupNorm and LayerNorm give zero mean and unit variance over their groups") {
  nn::GroupNorm<double> gn(2, 4, 1e-12);
  auto y = gn(Td::randn({2, 4, 3, 3}, 7));
  auto groups = reshape(y, {2, 2, 18});
  for (double m : mean(groups, {2}).to_vector()) CHECK(std::abs(m) < 1e-12);
  for (double v : var(groups, {2}, 0).to_vector()) CHECK(v == doctest::Approx(1).epsilon(1e-9));
  nn::LayerNorm<double> ln(Shape{2, 3}, 1e-12);
  auto z = ln(Td::randn({4, 2, 3}, 8));
  for (double m : mean(z, {1, 2}).to_vector()) CHECK(std::abs(m) < 1e-12);
  check_error([&] { return gn(Td::randn({2, 3, 3, 3}, 1)); }, "nn::GroupNorm");
  check_error([&] { return ln(Td::randn({2, 3, 2}, 1)); }, "nn::LayerNorm");
  check_error([] { nn::GroupNorm<double>(3, 4); }, "nn::GroupNorm");
  check_error([&] { return nn::BatchNorm2d<double>(2)(Td::randn({1, 2, 1, 1}, 1)); }, "nn::BatchNorm2d");
}
