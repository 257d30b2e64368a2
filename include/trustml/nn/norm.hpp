// trustml/nn/norm.hpp: normalization layers (PyTorch semantics and state dict names).
//
//   BatchNorm2d(C)      x [N, C, H, W]; weight, bias [C]; buffers running_mean, running_var [C] and
//                       the int64 num_batches_tracked
//   GroupNorm(G, C)     x [N, C, ...]; statistics over each group of C / G channels and all positions
//   LayerNorm(shape)    statistics over the trailing dims `shape`; weight, bias of that shape
//
// BatchNorm2d and GroupNorm are composites of reductions and elementwise ops, LayerNorm calls the
// fused op layer_norm (ops/nn.hpp); gradients and second derivatives come from the core's rules.
//
// BatchNorm in training mode normalizes with the batch's statistics and updates the running ones
// (momentum, unbiased variance), as PyTorch. freeze_running_stats(true) keeps the batch statistics
// but stops the updates: a zeroth-order estimator that probes a network in training mode many
// times per step must not move the running statistics with every probe.
#pragma once

#include <cstdint>
#include <vector>

#include "trustml/nn/module.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::nn {

namespace detail {
// (x - mean) / sqrt(var + eps) with both statistics over `dims`, kept for broadcasting; the
// statistics come along for BatchNorm's running averages.
template <class T, class D>
struct Standardized {
  Tensor<T, D> y, mean, variance;  // variance: biased (divided by the count)
};
template <class T, class D>
Standardized<T, D> standardize(const Tensor<T, D>& x, const std::vector<int>& dims, double eps) {
  auto mu = mean(x, dims, true);
  auto centered = sub(x, mu);
  auto variance = mean(mul(centered, centered), dims, true);
  return {div(centered, sqrt(add_scalar(variance, T(eps)))), mu, variance};
}
// Shape [1, C, 1, ...] of rank `rank` for a per-channel vector.
inline Shape channel_shape(std::int64_t channels, int rank) {
  Shape s;
  for (int d = 0; d < rank; ++d) s.push_back(d == 1 ? channels : 1);
  return s;
}
}  // namespace detail

template <class T = float, class D = Cpu>
class BatchNorm2d : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  BatchNorm2d(std::int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true)
      : Module<T, D>("BatchNorm2d"), channels(channels), eps(eps), momentum(momentum) {
    TRUSTML_CHECK(channels > 0 && eps > 0 && momentum >= 0 && momentum <= 1, "nn::BatchNorm2d",
                  "needs channels > 0, eps > 0 and momentum in [0, 1], got ", channels, ", ", eps, ", ", momentum);
    if (affine) {
      weight = this->register_parameter("weight", TensorT::ones(Shape{channels}));
      bias = this->register_parameter("bias", TensorT::zeros(Shape{channels}));
    }
    running_mean = this->register_buffer("running_mean", TensorT::zeros(Shape{channels}));
    running_var = this->register_buffer("running_var", TensorT::ones(Shape{channels}));
    num_batches_tracked = this->register_index_buffer("num_batches_tracked", Tensor<std::int64_t, D>::zeros(Shape{}));
  }

  TensorT forward(const TensorT& x) override {
    TRUSTML_CHECK(x.dim() == 4 && x.size(1) == channels, "nn::BatchNorm2d", "needs input [N, ", channels,
                  ", H, W], got ", x.shape());
    const Shape per_channel{1, channels, 1, 1};
    TensorT y;
    if (this->is_training()) {
      const std::int64_t count = x.numel() / channels;
      TRUSTML_CHECK(count > 1, "nn::BatchNorm2d", "needs more than one value per channel in training mode, got ",
                    x.shape());
      auto batch = detail::standardize(x, {0, 2, 3}, eps);
      y = batch.y;
      if (!frozen_) update_running_stats(batch.mean, batch.variance, count);
    } else {
      y = div(sub(x, reshape(running_mean, per_channel)), sqrt(add_scalar(reshape(running_var, per_channel), T(eps))));
    }
    if (weight.defined()) y = add(mul(y, reshape(weight, per_channel)), reshape(bias, per_channel));
    return y;
  }

  // Training mode still normalizes with batch statistics, but the running ones stay as they are.
  void freeze_running_stats(bool frozen = true) { frozen_ = frozen; }
  bool running_stats_frozen() const { return frozen_; }

  std::int64_t channels;
  double eps, momentum;
  TensorT weight, bias, running_mean, running_var;
  Tensor<std::int64_t, D> num_batches_tracked;

 private:
  void update_running_stats(const TensorT& mu, const TensorT& biased_var, std::int64_t count) {
    NoGradGuard no_grad;
    const T m = T(momentum), unbias = T(static_cast<double>(count) / static_cast<double>(count - 1));
    ops::assign(running_mean, add(scale(running_mean, T(1) - m), scale(reshape(mu.detach(), {channels}), m)));
    ops::assign(running_var,
                add(scale(running_var, T(1) - m), scale(reshape(biased_var.detach(), {channels}), m * unbias)));
    running_mean.bump_version();
    running_var.bump_version();
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
  }
  bool frozen_ = false;
};

// Statistics over groups of channels (and all positions) of each sample, then a per-channel affine.
template <class T = float, class D = Cpu>
class GroupNorm : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  GroupNorm(std::int64_t groups, std::int64_t channels, double eps = 1e-5, bool affine = true)
      : Module<T, D>("GroupNorm"), groups(groups), channels(channels), eps(eps) {
    TRUSTML_CHECK(groups > 0 && channels > 0 && channels % groups == 0 && eps > 0, "nn::GroupNorm", "channels ",
                  channels, " must be a positive multiple of groups ", groups, " (eps ", eps, ")");
    if (affine) {
      weight = this->register_parameter("weight", TensorT::ones(Shape{channels}));
      bias = this->register_parameter("bias", TensorT::zeros(Shape{channels}));
    }
  }
  TensorT forward(const TensorT& x) override {
    TRUSTML_CHECK(x.dim() >= 2 && x.size(1) == channels, "nn::GroupNorm", "needs input [N, ", channels, ", ...], got ",
                  x.shape());
    const std::int64_t n = x.size(0);
    auto y =
        reshape(detail::standardize(reshape(x, {n, groups, n ? x.numel() / (n * groups) : 0}), {2}, eps).y, x.shape());
    if (!weight.defined()) return y;
    const Shape per_channel = detail::channel_shape(channels, x.dim());
    return add(mul(y, reshape(weight, per_channel)), reshape(bias, per_channel));
  }
  std::int64_t groups, channels;
  double eps;
  TensorT weight, bias;
};

// Statistics over the trailing dims that match `normalized_shape`, then an elementwise affine.
template <class T = float, class D = Cpu>
class LayerNorm : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool affine = true)
      : Module<T, D>("LayerNorm"), normalized_shape(normalized_shape), eps(eps) {
    TRUSTML_CHECK(normalized_shape.rank > 0 && normalized_shape.numel() > 0 && eps > 0, "nn::LayerNorm",
                  "needs a non-empty normalized shape and eps > 0, got ", normalized_shape, ", ", eps);
    if (affine) {
      weight = this->register_parameter("weight", TensorT::ones(normalized_shape));
      bias = this->register_parameter("bias", TensorT::zeros(normalized_shape));
    }
  }
  TensorT forward(const TensorT& x) override {
    const int k = normalized_shape.rank, rank = x.dim();
    bool fits = rank >= k;
    for (int d = 0; fits && d < k; ++d) fits = x.size(rank - k + d) == normalized_shape[d];
    TRUSTML_CHECK(fits, "nn::LayerNorm", "input ", x.shape(), " does not end in ", normalized_shape);
    return layer_norm(x, normalized_shape, weight, bias, eps);  // one fused pass per row (ops/nn.hpp)
  }
  Shape normalized_shape;
  double eps;
  TensorT weight, bias;
};

}  // namespace trustml::nn
