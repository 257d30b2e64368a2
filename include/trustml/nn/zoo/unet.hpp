// trustml/nn/zoo/unet.hpp: a tiny U-Net for diffusion models, with a sinusoidal time embedding and
// optional cross-attention to a conditioning sequence (text embeddings in UnlearnDiff).
//
//   TinyUNet(channels, base, cond_dim, seed)
//   predict(x [B, C, H, W], t [B] (float steps), cond [B, Lc, cond_dim] or undefined) -> [B, C, H, W]
//
// Layout: conv_in (C -> base), down ResBlock (base), a stride-2 conv (base -> 2 base), mid ResBlock
// (2 base) with cross-attention when cond_dim > 0, nearest upsampling and a conv back to base,
// the skip concatenated, up ResBlock (2 base -> base), GroupNorm + SiLU + conv_out. H and W must
// be even. A ResBlock is GroupNorm-SiLU-conv3x3, plus a projection of the time embedding, then
// GroupNorm-SiLU-conv3x3, with a 1x1 conv on the skip when the channel count changes.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "trustml/nn/attention.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/pool.hpp"

namespace trustml::nn::zoo {

// [B] steps -> [B, dim] features [sin(t * f_0..f_{dim/2-1}), cos(...)] with f_i = 10000^(-i / (dim/2)),
// the transformer/DDPM embedding.
template <class T, class D>
Tensor<T, D> sinusoidal_embedding(const Tensor<T, D>& t, std::int64_t dim) {
  TRUSTML_CHECK(t.dim() == 1 && dim > 0 && dim % 2 == 0, "nn::zoo::sinusoidal_embedding",
                "needs steps [B] and an even dim, got ", t.shape(), " and ", dim);
  const std::int64_t half = dim / 2;
  std::vector<T> freqs(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i) freqs[i] = T(std::exp(-std::log(10000.0) * double(i) / double(half)));
  auto angles = mul(unsqueeze(t, 1), Tensor<T, D>::from_vector(freqs, Shape{1, half}).template to<D>());
  return concat(std::vector<Tensor<T, D>>{sin(angles), cos(angles)}, 1);
}

template <class T = float, class D = Cpu>
class ResBlock : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  ResBlock(std::int64_t in, std::int64_t out, std::int64_t time_dim, std::uint64_t seed) : Module<T, D>("ResBlock") {
    norm1 = this->register_module("norm1", std::make_shared<GroupNorm<T, D>>(groups_for(in), in));
    conv1 = this->register_module("conv1", std::make_shared<Conv2d<T, D>>(in, out, 3, ConvOptions{.padding = 1}, seed));
    time_proj = this->register_module("time_proj", std::make_shared<Linear<T, D>>(time_dim, out, true, seed + 1));
    norm2 = this->register_module("norm2", std::make_shared<GroupNorm<T, D>>(groups_for(out), out));
    conv2 = this->register_module("conv2",
                                  std::make_shared<Conv2d<T, D>>(out, out, 3, ConvOptions{.padding = 1}, seed + 2));
    if (in != out)
      skip = this->register_module("skip", std::make_shared<Conv2d<T, D>>(in, out, 1, ConvOptions{}, seed + 3));
  }
  TensorT run(const TensorT& x, const TensorT& time) {
    auto h = (*conv1)(silu((*norm1)(x)));
    auto tp = (*time_proj)(silu(time));
    h = add(h, reshape(tp, {tp.size(0), tp.size(1), 1, 1}));
    h = (*conv2)(silu((*norm2)(h)));
    return add(h, skip ? (*skip)(x) : x);
  }
  // Up to 8 groups, dividing the channels.
  static std::int64_t groups_for(std::int64_t channels) {
    std::int64_t g = 8;
    while (channels % g) g /= 2;
    return g;
  }
  std::shared_ptr<GroupNorm<T, D>> norm1, norm2;
  std::shared_ptr<Conv2d<T, D>> conv1, conv2, skip;
  std::shared_ptr<Linear<T, D>> time_proj;
};

template <class T = float, class D = Cpu>
class TinyUNet : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  TinyUNet(std::int64_t channels = 1, std::int64_t base = 32, std::int64_t cond_dim = 0, std::uint64_t seed = 0)
      : Module<T, D>("TinyUNet"), base(base), time_dim(4 * base), cond_dim(cond_dim) {
    TRUSTML_CHECK(channels > 0 && base > 0 && base % 4 == 0 && cond_dim >= 0, "nn::zoo::TinyUNet",
                  "needs channels > 0, base a positive multiple of 4 and cond_dim >= 0, got ", channels, ", ", base,
                  ", ", cond_dim);
    time_mlp = this->register_module("time_mlp", std::make_shared<Sequential<T, D>>());
    time_mlp->push_back(std::make_shared<Linear<T, D>>(base, time_dim, true, seed));
    time_mlp->push_back(SiLU<T, D>());
    time_mlp->push_back(std::make_shared<Linear<T, D>>(time_dim, time_dim, true, seed + 1));
    conv_in = this->register_module(
        "conv_in", std::make_shared<Conv2d<T, D>>(channels, base, 3, ConvOptions{.padding = 1}, seed + 2));
    down = this->register_module("down", std::make_shared<ResBlock<T, D>>(base, base, time_dim, seed + 10));
    downsample = this->register_module(
        "downsample",
        std::make_shared<Conv2d<T, D>>(base, 2 * base, 3, ConvOptions{.stride = 2, .padding = 1}, seed + 3));
    mid = this->register_module("mid", std::make_shared<ResBlock<T, D>>(2 * base, 2 * base, time_dim, seed + 20));
    if (cond_dim > 0) {
      attn_norm = this->register_module("attn_norm", std::make_shared<LayerNorm<T, D>>(Shape{2 * base}));
      attn = this->register_module(
          "attn", std::make_shared<MultiheadAttention<T, D>>(2 * base, 4, seed + 30, true, cond_dim, cond_dim));
    }
    upsample = this->register_module(
        "upsample", std::make_shared<Conv2d<T, D>>(2 * base, base, 3, ConvOptions{.padding = 1}, seed + 4));
    up = this->register_module("up", std::make_shared<ResBlock<T, D>>(2 * base, base, time_dim, seed + 40));
    norm_out =
        this->register_module("norm_out", std::make_shared<GroupNorm<T, D>>(ResBlock<T, D>::groups_for(base), base));
    conv_out = this->register_module(
        "conv_out", std::make_shared<Conv2d<T, D>>(base, channels, 3, ConvOptions{.padding = 1}, seed + 5));
  }

  TensorT predict(const TensorT& x, const TensorT& t, const TensorT& cond = {}) {
    TRUSTML_CHECK(x.dim() == 4 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0 && t.dim() == 1 && t.size(0) == x.size(0),
                  "nn::zoo::TinyUNet", "needs x [B, C, H, W] with even H, W and steps [B], got ", x.shape(), " and ",
                  t.shape());
    TRUSTML_CHECK(
        !cond.defined() || (cond_dim > 0 && cond.dim() == 3 && cond.size(0) == x.size(0) && cond.size(2) == cond_dim),
        "nn::zoo::TinyUNet", "conditioning must be [B, L, ", cond_dim, "] (cond_dim > 0), got ",
        cond.defined() ? cond.shape() : Shape{});
    auto time = (*time_mlp)(sinusoidal_embedding(t, base));
    auto h0 = down->run((*conv_in)(x), time);
    auto h = mid->run((*downsample)(h0), time);
    if (cond.defined()) {
      const std::int64_t b = h.size(0), c = h.size(1), hh = h.size(2), ww = h.size(3);
      auto tokens = permute(reshape(h, {b, c, hh * ww}), {0, 2, 1});  // [B, HW, C]
      auto attended = attn->attend((*attn_norm)(tokens), cond, cond);
      h = add(h, reshape(permute(attended, {0, 2, 1}), {b, c, hh, ww}));
    }
    h = (*upsample)(upsample_nearest2d(h, 2));
    h = up->run(concat(std::vector<TensorT>{h, h0}, 1), time);
    return (*conv_out)(silu((*norm_out)(h)));
  }

  std::int64_t base, time_dim, cond_dim;
  std::shared_ptr<Sequential<T, D>> time_mlp;
  std::shared_ptr<Conv2d<T, D>> conv_in, downsample, upsample, conv_out;
  std::shared_ptr<ResBlock<T, D>> down, mid, up;
  std::shared_ptr<LayerNorm<T, D>> attn_norm;
  std::shared_ptr<MultiheadAttention<T, D>> attn;
  std::shared_ptr<GroupNorm<T, D>> norm_out;
};

}  // namespace trustml::nn::zoo
