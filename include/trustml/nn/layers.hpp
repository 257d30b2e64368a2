// trustml/nn/layers.hpp: the basic layers (PyTorch's names, parameter layouts and default
// initialization, so that a state dict maps one to one).
//
//   Linear(in, out, bias, seed)                 weight [out, in], bias [out]
//   Conv2d(in, out, kernel, options, seed)      weight [out, in / groups, kh, kw], bias [out]
//   ConvTranspose2d(in, out, kernel, options, seed)  weight [in, out / groups, kh, kw], bias [out]
//   Dropout(p, seed)                            identity in eval mode
//   Embedding(count, dim, seed)                 weight [count, dim]; call it on int64 ids
//   ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Identity, Flatten
//   MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Sequential
//
// Seeds: a layer draws its weight from Philox stream `seed` and its bias from a stream derived from
// it, so equal seeds give equal layers on every device.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "trustml/nn/init.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/conv.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/pool.hpp"

namespace trustml::nn {

// The stream of a layer's bias, independent of its weight's stream `seed`.
inline std::uint64_t bias_seed(std::uint64_t seed) { return seed ^ 0x9E3779B97F4A7C15ull; }

template <class T = float, class D = Cpu>
class Linear : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  Linear(std::int64_t in, std::int64_t out, bool bias = true, std::uint64_t seed = 0) : Module<T, D>("Linear") {
    TRUSTML_CHECK(in > 0 && out > 0, "nn::Linear", "needs positive sizes, got in ", in, ", out ", out);
    weight = this->register_parameter("weight", init::kaiming_uniform<T, D>(Shape{out, in}, seed, std::sqrt(5.0)));
    if (bias) this->bias = this->register_parameter("bias", init::default_bias<T, D>(out, in, bias_seed(seed)));
  }
  // x [..., in] -> [..., out]
  TensorT forward(const TensorT& x) override {
    TRUSTML_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "nn::Linear", "input ", x.shape(), " does not end in ",
                  weight.size(1), " features (weight ", weight.shape(), ")");
    auto y = matmul(x, transpose(weight, 0, 1));
    return bias.defined() ? add(y, bias) : y;
  }
  TensorT weight, bias;
};

// The geometry of a convolution; the defaults are PyTorch's.
struct ConvOptions {
  Size2 stride = 1, padding = 0, dilation = 1, output_padding = 0;
  std::int64_t groups = 1;
  bool bias = true;
};

template <class T = float, class D = Cpu>
class Conv2d : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  Conv2d(std::int64_t in, std::int64_t out, Size2 kernel, ConvOptions options = {}, std::uint64_t seed = 0)
      : Module<T, D>("Conv2d"), options(options) {
    TRUSTML_CHECK(in > 0 && out > 0 && options.groups > 0 && in % options.groups == 0 && out % options.groups == 0,
                  "nn::Conv2d", "channels ", in, " -> ", out, " must be positive multiples of groups ", options.groups);
    const Shape shape{out, in / options.groups, kernel.h, kernel.w};
    weight = this->register_parameter("weight", init::kaiming_uniform<T, D>(shape, seed, std::sqrt(5.0)));
    if (options.bias)
      bias = this->register_parameter("bias", init::default_bias<T, D>(out, init::fans(shape).in, bias_seed(seed)));
  }
  TensorT forward(const TensorT& x) override {
    return conv2d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
  }
  TensorT weight, bias;
  ConvOptions options;
};

template <class T = float, class D = Cpu>
class ConvTranspose2d : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  ConvTranspose2d(std::int64_t in, std::int64_t out, Size2 kernel, ConvOptions options = {}, std::uint64_t seed = 0)
      : Module<T, D>("ConvTranspose2d"), options(options) {
    TRUSTML_CHECK(in > 0 && out > 0 && options.groups > 0 && in % options.groups == 0 && out % options.groups == 0,
                  "nn::ConvTranspose2d", "channels ", in, " -> ", out, " must be positive multiples of groups ",
                  options.groups);
    const Shape shape{in, out / options.groups, kernel.h, kernel.w};
    weight = this->register_parameter("weight", init::kaiming_uniform<T, D>(shape, seed, std::sqrt(5.0)));
    // PyTorch computes the bias bound from weight.size(1) * kh * kw, as for Conv2d.
    if (options.bias)
      bias = this->register_parameter("bias", init::default_bias<T, D>(out, init::fans(shape).in, bias_seed(seed)));
  }
  TensorT forward(const TensorT& x) override {
    return conv_transpose2d(x, weight, bias, options.stride, options.padding, options.output_padding, options.groups,
                            options.dilation);
  }
  TensorT weight, bias;
  ConvOptions options;
};

// Zeroes each element with probability p in training mode and scales the rest by 1 / (1 - p).
// Every call draws a fresh mask: element i of call c reads Philox draw c * numel + i of `seed`.
template <class T = float, class D = Cpu>
class Dropout : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0) : Module<T, D>("Dropout"), p(p), seed(seed) {
    TRUSTML_CHECK(p >= 0 && p < 1, "nn::Dropout", "probability must be in [0, 1), got ", p);
  }
  TensorT forward(const TensorT& x) override {
    if (!this->is_training() || p == 0) return x;
    auto u = TensorT::rand(x.shape(), seed, draws);
    draws += static_cast<std::uint64_t>(x.numel());
    auto keep = step(add_scalar(u, T(-p)));  // 1 where u > p
    return mul(x, scale(keep, T(1 / (1 - p))));
  }
  double p;
  std::uint64_t seed, draws = 0;
};

// A lookup table: ids [...] (int64) -> [..., dim]. Call embed(ids); forward(x) is not defined.
template <class T = float, class D = Cpu>
class Embedding : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  Embedding(std::int64_t count, std::int64_t dim, std::uint64_t seed = 0) : Module<T, D>("Embedding") {
    TRUSTML_CHECK(count > 0 && dim > 0, "nn::Embedding", "needs positive sizes, got ", count, " x ", dim);
    weight = this->register_parameter("weight", init::normal<T, D>(Shape{count, dim}, 0, 1, seed));
  }
  TensorT embed(const Tensor<std::int64_t, D>& ids) { return embedding(weight, ids); }
  TensorT weight;
};

struct LambdaOptions {
  bool commutes_with_channel_slices = false;  // see Module::commutes_with_channel_slices
};

// A module that applies a fixed function: activations, flattening, pooling. What the function
// does is known from the options, never from the name.
template <class T = float, class D = Cpu>
class Lambda : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  Lambda(std::string type_name, std::function<TensorT(const TensorT&)> f, LambdaOptions options = {})
      : Module<T, D>(std::move(type_name)), f_(std::move(f)), options_(options) {}
  TensorT forward(const TensorT& x) override { return f_(x); }
  bool commutes_with_channel_slices() const override { return options_.commutes_with_channel_slices; }

 private:
  std::function<TensorT(const TensorT&)> f_;
  LambdaOptions options_;
};

// The option of the channel-wise layers below.
inline constexpr LambdaOptions kChannelwise{.commutes_with_channel_slices = true};

template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> ReLU() {
  return std::make_shared<Lambda<T, D>>(
      "ReLU", [](const Tensor<T, D>& x) { return relu(x); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> LeakyReLU(double slope = 0.01) {
  return std::make_shared<Lambda<T, D>>(
      "LeakyReLU", [slope](const Tensor<T, D>& x) { return leaky_relu(x, T(slope)); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> GELU() {
  return std::make_shared<Lambda<T, D>>(
      "GELU", [](const Tensor<T, D>& x) { return gelu(x); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> SiLU() {
  return std::make_shared<Lambda<T, D>>(
      "SiLU", [](const Tensor<T, D>& x) { return silu(x); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> Sigmoid() {
  return std::make_shared<Lambda<T, D>>(
      "Sigmoid", [](const Tensor<T, D>& x) { return sigmoid(x); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> Tanh() {
  return std::make_shared<Lambda<T, D>>(
      "Tanh", [](const Tensor<T, D>& x) { return tanh(x); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> Identity() {
  return std::make_shared<Lambda<T, D>>(
      "Identity", [](const Tensor<T, D>& x) { return x; }, kChannelwise);
}
// [N, d1, d2, ...] -> [N, d1 * d2 * ...]
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> Flatten() {
  return std::make_shared<Lambda<T, D>>(
      "Flatten",
      [](const Tensor<T, D>& x) {
        TRUSTML_CHECK(x.dim() >= 1, "nn::Flatten", "needs a batch dimension, got ", x.shape());
        return reshape(x, {x.size(0), x.size(0) ? x.numel() / x.size(0) : 0});
      },
      kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> MaxPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0) {
  const Size2 s = stride.h == 0 && stride.w == 0 ? kernel : stride;
  return std::make_shared<Lambda<T, D>>(
      "MaxPool2d", [=](const Tensor<T, D>& x) { return max_pool2d(x, kernel, s, padding); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> AvgPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0) {
  const Size2 s = stride.h == 0 && stride.w == 0 ? kernel : stride;
  return std::make_shared<Lambda<T, D>>(
      "AvgPool2d", [=](const Tensor<T, D>& x) { return avg_pool2d(x, kernel, s, padding); }, kChannelwise);
}
template <class T = float, class D = Cpu>
std::shared_ptr<Module<T, D>> AdaptiveAvgPool2d(Size2 output_size) {
  return std::make_shared<Lambda<T, D>>(
      "AdaptiveAvgPool2d", [=](const Tensor<T, D>& x) { return adaptive_avg_pool2d(x, output_size); }, kChannelwise);
}

// max(0, x) + a min(0, x) with one learnable slope a for all channels (torch.nn.PReLU()).
template <class T = float, class D = Cpu>
class PReLU : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit PReLU(double init = 0.25) : Module<T, D>("PReLU") {
    weight = this->register_parameter("weight", TensorT::full(Shape{1}, T(init)));
  }
  TensorT forward(const TensorT& x) override { return prelu(x, weight); }  // [1] broadcasts against any x
  TensorT weight;
};

// Children named "0", "1", ... run in order.
template <class T = float, class D = Cpu>
class Sequential : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  Sequential() : Module<T, D>("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module<T, D>>> layers) : Sequential() {
    for (auto& layer : layers) push_back(layer);
  }
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> layer) {
    layers_.push_back(layer);
    return this->register_module(std::to_string(layers_.size() - 1), std::move(layer));
  }
  TensorT forward(const TensorT& x) override {
    TensorT h = x;
    for (auto& layer : layers_) h = (*layer)(h);
    return h;
  }
  std::size_t size() const { return layers_.size(); }
  Module<T, D>& operator[](std::size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module<T, D>>> layers_;
};

}  // namespace trustml::nn
