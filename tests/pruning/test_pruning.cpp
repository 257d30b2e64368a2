// Pruning: exact-count random layer masks and their schedule (DeepZero, docs/papers.md), ZO-GraSP with common
// directions against an autograd Hessian-vector product (check 8), bit-exact restore (check 5),
// FO-GraSP, and the global selection that turns scores into layer ratios.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <trustml/nn.hpp>
#include <trustml/pruning/grasp.hpp>
#include <trustml/pruning/masks.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::pruning;
using Td = Tensor<double>;
using Tf = Tensor<float>;
using tests::check_error;

namespace {
// Conv(3->16) [432 weights], Conv(16->32) [4608], BatchNorm(32), Flatten, Linear(512->10) [5120].
std::shared_ptr<nn::Sequential<float>> small_cnn() {
  auto net = std::make_shared<nn::Sequential<float>>();
  net->push_back(std::make_shared<nn::Conv2d<float>>(3, 16, 3, nn::ConvOptions{}, 1));
  net->push_back(std::make_shared<nn::Conv2d<float>>(16, 32, 3, nn::ConvOptions{}, 2));
  net->push_back(std::make_shared<nn::BatchNorm2d<float>>(32));
  net->push_back(nn::Flatten<float>());
  net->push_back(std::make_shared<nn::Linear<float>>(512, 10, true, 3));
  return net;
}

std::int64_t zeros(const Tf& m) {
  std::int64_t n = 0;
  for (float v : m.to_vector()) n += v == 0.0f;
  return n;
}

// A smooth MLP 4 -> 5 -> 3 (tanh) on a fixed batch of 8, cross-entropy, fp64.
struct SmoothMlp {
  std::shared_ptr<nn::Sequential<double>> net = std::make_shared<nn::Sequential<double>>();
  Td x = Td::randn({8, 4}, 11);
  Tensor<std::int64_t> y = Tensor<std::int64_t>::from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8});
  SmoothMlp() {
    net->push_back(std::make_shared<nn::Linear<double>>(4, 5, true, 1));
    net->push_back(nn::Tanh<double>());
    net->push_back(std::make_shared<nn::Linear<double>>(5, 3, true, 2));
  }
  Td loss_tensor() { return cross_entropy((*net)(x), y); }
  double loss() { return loss_tensor().item(); }
};

std::vector<double> flatten(const std::vector<Td>& ts) {
  std::vector<double> out;
  for (auto& t : ts)
    if (t.defined())
      for (double v : t.to_vector()) out.push_back(v);
  return out;
}
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  return dot(a, b) / std::sqrt(dot(a, a) * dot(b, b));
}
double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0;
  for (std::size_t i = 0; i < got.size(); ++i) e += (got[i] - want[i]) * (got[i] - want[i]);
  return std::sqrt(e / dot(want, want));
}
}  // namespace

TEST_CASE("pruning: random layer masks prune exactly round(ratio * n) weights per layer, nothing else") {
  auto net = small_cnn();
  const auto params = net->parameters();
  const auto layers = prunable_layers(*net);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].name == "0");
  CHECK(layers[1].name == "1");
  CHECK(layers[2].name == "4");
  const LayerRatios ratios{{"0", 0.5}, {"1", 0.9}, {"4", 0.25}};
  auto masks = random_layer_masks(*net, ratios, 7);
  REQUIRE(masks.size() == params.size());
  for (std::size_t i = 0; i < masks.size(); ++i) {
    CHECK(masks[i].shape() == params[i].shape());
    for (float v : masks[i].to_vector()) CHECK((v == 0.0f || v == 1.0f));
  }
  CHECK(zeros(masks[layers[0].parameter]) == 216);   // 0.5 * 432
  CHECK(zeros(masks[layers[1].parameter]) == 4147);  // round(0.9 * 4608 = 4147.2)
  CHECK(zeros(masks[layers[2].parameter]) == 1280);  // 0.25 * 5120
  const auto named = net->named_parameters();
  for (std::size_t i = 0; i < masks.size(); ++i)
    if (named[i].first.find("weight") == std::string::npos || named[i].first.rfind("2.", 0) == 0) {
      INFO(named[i].first);
      CHECK(zeros(masks[i]) == 0);  // biases and BatchNorm parameters always active
    }
  CHECK(active_count(masks) == net->num_parameters() - 216 - 4147 - 1280);
  CHECK(sparsity(masks, *net) == doctest::Approx((216.0 + 4147 + 1280) / (432 + 4608 + 5120)));

  // A layer left out of the ratios is fully active; ratio 1 prunes everything.
  masks = random_layer_masks(*net, LayerRatios{{"1", 1.0}}, 7);
  CHECK(zeros(masks[layers[0].parameter]) == 0);
  CHECK(zeros(masks[layers[1].parameter]) == 4608);
}

TEST_CASE("pruning: uniform ratios reach the global sparsity; seeds and schedule blocks") {
  auto net = small_cnn();
  for (double s : {0.8, 0.9, 0.95, 0.99}) {
    auto masks = random_layer_masks(*net, uniform_ratios(*net, s), 1);
    CHECK(std::abs(sparsity(masks, *net) - s) <= 0.01);
  }
  const auto ratios = uniform_ratios(*net, 0.9);
  CHECK(ratios.size() == 3);
  auto as_vectors = [](const std::vector<Tf>& masks) {
    std::vector<std::vector<float>> out;
    for (auto& m : masks) out.push_back(m.to_vector());
    return out;
  };
  CHECK(as_vectors(random_layer_masks(*net, ratios, 3)) == as_vectors(random_layer_masks(*net, ratios, 3)));
  CHECK(as_vectors(random_layer_masks(*net, ratios, 3)) != as_vectors(random_layer_masks(*net, ratios, 4)));

  MaskSchedule schedule(ratios, 5, 5);
  CHECK(schedule.refreshes_at(1));
  CHECK(schedule.refreshes_at(6));
  CHECK(schedule.refreshes_at(11));
  for (int epoch : {0, 2, 3, 4, 5, 7, 10}) CHECK(!schedule.refreshes_at(epoch));
  CHECK(schedule.block(1) == 0);
  CHECK(schedule.block(5) == 0);
  CHECK(schedule.block(6) == 1);
  const auto first = as_vectors(schedule.masks(*net, 1));
  CHECK(as_vectors(schedule.masks(*net, 5)) == first);  // same block, same masks
  CHECK(as_vectors(schedule.masks(*net, 6)) != first);  // the next block differs
  CHECK(as_vectors(schedule.masks(*net, 11)) != as_vectors(schedule.masks(*net, 6)));
  CHECK(as_vectors(MaskSchedule(ratios, 5, 5).masks(*net, 7)) == as_vectors(schedule.masks(*net, 8)));
  MaskSchedule every_epoch(ratios, 5, 1);
  for (int epoch = 1; epoch <= 3; ++epoch) CHECK(every_epoch.refreshes_at(epoch));
}

TEST_CASE("pruning: every coordinate is equally likely to be pruned") {
  nn::Linear<float> layer(4, 5, true, 1);  // the root module itself: name ""
  const int draws = 2000;
  std::vector<int> pruned(20, 0);
  for (int s = 0; s < draws; ++s) {
    auto masks = random_layer_masks(layer, LayerRatios{{"", 0.25}}, s);
    auto m = masks[0].to_vector();
    int count = 0;
    for (int i = 0; i < 20; ++i) pruned[i] += m[i] == 0.0f, count += m[i] == 0.0f;
    REQUIRE(count == 5);
  }
  // Each count is Binomial(2000, 0.25): mean 500, sd 19.4; allow 5 sd.
  for (int i = 0; i < 20; ++i) CHECK(std::abs(pruned[i] - 500) <= 97);
}

TEST_CASE("pruning: bad ratios, names and intervals are errors") {
  auto net = small_cnn();
  check_error([&] { random_layer_masks(*net, LayerRatios{{"0", 1.5}}, 0); }, "pruning::random_layer_masks");
  check_error([&] { random_layer_masks(*net, LayerRatios{{"1", -0.1}}, 0); }, "pruning::random_layer_masks");
  check_error([&] { random_layer_masks(*net, LayerRatios{{"classifier", 0.5}}, 0); }, "pruning::random_layer_masks");
  check_error([&] { random_layer_masks(*net, LayerRatios{{"2", 0.5}}, 0); }, "pruning::random_layer_masks");  // BN
  try {
    random_layer_masks(*net, LayerRatios{{"classifier", 0.5}}, 0);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'classifier'") != std::string::npos);
  }
  check_error([&] { MaskSchedule(LayerRatios{}, 0, 0); }, "pruning::MaskSchedule");
  check_error([&] { MaskSchedule(LayerRatios{{"0", 2.0}}, 0, 5); }, "pruning::MaskSchedule");
  check_error([&] { MaskSchedule(LayerRatios{}, 0, 5).masks(*net, 0); }, "pruning::MaskSchedule");
  check_error([&] { uniform_ratios(*net, 1.1); }, "pruning::uniform_ratios");
  std::vector<Tf> too_few(2);
  check_error([&] { sparsity(too_few, *net); }, "pruning::sparsity");
}

TEST_CASE("pruning: ZO-GraSP's Hg is the common-direction second difference (check 8, fp64, mu = 1e-5)") {
  SmoothMlp f;
  const ZoGraspOptions options{.mu = 1e-5, .queries = 24, .seed = 3};
  auto r = zo_grasp(
      *f.net, [&] { return f.loss(); }, options);
  CHECK(r.queries == 2 * (24 + 1));
  const auto params = f.net->parameters();
  REQUIRE(r.scores.size() == params.size());
  CHECK(!r.scores[1].defined());  // biases are not scored
  CHECK(!r.scores[3].defined());
  auto weights = scored_parameters(*f.net);
  REQUIRE(weights.size() == 2);
  CHECK(weights[0].same(params[0]));
  CHECK(weights[1].same(params[2]));
  const std::vector<Td> g_hat{r.gradient[0], r.gradient[2]};

  // Autograd: H g_hat, then (1/q) sum_j u_j (u_j' H g_hat) with the estimator's own directions.
  auto g = grad(std::vector{f.loss_tensor()}, weights, {}, true, true);
  auto hvp = grad(std::vector{add(sum(mul(g[0], g_hat[0])), sum(mul(g[1], g_hat[1])))}, weights);
  const auto rge = zo_grasp_estimator(options);
  std::vector<double> want(flatten(g_hat).size(), 0.0);
  for (std::int64_t j = 0; j < options.queries; ++j) {
    auto u = flatten(
        rge.directions(weights, static_cast<const std::vector<Td>*>(nullptr), rge.direction_seed(kZoGraspStep, j)));
    const double c = dot(u, flatten(hvp)) / static_cast<double>(options.queries);
    for (std::size_t i = 0; i < want.size(); ++i) want[i] += c * u[i];
  }
  const auto got = flatten({r.hessian_gradient[0], r.hessian_gradient[2]});
  const double err = relative_error(got, want);
  MESSAGE("ZO-GraSP Hg vs (1/q) sum u u'H g_hat: relative L2 error " << err);
  CHECK(err <= 1e-2);
  // The score is -theta (.) Hg at the original weights.
  const auto theta = params[0].to_vector(), hg = r.hessian_gradient[0].to_vector(), s = r.scores[0].to_vector();
  for (std::size_t i = 0; i < s.size(); ++i) CHECK(s[i] == -theta[i] * hg[i]);
  // The one-call form: the same scores (same seed), then the global selection with either rule.
  CHECK(zo_grasp_layer_ratios(
            *f.net, [&] { return f.loss(); }, 0.5, options) == layer_ratios_from_scores(*f.net, r.scores, 0.5));
  auto signed_options = options;
  signed_options.signed_rule = true;
  CHECK(zo_grasp_layer_ratios(
            *f.net, [&] { return f.loss(); }, 0.5, signed_options) ==
        layer_ratios_from_scores(*f.net, r.scores, 0.5, true));
}

TEST_CASE("pruning: ZO-GraSP restores weights bit for bit and leaves grad(), BatchNorm statistics alone") {
  auto net = small_cnn();
  auto x = Tf::randn({4, 3, 8, 8}, 5);
  auto y = Tensor<std::int64_t>::from_vector({1, 3, 5, 7}, {4});
  auto loss = [&] { return double(cross_entropy((*net)(x), y).item()); };
  auto params = net->parameters();
  params[0].set_grad(Tf::randn(params[0].shape(), 9));  // some grads set, others undefined
  params[1].set_grad(Tf::randn(params[1].shape(), 10));
  std::vector<Tf> grads;
  std::vector<std::vector<float>> values, grad_values;
  for (auto& p : params) {
    values.push_back(p.to_vector());
    grads.push_back(p.grad());
    grad_values.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<float>{});
  }
  auto& bn = dynamic_cast<nn::BatchNorm2d<float>&>((*net)[2]);
  const auto mean_before = bn.running_mean.to_vector();
  auto check_unchanged = [&] {
    for (std::size_t i = 0; i < params.size(); ++i) {
      INFO("parameter " << i);
      CHECK(params[i].to_vector() == values[i]);
      CHECK(params[i].grad().defined() == grads[i].defined());
      if (grads[i].defined()) {
        CHECK(params[i].grad().same(grads[i]));
        CHECK(params[i].grad().to_vector() == grad_values[i]);
      }
    }
    CHECK(bn.running_mean.to_vector() == mean_before);
    CHECK(bn.num_batches_tracked.item() == 0);
    CHECK(!bn.running_stats_frozen());
  };
  auto scores = zo_grasp_scores(*net, loss, {.queries = 6, .seed = 1});
  check_unchanged();
  CHECK(scores[0].defined());
  CHECK(!scores[3].defined());  // BatchNorm weight
  // An exception in the middle (a query of the second RGE call) restores too.
  int calls = 0;
  CHECK_THROWS_AS(zo_grasp_scores(*net,
                                  [&] {
                                    if (++calls == 10) throw std::runtime_error("loss failed");
                                    return loss();
                                  },
                                  {.queries = 6}),
                  std::runtime_error);
  check_unchanged();
  fo_grasp_scores(*net, [&] { return cross_entropy((*net)(x), y); });
  check_unchanged();
  check_error([&] { zo_grasp(*net, loss, {.mu = 0}); }, "pruning::zo_grasp");
  check_error([&] { zo_grasp(*net, loss, {.queries = 0}); }, "pruning::zo_grasp");
}

TEST_CASE("pruning: FO-GraSP's g and Hg match backprop and a difference of backprop gradients") {
  SmoothMlp f;
  auto r = fo_grasp(*f.net, [&] { return f.loss_tensor(); });
  auto weights = scored_parameters(*f.net);
  f.loss_tensor().backward();
  CHECK(relative_error(flatten({r.gradient[0], r.gradient[2]}), flatten({weights[0].grad(), weights[1].grad()})) <=
        1e-12);
  f.net->zero_grad();
  // Hg = [grad l(theta + eps g) - grad l(theta - eps g)] / (2 eps) over the weights (biases fixed).
  const double eps = 1e-5;
  const std::vector<Td> saved{weights[0].clone(), weights[1].clone()}, g{r.gradient[0], r.gradient[2]};
  auto gradient_at = [&](double sign) {
    {
      NoGradGuard no_grad;
      for (int t = 0; t < 2; ++t) ops::assign(weights[t], add(saved[t], scale(g[t], sign * eps)));
    }
    auto gt = grad(std::vector{f.loss_tensor()}, weights);
    return flatten(gt);
  };
  const auto up = gradient_at(1), down = gradient_at(-1);
  {
    NoGradGuard no_grad;
    for (int t = 0; t < 2; ++t) ops::assign(weights[t], saved[t]);
  }
  std::vector<double> want(up.size());
  for (std::size_t i = 0; i < up.size(); ++i) want[i] = (up[i] - down[i]) / (2 * eps);
  CHECK(relative_error(flatten({r.hessian_gradient[0], r.hessian_gradient[2]}), want) <= 1e-6);
}

TEST_CASE("pruning: ZO-GraSP and FO-GraSP scores agree on a smooth MLP (loose check)") {
  SmoothMlp f;
  auto fo = fo_grasp(*f.net, [&] { return f.loss_tensor(); });
  const auto fo_scores = flatten(fo.scores);
  for (std::uint64_t seed : {1, 2, 3}) {
    auto zo = zo_grasp(*f.net, [&] { return f.loss(); }, {.mu = 1e-4, .queries = 1000, .seed = seed});
    const double c = cosine(flatten(zo.scores), fo_scores);
    const auto zo_ratios = layer_ratios_from_scores(*f.net, zo.scores, 0.5);
    const auto fo_ratios = layer_ratios_from_scores(*f.net, fo.scores, 0.5);
    MESSAGE("seed " << seed << ": cosine(ZO, FO scores) " << c << "; cosine(g) "
                    << cosine(flatten(zo.gradient), flatten(fo.gradient)) << "; cosine(Hg) "
                    << cosine(flatten(zo.hessian_gradient), flatten(fo.hessian_gradient))
                    << "; LPR at 50%: ZO {0: " << zo_ratios.at("0") << ", 2: " << zo_ratios.at("2")
                    << "}, FO {0: " << fo_ratios.at("0") << ", 2: " << fo_ratios.at("2") << "}");
    CHECK(c > 0.5);
  }
}

TEST_CASE("pruning: layer ratios from hand-made scores, magnitude and signed rules") {
  auto net = std::make_shared<nn::Sequential<double>>();
  net->push_back(std::make_shared<nn::Linear<double>>(2, 2, true, 1));  // "0": 4 weights
  net->push_back(nn::Tanh<double>());
  net->push_back(std::make_shared<nn::Linear<double>>(2, 1, true, 2));  // "2": 2 weights
  const std::vector<Td> scores{Td::from_vector({0.1, -5, 3, 0.2}, {2, 2}), Td(), Td::from_vector({-0.3, 0.05}, {1, 2}),
                               Td()};
  // 6 scored coordinates, sparsity 1/3: 2 pruned.
  // |S|: smallest are 0.05 (layer 2) and 0.1 (layer 0).
  auto magnitude = layer_ratios_from_scores(*net, scores, 1.0 / 3);
  CHECK(magnitude == LayerRatios{{"0", 0.25}, {"2", 0.5}});
  // Signed: the largest are 3 and 0.2, both in layer 0.
  auto signed_rule = layer_ratios_from_scores(*net, scores, 1.0 / 3, true);
  CHECK(signed_rule == LayerRatios{{"0", 0.5}, {"2", 0.0}});
  // Sparsity 0.5 (3 pruned): |S| adds 0.2 (layer 0: 2 of 4); signed adds 0.1 (layer 0: 3 of 4).
  CHECK(layer_ratios_from_scores(*net, scores, 0.5) == LayerRatios{{"0", 0.5}, {"2", 0.5}});
  CHECK(layer_ratios_from_scores(*net, scores, 0.5, true) == LayerRatios{{"0", 0.75}, {"2", 0.0}});
  CHECK(layer_ratios_from_scores(*net, scores, 0.0) == LayerRatios{{"0", 0.0}, {"2", 0.0}});
  // Ties go to the earlier coordinate.
  const std::vector<Td> tied{Td::full({2, 2}, 1.0), Td(), Td::full({1, 2}, 1.0), Td()};
  CHECK(layer_ratios_from_scores(*net, tied, 0.5) == LayerRatios{{"0", 0.75}, {"2", 0.0}});
  // A layer without a score is left out.
  const std::vector<Td> one{Td(), Td(), Td::from_vector({2, 1}, {1, 2}), Td()};
  CHECK(layer_ratios_from_scores(*net, one, 0.5) == LayerRatios{{"2", 0.5}});

  const char* op = "pruning::layer_ratios_from_scores";
  check_error([&] { layer_ratios_from_scores(*net, scores, 1.0); }, op);
  check_error([&] { layer_ratios_from_scores(*net, scores, -0.1); }, op);
  check_error([&] { layer_ratios_from_scores(*net, std::vector<Td>(3), 0.5); }, op);
  check_error([&] { layer_ratios_from_scores(*net, std::vector<Td>(4), 0.5); }, op);  // nothing scored
  auto bias_scored = scores;
  bias_scored[1] = Td::ones({2});
  check_error([&] { layer_ratios_from_scores(*net, bias_scored, 0.5); }, op);
  auto wrong_shape = scores;
  wrong_shape[0] = Td::ones({4});
  check_error([&] { layer_ratios_from_scores(*net, wrong_shape, 0.5); }, op);
}
