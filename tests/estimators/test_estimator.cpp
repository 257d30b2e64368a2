// The Estimator concept (estimators/estimator.hpp): the library's estimators model it, and an
// estimator written here, with no library change, works through input_gradient, denoised
// smoothing (through the classifier and over the denoiser's weights) and PGD.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/attacks/pgd.hpp>
#include <trustml/estimators/estimator.hpp>
#include <trustml/estimators/input_gradient.hpp>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>
#include <trustml/smoothing/denoised.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::estimators;
using Td = Tensor<double>;
using Labels = Tensor<std::int64_t>;

static_assert(Estimator<Backprop, float, Cpu>);
static_assert(Estimator<Backprop, double, Cpu>);
static_assert(Estimator<CoordinateZO, float, Cpu>);
static_assert(Estimator<RandomZO, double, Cpu>);
static_assert(Estimator<StagedCoordinateZO<float, Cpu>, float, Cpu>);
static_assert(Estimator<StagedCoordinateZO<double, Cpu>, double, Cpu>);
static_assert(!Estimator<CoordinateZOOptions, double, Cpu>);

namespace {
// A user's estimator: central differences over a chosen subset of coordinates, zero elsewhere.
// Over inputs the subset indexes the elements of one sample; over parameters, the elements of all
// parameters flattened in order.
struct CentralOnSubset {
  double mu = 1e-5;
  std::vector<std::int64_t> subset;

  template <class T, class D>
  InputGradient<T, D> estimate(const InputProblem<T, D>& p, const EstimateContext&) const {
    TRUSTML_CHECK(p.inputs.defined() && p.inputs.numel() > 0, "input_gradient", "needs a non-empty batch");
    NoGradGuard no_grad;
    const std::int64_t n = p.inputs.size(0), d = p.inputs.numel() / n;
    const auto x = p.inputs.to_vector();
    InputGradient<T, D> r;
    r.outputs = p.model(p.inputs);
    r.loss = p.loss(r.outputs);
    r.queries = 1 + 2 * static_cast<std::int64_t>(subset.size());
    std::vector<T> g(x.size(), T(0));
    for (std::int64_t k : subset) {
      auto at = [&](double s) {  // every sample's coordinate k moved by s
        auto moved = x;
        for (std::int64_t i = 0; i < n; ++i) moved[i * d + k] += T(s);
        return p.loss(p.model(Tensor<T, D>::from_vector(moved, p.inputs.shape()))).to_vector();
      };
      const auto up = at(mu), down = at(-mu);
      for (std::int64_t i = 0; i < n; ++i) g[i * d + k] = T((up[i] - down[i]) / (2 * mu));
    }
    r.grad = Tensor<T, D>::from_vector(g, p.inputs.shape());
    return r;
  }

  template <class T, class D>
  EstimateStats estimate(const ParameterProblem<T, D>& p, const EstimateContext&) const {
    NoGradGuard no_grad;
    // The concept's common randomness: the queries leave BatchNorm running statistics alone.
    std::vector<std::pair<nn::BatchNorm2d<T, D>*, bool>> norms;
    p.model.apply([&](nn::Module<T, D>& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d<T, D>*>(&m))
        norms.emplace_back(bn, bn->running_stats_frozen()), bn->freeze_running_stats(true);
    });
    auto loss = [&] { return static_cast<double>(p.loss(p.model(p.input)).item()); };
    auto params = p.model.parameters();
    EstimateStats stats;
    std::int64_t offset = 0;
    for (auto& t : params) {
      std::vector<T> g(static_cast<std::size_t>(t.numel()), T(0));
      for (std::int64_t k : subset) {
        const std::int64_t i = k - offset;
        if (i < 0 || i >= t.numel() || (p.masks && (*p.masks)[&t - params.data()].to_vector()[i] == T(0))) continue;
        const T saved = t.data()[i];
        t.data()[i] = T(saved + T(mu));
        const double up = loss();
        t.data()[i] = T(saved - T(mu));
        const double down = loss();
        t.data()[i] = saved;
        g[i] = T((up - down) / (2 * mu));
        stats.queries += 2, ++stats.coordinates;
      }
      t.set_grad(t.grad().defined() ? add(t.grad(), Tensor<T, D>::from_vector(g, t.shape()))
                                    : Tensor<T, D>::from_vector(g, t.shape()));
      offset += t.numel();
    }
    for (auto& [bn, frozen] : norms) bn->freeze_running_stats(frozen);
    return stats;
  }
};
static_assert(Estimator<CentralOnSubset, double, Cpu>);

double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), ref += b[i] * b[i];
  return std::sqrt(diff / ref);
}
std::vector<double> flat_grads(nn::Module<double>& m) {
  std::vector<double> out;
  for (auto& p : m.parameters()) {
    auto g = p.grad().defined() ? p.grad().to_vector() : std::vector<double>(p.numel(), 0.0);
    out.insert(out.end(), g.begin(), g.end());
  }
  m.zero_grad();
  return out;
}
}  // namespace

TEST_CASE("estimator: Backprop over parameters is reverse mode, masked") {
  auto net = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{6, 5, 3}, 4);
  const auto x = Td::randn({4, 6}, 7);
  const auto y = Labels::from_vector({0, 2, 1, 2});
  std::vector<Td> masks;
  std::int64_t active = 0;
  for (auto& p : net->parameters()) {
    std::vector<double> m(p.numel(), 0.0);
    for (std::size_t i = 0; i < m.size(); i += 2) m[i] = 1, ++active;
    masks.push_back(Td::from_vector(m, p.shape()));
  }
  const auto stats = Backprop{}.estimate(
      ParameterProblem<double, Cpu>{*net, x, [&](const Td& logits) { return cross_entropy(logits, y); }, &masks}, {});
  const auto got = flat_grads(*net);
  auto loss = cross_entropy((*net)(x), y);
  loss.backward();
  const auto want = flat_grads(*net);
  CHECK(stats.queries == 1);
  CHECK(stats.coordinates == active);
  CHECK(stats.loss == loss.item());
  std::size_t k = 0;
  for (auto& m : masks)
    for (double v : m.to_vector()) {
      CHECK(got[k] == v * want[k]);
      ++k;
    }
}

TEST_CASE("estimator: a user's estimator gives per-sample input gradients through input_gradient") {
  auto model = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{6, 5, 3}, 4);
  const auto x = Td::randn({4, 6}, 7);
  const auto labels = Labels::from_vector({0, 2, 1, 2});
  BatchFunction<double, Cpu> f = [&](const Td& in) { return (*model)(in); };
  BatchFunction<double, Cpu> loss = [&](const Td& logits) {
    return cross_entropy_per_sample(logits, tile_rows(labels, logits.size(0)));
  };
  const CentralOnSubset subset{.mu = 1e-5, .subset = {1, 4}};
  auto r = input_gradient(subset, f, loss, x, 3);
  auto exact = input_gradient(Backprop{}, f, loss, x);
  CHECK(r.queries == 5);
  CHECK(r.loss.to_vector() == exact.loss.to_vector());
  const auto g = r.grad.to_vector(), want = exact.grad.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    if (i % 6 == 1 || i % 6 == 4) CHECK(g[i] == doctest::Approx(want[i]).epsilon(1e-7));
    else CHECK(g[i] == 0);
  }
}

TEST_CASE("estimator: a user's estimator trains a denoiser through the classifier and over its weights") {
  auto denoiser = std::make_shared<nn::zoo::DnCNN<double>>(1, 3, 2, 5);
  auto classifier = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{36, 8, 3}, 6);
  BatchFunction<double, Cpu> f = [&](const Td& x) { return (*classifier)(x); };
  const auto images = Td::rand({4, 1, 6, 6}, 7);
  const auto targets = Labels::from_vector({0, 1, 2, 1});
  const smoothing::DenoiserOptions options{.sigma = 0.25, .stability_weight = 0.7, .mse_weight = 0.5, .seed = 1};
  smoothing::DenoiserTraining<double, Cpu> training(*denoiser, f, options);

  std::vector<std::int64_t> every(36);
  for (std::int64_t i = 0; i < 36; ++i) every[i] = i;
  training.gradient(images, targets, Backprop{}, 3);
  const auto exact = flat_grads(*denoiser);
  auto through = training.gradient(images, targets, CentralOnSubset{.subset = every}, 3);
  CHECK(through.queries == 2 * 36 + 1);
  CHECK(relative_l2(flat_grads(*denoiser), exact) < 1e-6);

  // Over the weights: the same central differences CoordinateZO takes on the same coordinates (the
  // MSE term's backprop gradient added to both).
  const std::vector<std::int64_t> chosen{0, 7, 20, 41, 60};
  std::vector<Td> masks;
  std::int64_t offset = 0;
  for (auto& p : denoiser->parameters()) {
    std::vector<double> m(p.numel(), 0.0);
    for (auto k : chosen)
      if (k >= offset && k < offset + p.numel()) m[k - offset] = 1;
    masks.push_back(Td::from_vector(m, p.shape()));
    offset += p.numel();
  }
  const auto running_mean = [&] { return denoiser->named_buffers().front().second.to_vector(); };
  const auto before = running_mean();
  auto over =
      training.gradient(images, targets, smoothing::OverWeights<CentralOnSubset, double, Cpu>{{.subset = chosen}}, 5);
  const auto mine = flat_grads(*denoiser);
  const auto moved = running_mean();
  CHECK(moved != before);  // the step's one training forward
  CHECK(over.queries == 2 * static_cast<std::int64_t>(chosen.size()));
  training.gradient(images, targets,
                    smoothing::OverWeights<CoordinateZO, double, Cpu>{
                        CoordinateZO({.mu = 1e-5, .difference = Difference::central}), &masks},
                    5);
  CHECK(mine == flat_grads(*denoiser));
}

TEST_CASE("estimator: Backprop over the denoiser's weights is Backprop through the classifier") {
  // Both run one training forward of the denoiser per step: the running statistics agree exactly.
  auto trained = [](auto policy) {
    auto denoiser = std::make_shared<nn::zoo::DnCNN<double>>(1, 3, 2, 5);
    auto classifier = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{36, 8, 3}, 6);
    smoothing::DenoiserTraining<double, Cpu> training(
        *denoiser, [classifier](const Td& x) { return (*classifier)(x); },
        {.sigma = 0.25, .stability_weight = 0.7, .mse_weight = 0.5, .seed = 1});
    training.gradient(Td::rand({4, 1, 6, 6}, 7), Labels::from_vector({0, 1, 2, 1}), policy, 2);
    std::vector<double> statistics;
    for (auto& [name, t] : denoiser->named_buffers()) {
      const auto v = t.to_vector();
      statistics.insert(statistics.end(), v.begin(), v.end());
    }
    return std::pair{flat_grads(*denoiser), statistics};
  };
  const auto [through, through_statistics] = trained(Backprop{});
  const auto [over, over_statistics] = trained(smoothing::OverWeights<Backprop, double, Cpu>{});
  CHECK(relative_l2(over, through) < 1e-12);
  CHECK(over_statistics == through_statistics);
}

TEST_CASE("estimator: PGD takes a user's estimator") {
  const std::int64_t n = 6, d = 5;
  const auto weights = Td::randn({d, 3}, 2);
  BatchFunction<double, Cpu> f = [&](const Td& x) { return matmul(x, weights); };
  const auto x = Td::rand({n, d}, 3);
  Labels y;
  {
    NoGradGuard no_grad;
    y = argmax(f(x), 1);
  }
  const std::vector<std::int64_t> chosen{0, 3};
  std::vector<double> allowed(d, 0.0);
  for (auto k : chosen) allowed[k] = 1;
  const attacks::PgdOptions<attacks::L2Ball> o{.ball = {.eps = 0.5}, .steps = 5, .random_start = false};
  const auto objective = attacks::cross_entropy_objective<double, Cpu>();
  auto mine = attacks::pgd<double, Cpu>(f, x, y, o, objective, CentralOnSubset{.subset = chosen});
  auto masked = attacks::pgd<double, Cpu>(f, x, y, o, objective, Backprop{}, Td::from_vector(allowed, {1, d}));
  CHECK(amax(abs(sub(mine.adversarial, masked.adversarial))).item() < 1e-6);
  CHECK(mine.success == masked.success);
  for (std::int64_t i = 0; i < n; ++i) CHECK(mine.queries[i] <= o.steps * 5 + 1);
}
