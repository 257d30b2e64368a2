// trustml/mri/unrolled.hpp: Unrolled, MoDL's unrolled reconstruction network and the SMUG family of
// randomized-smoothing variants (Aggarwal et al. 2019; Li et al. 2023; Liang et al. 2025).
//
//   x_0 = A^H y;   for n < K:   z_n = D(x_n);   x_{n+1} = (A^H A + lambda I)^{-1} (A^H y + lambda z_n)
//
// D is any real module on [N, 2, H, W] (real and imaginary channels; DnCNN, DIDN), shared by all K
// steps; the data-consistency step is cg_solve (ops/cg.hpp) warm-started at z_n, differentiated
// implicitly, so memory does not grow with the CG iterations. lambda is fixed or learned (MoDL).
// K, lambda, CG and smoothing are options that may change between calls (test-time K or sampling).
//
// Smoothing (eta ~ N(0, sigma^2) on every real and imaginary pixel, S Monte-Carlo samples laid out
// as an extra batch: sample i of image j at index i B + j; clip = clamp of both channels to [-c, c]):
//   none          MoDL.
//   whole_model   RS-E2E: the average of MoDL over noisy measurements, y + M eta_i (noise on the
//                 sampled k-space entries only; every DC step sees its noisy y), or, with
//                 RsE2ENoise::image, over clip(x_0 + eta_i) with clean A^H y in every DC step.
//   denoiser      SMUG: z_n = (1/S) sum_i D(clip(x_n + eta_i)), then one CG solve.
//   step          SMUGv0: x_{n+1} = (1/S) sum_i DC(D(clip(x_n + eta_i))), S CG solves per step.
//   weighted      weighted SMUG: z_n = sum_i w_i D(clip(x_n + eta_i)) / max(sum_i w_i, 1e-8) with
//                 w_i = E(clip(x_n + eta_i)) in (0, 1) from the weight network (sample_weight_net).
// Noise is drawn from the counter-based generator: call c of the module uses Philox key
// (seed, c), step n offset n (fresh noise per step) or 0 (the same noise at every step), so runs
// are reproducible, and reseed() restarts the sequence. trace() exposes every denoiser call for the
// unrolled-stability loss (mri/losses.hpp).
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

#include "trustml/mri/phantom.hpp"
#include "trustml/mri/sense.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/nn/norm.hpp"

namespace trustml::mri {

enum class Smoothing { none, whole_model, denoiser, step, weighted };
enum class RsE2ENoise { kspace, image };

// Randomized smoothing inside an unrolled network: where the noise goes, its level, the samples.
struct UnrolledSmoothingOptions {
  Smoothing placement = Smoothing::none;
  double sigma = 0.01;               // relative to the peak |x*| = 1 of normalized data
  int samples = 10;                  // S
  bool fresh_noise_per_step = true;  // false: the ICASSP code's noise reuse across steps
  double clip = 1.0;                 // noisy denoiser inputs clamped to [-clip, clip]; 0: none
  RsE2ENoise rs_e2e_noise = RsE2ENoise::kspace;
  std::uint64_t seed = 0;
};

struct UnrolledOptions {
  int steps = 8;  // K
  double lambda = 1.0;
  bool learn_lambda = false;
  CgOptions cg{10, 0, 1e-6};
  UnrolledSmoothingOptions smoothing;
};

// Complex [B, ...] <-> real [B, 2, ...] (real and imaginary parts as channels): the denoiser's view
// of an image batch [B, H, W], and one real vector per image for the norms of an attack.
template <class R, class D>
Tensor<R, D> to_channels(const Tensor<std::complex<R>, D>& x) {
  return stack(std::vector{real(x), imag(x)}, 1);
}
template <class R, class D>
Tensor<std::complex<R>, D> from_channels(const Tensor<R, D>& x) {
  TRUSTML_CHECK(x.dim() >= 2 && x.size(1) == 2, "mri::from_channels", "needs [B, 2, ...], got shape ", x.shape());
  return make_complex(squeeze(x.slice(1, 0, 1), 1), squeeze(x.slice(1, 1, 2), 1));
}

// S copies of a batch along dimension 0 (sample i of item j at index i B + j), and their mean.
template <class T, class D>
Tensor<T, D> tile_samples(const Tensor<T, D>& x, std::int64_t samples) {
  return samples == 1 ? x : concat(std::vector<Tensor<T, D>>(static_cast<std::size_t>(samples), x), 0);
}
// [S B, ...] viewed as [S, B, ...], and the mean over the S samples.
template <class T, class D>
Tensor<T, D> by_sample(const Tensor<T, D>& x, std::int64_t samples) {
  const Shape& s = x.shape();
  std::vector<std::int64_t> dims{samples, s[0] / samples};
  for (int d = 1; d < s.rank; ++d) dims.push_back(s[d]);
  return reshape(x, Shape::from(dims.begin(), dims.end()));
}
template <class T, class D>
Tensor<T, D> mean_samples(const Tensor<T, D>& x, std::int64_t samples) {
  return samples == 1 ? x : mean(by_sample(x, samples), {0});
}

// Weighted SMUG's sample-weight network E: depth x [conv3x3 without bias, BatchNorm, ReLU] at
// `features` channels, global average pooling, a linear layer to one logit and a sigmoid.
template <class R = float, class D = Cpu>
std::shared_ptr<nn::Sequential<R, D>> sample_weight_net(std::int64_t features = 16, int depth = 5,
                                                        std::uint64_t seed = 0) {
  auto net = std::make_shared<nn::Sequential<R, D>>();
  for (int i = 0; i < depth; ++i) {
    net->push_back(std::make_shared<nn::Conv2d<R, D>>(i == 0 ? 2 : features, features, 3,
                                                      nn::ConvOptions{.padding = 1, .bias = false}, seed + i));
    net->push_back(std::make_shared<nn::BatchNorm2d<R, D>>(features));
    net->push_back(nn::ReLU<R, D>());
  }
  net->push_back(nn::AdaptiveAvgPool2d<R, D>(1));
  net->push_back(nn::Flatten<R, D>());
  net->push_back(std::make_shared<nn::Linear<R, D>>(features, 1, seed + depth));
  net->push_back(nn::Sigmoid<R, D>());
  return net;
}

// What one reconstruction computed, for losses over the unrolled iterates.
template <class R, class D>
struct UnrolledTrace {
  std::vector<Tensor<R, D>> denoiser_inputs;   // per step: [S B, 2, H, W] (clipped, noisy where smoothed)
  std::vector<Tensor<R, D>> denoiser_outputs;  // per step: D of those
  int samples = 1;                             // S of the steps above
};

template <class R = float, class D = Cpu>
class Unrolled : public nn::Module<R, D> {
 public:
  using C = std::complex<R>;
  using Image = Tensor<C, D>;
  using Channels = Tensor<R, D>;
  using Trace = UnrolledTrace<R, D>;

  Unrolled(std::shared_ptr<nn::Module<R, D>> denoiser, UnrolledOptions options = {},
           std::shared_ptr<nn::Module<R, D>> weight_net = nullptr)
      : nn::Module<R, D>("Unrolled"), options_(options) {
    denoiser_ = this->register_module("denoiser", std::move(denoiser));
    if (weight_net) weight_net_ = this->register_module("weight_net", std::move(weight_net));
    auto lambda = Channels::full(Shape{1}, R(options.lambda));
    lambda_ =
        options.learn_lambda ? this->register_parameter("lambda", lambda) : this->register_buffer("lambda", lambda);
  }

  UnrolledOptions& options() { return options_; }
  const UnrolledOptions& options() const { return options_; }
  nn::Module<R, D>& denoiser() { return *denoiser_; }
  const Channels& lambda() const { return lambda_; }
  // Restarts the noise sequence (the same calls then draw the same noise again).
  void reseed(std::uint64_t seed) {
    options_.smoothing.seed = seed;
    calls_ = 0;
  }

  // The reconstruction from multi-coil k-space y [B, C, H, W].
  Image reconstruct(const SenseOp<C, D>& a, const Image& y, Trace* trace = nullptr) {
    const UnrolledSmoothingOptions& sm = options_.smoothing;
    if (sm.placement == Smoothing::whole_model) return mean_samples(reconstruct_samples(a, y, trace), sm.samples);
    const Image ahy = a.adjoint(y);
    return unroll(a, ahy, ahy, next_key(), trace, sm.placement != Smoothing::none);
  }

  // RS-E2E's S noisy reconstructions before their average, [S B, H, W] (sample i of image j at i B + j):
  // its training loss compares each one with a reference (SMUG journal, arXiv:2312.07784, RS-E2E).
  Image reconstruct_samples(const SenseOp<C, D>& a, const Image& y, Trace* trace = nullptr) {
    const UnrolledSmoothingOptions& sm = options_.smoothing;
    TRUSTML_CHECK(sm.placement == Smoothing::whole_model, "mri::Unrolled::reconstruct_samples",
                  "needs whole-model smoothing (RS-E2E)");
    const std::uint64_t key = next_key();
    const SenseOp<C, D> as = a.repeated(sm.samples);
    const Image ys = tile_samples(y, sm.samples);
    if (sm.rs_e2e_noise == RsE2ENoise::image) return image_noise_samples(as, as.adjoint(ys), key, trace);
    const Image ahy = as.adjoint(add(ys, mul(as.mask(), complex_gaussian_noise<R, D>(ys.shape(), sm.sigma, key))));
    return unroll(as, ahy, ahy, key, trace, /*smooth=*/false);
  }

  // The reconstruction from the image-domain input x_0 = A^H y [B, H, W], which also serves as A^H y in
  // every data-consistency step (the ICASSP attack perturbs it).
  Image reconstruct_from_image(const SenseOp<C, D>& a, const Image& ahy, Trace* trace = nullptr) {
    const UnrolledSmoothingOptions& sm = options_.smoothing;
    if (sm.placement != Smoothing::whole_model)
      return unroll(a, ahy, ahy, next_key(), trace, sm.placement != Smoothing::none);
    TRUSTML_CHECK(sm.rs_e2e_noise == RsE2ENoise::image || sigma() == 0, "mri::Unrolled",
                  "RS-E2E with k-space noise needs the measurements: call reconstruct(A, y)");
    const std::int64_t s = sm.samples;
    return mean_samples(image_noise_samples(a.repeated(s), tile_samples(ahy, s), next_key(), trace), s);
  }

 private:
  double sigma() const { return options_.smoothing.sigma; }

  std::uint64_t next_key() { return options_.smoothing.seed * 0x9E3779B97F4A7C15ull + ++calls_; }

  // Image-domain RS-E2E on a tiled batch: MoDL from clip(x_0 + eta_i) with the clean A^H y in every DC step.
  Image image_noise_samples(const SenseOp<C, D>& as, const Image& ahys, std::uint64_t key, Trace* trace) {
    const Channels clean = to_channels(ahys);
    return unroll(as, ahys, from_channels(clip(add(clean, noise(clean.shape(), key, 0)))), key, trace, false);
  }

  Channels clip(const Channels& x) const {
    const double c = options_.smoothing.clip;
    return c > 0 ? clamp(x, R(-c), R(c)) : x;
  }
  Channels noise(const Shape& shape, std::uint64_t key, std::uint64_t offset) const {
    return scale(Channels::randn(shape, key, offset), R(sigma()));
  }

  Image data_consistency(const SenseOp<C, D>& a, const Image& ahy, const Image& z) const {
    const Image lam = cast<C>(lambda_);
    return cg_solve(a.normal_map(), add(ahy, mul(lam, z)), lambda_, options_.cg, z.detach());
  }

  Image unroll(const SenseOp<C, D>& a, const Image& ahy, const Image& x0, std::uint64_t key, Trace* trace,
               bool smooth) {
    const UnrolledSmoothingOptions& sm = options_.smoothing;
    TRUSTML_CHECK(options_.steps >= 0 && sm.samples >= 1 && sm.sigma >= 0, "mri::Unrolled",
                  "needs steps >= 0, samples >= 1 and sigma >= 0, got ", options_.steps, ", ", sm.samples, ", ",
                  sm.sigma);
    TRUSTML_CHECK(sm.placement != Smoothing::weighted || weight_net_, "mri::Unrolled",
                  "weighted smoothing needs a weight network (sample_weight_net)");
    const std::int64_t s = smooth ? sm.samples : 1;
    if (trace) *trace = Trace{{}, {}, static_cast<int>(s)};
    // SMUGv0 solves one system per noisy sample: the operator and A^H y tiled once for all steps.
    const bool per_sample_dc = smooth && sm.placement == Smoothing::step;
    const SenseOp<C, D> as = per_sample_dc ? a.repeated(s) : a;
    const Image ahys = per_sample_dc ? tile_samples(ahy, s) : ahy;
    Image x = x0;
    for (int n = 0; n < options_.steps; ++n) {
      Channels in = to_channels(x);
      if (smooth) {
        in = tile_samples(in, s);
        const std::uint64_t offset = sm.fresh_noise_per_step ? static_cast<std::uint64_t>(n) * in.numel() : 0;
        in = clip(add(in, noise(in.shape(), key, offset)));
      }
      Channels out = (*denoiser_)(in);
      if (trace) {
        trace->denoiser_inputs.push_back(in);
        trace->denoiser_outputs.push_back(out);
      }
      if (!smooth) {
        x = data_consistency(a, ahy, from_channels(out));
      } else if (per_sample_dc) {
        x = mean_samples(data_consistency(as, ahys, from_channels(out)), s);
      } else if (sm.placement == Smoothing::weighted) {
        const Channels w = reshape((*weight_net_)(in), Shape{s * x.size(0), 1, 1, 1});
        const Channels total = maximum(sum(by_sample(w, s), {0}), Channels::full(Shape{}, R(1e-8)));
        x = data_consistency(a, ahy, from_channels(div(sum(by_sample(mul(w, out), s), {0}), total)));
      } else {
        x = data_consistency(a, ahy, from_channels(mean_samples(out, s)));
      }
    }
    return x;
  }

  UnrolledOptions options_;
  std::shared_ptr<nn::Module<R, D>> denoiser_;
  std::shared_ptr<nn::Module<R, D>> weight_net_;
  Channels lambda_;
  std::uint64_t calls_ = 0;
};

}  // namespace trustml::mri
