// trustml/nn/attention.hpp: multi-head attention (torch.nn.MultiheadAttention, batch_first).
//
//   MultiheadAttention(embed_dim, num_heads, seed, bias, kdim, vdim)
//   attend(query [B, Lq, E], key [B, Lk, kdim], value [B, Lk, vdim], mask) -> [B, Lq, E]
//   forward(x) = attend(x, x, x): self-attention
//
// Parameters follow PyTorch: in_proj_weight [3E, E] and in_proj_bias [3E] when kdim = vdim = E,
// otherwise q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim]; out_proj is a
// Linear(E, E). `mask` (optional) is added to the attention logits [B or 1, Lq, Lk] (use -inf to
// block a position).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>

#include "trustml/nn/layers.hpp"
#include "trustml/ops/nn.hpp"

namespace trustml::nn {

template <class T = float, class D = Cpu>
class MultiheadAttention : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, std::uint64_t seed = 0, bool bias = true,
                     std::int64_t kdim = 0, std::int64_t vdim = 0)
      : Module<T, D>("MultiheadAttention"),
        embed_dim(embed_dim),
        num_heads(num_heads),
        kdim(kdim ? kdim : embed_dim),
        vdim(vdim ? vdim : embed_dim) {
    TRUSTML_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, "nn::MultiheadAttention", "embed_dim ",
                  embed_dim, " must be a positive multiple of num_heads ", num_heads);
    const std::int64_t e = embed_dim;
    if (this->kdim == e && this->vdim == e) {
      in_proj_weight = this->register_parameter("in_proj_weight", init::xavier_uniform<T, D>(Shape{3 * e, e}, seed));
    } else {
      q_proj_weight = this->register_parameter("q_proj_weight", init::xavier_uniform<T, D>(Shape{e, e}, seed));
      k_proj_weight =
          this->register_parameter("k_proj_weight", init::xavier_uniform<T, D>(Shape{e, this->kdim}, seed + 1));
      v_proj_weight =
          this->register_parameter("v_proj_weight", init::xavier_uniform<T, D>(Shape{e, this->vdim}, seed + 2));
    }
    if (bias) in_proj_bias = this->register_parameter("in_proj_bias", TensorT::zeros(Shape{3 * e}));
    out_proj = this->register_module("out_proj", std::make_shared<Linear<T, D>>(e, e, bias, seed + 3));
    if (bias) ops::assign(out_proj->bias, TensorT::zeros(Shape{e}));  // PyTorch zeroes it too
  }

  TensorT forward(const TensorT& x) override { return attend(x, x, x); }

  TensorT attend(const TensorT& query, const TensorT& key, const TensorT& value, const TensorT& mask = {}) {
    TRUSTML_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3 && query.size(2) == embed_dim &&
                      key.size(2) == kdim && value.size(2) == vdim && key.size(0) == query.size(0) &&
                      value.size(0) == query.size(0) && key.size(1) == value.size(1),
                  "nn::MultiheadAttention", "needs query [B, Lq, ", embed_dim, "], key [B, Lk, ", kdim,
                  "], value [B, Lk, ", vdim, "], got ", query.shape(), ", ", key.shape(), ", ", value.shape());
    const std::int64_t b = query.size(0), lq = query.size(1), lk = key.size(1), h = num_heads, dh = embed_dim / h;
    auto q = project(query, 0), k = project(key, 1), v = project(value, 2);
    // [B, L, E] -> [B, h, L, dh]
    auto heads = [&](const TensorT& t, std::int64_t len) { return permute(reshape(t, {b, len, h, dh}), {0, 2, 1, 3}); };
    auto logits = scale(matmul(heads(q, lq), transpose(heads(k, lk), 2, 3)), T(1 / std::sqrt(double(dh))));
    if (mask.defined()) {
      TRUSTML_CHECK(
          mask.dim() == 3 && mask.size(1) == lq && mask.size(2) == lk && (mask.size(0) == 1 || mask.size(0) == b),
          "nn::MultiheadAttention", "mask ", mask.shape(), " must be [B or 1, ", lq, ", ", lk, "]");
      logits = add(logits, unsqueeze(mask, 1));
    }
    auto attended = matmul(softmax(logits, -1), heads(v, lk));  // [B, h, Lq, dh]
    return (*out_proj)(reshape(permute(attended, {0, 2, 1, 3}), {b, lq, embed_dim}));
  }

  std::int64_t embed_dim, num_heads, kdim, vdim;
  TensorT in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  std::shared_ptr<Linear<T, D>> out_proj;

 private:
  // The projection of query (which = 0), key (1) or value (2): rows [which * E, (which + 1) * E)
  // of the packed weight and bias.
  TensorT project(const TensorT& x, int which) {
    const std::int64_t e = embed_dim;
    TensorT w = in_proj_weight.defined() ? slice(in_proj_weight, 0, which * e, (which + 1) * e, 1)
                                         : (which == 0   ? q_proj_weight
                                            : which == 1 ? k_proj_weight
                                                         : v_proj_weight);
    auto y = matmul(x, transpose(w, 0, 1));
    return in_proj_bias.defined() ? add(y, slice(in_proj_bias, 0, which * e, (which + 1) * e, 1)) : y;
  }
};

}  // namespace trustml::nn
