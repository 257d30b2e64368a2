// trustml/pruning/grasp.hpp: GraSP pruning scores, zeroth-order (ZO-GraSP, DeepZero) and
// first-order (autograd), and the layer-wise pruning ratios they give (DeepZero, arXiv:2310.02025,
// section 4; GraSP: Wang, Zhang and Grosse, ICLR 2020, arXiv:2002.07376; docs/papers.md).
//
//   auto loss = [&] { return double(cross_entropy(model(x), y).item()); };  // 25 samples per class
//   auto ratios = pruning::zo_grasp_layer_ratios(model, loss, /*sparsity=*/0.9, {.queries = 192});
//   pruning::MaskSchedule schedule(ratios, seed, 5);                        // masks.hpp
//
// GraSP (Wang et al. 2020) scores a weight by S = -theta (.) H g, g = grad l(theta), H = Hessian.
// ZO-GraSP takes both from loss values, with Gaussian forward-difference RGE (q queries, mu):
//
//   g  = RGE(theta) = (1/q) sum_j [l(theta + mu u_j) - l(theta)] / mu u_j
//   Hg ~ [RGE(theta + mu g) - RGE(theta)] / mu
//      = (1/q) sum_j u_j [l(t' + mu u_j) - l(t') - l(theta + mu u_j) + l(theta)] / mu^2,  t' = theta + mu g
//      -> (1/q) sum_j u_j u_j' H g  as mu -> 0   (a directional second difference)
//   S  = -theta (.) Hg
//
// Unlike the released DeepZero code (OPTML-Group/DeepZero) both RGE calls use the SAME directions u_j (one
// RandomZO, same seed, same step), the score multiplies the original theta, and the weights are
// restored bit-exactly (their saved values are written back). Only Conv2d and Linear weights are
// perturbed and scored, as GraSP does: g and Hg live in that subspace (biases and normalization
// parameters hold still). Results hold one tensor per entry of model.parameters(), the layout of
// masks; entries of parameters that are not scored are undefined tensors. Each parameter's grad()
// is left as it was; BatchNorm running statistics do not move and Dropout replays one mask.
// FO-GraSP gets g by autograd with create_graph and Hg as the gradient of g . stop_grad(g).
//
// Pruning rule: global over all scored weights, prune round(s N) of the N coordinates: by default
// those with the smallest |S| (keep the largest |S|, what DeepZero's code does), or with
// signed_rule those with the largest S (GraSP's rule). Only the per-layer fractions are kept.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/autograd/engine.hpp"
#include "trustml/estimators/zeroth_order.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/pruning/masks.hpp"

namespace trustml::pruning {

struct ZoGraspOptions {
  double mu = 5e-3;            // finite-difference step of both RGE calls and of the displacement mu g
  std::int64_t queries = 192;  // q per RGE call (2q + 2 loss evaluations in all)
  std::uint64_t seed = 0;      // RandomZO seed of the directions
  bool signed_rule = false;    // zo_grasp_layer_ratios: GraSP's signed rule instead of |score|
};

// Scores and the quantities behind them, one tensor per entry of model.parameters() (undefined for
// parameters that are not Conv2d/Linear weights).
template <class T, class D>
struct GraspResult {
  std::vector<Tensor<T, D>> scores;            // S = -theta (.) Hg
  std::vector<Tensor<T, D>> hessian_gradient;  // Hg
  std::vector<Tensor<T, D>> gradient;          // g
  std::int64_t queries = 0;                    // loss evaluations (ZO); 0 for FO
};

// The RandomZO both ZO-GraSP calls use, at step kZoGraspStep: directions of query j come back as
// zo_grasp_estimator(o).directions(scored_parameters(model), no masks, direction_seed(kZoGraspStep, j)).
inline constexpr std::uint64_t kZoGraspStep = 0;
inline estimators::RandomZO zo_grasp_estimator(const ZoGraspOptions& options) {
  return estimators::RandomZO({.mu = options.mu,
                               .queries = options.queries,
                               .difference = estimators::Difference::forward,
                               .direction = estimators::Direction::gaussian,
                               .seed = options.seed});
}

// The Conv2d/Linear weights of `model` in model.parameters() order: what GraSP perturbs and scores.
template <class T, class D>
std::vector<Tensor<T, D>> scored_parameters(nn::Module<T, D>& model) {
  auto layers = prunable_layers(model);
  std::sort(layers.begin(), layers.end(), [](const auto& a, const auto& b) { return a.parameter < b.parameter; });
  const auto params = model.parameters();
  std::vector<Tensor<T, D>> out;
  for (auto& layer : layers) out.push_back(params[layer.parameter]);
  return out;
}

namespace detail {
// Saves the values and grad() of parameters; restore() (and the destructor, so an exception in the
// loss changes nothing either) writes the saved values back and puts the saved grad handles back.
template <class T, class D>
class ParameterGuard {
 public:
  explicit ParameterGuard(std::vector<Tensor<T, D>> params) : params_(std::move(params)) {
    NoGradGuard no_grad;
    for (auto& p : params_) {
      values_.push_back(p.clone());
      grads_.push_back(p.grad());
    }
  }
  ~ParameterGuard() { restore(); }
  ParameterGuard(const ParameterGuard&) = delete;
  ParameterGuard& operator=(const ParameterGuard&) = delete;

  const Tensor<T, D>& value(std::size_t i) const { return values_[i]; }
  void restore() {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      ops::assign(params_[i], values_[i]);  // bit-exact
      if (grads_[i].defined()) params_[i].set_grad(grads_[i]);
      else params_[i].zero_grad();
    }
  }

 private:
  std::vector<Tensor<T, D>> params_, values_, grads_;
};

// Positions (in model.parameters()) of the scored weights.
template <class T, class D>
std::vector<std::size_t> scored_positions(nn::Module<T, D>& model, const char* op) {
  std::vector<std::size_t> out;
  for (auto& layer : prunable_layers(model)) out.push_back(layer.parameter);
  std::sort(out.begin(), out.end());
  TRUSTML_CHECK(!out.empty(), op, model.type_name(), " has no Conv2d or Linear weight to score");
  return out;
}

// S = -theta (.) Hg and the result layout from per-weight g and Hg.
template <class T, class D>
GraspResult<T, D> assemble(nn::Module<T, D>& model, const std::vector<std::size_t>& positions,
                           const std::vector<Tensor<T, D>>& theta, std::vector<Tensor<T, D>> g,
                           std::vector<Tensor<T, D>> hg) {
  NoGradGuard no_grad;
  const std::size_t n = model.parameters().size();
  GraspResult<T, D> r{std::vector<Tensor<T, D>>(n), std::vector<Tensor<T, D>>(n), std::vector<Tensor<T, D>>(n), 0};
  for (std::size_t t = 0; t < positions.size(); ++t) {
    r.scores[positions[t]] = scale(mul(theta[t], hg[t]), T(-1));
    r.hessian_gradient[positions[t]] = std::move(hg[t]);
    r.gradient[positions[t]] = std::move(g[t]);
  }
  return r;
}
}  // namespace detail

// ZO-GraSP with common directions (see the top of this file). `loss` evaluates the loss of the
// current weights on a fixed batch (it runs without recording). Weights and grad() are unchanged.
template <class T, class D>
GraspResult<T, D> zo_grasp(nn::Module<T, D>& model, const std::function<double()>& loss,
                           const ZoGraspOptions& options = {}) {
  constexpr const char* op = "pruning::zo_grasp";
  TRUSTML_CHECK(options.mu > 0 && std::isfinite(options.mu), op, "mu must be positive and finite, got ", options.mu);
  TRUSTML_CHECK(options.queries > 0, op, "needs at least one query, got ", options.queries);
  const auto positions = detail::scored_positions(model, op);
  const auto params = model.parameters();
  std::vector<Tensor<T, D>> weights;
  for (auto i : positions) weights.push_back(params[i]);
  detail::ParameterGuard<T, D> guard(weights);
  estimators::CommonRandomNumbers<T, D> common(model);
  const std::function<double()> query = [&] {
    common.rewind();
    return loss();
  };
  const auto rge = zo_grasp_estimator(options);
  std::int64_t queries = 0;
  auto estimate = [&] {  // RGE at the current weights, returned instead of left in grad()
    for (auto& w : weights) w.zero_grad();
    queries += rge.estimate(weights, query, {.step = kZoGraspStep}).queries;
    std::vector<Tensor<T, D>> g;
    for (auto& w : weights) g.push_back(w.grad());
    return g;
  };
  const auto g = estimate();
  {
    NoGradGuard no_grad;
    for (std::size_t t = 0; t < weights.size(); ++t)
      ops::assign(weights[t], add(guard.value(t), scale(g[t], T(options.mu))));
  }
  const auto g_shifted = estimate();  // the same directions: RandomZO regenerates them from (seed, step, j)
  guard.restore();
  std::vector<Tensor<T, D>> hg, theta;
  {
    NoGradGuard no_grad;
    for (std::size_t t = 0; t < weights.size(); ++t) {
      hg.push_back(scale(sub(g_shifted[t], g[t]), T(1 / options.mu)));
      theta.push_back(guard.value(t));
    }
  }
  auto r = detail::assemble(model, positions, theta, g, std::move(hg));
  r.queries = queries;
  return r;
}

template <class T, class D>
std::vector<Tensor<T, D>> zo_grasp_scores(nn::Module<T, D>& model, const std::function<double()>& loss,
                                          const ZoGraspOptions& options = {}) {
  return zo_grasp(model, loss, options).scores;
}

// FO-GraSP: `loss` returns the (recorded) one-element loss tensor of a fixed batch. g = dl/dtheta
// with create_graph, Hg = d(g . stop_grad(g))/dtheta, S = -theta (.) Hg, over the Conv2d/Linear
// weights. grad() is not touched (autograd::grad); BatchNorm running statistics do not move.
template <class T, class D>
GraspResult<T, D> fo_grasp(nn::Module<T, D>& model, const std::type_identity_t<std::function<Tensor<T, D>()>>& loss) {
  constexpr const char* op = "pruning::fo_grasp";
  const auto positions = detail::scored_positions(model, op);
  const auto params = model.parameters();
  std::vector<Tensor<T, D>> weights;
  for (auto i : positions) weights.push_back(params[i]);
  estimators::CommonRandomNumbers<T, D> common(model);  // freezes BatchNorm statistics
  EnableGradGuard enable_grad;
  const Tensor<T, D> l = loss();
  TRUSTML_CHECK(l.defined() && l.numel() == 1 && l.requires_grad(), op,
                "the loss must be a one-element tensor recorded from the weights");
  auto g = autograd::grad(std::vector{l}, weights, {}, /*retain_graph=*/true, /*create_graph=*/true,
                          /*allow_unused=*/true);
  Tensor<T, D> z;
  for (auto& gt : g) {
    if (!gt.defined() || !gt.requires_grad()) continue;  // constant in theta: no curvature term
    auto term = sum(mul(gt, gt.detach()));
    z = z.defined() ? add(z, term) : term;
  }
  std::vector<Tensor<T, D>> hg(weights.size());
  if (z.defined()) hg = autograd::grad(std::vector{z}, weights, {}, false, false, /*allow_unused=*/true);
  NoGradGuard no_grad;
  std::vector<Tensor<T, D>> theta;
  for (std::size_t t = 0; t < weights.size(); ++t) {
    if (!g[t].defined()) g[t] = Tensor<T, D>::zeros(weights[t].shape());
    g[t] = g[t].detach();
    hg[t] = hg[t].defined() ? hg[t].detach() : Tensor<T, D>::zeros(weights[t].shape());
    theta.push_back(weights[t].detach());
  }
  return detail::assemble(model, positions, theta, std::move(g), std::move(hg));
}

template <class T, class D>
std::vector<Tensor<T, D>> fo_grasp_scores(nn::Module<T, D>& model,
                                          const std::type_identity_t<std::function<Tensor<T, D>()>>& loss) {
  return fo_grasp(model, loss).scores;
}

// Global selection over every scored weight (defined entries of `scores`, one per entry of
// model.parameters(); only Conv2d/Linear weights may have one): of the N scored coordinates,
// round(sparsity N) are pruned, those with the smallest |score| (default) or, with signed_rule, the
// largest score; ties go to the earlier coordinate (parameter order, then index). Returns every
// scored layer's pruned fraction, keyed by module name.
template <class T, class D>
LayerRatios layer_ratios_from_scores(nn::Module<T, D>& model, const std::vector<Tensor<T, D>>& scores, double sparsity,
                                     bool signed_rule = false) {
  constexpr const char* op = "pruning::layer_ratios_from_scores";
  TRUSTML_CHECK(sparsity >= 0 && sparsity < 1, op, "sparsity must lie in [0, 1), got ", sparsity);
  const auto params = model.parameters();
  TRUSTML_CHECK(scores.size() == params.size(), op, "needs one score tensor (or an undefined one) per parameter, got ",
                scores.size(), " for ", params.size(), " parameters");
  auto layers = prunable_layers(model);
  std::sort(layers.begin(), layers.end(), [](const auto& a, const auto& b) { return a.parameter < b.parameter; });
  std::vector<bool> is_weight(params.size(), false);
  for (auto& layer : layers) is_weight[layer.parameter] = true;
  const auto named = model.named_parameters();
  for (std::size_t i = 0; i < scores.size(); ++i)
    TRUSTML_CHECK(!scores[i].defined() || is_weight[i], op, "a score is given for '", named[i].first,
                  "', which is not a Conv2d or Linear weight");

  std::vector<double> key;         // ascending key = pruned first
  std::vector<std::size_t> owner;  // index into `used` of each coordinate
  std::vector<const PrunableLayer*> used;
  for (auto& layer : layers) {
    const auto& s = scores[layer.parameter];
    if (!s.defined()) continue;
    TRUSTML_CHECK(s.shape() == params[layer.parameter].shape(), op, "the score of '", layer.name, ".weight' has shape ",
                  s.shape(), ", the weight ", params[layer.parameter].shape());
    for (T v : s.to_vector()) {
      const double x = static_cast<double>(v);
      TRUSTML_CHECK(std::isfinite(x), op, "the score of '", layer.name, ".weight' is not finite (", x, ")");
      key.push_back(signed_rule ? -x : std::abs(x));
      owner.push_back(used.size());
    }
    used.push_back(&layer);
  }
  TRUSTML_CHECK(!used.empty(), op, "no Conv2d or Linear weight has a score");
  const auto n = static_cast<std::int64_t>(key.size());
  const auto k = std::min<std::int64_t>(n, std::llround(sparsity * static_cast<double>(n)));
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  auto before = [&](std::int64_t a, std::int64_t b) {
    const double ka = key[static_cast<std::size_t>(a)], kb = key[static_cast<std::size_t>(b)];
    return ka < kb || (ka == kb && a < b);
  };
  if (k > 0 && k < n) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
  std::vector<std::int64_t> pruned(used.size(), 0);
  for (std::int64_t i = 0; i < k; ++i) ++pruned[owner[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]];
  LayerRatios ratios;
  for (std::size_t l = 0; l < used.size(); ++l)
    ratios[used[l]->name] = static_cast<double>(pruned[l]) / static_cast<double>(used[l]->numel);
  return ratios;
}

// ZO-GraSP scores -> layer ratios at `sparsity`, with options.signed_rule choosing the rule.
template <class T, class D>
LayerRatios zo_grasp_layer_ratios(nn::Module<T, D>& model, const std::function<double()>& loss, double sparsity,
                                  const ZoGraspOptions& options = {}) {
  TRUSTML_CHECK(sparsity >= 0 && sparsity < 1, "pruning::zo_grasp_layer_ratios", "sparsity must lie in [0, 1), got ",
                sparsity);
  return layer_ratios_from_scores(model, zo_grasp_scores(model, loss, options), sparsity, options.signed_rule);
}

}  // namespace trustml::pruning
