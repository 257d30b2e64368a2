// trustml/nn/init.hpp: seeded initializers (PyTorch's torch.nn.init formulas).
//
// Each returns a fresh tensor drawn from Philox with the given seed, so a network built with the
// same seeds has the same weights on every machine and device. fan_in and fan_out follow PyTorch:
// for a weight [out, in, k...], fan_in = in * prod(k) and fan_out = out * prod(k).
#pragma once

#include <cmath>
#include <cstdint>

#include "trustml/ops/elementwise.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::nn::init {

struct Fans {
  std::int64_t in, out;
};
inline Fans fans(const Shape& shape) {
  TRUSTML_CHECK(shape.rank >= 2, "nn::init::fans", "needs a weight of rank >= 2, got ", shape);
  std::int64_t receptive = 1;
  for (int d = 2; d < shape.rank; ++d) receptive *= shape[d];
  return {shape[1] * receptive, shape[0] * receptive};
}

// Uniform on [lo, hi).
template <class T, class D = Cpu>
Tensor<T, D> uniform(const Shape& shape, double lo, double hi, std::uint64_t seed) {
  TRUSTML_CHECK(lo <= hi, "nn::init::uniform", "needs lo <= hi, got [", lo, ", ", hi, ")");
  return add_scalar(scale(Tensor<T, D>::rand(shape, seed), T(hi - lo)), T(lo));
}
template <class T, class D = Cpu>
Tensor<T, D> normal(const Shape& shape, double mean, double std, std::uint64_t seed) {
  TRUSTML_CHECK(std >= 0, "nn::init::normal", "needs std >= 0, got ", std);
  return add_scalar(scale(Tensor<T, D>::randn(shape, seed), T(std)), T(mean));
}
template <class T, class D = Cpu>
Tensor<T, D> zeros(const Shape& shape) {
  return Tensor<T, D>::zeros(shape);
}
template <class T, class D = Cpu>
Tensor<T, D> ones(const Shape& shape) {
  return Tensor<T, D>::ones(shape);
}

// The gain of a leaky ReLU with negative slope a: sqrt(2 / (1 + a^2)).
inline double relu_gain(double a = 0) { return std::sqrt(2.0 / (1.0 + a * a)); }

// Kaiming (He) initialization over fan_in: std = gain / sqrt(fan_in). kaiming_uniform with
// a = sqrt(5) is PyTorch's default for Linear and Conv weights: bound 1 / sqrt(fan_in).
template <class T, class D = Cpu>
Tensor<T, D> kaiming_uniform(const Shape& shape, std::uint64_t seed, double a = 0) {
  const double bound = relu_gain(a) * std::sqrt(3.0 / static_cast<double>(fans(shape).in));
  return uniform<T, D>(shape, -bound, bound, seed);
}
template <class T, class D = Cpu>
Tensor<T, D> kaiming_normal(const Shape& shape, std::uint64_t seed, double a = 0) {
  return normal<T, D>(shape, 0, relu_gain(a) / std::sqrt(static_cast<double>(fans(shape).in)), seed);
}

// Xavier (Glorot): std = gain * sqrt(2 / (fan_in + fan_out)).
template <class T, class D = Cpu>
Tensor<T, D> xavier_uniform(const Shape& shape, std::uint64_t seed, double gain = 1) {
  const Fans f = fans(shape);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  return uniform<T, D>(shape, -bound, bound, seed);
}
template <class T, class D = Cpu>
Tensor<T, D> xavier_normal(const Shape& shape, std::uint64_t seed, double gain = 1) {
  const Fans f = fans(shape);
  return normal<T, D>(shape, 0, gain * std::sqrt(2.0 / static_cast<double>(f.in + f.out)), seed);
}

// PyTorch's default bias of a layer with this fan_in: uniform on +-1 / sqrt(fan_in).
template <class T, class D = Cpu>
Tensor<T, D> default_bias(std::int64_t size, std::int64_t fan_in, std::uint64_t seed) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform<T, D>(Shape{size}, -bound, bound, seed);
}

}  // namespace trustml::nn::init
