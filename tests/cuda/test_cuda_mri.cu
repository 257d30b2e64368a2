// tests/cuda/test_cuda_mri.cu: the MRI stack on Cuda against the CPU: the SENSE operator's adjoint
// identity in float, cg_solve (forward and its implicit gradient) through the SENSE normal operator,
// and a SMUG reconstruction, whose Philox noise is the same stream on both devices.
// Tolerances: see cuda_support.hpp; CG amplifies rounding by the iteration count.
#include <trustml/mri/unrolled.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;
using Zf = std::complex<float>;

namespace {
// 12 x 10 images, 3 coils, about half of the columns sampled.
Tensor<Zf> maps() { return Tensor<Zf>::randn({3, 12, 10}, 1); }
Tensor<float> mask() { return step(add_scalar(Tensor<float>::rand({12, 10}, 2), -0.5f)); }
template <class D>
mri::SenseOp<Zf, D> sense(const Tensor<Zf, D>& s, const Tensor<float, D>& m) {
  return mri::SenseOp<Zf, D>(s, m);
}
}  // namespace

TEST_CASE("cuda mri: SENSE adjoint identity and values against the CPU") {
  SKIP_WITHOUT_GPU();
  auto a = sense(maps().to<Cuda>(), mask().to<Cuda>());
  auto x = Tensor<Zf>::randn({2, 12, 10}, 3).to<Cuda>();
  auto y = Tensor<Zf>::randn({2, 3, 12, 10}, 4).to<Cuda>();
  auto ax = a.forward(x);
  const std::complex<float> lhs = sum(mul(conj(ax), y)).item(), rhs = sum(mul(conj(x), a.adjoint(y))).item();
  const double scale = std::sqrt(double(sum(abs(mul(conj(ax), ax))).item()) * double(sum(abs(mul(conj(y), y))).item()));
  CHECK(std::abs(lhs - rhs) / scale < 1e-5);
  compare(
      "SENSE forward", [](auto v, auto s, auto m) { return sense(s, m).forward(v); }, 1e-5,
      Tensor<Zf>::randn({2, 12, 10}, 5), maps(), mask());
  compare(
      "SENSE adjoint", [](auto v, auto s, auto m) { return sense(s, m).adjoint(v); }, 1e-5,
      Tensor<Zf>::randn({2, 3, 12, 10}, 6), maps(), mask());
}

TEST_CASE("cuda mri: cg_solve and its implicit gradient through A^H A") {
  SKIP_WITHOUT_GPU();
  compare(
      "cg_solve SENSE",
      [](auto b, auto s, auto m) {
        using D = typename decltype(b)::device_type;
        return cg_solve(sense(s, m).normal_map(), b, Tensor<float, D>::full({1}, 0.1f), CgOptions{8, 0, 0});
      },
      1e-4, Tensor<Zf>::randn({2, 12, 10}, 7), maps(), mask());
  using V = std::vector<Tensor<std::complex<double>, Cpu>>;
  const auto md = maps().cast<std::complex<double>>();
  const auto kd = mask().cast<double>();
  compare_grad(
      "cg_solve gradient",
      [&](const auto& v) {
        using D = typename std::decay_t<decltype(v[0])>::device_type;
        mri::SenseOp<std::complex<double>, D> a(md.to<D>(), kd.to<D>());
        return cg_solve(a.normal_map(), v[0], Tensor<double, D>::full({1}, 0.5), CgOptions{100, 0, 1e-12});
      },
      1e-8, V{Tensor<std::complex<double>>::randn({2, 12, 10}, 8)});
}

TEST_CASE("cuda mri: SMUG and RS-E2E reconstructions match the CPU (same noise streams)") {
  SKIP_WITHOUT_GPU();
  auto reconstruct = [](mri::Smoothing placement) {
    return [placement](auto y, auto s, auto m) {
      using D = typename decltype(y)::device_type;
      auto denoiser = std::make_shared<nn::Sequential<float, D>>();
      denoiser->push_back(std::make_shared<nn::Conv2d<float, D>>(2, 4, 3, nn::ConvOptions{.padding = 1}, 9));
      denoiser->push_back(nn::Tanh<float, D>());
      denoiser->push_back(std::make_shared<nn::Conv2d<float, D>>(4, 2, 3, nn::ConvOptions{.padding = 1}, 10));
      mri::UnrolledOptions o;
      o.steps = 2;
      o.cg = CgOptions{6, 0, 0};
      o.smoothing.placement = placement;
      o.smoothing.sigma = 0.05;
      o.smoothing.samples = 3;
      mri::Unrolled<float, D> net(denoiser, o);
      // RS-E2E: every noisy sample's reconstruction (k-space noise), not only their mean.
      return placement == mri::Smoothing::whole_model ? net.reconstruct_samples(sense(s, m), y)
                                                      : net.reconstruct(sense(s, m), y);
    };
  };
  const auto y = Tensor<Zf>::randn({2, 3, 12, 10}, 11);
  compare("Unrolled SMUG", reconstruct(mri::Smoothing::denoiser), 1e-4, y, maps(), mask());
  compare("Unrolled RS-E2E samples", reconstruct(mri::Smoothing::whole_model), 1e-4, y, maps(), mask());
}
