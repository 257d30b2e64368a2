// trustml/nn/zoo/classifiers.hpp: small image classifiers for 28x28 inputs (Fashion-MNIST).
//
//   Mlp({784, 256, 10})   Linear + ReLU layers: layers.0, layers.2, ...
//   SmallCnn()            the reference small CNN of docs/papers.md: conv 1->16 3x3 pad 1, ReLU,
//                         maxpool 2, conv 16->32 3x3 pad 1, ReLU, maxpool 2, linear 1568->10
//                         (each ReLU runs after its pooling: the same function, see below);
//                         names features.0, features.3, classifier (about 20.5 k parameters);
//                         SmallCnn(1, 10, seed, 8) halves the widths: the 9,098-parameter
//                         model A of DeepZero's CGE-vs-backprop runs
//   LeNet5()              conv 1->6 5x5 pad 2, ReLU, maxpool 2, conv 6->16 5x5, ReLU, maxpool 2,
//                         linear 400->120->84->10 with ReLU; features.{0,3}, classifier.{0,2,4}
//
// Each takes images [N, C, 28, 28] (the MLP: anything it can flatten to its input size) and
// returns logits [N, classes]; `seed` draws every layer's weights from its own Philox stream.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "trustml/nn/layers.hpp"

namespace trustml::nn::zoo {

template <class T = float, class D = Cpu>
class Mlp : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit Mlp(const std::vector<std::int64_t>& sizes, std::uint64_t seed = 0) : Module<T, D>("Mlp") {
    TRUSTML_CHECK(sizes.size() >= 2, "nn::zoo::Mlp", "needs at least input and output sizes, got ", sizes.size());
    layers = this->register_module("layers", std::make_shared<Sequential<T, D>>());
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
      layers->push_back(std::make_shared<Linear<T, D>>(sizes[i], sizes[i + 1], true, seed + i));
      if (i + 2 < sizes.size()) layers->push_back(ReLU<T, D>());
    }
  }
  TensorT forward(const TensorT& x) override {
    return (*layers)(x.dim() > 2 ? reshape(x, {x.size(0), x.numel() / x.size(0)}) : x);
  }
  std::shared_ptr<Sequential<T, D>> layers;
};

// A feature extractor (Sequential) followed by a classifier, the layout of the zoo's CNNs.
template <class T = float, class D = Cpu>
class FeaturesClassifier : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  FeaturesClassifier(std::string type_name, std::shared_ptr<Sequential<T, D>> features,
                     std::shared_ptr<Module<T, D>> classifier)
      : Module<T, D>(std::move(type_name)) {
    this->features = this->register_module("features", std::move(features));
    this->classifier = this->register_module("classifier", std::move(classifier));
  }
  TensorT forward(const TensorT& x) override {
    auto h = (*features)(x);
    return (*classifier)((*flatten_)(h));
  }
  // The layers in the order forward runs them, the flattening between features and classifier
  // included: the stages of feature reuse (estimators/staged_cge.hpp).
  std::vector<Module<T, D>*> stages() {
    std::vector<Module<T, D>*> out;
    for (std::size_t i = 0; i < features->size(); ++i) out.push_back(&(*features)[i]);
    out.push_back(flatten_.get());
    if (auto* layers = dynamic_cast<Sequential<T, D>*>(classifier.get()))
      for (std::size_t i = 0; i < layers->size(); ++i) out.push_back(&(*layers)[i]);
    else out.push_back(classifier.get());
    return out;
  }
  std::shared_ptr<Sequential<T, D>> features;
  std::shared_ptr<Module<T, D>> classifier;

 private:
  std::shared_ptr<Module<T, D>> flatten_ = Flatten<T, D>();
};

// Appends conv (kernel x kernel, `padding`), ReLU and 2x2 max pooling: the block of both CNNs below.
// The pooling runs before the ReLU. The two commute exactly, values and gradients alike (ReLU is
// monotone, so the maximum of the rectified window is the rectified maximum, from the same input
// element), and this order rectifies a quarter of the elements, forward and backward.
template <class T, class D>
void push_conv_relu_pool(Sequential<T, D>& features, std::int64_t in, std::int64_t out, std::int64_t kernel,
                         std::int64_t padding, std::uint64_t seed) {
  features.push_back(std::make_shared<Conv2d<T, D>>(in, out, kernel, ConvOptions{.padding = padding}, seed));
  features.push_back(MaxPool2d<T, D>(2));
  features.push_back(ReLU<T, D>());
}

template <class T = float, class D = Cpu>
std::shared_ptr<FeaturesClassifier<T, D>> SmallCnn(std::int64_t in_channels = 1, std::int64_t classes = 10,
                                                   std::uint64_t seed = 0, std::int64_t width = 16) {
  auto features = std::make_shared<Sequential<T, D>>();
  push_conv_relu_pool(*features, in_channels, width, 3, 1, seed);
  push_conv_relu_pool(*features, width, 2 * width, 3, 1, seed + 1);
  auto classifier = std::make_shared<Linear<T, D>>(2 * width * 7 * 7, classes, true, seed + 2);
  return std::make_shared<FeaturesClassifier<T, D>>("SmallCnn", features, classifier);
}

template <class T = float, class D = Cpu>
std::shared_ptr<FeaturesClassifier<T, D>> LeNet5(std::int64_t in_channels = 1, std::int64_t classes = 10,
                                                 std::uint64_t seed = 0) {
  auto features = std::make_shared<Sequential<T, D>>();
  push_conv_relu_pool(*features, in_channels, 6, 5, 2, seed);
  push_conv_relu_pool(*features, 6, 16, 5, 0, seed + 1);
  auto classifier = std::make_shared<Sequential<T, D>>();
  classifier->push_back(std::make_shared<Linear<T, D>>(16 * 5 * 5, 120, true, seed + 2));
  classifier->push_back(ReLU<T, D>());
  classifier->push_back(std::make_shared<Linear<T, D>>(120, 84, true, seed + 3));
  classifier->push_back(ReLU<T, D>());
  classifier->push_back(std::make_shared<Linear<T, D>>(84, classes, true, seed + 4));
  return std::make_shared<FeaturesClassifier<T, D>>("LeNet5", features, classifier);
}

}  // namespace trustml::nn::zoo
