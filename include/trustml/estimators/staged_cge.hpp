// trustml/estimators/staged_cge.hpp: CGE on a network given as stages, made affordable (DeepZero's
// feature reuse and forward parallelization, arXiv:2310.02025 section 4; docs/papers.md).
//
//   auto stages = net->stages();                           // the layers, run in order
//   estimate_staged(CoordinateZO({.mu = 5e-3}), stages, x, cross_entropy_per_group(y), &masks);
//   optimizer.step();
//   StagedCoordinateZO<float, Cpu> staged(CoordinateZO({.mu = 5e-3}), stages);  // an Estimator
//
// The same gradient as CoordinateZO::estimate on the whole network, computed with:
//   - feature reuse: the base pass keeps every stage's input, so a query that perturbs a parameter
//     of stage l runs only stages l, l+1, ... from the kept input;
//   - delta forward: a weight W[o, c, r, s] of a Conv2d (W[o, c] of a Linear; a bias b[o]) changes
//     only output channel o of its stage, by step * (input channel c shifted by (r, s)) (or by
//     step). That channel alone runs through the stages after it that commute with channel slices
//     (Module::commutes_with_channel_slices: activations, pooling, flattening); the next Conv2d or
//     Linear adds its response to the change (a
//     convolution of one input channel) to its kept output, and the dense forward resumes there;
//   - batched queries: the activations of up to `max_group` queries where their dense forward
//     resumes are stacked into one batch of groups * B rows, the rest of the network runs once on
//     it, and the loss is taken per group. A stage that couples the samples of a batch (BatchNorm
//     or Dropout in training mode) runs group by group, so every query normalizes over its own B
//     samples and sees the step's Dropout masks;
//   - shares: the active coordinates, in global order (stage, parameter, index), are cut into
//     `parts` contiguous ranges of about equal cost (a stage's cost: the size of its own and all later
//     outputs); this process evaluates range `part`, and `gather` (e.g. MPI_Allgatherv, see
//     distributed/mpi.hpp) assembles all ranges in global order. No floating-point value crosses
//     parts, so the gradient is bitwise the same for any number of parts.
// With delta = false and max_group = 1 every query runs the very ops of a full forward on the same
// values: the gradient is bitwise the plain CGE gradient. With either on, it equals it to float
// rounding (the delta adds a layer's response to a change instead of recomputing the layer).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/estimators/estimator.hpp"
#include "trustml/estimators/zeroth_order.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/ops/common.hpp"
#include "trustml/ops/conv.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::estimators {

// The loss of every group of a batched output: `output` holds groups * B rows, group g in rows
// [g B, (g + 1) B); returns one loss per group.
template <class T, class D>
using GroupLoss = std::function<std::vector<double>(const Tensor<T, D>& output, std::int64_t groups)>;

// Mean cross-entropy of logits [groups * B, C] against `labels` [B], per group, in a few ops.
template <class T, class D>
GroupLoss<T, D> cross_entropy_per_group(const Tensor<std::int64_t, D>& labels) {
  TRUSTML_CHECK(labels.dim() == 1, "cross_entropy_per_group", "labels must be 1-D, got shape ", labels.shape());
  return [labels, target = Tensor<T, D>()](const Tensor<T, D>& logits, std::int64_t groups) mutable {
    const std::int64_t rows = labels.numel();
    TRUSTML_CHECK(logits.dim() == 2 && logits.size(0) == groups * rows, "cross_entropy_per_group", "needs logits [",
                  groups, " * ", rows, ", C], got ", logits.shape());
    if (!target.defined()) target = smoothed_one_hot<T>(labels, logits.size(1));
    auto picked = mul(reshape(log_softmax(logits, 1), {groups, rows, logits.size(1)}), target);
    auto totals = scale(sum(picked, {1, 2}), T(-1) / T(rows)).to_vector();
    return std::vector<double>(totals.begin(), totals.end());
  };
}

// How the coordinates of one estimate are shared out between processes.
struct QueryShare {
  int part = 0, parts = 1;
  // Every part's differences (counts[p] of them from part p), concatenated in part order.
  std::function<std::vector<double>(const std::vector<double>& mine, const std::vector<std::int64_t>& counts)> gather;
};

struct StagedOptions {
  bool delta = true;  // delta forward at Conv2d and Linear stages
  // Queries per batched forward; 0 picks 1 on the CPU (a query's tensors already keep the cores
  // busy, so stacking them only adds copies: docs/performance.md) and 64 on CUDA, where it turns
  // many small kernels into large ones.
  std::int64_t max_group = 0;
  std::int64_t group_bytes = std::int64_t(64) << 20;  // bound on one batched activation
  QueryShare share = {};
};

namespace detail {
// Cuts items of the given costs into `parts` contiguous ranges of about equal total cost: range p is
// [bounds[p], bounds[p + 1]). A pure function of its arguments, so every process computes the same.
inline std::vector<std::int64_t> cost_balanced_bounds(const std::vector<double>& costs, int parts) {
  TRUSTML_CHECK(parts >= 1, "cost_balanced_bounds", "needs at least one part, got ", parts);
  double total = 0;
  for (double c : costs) total += c;
  std::vector<std::int64_t> bounds{0};
  double prefix = 0;
  std::int64_t i = 0;
  const auto n = static_cast<std::int64_t>(costs.size());
  for (int p = 1; p < parts; ++p) {
    const double target = total * p / parts;
    while (i < n && prefix + costs[i] / 2 < target) prefix += costs[i++];
    bounds.push_back(i);
  }
  bounds.push_back(n);
  return bounds;
}

// One output channel of a Conv2d (a column of a Linear: the 1x1 case) after a single coordinate
// moved by `step`: the kept channel plus step * (input channel c at kernel tap (r, s)) for the
// weight coordinate `tap` = (c, r, s) flattened, or plus step everywhere for the bias (tap < 0).
// Item b is the plane of sample b.
template <class V>
struct PerturbedChannel {
  const V* kept;  // [batch, 1, out_h, out_w]
  const V* input;
  V* out;
  std::int64_t tap;
  V step;
  std::int64_t out_h, out_w, in_channels, in_h, in_w, kernel_h, kernel_w;
  std::int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  TRUSTML_HD void operator()(std::int64_t b) const {
    const std::int64_t plane = out_h * out_w;
    const V* from = kept + b * plane;
    V* to = out + b * plane;
    if (tap < 0) {
      for (std::int64_t j = 0; j < plane; ++j) to[j] = from[j] + step;
      return;
    }
    for (std::int64_t j = 0; j < plane; ++j) to[j] = from[j];
    const std::int64_t c = tap / (kernel_h * kernel_w), ky = (tap / kernel_w) % kernel_h, kx = tap % kernel_w;
    const V* channel = input + (b * in_channels + c) * in_h * in_w;
    for (std::int64_t y = 0; y < out_h; ++y) {
      const std::int64_t iy = y * stride_h - pad_h + ky * dilation_h;
      if (iy < 0 || iy >= in_h) continue;
      for (std::int64_t x = 0; x < out_w; ++x) {
        const std::int64_t ix = x * stride_w - pad_w + kx * dilation_w;
        if (ix >= 0 && ix < in_w) to[y * out_w + x] += step * channel[iy * in_w + ix];
      }
    }
  }
};

// PerturbedChannel with one element per call (i indexes [batch, out_h, out_w]), for GPUs.
template <class V>
struct PerturbedElement : PerturbedChannel<V> {
  TRUSTML_HD void operator()(std::int64_t i) const {
    const PerturbedChannel<V>& p = *this;
    V v = p.kept[i];
    if (p.tap < 0) {
      p.out[i] = v + p.step;
      return;
    }
    const std::int64_t plane = p.out_h * p.out_w, b = i / plane, y = (i % plane) / p.out_w, x = i % p.out_w;
    const std::int64_t c = p.tap / (p.kernel_h * p.kernel_w), ky = (p.tap / p.kernel_w) % p.kernel_h;
    const std::int64_t iy = y * p.stride_h - p.pad_h + ky * p.dilation_h;
    const std::int64_t ix = x * p.stride_w - p.pad_w + (p.tap % p.kernel_w) * p.dilation_w;
    if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
      v += p.step * p.input[((b * p.in_channels + c) * p.in_h + iy) * p.in_w + ix];
    p.out[i] = v;
  }
};

// The delta forward from a Conv2d or Linear stage l: a coordinate of its weight or bias changes
// one output channel o only. That channel alone runs through the stages after l that commute with
// channel slices (Module::commutes_with_channel_slices); the
// next mixing stage (a Conv2d, or a Linear after any flattening) adds its response to the change
// to its kept output, and the query resumes the dense forward after it. Without a mixing stage,
// the changed channel is written into a copy of the kept activation where the per-channel stages end.
template <class T, class D>
class ChannelDelta {
 public:
  static std::optional<ChannelDelta> at(const std::vector<nn::Module<T, D>*>& stages,
                                        const std::vector<Tensor<T, D>>& kept, std::size_t l) {
    ChannelDelta d(stages, kept, l);
    auto& g = d.geometry_;
    g.stride_h = g.stride_w = g.dilation_h = g.dilation_w = 1;
    g.out_h = g.out_w = g.in_h = g.in_w = g.kernel_h = g.kernel_w = 1;
    const auto& input = kept[l];
    if (auto* conv = dynamic_cast<nn::Conv2d<T, D>*>(stages[l])) {
      const auto& o = conv->options;
      if (o.groups != 1 || input.dim() != 4) return std::nullopt;
      d.weight_ = conv->weight, d.bias_ = conv->bias;
      g.in_h = input.size(2), g.in_w = input.size(3), g.out_h = kept[l + 1].size(2), g.out_w = kept[l + 1].size(3);
      g.kernel_h = d.weight_.size(2), g.kernel_w = d.weight_.size(3);
      g.stride_h = o.stride.h, g.stride_w = o.stride.w, g.pad_h = o.padding.h, g.pad_w = o.padding.w;
      g.dilation_h = o.dilation.h, g.dilation_w = o.dilation.w;
    } else if (auto* linear = dynamic_cast<nn::Linear<T, D>*>(stages[l])) {
      if (input.dim() != 2) return std::nullopt;
      d.weight_ = linear->weight, d.bias_ = linear->bias;
    } else {
      return std::nullopt;
    }
    g.in_channels = input.size(1);
    std::size_t k = l + 1;
    while (k < stages.size() && stages[k]->commutes_with_channel_slices()) ++k;
    d.resume_ = k;
    if (k < stages.size()) {
      auto* conv = dynamic_cast<nn::Conv2d<T, D>*>(stages[k]);
      auto* linear = dynamic_cast<nn::Linear<T, D>*>(stages[k]);
      if ((conv && conv->options.groups == 1 && kept[k].dim() == 4) || (linear && kept[k].dim() == 2)) {
        d.mixing_ = k, d.resume_ = k + 1;
        // The mixing layer's weights that see channel o, cut once for all queries: W[:, o] of a
        // Conv2d, columns [o w, (o + 1) w) of a Linear (transposed for the product).
        const std::int64_t channels = kept[l + 1].size(1), width = kept[k].size(1) / channels;
        for (std::int64_t o = 0; o < channels; ++o)
          d.mixing_weights_.push_back(
              conv ? slice(conv->weight, 1, o, o + 1, 1).contiguous()
                   : transpose(slice(linear->weight, 1, o * width, (o + 1) * width, 1).contiguous(), 0, 1));
      }
    }
    return d;
  }

  // Where the query's dense forward resumes.
  std::size_t resume() const { return resume_; }

  // The input of stage resume() when element `index` of the stage's weight (or bias) moves by `step`.
  Tensor<T, D> perturbed(const Tensor<T, D>& param, std::int64_t index, T step) const {
    const bool is_bias = param.data() == bias_.data();
    const std::int64_t taps = weight_.numel() / weight_.size(0);
    const std::int64_t o = is_bias ? index : index / taps;
    auto kept_channel = block(kept_[l_ + 1], o, 1).contiguous();
    auto changed = Tensor<T, D>::empty(kept_channel.shape());
    auto f = geometry_;
    f.kept = ops::dptr(kept_channel), f.input = ops::dptr(kept_[l_]), f.out = ops::dptr(changed);
    f.tap = is_bias ? -1 : index % taps, f.step = step;
    if constexpr (kernels::Kernels<D>::per_element_threads)
      kernels::Kernels<D>::for_each(kept_channel.numel(), detail::PerturbedElement<value_t<T, D>>{f});
    else kernels::Kernels<D>::for_each(kept_channel.size(0), f, kept_channel.numel() / kept_channel.size(0));
    const std::size_t end = mixing_ ? *mixing_ : resume_;
    for (std::size_t k = l_ + 1; k < end; ++k) changed = (*stages_[k])(changed);
    // The changed channel's columns once flattened: a stage commuting with channel slices keeps
    // each channel's features contiguous in channel order.
    const std::int64_t width = changed.dim() == 2 ? changed.size(1) : 1;
    if (!mixing_) {
      auto out = kept_[resume_].clone();
      ops::assign(block(out, o, width), changed);
      return out;
    }
    auto change = sub(changed, block(kept_[end], o, width));
    const auto& w = mixing_weights_[o];
    if (auto* conv = dynamic_cast<nn::Conv2d<T, D>*>(stages_[end])) {
      const auto& c = conv->options;
      return add(kept_[end + 1], conv2d(change, w, Tensor<T, D>(), c.stride, c.padding, c.dilation, 1));
    }
    return add(kept_[end + 1], matmul(change, w));
  }

 private:
  ChannelDelta(const std::vector<nn::Module<T, D>*>& stages, const std::vector<Tensor<T, D>>& kept, std::size_t l)
      : stages_(stages), kept_(kept), l_(l) {}
  // Channel o of a [B, C, ...] activation, or columns [o w, (o + 1) w) of a flattened [B, F] one.
  static Tensor<T, D> block(const Tensor<T, D>& t, std::int64_t o, std::int64_t width) {
    return t.dim() == 2 ? slice(t, 1, o * width, (o + 1) * width, 1) : slice(t, 1, o, o + 1, 1);
  }

  const std::vector<nn::Module<T, D>*>& stages_;
  const std::vector<Tensor<T, D>>& kept_;
  std::size_t l_;
  Tensor<T, D> weight_, bias_;
  PerturbedChannel<value_t<T, D>> geometry_{};
  std::size_t resume_ = 0;
  std::optional<std::size_t> mixing_;
  std::vector<Tensor<T, D>> mixing_weights_;  // by changed channel
};

// A stage whose samples interact in training mode: queries batched into groups run it group by group.
template <class T, class D>
bool couples_samples(nn::Module<T, D>& stage) {
  bool coupled = false;
  stage.apply([&](nn::Module<T, D>& m) {
    if (!m.is_training()) return;
    if (dynamic_cast<nn::BatchNorm2d<T, D>*>(&m) || dynamic_cast<nn::Dropout<T, D>*>(&m)) coupled = true;
  });
  return coupled;
}
}  // namespace detail

// Adds the CGE of `loss` over the parameters of `stages` (run in order on `input`) to their
// gradients; `masks`, when given, hold one mask per parameter of each stage, in stage order. With
// a share, the stats count this part's queries (and the base) only.
template <class T, class D>
EstimateStats estimate_staged(const CoordinateZO& cge, const std::vector<nn::Module<T, D>*>& stages,
                              const Tensor<T, D>& input, const GroupLoss<T, D>& loss,
                              const std::type_identity_t<std::vector<Tensor<T, D>>>* masks = nullptr,
                              const StagedOptions& options = {}) {
  const char* op = "estimate_staged";
  TRUSTML_CHECK(!stages.empty(), op, "needs at least one stage");
  TRUSTML_CHECK(options.max_group >= 0, op, "max_group must be 0 (automatic) or positive, got ", options.max_group);
  const std::int64_t max_group = options.max_group > 0                      ? options.max_group
                                 : kernels::Kernels<D>::per_element_threads ? 64
                                                                            : 1;
  const auto& share = options.share;
  TRUSTML_CHECK(share.parts >= 1 && share.part >= 0 && share.part < share.parts, op, "part ", share.part,
                " is not one of ", share.parts, " parts");
  TRUSTML_CHECK(share.parts == 1 || share.gather, op, "a share of ", share.parts, " parts needs a gather function");
  std::vector<std::unique_ptr<CommonRandomNumbers<T, D>>> common;
  for (auto* stage : stages) {
    TRUSTML_CHECK(stage != nullptr, op, "a stage is null");
    common.push_back(std::make_unique<CommonRandomNumbers<T, D>>(*stage));
  }
  NoGradGuard no_grad;
  const std::size_t count = stages.size();
  std::vector<Tensor<T, D>> kept{input};  // kept[l]: the input of stage l; kept.back(): the output
  std::vector<bool> coupled;              // stages that batched groups run one group at a time
  for (std::size_t l = 0; l < count; ++l) {
    kept.push_back((*stages[l])(kept[l]).contiguous());
    coupled.push_back(detail::couples_samples(*stages[l]));
  }

  // The active coordinates in global order, and their costs.
  struct Coordinate {
    std::size_t stage, param;
    std::int64_t index;
  };
  std::vector<std::vector<Tensor<T, D>>> params(count);
  std::vector<Coordinate> coordinates;
  std::vector<double> costs;
  std::size_t mask_index = 0;
  for (std::size_t l = 0; l < count; ++l) {
    double cost = 0;
    for (std::size_t k = l; k < count; ++k) cost += static_cast<double>(kept[k + 1].numel());
    params[l] = stages[l]->parameters();
    for (std::size_t i = 0; i < params[l].size(); ++i, ++mask_index) {
      const auto& p = params[l][i];
      std::vector<T> active;
      if (masks) {
        TRUSTML_CHECK(mask_index < masks->size(), op, "needs one mask per parameter of every stage, got ",
                      masks->size());
        TRUSTML_CHECK((*masks)[mask_index].shape() == p.shape(), op, "mask ", mask_index, " has shape ",
                      (*masks)[mask_index].shape(), ", its parameter ", p.shape());
        active = (*masks)[mask_index].to_vector();
      }
      for (std::int64_t j = 0; j < p.numel(); ++j)
        if (active.empty() || active[j] != T(0)) {
          coordinates.push_back({l, i, j});
          costs.push_back(cost);
        }
    }
  }
  TRUSTML_CHECK(!masks || mask_index == masks->size(), op, "got ", masks ? masks->size() : 0, " masks for ", mask_index,
                " parameters");
  const auto bounds = detail::cost_balanced_bounds(costs, share.parts);
  const std::int64_t first = bounds[share.part], last = bounds[share.part + 1];

  const double mu = cge.options().mu;
  const bool central = cge.options().difference == Difference::central;
  const int sides = central ? 2 : 1;
  EstimateStats stats;
  double base = 0;
  if (!central) base = stats.loss = loss(kept.back(), 1).at(0), ++stats.queries;

  // Evaluates the perturbations [from, to) of stage l (perturbation q: coordinate first + q / sides,
  // step +mu or -mu by q % sides) as one batch; returns their losses.
  auto run_group = [&](std::size_t l, std::int64_t from, std::int64_t to,
                       const std::optional<detail::ChannelDelta<T, D>>& delta) {
    const std::int64_t groups = to - from;
    std::vector<Tensor<T, D>> outputs;
    for (std::int64_t q = from; q < to; ++q) {
      const auto& c = coordinates[first + q / sides];
      auto& p = params[l][c.param];
      const T saved = detail::read_element(p, c.index);
      const T moved = T(saved + T(q % sides == 0 ? mu : -mu));
      TRUSTML_CHECK(moved != saved, op, "mu = ", mu, " does not change element ", c.index, " (", saved,
                    ") of parameter ", c.param, " of stage ", l, ": raise mu or use a wider type");
      if (delta) {
        outputs.push_back(delta->perturbed(p, c.index, T(moved - saved)));
      } else {
        detail::write_element(p, c.index, moved);
        common[l]->rewind();
        outputs.push_back((*stages[l])(kept[l]));
        detail::write_element(p, c.index, saved);  // bit-exact restore
      }
    }
    Tensor<T, D> h = groups == 1 ? outputs[0] : concat(outputs, 0);
    const std::size_t resume = delta ? delta->resume() : l + 1;
    for (std::size_t k = resume; k < count; ++k) {
      if (groups > 1 && coupled[k]) {
        const std::int64_t rows = h.size(0) / groups;
        std::vector<Tensor<T, D>> parts;
        for (std::int64_t g = 0; g < groups; ++g) {
          common[k]->rewind();
          parts.push_back((*stages[k])(slice(h, 0, g * rows, (g + 1) * rows, 1)));
        }
        h = concat(parts, 0);
      } else {
        common[k]->rewind();
        h = (*stages[k])(h);
      }
    }
    auto losses = loss(h, groups);
    TRUSTML_CHECK(static_cast<std::int64_t>(losses.size()) == groups, op, "the loss returned ", losses.size(),
                  " values for ", groups, " groups");
    return losses;
  };

  std::vector<double> mine(static_cast<std::size_t>(last - first));
  for (std::int64_t begin = first; begin < last;) {
    const std::size_t l = coordinates[begin].stage;
    std::int64_t end = begin;
    while (end < last && coordinates[end].stage == l) ++end;
    const auto delta = options.delta ? detail::ChannelDelta<T, D>::at(stages, kept, l) : std::nullopt;
    std::int64_t widest = 0;
    for (std::size_t k = l; k < count; ++k) widest = std::max(widest, kept[k + 1].numel());
    const std::int64_t group = std::clamp<std::int64_t>(
        options.group_bytes / std::max<std::int64_t>(1, widest * std::int64_t(sizeof(T))), 1, max_group);
    const std::int64_t perturbations = (end - begin) * sides;
    std::vector<double> losses;
    for (std::int64_t from = 0; from < perturbations; from += group) {
      auto part = run_group(l, (begin - first) * sides + from,
                            (begin - first) * sides + std::min(perturbations, from + group), delta);
      losses.insert(losses.end(), part.begin(), part.end());
    }
    for (std::int64_t i = 0; i < end - begin; ++i)
      mine[begin - first + i] = central ? (losses[2 * i] - losses[2 * i + 1]) / (2 * mu) : (losses[i] - base) / mu;
    stats.queries += perturbations;
    stats.coordinates += end - begin;
    begin = end;
  }

  std::vector<double> differences = mine;
  if (share.parts > 1) {
    std::vector<std::int64_t> counts;
    for (int p = 0; p < share.parts; ++p) counts.push_back(bounds[p + 1] - bounds[p]);
    differences = share.gather(mine, counts);
    TRUSTML_CHECK(differences.size() == coordinates.size(), op, "gather returned ", differences.size(),
                  " differences for ", coordinates.size(), " coordinates");
  }
  std::vector<std::vector<std::vector<T>>> grads(count);
  for (std::size_t l = 0; l < count; ++l)
    for (auto& p : params[l]) grads[l].emplace_back(static_cast<std::size_t>(p.numel()), T(0));
  for (std::size_t i = 0; i < coordinates.size(); ++i) {
    const auto& c = coordinates[i];
    grads[c.stage][c.param][c.index] = T(differences[i]);
  }
  for (std::size_t l = 0; l < count; ++l)
    for (std::size_t i = 0; i < params[l].size(); ++i)
      accumulate_grad(params[l][i], Tensor<T, D>::from_vector(grads[l][i], params[l][i].shape()));
  return stats;
}

// Staged CGE as an Estimator: the network's stages are held, so a ParameterProblem over the network
// they split runs estimate_staged. Its loss is scored group by group on the rows of batched
// queries; estimate_staged with a GroupLoss scores all groups in one call. Over inputs there is no
// stage to reuse, and it is CoordinateZO's estimate.
template <class T, class D>
class StagedCoordinateZO {
 public:
  StagedCoordinateZO(CoordinateZO cge, std::vector<nn::Module<T, D>*> stages, StagedOptions options = {})
      : cge_(cge), stages_(std::move(stages)), options_(std::move(options)) {}

  // p.model must be the network the stages split: the same parameters in the same order.
  EstimateStats estimate(const ParameterProblem<T, D>& p, const EstimateContext& = {}) const {
    std::vector<Tensor<T, D>> staged;
    for (auto* stage : stages_)
      for (auto& t : stage->parameters()) staged.push_back(t);
    const auto params = p.model.parameters();
    bool same = staged.size() == params.size();
    for (std::size_t i = 0; same && i < params.size(); ++i) same = staged[i].data() == params[i].data();
    TRUSTML_CHECK(same, "StagedCoordinateZO", "the stages hold ", staged.size(),
                  " parameters that are not the model's ", params.size(), " parameters in order");
    const GroupLoss<T, D> loss = [&](const Tensor<T, D>& output, std::int64_t groups) {
      const std::int64_t rows = output.size(0) / groups;
      std::vector<double> losses;
      for (std::int64_t g = 0; g < groups; ++g) {
        auto l = p.loss(groups == 1 ? output : slice(output, 0, g * rows, (g + 1) * rows, 1));
        TRUSTML_CHECK(l.numel() == 1, "StagedCoordinateZO", "the loss must be one value, got shape ", l.shape());
        losses.push_back(static_cast<double>(l.item()));
      }
      return losses;
    };
    return estimate_staged(cge_, stages_, p.input, loss, p.masks, options_);
  }

  InputGradient<T, D> estimate(const InputProblem<T, D>& p, const EstimateContext& context = {}) const {
    return cge_.estimate(p, context);
  }

 private:
  CoordinateZO cge_;
  std::vector<nn::Module<T, D>*> stages_;
  StagedOptions options_;
};

}  // namespace trustml::estimators
