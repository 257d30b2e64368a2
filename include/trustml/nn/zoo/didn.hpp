// trustml/nn/zoo/didn.hpp: DIDN, the Deep Iterative Down-Up Network (Yu, Park and Jeong, NTIRE 2019
// denoising), in the form the SMUG code uses as its MRI denoiser (LGM70/SMUG, models/didn.py).
//
//   DIDN(channels_in = 2, channels_out = 2, width = 64, blocks = 2, seed = 0)   (or DIDNOptions)
//   forward(x [N, channels_in, H, W]) -> [N, channels_out, H, W], any H, W >= 1
//
// A complex MRI image goes in as 2 real channels (real, imaginary). SMUG: width 64, 2 blocks (ICASSP),
// 3 blocks (journal). Layout, C = width (Yu et al., "Deep iterative down-up CNN for image denoising", CVPRW 2019):
//   zero-pad H and W up to multiples of 8 (three halvings: the stem and two inside each block);
//   conv_input 3x3 in -> C + relu1; conv_down 3x3 stride 2 C -> C + relu2 (half resolution);
//   recursive.0 .. recursive.{n-1}: down-up blocks C -> C (DIDNBlock below);
//   all block outputs concatenated (nC) -> conv_mid 1x1 -> C + relu3; h + relu4(conv_mid2 3x3 (h));
//   PixelShuffle(2) -> C/4 channels at full resolution; conv_output 3x3 C/4 -> out;
//   plus the (padded) input, the global residual; then the center crop back to H x W.
// The padding puts floor(d/2) zeros before and the rest after (d = deficit to the next multiple of
// 8), and the crop starts at floor(d/2). For even d this is the SMUG code's symmetric padding; for
// odd d that code pads to a non-multiple of 8 and fails at the first skip concatenation, so there is
// nothing to match and the extra row goes after.
//
// Names are the PyTorch module names of models/didn.py, so a SMUG state dict loads one to one
// (strip the "module." prefix that nn.DataParallel adds): conv_input.{weight,bias}, relu1.weight,
// conv_down, relu2, recursive.<i>.{conv1, relu2, conv3, relu4, conv5, relu6, conv7, relu8, conv9,
// relu10, conv11, relu12, conv13, conv15, conv16, relu17, conv18, conv20, conv21, relu22, conv23,
// relu24, conv25}, conv_mid, relu3, conv_mid2, relu4, conv_output (PixelShuffle has no weights).
// Every conv has a bias; every PReLU has one shared slope, weight [1].
//
// Initialization is SMUG's init_weights(normal, 0.02): conv weights N(0, 0.02^2), biases 0, PReLU
// slopes PyTorch's 0.25. The conv weights are consecutive draws of the one Philox stream `seed`, in
// registration order, so no two convs of a model and no two seeds share random numbers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trustml/nn/layers.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/pool.hpp"

namespace trustml::nn::zoo {

namespace detail {
// Registers conv `name` (in -> out, kernel k, stride s, padding k / 2 keeps the size at stride 1),
// or PReLU `name`, under `owner`. The conv's own initialization is replaced by init_didn_weights.
template <class T, class D>
std::shared_ptr<Conv2d<T, D>> didn_conv(Module<T, D>& owner, const std::string& name, std::int64_t in, std::int64_t out,
                                        std::int64_t k, std::int64_t s = 1) {
  return owner.register_module(name,
                               std::make_shared<Conv2d<T, D>>(in, out, k, ConvOptions{.stride = s, .padding = k / 2}));
}
template <class T, class D>
std::shared_ptr<PReLU<T, D>> didn_act(Module<T, D>& owner, const std::string& name) {
  return owner.register_module(name, std::make_shared<PReLU<T, D>>());
}
}  // namespace detail

// One down-up block (SMUG's _Residual_Block): C -> C at the input's resolution, which must be a
// multiple of 4 (two stride-2 convs and two PixelShuffle(2) back, with skips at each scale).
template <class T = float, class D = Cpu>
class DIDNBlock : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit DIDNBlock(std::int64_t c) : Module<T, D>("DIDNBlock") {
    using detail::didn_act;
    using detail::didn_conv;
    auto& m = *this;
    // Registration order = PyTorch's __init__ order, so state dicts list the same keys in the same order.
    conv1 = didn_conv(m, "conv1", c, c, 3), relu2 = didn_act(m, "relu2");
    conv3 = didn_conv(m, "conv3", c, c, 3), relu4 = didn_act(m, "relu4");
    conv5 = didn_conv(m, "conv5", c, 2 * c, 3, 2), relu6 = didn_act(m, "relu6");
    conv7 = didn_conv(m, "conv7", 2 * c, 2 * c, 3), relu8 = didn_act(m, "relu8");
    conv9 = didn_conv(m, "conv9", 2 * c, 4 * c, 3, 2), relu10 = didn_act(m, "relu10");
    conv11 = didn_conv(m, "conv11", 4 * c, 4 * c, 3), relu12 = didn_act(m, "relu12");
    conv13 = didn_conv(m, "conv13", 4 * c, 8 * c, 1);
    conv15 = didn_conv(m, "conv15", 4 * c, 2 * c, 1);
    conv16 = didn_conv(m, "conv16", 2 * c, 2 * c, 3), relu17 = didn_act(m, "relu17");
    conv18 = didn_conv(m, "conv18", 2 * c, 4 * c, 1);
    conv20 = didn_conv(m, "conv20", 2 * c, c, 1);
    conv21 = didn_conv(m, "conv21", c, c, 3), relu22 = didn_act(m, "relu22");
    conv23 = didn_conv(m, "conv23", c, c, 3), relu24 = didn_act(m, "relu24");
    conv25 = didn_conv(m, "conv25", c, c, 3);
  }
  // x [N, C, h, w] with h, w multiples of 4 -> [N, C, h, w]
  TensorT forward(const TensorT& x) override {
    TRUSTML_CHECK(x.dim() == 4 && x.size(1) == conv1->weight.size(1) && x.size(2) % 4 == 0 && x.size(3) % 4 == 0,
                  "nn::zoo::DIDNBlock", "needs input [N, ", conv1->weight.size(1),
                  ", h, w] with h and w multiples of 4, got ", x.shape());
    auto cat1 = add(x, (*relu4)((*conv3)((*relu2)((*conv1)(x)))));  // full scale, C
    auto res2 = (*relu6)((*conv5)(cat1));
    auto cat2 = add(res2, (*relu8)((*conv7)(res2)));  // half scale, 2C
    auto res3 = (*relu10)((*conv9)(cat2));
    auto h = add(res3, (*relu12)((*conv11)(res3)));  // quarter scale, 4C
    // Up: 1x1 conv to 4x the channels, PixelShuffle(2) to twice the size, the skip, 1x1 conv to fuse.
    h = (*conv15)(concat(std::vector<TensorT>{pixel_shuffle((*conv13)(h), 2), cat2}, 1));
    h = add(h, (*relu17)((*conv16)(h)));
    h = (*conv20)(concat(std::vector<TensorT>{pixel_shuffle((*conv18)(h), 2), cat1}, 1));
    h = add(h, (*relu24)((*conv23)((*relu22)((*conv21)(h)))));
    return add((*conv25)(h), x);
  }
  std::shared_ptr<Conv2d<T, D>> conv1, conv3, conv5, conv7, conv9, conv11, conv13, conv15, conv16, conv18, conv20,
      conv21, conv23, conv25;
  std::shared_ptr<PReLU<T, D>> relu2, relu4, relu6, relu8, relu10, relu12, relu17, relu22, relu24;
};

struct DIDNOptions {
  std::int64_t channels_in = 2, channels_out = 2, width = 64, blocks = 2;
  std::uint64_t seed = 0;
};

template <class T = float, class D = Cpu>
class DIDN : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  DIDN(std::int64_t channels_in = 2, std::int64_t channels_out = 2, std::int64_t width = 64, std::int64_t blocks = 2,
       std::uint64_t seed = 0)
      : DIDN(DIDNOptions{channels_in, channels_out, width, blocks, seed}) {}

  explicit DIDN(const DIDNOptions& o) : Module<T, D>("DIDN"), options(o) {
    TRUSTML_CHECK(o.width > 0 && o.width % 4 == 0, "nn::zoo::DIDN",
                  "width must be a positive multiple of 4 (PixelShuffle(2) leaves width / 4 channels), got ", o.width);
    TRUSTML_CHECK(o.channels_in > 0 && o.blocks > 0, "nn::zoo::DIDN", "needs channels_in > 0 and blocks > 0, got ",
                  o.channels_in, ", ", o.blocks);
    TRUSTML_CHECK(o.channels_out == o.channels_in, "nn::zoo::DIDN",
                  "the global residual adds the input to the output, so channels_out must equal channels_in, got ",
                  o.channels_out, " and ", o.channels_in);
    using detail::didn_act;
    using detail::didn_conv;
    const std::int64_t c = o.width;
    auto& m = *this;
    conv_input = didn_conv(m, "conv_input", o.channels_in, c, 3), relu1 = didn_act(m, "relu1");
    conv_down = didn_conv(m, "conv_down", c, c, 3, 2), relu2 = didn_act(m, "relu2");
    // A Sequential only as the container (PyTorch's ModuleList): its names are recursive.0, ...
    recursive = this->register_module("recursive", std::make_shared<Sequential<T, D>>());
    for (std::int64_t i = 0; i < o.blocks; ++i)
      blocks.push_back(recursive->push_back(std::make_shared<DIDNBlock<T, D>>(c)));
    conv_mid = didn_conv(m, "conv_mid", o.blocks * c, c, 1), relu3 = didn_act(m, "relu3");
    conv_mid2 = didn_conv(m, "conv_mid2", c, c, 3), relu4 = didn_act(m, "relu4");
    conv_output = didn_conv(m, "conv_output", c / 4, o.channels_out, 3);
    init_didn_weights();
  }

  // x [N, channels_in, H, W] -> [N, channels_out, H, W]
  TensorT forward(const TensorT& x) override {
    TRUSTML_CHECK(x.dim() == 4 && x.size(1) == options.channels_in && x.size(2) > 0 && x.size(3) > 0, "nn::zoo::DIDN",
                  "needs input [N, ", options.channels_in, ", H, W] with H, W >= 1, got ", x.shape());
    const std::int64_t H = x.size(2), W = x.size(3);
    const std::int64_t dh = (8 - H % 8) % 8, dw = (8 - W % 8) % 8;
    const TensorT input = dh || dw ? pad(x, {dw / 2, dw - dw / 2, dh / 2, dh - dh / 2}) : x;
    auto h = (*relu2)((*conv_down)((*relu1)((*conv_input)(input))));
    std::vector<TensorT> recons;
    for (auto& block : blocks) recons.push_back(h = (*block)(h));
    h = (*relu3)((*conv_mid)(recons.size() == 1 ? recons[0] : concat(recons, 1)));
    h = add(h, (*relu4)((*conv_mid2)(h)));
    auto out = add((*conv_output)(pixel_shuffle(h, 2)), input);
    if (dh) out = slice(out, 2, dh / 2, dh / 2 + H, 1);
    if (dw) out = slice(out, 3, dw / 2, dw / 2 + W, 1);
    return out;
  }

  DIDNOptions options;
  std::shared_ptr<Conv2d<T, D>> conv_input, conv_down, conv_mid, conv_mid2, conv_output;
  std::shared_ptr<PReLU<T, D>> relu1, relu2, relu3, relu4;
  std::shared_ptr<Sequential<T, D>> recursive;
  std::vector<std::shared_ptr<DIDNBlock<T, D>>> blocks;

 private:
  // SMUG's init_weights(net, 'normal', 0.02), with the seeding described at the top of the file.
  void init_didn_weights() {
    NoGradGuard no_grad;
    std::uint64_t offset = 0;
    for (auto& [name, p] : this->named_parameters()) {
      if (p.dim() == 4) {  // a conv weight
        ops::assign(p, scale(TensorT::randn(p.shape(), options.seed, offset), T(0.02)));
        offset += static_cast<std::uint64_t>(p.numel());
      } else if (p.dim() == 1 && name.ends_with(".bias")) {
        p.fill_(T(0));
      }  // PReLU slopes keep 0.25
      p.bump_version();
    }
  }
};

}  // namespace trustml::nn::zoo
