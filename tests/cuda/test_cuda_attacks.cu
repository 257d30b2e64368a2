// tests/cuda/test_cuda_attacks.cu: attacks and denoiser gradients on Cuda against the CPU. The
// random starts and RGE directions are Philox streams, the same on both devices, so white-box and
// black-box PGD give the same adversarial images (double, up to the order of sums).
#include <trustml/attacks/pgd.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>
#include <trustml/smoothing/denoised.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

namespace {
template <class D>
std::shared_ptr<nn::zoo::FeaturesClassifier<double, D>> attacked_cnn() {
  return nn::zoo::SmallCnn<double, D>(1, 10, 6, 2);
}
}  // namespace

TEST_CASE("cuda attacks: PGD (white box and RGE) gives the CPU's adversarial images") {
  SKIP_WITHOUT_GPU();
  auto cpu = attacked_cnn<Cpu>();
  auto gpu = attacked_cnn<Cuda>();
  gpu->load_state_dict(cpu->state_dict());
  auto x = Tensor<double>::rand({6, 1, 28, 28}, 2);
  auto y = Tensor<std::int64_t>::from_vector({1, 4, 7, 2, 9, 0});
  auto compare = [&](const auto& ball) {
    CAPTURE(ball.name());
    attacks::PgdOptions o{.ball = ball, .steps = 5, .early_stop = false, .seed = 3};
    auto rc = attacks::pgd(*cpu, x, y, o);
    auto rg = attacks::pgd(*gpu, x.to<Cuda>(), y.to<Cuda>(), o);
    check_close<double>(rg.adversarial, rc.adversarial, 1e-8, "white-box PGD");
    CHECK(rg.success == rc.success);
    estimators::RandomZO rge({.mu = 1e-6, .queries = 8, .seed = 4});
    auto zc = attacks::pgd(*cpu, x, y, o, attacks::margin_objective<double, Cpu>(), rge);
    auto zg = attacks::pgd(*gpu, x.to<Cuda>(), y.to<Cuda>(), o, attacks::margin_objective<double, Cuda>(), rge);
    check_close<double>(zg.adversarial, zc.adversarial, 1e-8, "RGE PGD");
    CHECK(zg.queries == zc.queries);
  };
  compare(attacks::LinfBall{0.1});
  compare(attacks::L2Ball{1.0});
}

TEST_CASE("cuda attacks: a denoiser's RGE gradient through a black-box classifier matches the CPU") {
  SKIP_WITHOUT_GPU();
  auto cpu_classifier = attacked_cnn<Cpu>();
  auto gpu_classifier = attacked_cnn<Cuda>();
  gpu_classifier->load_state_dict(cpu_classifier->state_dict());
  auto cpu_denoiser = std::make_shared<nn::zoo::DnCNN<double, Cpu>>(1, 3, 2, 5);
  auto gpu_denoiser = std::make_shared<nn::zoo::DnCNN<double, Cuda>>(1, 3, 2, 5);
  gpu_denoiser->load_state_dict(cpu_denoiser->state_dict());
  auto x = Tensor<double>::rand({4, 1, 28, 28}, 8);
  auto t = Tensor<std::int64_t>::from_vector({3, 1, 4, 1});
  estimators::RandomZO rge({.mu = 1e-6, .queries = 6, .seed = 9});
  smoothing::DenoiserTraining<double, Cpu> on_cpu(*cpu_denoiser,
                                                  [&](const Tensor<double>& z) { return (*cpu_classifier)(z); },
                                                  {.sigma = 0.25, .mse_weight = 0.1, .seed = 2});
  smoothing::DenoiserTraining<double, Cuda> on_gpu(*gpu_denoiser,
                                                   [&](const Tensor<double, Cuda>& z) { return (*gpu_classifier)(z); },
                                                   {.sigma = 0.25, .mse_weight = 0.1, .seed = 2});
  auto sc = on_cpu.gradient(x, t, rge, 5);
  auto sg = on_gpu.gradient(x.to<Cuda>(), t.to<Cuda>(), rge, 5);
  CHECK(sg.loss == doctest::Approx(sc.loss).epsilon(1e-10));
  auto pc = cpu_denoiser->parameters();
  auto pg = gpu_denoiser->parameters();
  for (std::size_t i = 0; i < pc.size(); ++i) check_close<double>(pg[i].grad(), pc[i].grad(), 1e-6, "denoiser grad");
}
