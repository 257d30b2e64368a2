// trustml/nn/zoo/dncnn.hpp: DnCNN (Zhang et al. 2017), the residual denoiser.
//
// conv 3x3 (features) + ReLU, depth - 2 times [conv 3x3 (no bias) + BN + ReLU], conv 3x3 back to
// the image channels; the network predicts the noise, and forward returns x minus it. Names:
// layers.0, layers.2 (conv), layers.3 (BN), ... Complex images (MRI) go in as 2 real channels.
#pragma once

#include <cstdint>
#include <memory>

#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"

namespace trustml::nn::zoo {

template <class T = float, class D = Cpu>
class DnCNN : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  DnCNN(std::int64_t channels = 1, std::int64_t depth = 17, std::int64_t features = 64, std::uint64_t seed = 0)
      : Module<T, D>("DnCNN") {
    TRUSTML_CHECK(channels > 0 && depth >= 2 && features > 0, "nn::zoo::DnCNN",
                  "needs channels > 0, depth >= 2 and features > 0, got ", channels, ", ", depth, ", ", features);
    layers = this->register_module("layers", std::make_shared<Sequential<T, D>>());
    layers->push_back(std::make_shared<Conv2d<T, D>>(channels, features, 3, ConvOptions{.padding = 1}, seed));
    layers->push_back(ReLU<T, D>());
    for (std::int64_t i = 0; i < depth - 2; ++i) {
      layers->push_back(std::make_shared<Conv2d<T, D>>(features, features, 3, ConvOptions{.padding = 1, .bias = false},
                                                       seed + 1 + i));
      layers->push_back(std::make_shared<BatchNorm2d<T, D>>(features));
      layers->push_back(ReLU<T, D>());
    }
    layers->push_back(std::make_shared<Conv2d<T, D>>(features, channels, 3, ConvOptions{.padding = 1}, seed + depth));
  }
  // The denoised image: x minus the predicted noise.
  TensorT forward(const TensorT& x) override { return sub(x, (*layers)(x)); }
  std::shared_ptr<Sequential<T, D>> layers;
};

}  // namespace trustml::nn::zoo
