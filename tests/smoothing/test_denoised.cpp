// Denoised smoothing (smoothing/denoised.hpp): the three gradient policies (backprop through the
// classifier, a ZO estimate at the classifier's input carried back through the denoiser, ZO over
// the denoiser's weights) give the same gradient where they are exact, masks, query counts, the MSE
// term, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/nn.hpp>
#include <trustml/smoothing/denoised.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::smoothing;
using Td = Tensor<double>;
using Labels = Tensor<std::int64_t>;
using tests::check_error;

namespace {
struct Setup {
  std::shared_ptr<nn::zoo::DnCNN<double>> denoiser = std::make_shared<nn::zoo::DnCNN<double>>(1, 3, 2, 5);
  std::shared_ptr<nn::zoo::Mlp<double>> classifier =
      std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{36, 8, 3}, 6);
  Td images = Td::rand({4, 1, 6, 6}, 7);
  Labels targets = Labels::from_vector({0, 1, 2, 1});
  estimators::BatchFunction<double, Cpu> f = [c = classifier](const Td& x) { return (*c)(x); };
  std::vector<double> gradient_of(DenoiserOptions options, auto policy, std::uint64_t step = 3,
                                  DenoiserStep* info = nullptr) {
    denoiser->zero_grad();
    DenoiserTraining<double, Cpu> training(*denoiser, f, options);
    auto s = training.gradient(images, targets, policy, step);
    if (info) *info = s;
    std::vector<double> out;
    for (auto& p : denoiser->parameters()) {
      auto g = p.grad().defined() ? p.grad().to_vector() : std::vector<double>(p.numel(), 0.0);
      out.insert(out.end(), g.begin(), g.end());
    }
    return out;
  }
};
double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), ref += b[i] * b[i];
  return std::sqrt(diff / ref);
}
}  // namespace

TEST_CASE("denoised smoothing: the three gradient policies agree where they are exact") {
  Setup s;
  for (double mse_weight : {0.0, 0.5}) {
    CAPTURE(mse_weight);
    DenoiserOptions options{.sigma = 0.25, .stability_weight = 0.7, .mse_weight = mse_weight, .seed = 1};
    DenoiserStep first{}, through{}, over{};
    const auto exact = s.gradient_of(options, estimators::Backprop{}, 3, &first);
    CHECK(first.queries == 1);
    // Central CGE at the classifier's input is exact to O(mu^2) on this smooth network.
    const auto at_input = s.gradient_of(
        options, estimators::CoordinateZO({.mu = 1e-5, .difference = estimators::Difference::central}), 3, &through);
    CHECK(relative_l2(at_input, exact) < 1e-6);
    CHECK(through.queries == 2 * 36 + 1);
    CHECK(through.loss == doctest::Approx(first.loss).epsilon(1e-12));
    // ZO over the denoiser's weights, every coordinate.
    const auto over_weights = s.gradient_of(options,
                                            OverWeights<estimators::CoordinateZO, double, Cpu>{estimators::CoordinateZO(
                                                {.mu = 1e-5, .difference = estimators::Difference::central})},
                                            3, &over);
    CHECK(relative_l2(over_weights, exact) < 1e-6);
    CHECK(over.queries == 2 * s.denoiser->num_parameters());
  }
}

TEST_CASE("denoised smoothing: the MSE denoiser never queries the classifier, whatever the policy") {
  Setup s;
  std::int64_t calls = 0;
  s.f = [&, c = s.classifier](const Td& x) {
    ++calls;
    return (*c)(x);
  };
  DenoiserStep info;
  const auto by_backprop =
      s.gradient_of({.stability_weight = 0, .mse_weight = 1, .seed = 4}, estimators::Backprop{}, 1, &info);
  const auto by_rge =
      s.gradient_of({.stability_weight = 0, .mse_weight = 1, .seed = 4}, estimators::RandomZO(), 1, &info);
  CHECK(calls == 0);
  CHECK(info.queries == 0);
  CHECK(by_rge == by_backprop);
  // It is the gradient of mean (D(x + delta) - x)^2: against central differences.
  auto p = s.denoiser->parameters()[0];
  const double saved = p.data()[1], h = 1e-6;
  auto loss_at = [&](double v) {
    p.data()[1] = v;
    s.gradient_of({.stability_weight = 0, .mse_weight = 1, .seed = 4}, estimators::Backprop{}, 1, &info);
    return info.loss;
  };
  const double numeric = (loss_at(saved + h) - loss_at(saved - h)) / (2 * h);
  p.data()[1] = saved;
  CHECK(by_backprop[1] == doctest::Approx(numeric).epsilon(1e-6));
}

TEST_CASE("denoised smoothing: backprop gradient equals central differences of the loss") {
  Setup s;
  DenoiserOptions options{.sigma = 0.5, .stability_weight = 2, .mse_weight = 0.3, .seed = 2};
  const auto g = s.gradient_of(options, estimators::Backprop{});
  auto params = s.denoiser->parameters();
  // A few coordinates of every parameter against (L(t + h) - L(t - h)) / 2h, with the step's noise.
  std::size_t offset = 0;
  for (auto& p : params) {
    for (std::int64_t i = 0; i < p.numel(); i += std::max<std::int64_t>(1, p.numel() / 3)) {
      const double saved = p.data()[i], h = 1e-6;
      auto loss_at = [&](double v) {
        p.data()[i] = v;
        DenoiserStep info;
        s.gradient_of(options, estimators::Backprop{}, 3, &info);
        return info.loss;
      };
      const double numeric = (loss_at(saved + h) - loss_at(saved - h)) / (2 * h);
      p.data()[i] = saved;
      CHECK(g[offset + i] == doctest::Approx(numeric).epsilon(1e-6).scale(1e-3));
    }
    offset += p.numel();
  }
}

TEST_CASE("denoised smoothing: masked weights get no gradient; RGE counts q + 1 queries") {
  Setup s;
  std::vector<Td> masks;
  for (auto& p : s.denoiser->parameters()) {
    std::vector<double> m(p.numel(), 0.0);
    for (std::int64_t i = 0; i < p.numel(); i += 2) m[i] = 1;
    masks.push_back(Td::from_vector(m, p.shape()));
  }
  DenoiserStep info;
  const auto g = s.gradient_of(
      {.seed = 3}, OverWeights<estimators::CoordinateZO, double, Cpu>{estimators::CoordinateZO({.mu = 1e-5}), &masks},
      0, &info);
  std::size_t k = 0, active = 0;
  for (auto& m : masks)
    for (double v : m.to_vector()) {
      if (v == 0) CHECK(g[k] == 0);
      active += v != 0;
      ++k;
    }
  CHECK(info.queries == static_cast<std::int64_t>(active) + 1);
  s.gradient_of({.seed = 3}, estimators::RandomZO({.mu = 1e-5, .queries = 7}), 0, &info);
  CHECK(info.queries == 8);
  // Many random directions point where the exact gradient does: cosine about sqrt(q / (q + d)).
  const auto exact = s.gradient_of({.seed = 3}, estimators::Backprop{}, 0);
  auto cosine = [&](const std::vector<double>& a) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) ab += a[i] * exact[i], aa += a[i] * a[i], bb += exact[i] * exact[i];
    return ab / std::sqrt(aa * bb);
  };
  CHECK(cosine(s.gradient_of({.seed = 3}, estimators::RandomZO({.mu = 1e-6, .queries = 500, .seed = 1}), 0)) > 0.8);
  CHECK(cosine(s.gradient_of({.seed = 3},
                             OverWeights<estimators::RandomZO, double, Cpu>{
                                 estimators::RandomZO({.mu = 1e-6, .queries = 500, .seed = 1})},
                             0, &info)) > 0.8);
  CHECK(info.queries == 501);
}

TEST_CASE("denoised smoothing: every policy updates BatchNorm running statistics once per step") {
  // Zeroth-order estimators freeze the running statistics during their queries; a denoiser trained
  // through them must still leave training with the statistics backprop would have given it.
  auto running_stats = [](Setup& s, auto policy) {
    s.gradient_of({.seed = 6}, policy, 2);
    std::vector<double> out;
    for (auto& [name, t] : s.denoiser->named_buffers()) {
      const auto v = t.to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  Setup a, b, c;
  const auto fo = running_stats(a, estimators::Backprop{});
  CHECK(fo != std::vector<double>(fo.size(), 0.0));
  CHECK(running_stats(b, OverWeights<estimators::CoordinateZO, double, Cpu>{estimators::CoordinateZO({.mu = 1e-5})}) ==
        fo);
  CHECK(running_stats(c, estimators::RandomZO({.mu = 1e-5, .queries = 3})) == fo);
}

TEST_CASE("denoised smoothing: the denoised classifier is f(D(x)) without a tape; bad input") {
  Setup s;
  DenoiserTraining<double, Cpu> training(*s.denoiser, s.f, {.sigma = 0.25});
  auto composed = training.denoised_classifier()(s.images);
  auto direct = (*s.classifier)((*s.denoiser)(s.images));
  CHECK(amax(abs(sub(composed, direct))).item() == 0);
  CHECK_FALSE(composed.requires_grad());
  check_error([&] { DenoiserTraining<double, Cpu>(*s.denoiser, s.f, {.sigma = -1}); }, "smoothing::DenoiserTraining",
              "sigma");
  check_error([&] { DenoiserTraining<double, Cpu>(*s.denoiser, s.f, {.mse_weight = -1}); },
              "smoothing::DenoiserTraining", "mse_weight");
  check_error([&] { DenoiserTraining<double, Cpu>(*s.denoiser, s.f, {.stability_weight = 0}); },
              "smoothing::DenoiserTraining", "not both 0");
  check_error(
      [&] {
        training.gradient(s.images, Labels::from_vector({0, 1}), estimators::Backprop{}, 0);
      },
      "smoothing::DenoiserTraining", "targets [N]");
}
