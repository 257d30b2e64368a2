// trustml/nn/zoo/resnet.hpp: ResNet-20 in the CIFAR layout (He et al. 2016, section 4.2).
//
// conv 3x3 (16) + BN + ReLU, three stages of three basic blocks with 16, 32 and 64 channels (the
// first block of stages 2 and 3 halves the resolution), global average pooling, linear. A block is
// conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU; where the shape changes the shortcut is
// a 1x1 convolution with BN ("downsample", torchvision's option B). Names follow torchvision:
// conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc. Works for 1- or 3-channel inputs of
// any size divisible by 4.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"

namespace trustml::nn::zoo {

template <class T = float, class D = Cpu>
class BasicBlock : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  BasicBlock(std::int64_t in, std::int64_t out, std::int64_t stride, std::uint64_t seed) : Module<T, D>("BasicBlock") {
    const ConvOptions conv3{.stride = stride, .padding = 1, .bias = false};
    conv1 = this->register_module("conv1", std::make_shared<Conv2d<T, D>>(in, out, 3, conv3, seed));
    bn1 = this->register_module("bn1", std::make_shared<BatchNorm2d<T, D>>(out));
    conv2 = this->register_module(
        "conv2", std::make_shared<Conv2d<T, D>>(out, out, 3, ConvOptions{.padding = 1, .bias = false}, seed + 1));
    bn2 = this->register_module("bn2", std::make_shared<BatchNorm2d<T, D>>(out));
    if (stride != 1 || in != out) {
      downsample = this->register_module("downsample", std::make_shared<Sequential<T, D>>());
      downsample->push_back(
          std::make_shared<Conv2d<T, D>>(in, out, 1, ConvOptions{.stride = stride, .bias = false}, seed + 2));
      downsample->push_back(std::make_shared<BatchNorm2d<T, D>>(out));
    }
  }
  TensorT forward(const TensorT& x) override {
    auto h = (*bn2)((*conv2)(relu((*bn1)((*conv1)(x)))));
    return relu(add(h, downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<Conv2d<T, D>> conv1, conv2;
  std::shared_ptr<BatchNorm2d<T, D>> bn1, bn2;
  std::shared_ptr<Sequential<T, D>> downsample;
};

template <class T = float, class D = Cpu>
class ResNet : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  // blocks_per_stage = 3 gives ResNet-20 (6n + 2 layers).
  ResNet(std::int64_t in_channels = 3, std::int64_t classes = 10, std::int64_t blocks_per_stage = 3,
         std::uint64_t seed = 0)
      : Module<T, D>("ResNet") {
    TRUSTML_CHECK(in_channels > 0 && classes > 0 && blocks_per_stage > 0, "nn::zoo::ResNet",
                  "needs positive channels, classes and blocks, got ", in_channels, ", ", classes, ", ",
                  blocks_per_stage);
    conv1 = this->register_module(
        "conv1", std::make_shared<Conv2d<T, D>>(in_channels, 16, 3, ConvOptions{.padding = 1, .bias = false}, seed));
    bn1 = this->register_module("bn1", std::make_shared<BatchNorm2d<T, D>>(16));
    std::int64_t in = 16;
    std::uint64_t s = seed + 1;
    for (int stage = 0; stage < 3; ++stage) {
      const std::int64_t out = 16 << stage;
      auto layer = this->register_module("layer" + std::to_string(stage + 1), std::make_shared<Sequential<T, D>>());
      for (std::int64_t b = 0; b < blocks_per_stage; ++b, s += 3) {
        layer->push_back(std::make_shared<BasicBlock<T, D>>(in, out, stage > 0 && b == 0 ? 2 : 1, s));
        in = out;
      }
      stages.push_back(layer);
    }
    fc = this->register_module("fc", std::make_shared<Linear<T, D>>(64, classes, true, s));
  }
  TensorT forward(const TensorT& x) override {
    auto h = relu((*bn1)((*conv1)(x)));
    for (auto& stage : stages) h = (*stage)(h);
    return (*fc)(mean(h, {2, 3}));
  }
  std::shared_ptr<Conv2d<T, D>> conv1;
  std::shared_ptr<BatchNorm2d<T, D>> bn1;
  std::vector<std::shared_ptr<Sequential<T, D>>> stages;
  std::shared_ptr<Linear<T, D>> fc;
};

template <class T = float, class D = Cpu>
std::shared_ptr<ResNet<T, D>> ResNet20(std::int64_t in_channels = 3, std::int64_t classes = 10,
                                       std::uint64_t seed = 0) {
  return std::make_shared<ResNet<T, D>>(in_channels, classes, 3, seed);
}

}  // namespace trustml::nn::zoo
