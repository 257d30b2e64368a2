// Staged CGE (estimators/staged_cge.hpp): feature reuse, the delta forward, batched queries and
// shares all give the plain CGE gradient; per-group batch statistics; cost-balanced shares.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::estimators;
using tests::check_error;

namespace {
template <class T>
std::vector<double> take_grads(nn::Module<T>& net) {
  std::vector<double> out;
  for (auto& p : net.parameters())
    for (T g : p.grad().to_vector()) out.push_back(g);
  net.zero_grad();
  return out;
}
double relative_l2(const std::vector<double>& x, const std::vector<double>& y) {
  double d = 0, n = 0;
  for (std::size_t i = 0; i < x.size(); ++i) d += (x[i] - y[i]) * (x[i] - y[i]), n += y[i] * y[i];
  return std::sqrt(d / n);
}
double cosine(const std::vector<double>& x, const std::vector<double>& y) {
  double xy = 0, xx = 0, yy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) xy += x[i] * y[i], xx += x[i] * x[i], yy += y[i] * y[i];
  return xy / std::sqrt(xx * yy);
}
// One group's loss as a one-value tensor: the plain CGE reference scores exactly what the staged
// estimate scores.
template <class T>
BatchFunction<T, Cpu> one_group(const GroupLoss<T, Cpu>& loss) {
  return [loss](const Tensor<T>& output) { return Tensor<T>::full(Shape{1}, T(loss(output, 1)[0])); };
}
// Every `every`-th coordinate of every parameter, to keep the plain reference short.
template <class T>
std::vector<Tensor<T>> strided_masks(nn::Module<T>& net, std::size_t every) {
  std::vector<Tensor<T>> masks;
  for (auto& p : net.parameters()) {
    std::vector<T> m(p.numel(), T(0));
    for (std::size_t i = 0; i < m.size(); i += every) m[i] = 1;
    masks.push_back(Tensor<T>::from_vector(m, p.shape()));
  }
  return masks;
}
Tensor<std::int64_t> labels(std::int64_t n) {
  std::vector<std::int64_t> y(n);
  for (std::int64_t i = 0; i < n; ++i) y[i] = (3 * i + 1) % 10;
  return Tensor<std::int64_t>::from_vector(y, {n});
}

// Plain CGE and staged CGE with several settings on one small CNN; returns the largest relative L2
// difference to plain and the smallest cosine.
template <class T>
void compare_with_plain(double mu, double max_rel, double min_cos) {
  auto net = nn::zoo::SmallCnn<T>(1, 10, 5, 2);
  auto x = Tensor<T>::randn({4, 1, 28, 28}, 3);
  auto loss = cross_entropy_per_group<T, Cpu>(labels(4));
  auto masks = strided_masks(*net, 5);
  CoordinateZO cge({.mu = mu});
  auto plain_stats = cge.estimate(ParameterProblem<T, Cpu>{*net, x, one_group(loss), &masks});
  const auto plain = take_grads(*net);
  auto stages = net->stages();

  auto reuse_stats = estimate_staged(cge, stages, x, loss, &masks, {.delta = false, .max_group = 1});
  CHECK(reuse_stats.queries == plain_stats.queries);
  CHECK(reuse_stats.coordinates == plain_stats.coordinates);
  CHECK(take_grads(*net) == plain);  // the same ops on the same values: the same bits

  for (bool delta : {false, true})
    for (std::int64_t group : {1, 7, 64}) {
      if (!delta && group == 1) continue;
      INFO("delta " << delta << ", group " << group);
      const auto before = net->parameters()[2].to_vector();
      auto stats = estimate_staged(cge, stages, x, loss, &masks, {.delta = delta, .max_group = group});
      CHECK(stats.queries == plain_stats.queries);
      const auto got = take_grads(*net);
      CHECK(relative_l2(got, plain) <= max_rel);
      CHECK(cosine(got, plain) >= min_cos);
      CHECK(net->parameters()[2].to_vector() == before);  // restored bit for bit
    }
}
}  // namespace

TEST_CASE("staged cge: reuse is bitwise plain CGE; delta and batching equal it to rounding (double)") {
  compare_with_plain<double>(1e-6, 1e-8, 1 - 1e-12);
}

TEST_CASE("staged cge: the same in float, to the float floor of a mu = 5e-3 difference") {
  compare_with_plain<float>(5e-3, 1e-2, 0.9999);
}

TEST_CASE("staged cge: central differences, the whole parameter set, an MLP's Linear stages") {
  auto net = std::make_shared<nn::zoo::Mlp<double>>(std::vector<std::int64_t>{12, 6, 10}, 2);
  auto x = Tensor<double>::randn({5, 12}, 4);
  auto loss = cross_entropy_per_group<double, Cpu>(labels(5));
  CoordinateZO cge({.mu = 1e-5, .difference = Difference::central});
  auto plain_stats = cge.estimate(ParameterProblem<double, Cpu>{*net, x, one_group(loss)});
  const auto plain = take_grads(*net);
  std::vector<nn::Module<double>*> stages;
  for (std::size_t i = 0; i < net->layers->size(); ++i) stages.push_back(&(*net->layers)[i]);
  auto stats = estimate_staged(cge, stages, x, loss);
  CHECK(stats.queries == plain_stats.queries);
  CHECK(stats.queries == 2 * net->num_parameters());
  CHECK(relative_l2(take_grads(*net), plain) <= 1e-8);
  // And against backprop: central differences of a smooth loss.
  cross_entropy((*net)(x), labels(5)).backward();
  const auto backprop = take_grads(*net);
  estimate_staged(cge, stages, x, loss);
  CHECK(relative_l2(take_grads(*net), backprop) <= 1e-6);
}

TEST_CASE("staged cge: batched queries normalize each group over its own samples; statistics stay put") {
  auto net = std::make_shared<nn::Sequential<double>>();
  net->push_back(std::make_shared<nn::Conv2d<double>>(1, 3, 3, nn::ConvOptions{.padding = 1}, 1));
  auto bn = net->push_back(std::make_shared<nn::BatchNorm2d<double>>(3));
  net->push_back(nn::ReLU<double>());
  net->push_back(std::make_shared<nn::Conv2d<double>>(3, 2, 3, nn::ConvOptions{}, 2));
  auto drop = net->push_back(std::make_shared<nn::Dropout<double>>(0.3, 9));
  net->push_back(nn::Flatten<double>());
  net->push_back(std::make_shared<nn::Linear<double>>(2 * 4 * 4, 10, true, 3));
  auto x = Tensor<double>::randn({6, 1, 6, 6}, 5);
  auto loss = cross_entropy_per_group<double, Cpu>(labels(6));
  const auto mean_before = bn->running_mean.to_vector();
  const auto draws = drop->draws;
  CoordinateZO cge({.mu = 1e-6});
  cge.estimate(ParameterProblem<double, Cpu>{*net, x, one_group(loss)});
  const auto plain = take_grads(*net);
  std::vector<nn::Module<double>*> stages;
  for (std::size_t i = 0; i < net->size(); ++i) stages.push_back(&(*net)[i]);
  drop->draws = draws;
  estimate_staged(cge, stages, x, loss, nullptr, {.max_group = 16});
  CHECK(relative_l2(take_grads(*net), plain) <= 1e-8);
  CHECK(bn->running_mean.to_vector() == mean_before);
  CHECK(bn->num_batches_tracked.item() == 0);
  CHECK(!bn->running_stats_frozen());
}

TEST_CASE("staged cge: a stage commutes with channel slices by its property, never by its name") {
  // A user's Lambda named "ReLU" that mixes the channels: the delta forward must not pass one
  // channel through it alone.
  auto net = std::make_shared<nn::Sequential<double>>();
  net->push_back(std::make_shared<nn::Conv2d<double>>(1, 3, 3, nn::ConvOptions{.padding = 1}, 1));
  auto mixing = net->push_back(std::make_shared<nn::Lambda<double>>(
      "ReLU", [](const Tensor<double>& h) { return relu(add(h, sum(h, {1}, true))); }));
  net->push_back(std::make_shared<nn::Conv2d<double>>(3, 2, 3, nn::ConvOptions{}, 2));
  net->push_back(nn::Flatten<double>());
  net->push_back(std::make_shared<nn::Linear<double>>(2 * 4 * 4, 10, true, 3));
  CHECK_FALSE(mixing->commutes_with_channel_slices());
  auto x = Tensor<double>::randn({6, 1, 6, 6}, 5);
  auto loss = cross_entropy_per_group<double, Cpu>(labels(6));
  CoordinateZO cge({.mu = 1e-6});
  cge.estimate(ParameterProblem<double, Cpu>{*net, x, one_group(loss)});
  const auto plain = take_grads(*net);
  std::vector<nn::Module<double>*> stages;
  for (std::size_t i = 0; i < net->size(); ++i) stages.push_back(&(*net)[i]);
  for (std::int64_t group : {1, 16}) {
    estimate_staged(cge, stages, x, loss, nullptr, {.delta = true, .max_group = group});
    CHECK(relative_l2(take_grads(*net), plain) <= 1e-8);
  }
}

TEST_CASE("staged cge: StagedCoordinateZO is the Estimator of staged CGE") {
  auto net = nn::zoo::SmallCnn<double>(1, 10, 5, 2);
  auto x = Tensor<double>::randn({4, 1, 28, 28}, 3);
  auto loss = one_group(cross_entropy_per_group<double, Cpu>(labels(4)));
  auto masks = strided_masks(*net, 7);
  const ParameterProblem<double, Cpu> problem{*net, x, loss, &masks};
  CoordinateZO cge({.mu = 1e-6});
  const auto plain_stats = cge.estimate(problem);
  const auto plain = take_grads(*net);
  // Without the delta forward and one query per forward: the very ops of plain CGE.
  const auto stats =
      StagedCoordinateZO<double, Cpu>(cge, net->stages(), {.delta = false, .max_group = 1}).estimate(problem, {});
  CHECK(stats.queries == plain_stats.queries);
  CHECK(stats.coordinates == plain_stats.coordinates);
  CHECK(take_grads(*net) == plain);
  // The delta forward, and queries batched into groups scored group by group by the problem's loss.
  StagedCoordinateZO<double, Cpu>(cge, net->stages(), {.max_group = 8}).estimate(problem, {});
  CHECK(relative_l2(take_grads(*net), plain) <= 1e-8);
  // Over inputs it is CoordinateZO's estimate.
  BatchFunction<double, Cpu> f = [&](const Tensor<double>& in) { return (*net)(in); };
  BatchFunction<double, Cpu> per_sample = [&](const Tensor<double>& logits) {
    return cross_entropy_per_sample(logits, tile_rows(labels(4), logits.size(0)));
  };
  const auto small = Tensor<double>::randn({4, 1, 28, 28}, 9);
  CHECK(input_gradient(StagedCoordinateZO<double, Cpu>(cge, net->stages()), f, per_sample, small).grad.to_vector() ==
        input_gradient(cge, f, per_sample, small).grad.to_vector());
  // The stages must split the problem's model.
  auto stages = net->stages();
  stages.pop_back();
  check_error([&] { StagedCoordinateZO<double, Cpu>(cge, stages).estimate(problem, {}); }, "StagedCoordinateZO",
              "not the model's");
}

TEST_CASE("staged cge: shares split the coordinates once each, by cost, and give the same bits") {
  auto bounds = estimators::detail::cost_balanced_bounds({1, 1, 1, 1, 10, 10}, 2);
  CHECK(bounds == std::vector<std::int64_t>{0, 5, 6});
  bounds = estimators::detail::cost_balanced_bounds(std::vector<double>(10, 1.0), 3);
  CHECK(bounds.front() == 0);
  CHECK(bounds.back() == 10);
  for (std::size_t p = 1; p < bounds.size(); ++p) CHECK(bounds[p] - bounds[p - 1] >= 3);
  CHECK(estimators::detail::cost_balanced_bounds({}, 4) == std::vector<std::int64_t>{0, 0, 0, 0, 0});

  auto net = nn::zoo::SmallCnn<float>(1, 10, 6, 2);
  auto x = Tensor<float>::randn({3, 1, 28, 28}, 7);
  auto loss = cross_entropy_per_group<float, Cpu>(labels(3));
  auto masks = strided_masks(*net, 3);
  CoordinateZO cge;
  auto stages = net->stages();
  estimate_staged(cge, stages, x, loss, &masks);
  const auto whole = take_grads(*net);
  // Two parts in one process: part 1's differences are captured, then part 0 gathers both.
  std::vector<double> second;
  std::int64_t total = 0;
  auto capture = [&](const std::vector<double>& mine, const std::vector<std::int64_t>& counts) {
    second = mine;
    total = counts[0] + counts[1];
    CHECK(counts[1] == static_cast<std::int64_t>(mine.size()));
    return std::vector<double>(static_cast<std::size_t>(total), 0.0);
  };
  auto stats1 = estimate_staged(cge, stages, x, loss, &masks, {.share = {.part = 1, .parts = 2, .gather = capture}});
  net->zero_grad();
  auto join = [&](const std::vector<double>& mine, const std::vector<std::int64_t>& counts) {
    CHECK(counts[0] == static_cast<std::int64_t>(mine.size()));
    auto all = mine;
    all.insert(all.end(), second.begin(), second.end());
    return all;
  };
  auto stats0 = estimate_staged(cge, stages, x, loss, &masks, {.share = {.part = 0, .parts = 2, .gather = join}});
  CHECK(stats0.coordinates + stats1.coordinates == total);
  CHECK(stats0.coordinates > 0);
  CHECK(stats1.coordinates > 0);
  CHECK(take_grads(*net) == whole);

  auto fails = [&](StagedOptions options, const std::vector<Tensor<float>>* m, const char* what) {
    check_error([&] { estimate_staged(cge, stages, x, loss, m, options); }, "estimate_staged", what);
  };
  fails({.max_group = -1}, &masks, "max_group");
  fails({.share = {.part = 2, .parts = 2, .gather = {}}}, &masks, "part 2");
  fails({.share = {.part = 0, .parts = 2, .gather = {}}}, &masks, "gather");
  std::vector<Tensor<float>> too_few{masks[0]};
  fails({}, &too_few, "one mask per parameter");
}
