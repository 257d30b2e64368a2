// trustml/pruning/masks.hpp: layer-wise random gradient masks, DeepZero's "sparse gradient, dense
// model" (Chen et al., "DeepZero: Scaling up zeroth-order optimization for deep model training",
// ICLR 2024, arXiv:2310.02025, section 4; docs/papers.md).
//
//   auto ratios = pruning::uniform_ratios(model, 0.9);      // or layer_ratios_from_scores (grasp.hpp)
//   pruning::MaskSchedule schedule(ratios, /*seed=*/1, /*interval=*/5);
//   for (int epoch = 1; epoch <= epochs; ++epoch) {
//     if (schedule.refreshes_at(epoch)) masks = schedule.masks(model, epoch);
//     ... estimator.estimate(ParameterProblem<float, Cpu>{model, x, loss, &masks}, {.step = t});
//     optimizer.step(); ...                                      // every parameter moves
//   }
//
// A layer-wise pruning ratio (LPR) p_l maps a Conv2d or Linear module, by its dotted name in
// Module::named_modules ("features.0", "classifier"), to the fraction of its weight coordinates that
// get no gradient. The mask of that weight prunes exactly k_l = round(p_l * n_l) of its n_l
// coordinates, the first k_l of a seeded uniform permutation (a partial Fisher-Yates shuffle on
// Philox draws: the same seed gives the same masks on every machine). Biases, normalization
// parameters and layers not named stay fully active, so the active set is
//
//   S = (kept Conv2d/Linear weights) u (all biases) u (all BatchNorm/GroupNorm/LayerNorm parameters),
//
// and the global sparsity sum_l k_l / sum_l n_l (over Conv2d/Linear weights only) is within
// (number of layers) / (2 sum_l n_l) of a uniform target. Masks are one tensor per entry of
// model.parameters(), same order and shape, 1 = active and 0 = pruned: what every estimator's
// ParameterProblem takes. MaskSchedule redraws them every K epochs (1-based epochs 1, 1 + K, 1 + 2K, ...),
// with the seed mixed with the block index (epoch - 1) / K.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/module.hpp"

namespace trustml::pruning {

// Module name -> fraction of that layer's weight coordinates pruned, in [0, 1].
using LayerRatios = std::map<std::string, double>;

// A Conv2d or Linear module of a model: its dotted name, the index of its weight in
// model.parameters() and the weight's number of coordinates.
struct PrunableLayer {
  std::string name;
  std::size_t parameter = 0;
  std::int64_t numel = 0;
};

// Every Conv2d and Linear module of `model` in named_modules order (the root is named "").
template <class T, class D>
std::vector<PrunableLayer> prunable_layers(nn::Module<T, D>& model) {
  const auto params = model.parameters();
  std::vector<PrunableLayer> out;
  std::set<std::size_t> seen;  // a module registered twice is listed once
  for (auto& [name, m] : model.named_modules()) {
    Tensor<T, D> weight;
    if (auto* linear = dynamic_cast<nn::Linear<T, D>*>(m)) weight = linear->weight;
    else if (auto* conv = dynamic_cast<nn::Conv2d<T, D>*>(m)) weight = conv->weight;
    else continue;
    std::size_t i = 0;
    while (i < params.size() && !params[i].same(weight)) ++i;
    TRUSTML_CHECK(i < params.size(), "pruning::prunable_layers", "the weight of module '", name,
                  "' is not among the model's parameters");
    if (seen.insert(i).second) out.push_back({name, i, weight.numel()});
  }
  return out;
}

namespace detail {
inline void check_ratio(const char* op, const std::string& name, double ratio) {
  TRUSTML_CHECK(ratio >= 0 && ratio <= 1, op, "the ratio of '", name, "' must lie in [0, 1], got ", ratio);
}

// 64 random bits, draw `index` of stream `stream` under `seed` (two draws per Philox block).
inline std::uint64_t bits64(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const auto r = random::philox4x32(index >> 1, stream, seed);
  const std::uint32_t hi = r.v[(index & 1) * 2], lo = r.v[(index & 1) * 2 + 1];
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

// The first k entries of a uniform random permutation of 0..n-1 (partial Fisher-Yates): position i
// swaps with i + floor(u (n - i)), u in [0, 1) from 53 random bits.
inline std::vector<std::int64_t> random_subset(std::int64_t n, std::int64_t k, std::uint64_t seed,
                                               std::uint64_t stream) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  for (std::int64_t i = 0; i < k; ++i) {
    const double u = static_cast<double>(bits64(seed, stream, static_cast<std::uint64_t>(i)) >> 11) * 0x1p-53;
    std::int64_t j = i + static_cast<std::int64_t>(u * static_cast<double>(n - i));
    if (j >= n) j = n - 1;
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  order.resize(static_cast<std::size_t>(k));
  return order;
}
}  // namespace detail

// One mask per entry of model.parameters() (1 = active, 0 = pruned). For each Conv2d/Linear module
// named in `ratios`, exactly round(ratio * numel) weight coordinates are pruned, chosen uniformly
// at random; the layer's Philox stream is the weight's index in model.parameters(). Everything else
// is active. Errors: a ratio outside [0, 1], a name that is not a Conv2d/Linear module of the model.
template <class T, class D>
std::vector<Tensor<T, D>> random_layer_masks(nn::Module<T, D>& model, const LayerRatios& ratios, std::uint64_t seed) {
  constexpr const char* op = "pruning::random_layer_masks";
  const auto layers = prunable_layers(model);
  for (auto& [name, ratio] : ratios) {
    detail::check_ratio(op, name, ratio);
    bool found = false;
    for (auto& layer : layers) found = found || layer.name == name;
    TRUSTML_CHECK(found, op, "'", name, "' is not a Conv2d or Linear module of ", model.type_name());
  }
  std::vector<Tensor<T, D>> masks;
  for (auto& p : model.parameters()) masks.push_back(Tensor<T, D>::ones(p.shape()));
  for (auto& layer : layers) {
    auto it = ratios.find(layer.name);
    if (it == ratios.end()) continue;
    const auto k = static_cast<std::int64_t>(std::llround(it->second * static_cast<double>(layer.numel)));
    if (k == 0) continue;
    std::vector<T> values(static_cast<std::size_t>(layer.numel), T(1));
    for (std::int64_t i : detail::random_subset(layer.numel, k, seed, layer.parameter))
      values[static_cast<std::size_t>(i)] = T(0);
    masks[layer.parameter] = Tensor<T, D>::from_vector(values, masks[layer.parameter].shape());
  }
  return masks;
}

// The number of active (nonzero) mask entries over all masks: the coordinate count of a masked CGE.
template <class T, class D>
std::int64_t active_count(const std::vector<Tensor<T, D>>& masks) {
  std::int64_t n = 0;
  for (auto& m : masks)
    if (m.defined())
      for (T v : m.to_vector()) n += v != T(0);
  return n;
}

// The fraction of all Conv2d/Linear weight coordinates of `model` that `masks` prune (global).
template <class T, class D>
double sparsity(const std::vector<Tensor<T, D>>& masks, nn::Module<T, D>& model) {
  constexpr const char* op = "pruning::sparsity";
  const auto params = model.parameters();
  TRUSTML_CHECK(masks.size() == params.size(), op, "needs one mask per parameter, got ", masks.size(), " masks for ",
                params.size(), " parameters");
  std::int64_t total = 0, pruned = 0;
  for (auto& layer : prunable_layers(model)) {
    const auto& m = masks[layer.parameter];
    TRUSTML_CHECK(m.defined() && m.shape() == params[layer.parameter].shape(), op, "the mask of '", layer.name,
                  ".weight' must have the weight's shape ", params[layer.parameter].shape());
    total += layer.numel;
    for (T v : m.to_vector()) pruned += v == T(0);
  }
  return total == 0 ? 0.0 : static_cast<double>(pruned) / static_cast<double>(total);
}

// The same ratio `sparsity` for every Conv2d/Linear module of `model`.
template <class T, class D>
LayerRatios uniform_ratios(nn::Module<T, D>& model, double sparsity) {
  detail::check_ratio("pruning::uniform_ratios", "every layer", sparsity);
  LayerRatios ratios;
  for (auto& layer : prunable_layers(model)) ratios[layer.name] = sparsity;
  return ratios;
}

// Fresh random masks with fixed layer ratios every `interval` epochs (1-based epochs: refreshes at
// 1, 1 + K, 1 + 2K, ...). The masks of block b = (epoch - 1) / K use seed philox(b, seed): every
// block differs, and any block can be regenerated on its own (a resumed run gets the same masks).
class MaskSchedule {
 public:
  MaskSchedule(LayerRatios ratios, std::uint64_t seed, int interval)
      : ratios_(std::move(ratios)), seed_(seed), interval_(interval) {
    TRUSTML_CHECK(interval >= 1, "pruning::MaskSchedule", "the refresh interval K must be at least 1 epoch, got ",
                  interval);
    for (auto& [name, ratio] : ratios_) detail::check_ratio("pruning::MaskSchedule", name, ratio);
  }

  // True at the first epoch of every block.
  bool refreshes_at(int epoch) const { return epoch >= 1 && (epoch - 1) % interval_ == 0; }
  // The block index (epoch - 1) / K of a 1-based epoch.
  std::int64_t block(int epoch) const {
    TRUSTML_CHECK(epoch >= 1, "pruning::MaskSchedule", "epochs count from 1, got ", epoch);
    return (epoch - 1) / interval_;
  }
  // The seed random_layer_masks gets for a block.
  std::uint64_t block_seed(std::int64_t block) const {
    const auto r = random::philox4x32(static_cast<std::uint64_t>(block), 0x4D41534Bull /* "MASK" */, seed_);
    return (static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1];
  }
  // The masks of the block `epoch` belongs to.
  template <class T, class D>
  std::vector<Tensor<T, D>> masks(nn::Module<T, D>& model, int epoch) const {
    return random_layer_masks(model, ratios_, block_seed(block(epoch)));
  }

  const LayerRatios& ratios() const { return ratios_; }
  std::uint64_t seed() const { return seed_; }
  int interval() const { return interval_; }

 private:
  LayerRatios ratios_;
  std::uint64_t seed_;
  int interval_;
};

}  // namespace trustml::pruning
