// tests/cuda/test_cuda_estimators.cu: zeroth-order estimates on Cuda against the CPU: staged CGE
// (delta forward, queries batched 64 to a forward on the GPU by default) and RGE, whose Philox
// directions are the same on both devices. In double with a small mu, so that the finite
// differences agree to far below the gradients' size.
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/nn.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

namespace {
template <class D>
std::shared_ptr<nn::zoo::FeaturesClassifier<double, D>> small_cnn() {
  return nn::zoo::SmallCnn<double, D>(1, 10, 4, 2);
}
std::vector<std::int64_t> labels() { return {1, 4, 7, 2, 9}; }
}  // namespace

TEST_CASE("cuda estimators: staged CGE and RGE give the CPU's gradients") {
  SKIP_WITHOUT_GPU();
  auto cpu = small_cnn<Cpu>();
  auto gpu = small_cnn<Cuda>();
  gpu->load_state_dict(cpu->state_dict());
  auto x = Tensor<double>::rand({5, 1, 28, 28}, 8);
  auto y = Tensor<std::int64_t>::from_vector(labels(), {5});
  estimators::CoordinateZO cge({.mu = 1e-6});
  estimators::estimate_staged(cge, cpu->stages(), x, estimators::cross_entropy_per_group<double, Cpu>(y));
  estimators::estimate_staged(cge, gpu->stages(), x.to<Cuda>(),
                              estimators::cross_entropy_per_group<double, Cuda>(y.to<Cuda>()));
  auto pc = cpu->parameters();
  auto pg = gpu->parameters();
  for (std::size_t i = 0; i < pc.size(); ++i) check_close<double>(pg[i].grad(), pc[i].grad(), 1e-6, "CGE grad");
  cpu->zero_grad();
  gpu->zero_grad();

  estimators::RandomZO rge({.mu = 1e-6, .queries = 4, .seed = 3});
  rge.estimate(
      estimators::ParameterProblem<double, Cpu>{*cpu, x,
                                                [&](const Tensor<double>& logits) { return cross_entropy(logits, y); }},
      {.step = 7});
  auto yg = y.to<Cuda>();
  rge.estimate(
      estimators::ParameterProblem<double, Cuda>{
          *gpu, x.to<Cuda>(), [&](const Tensor<double, Cuda>& logits) { return cross_entropy(logits, yg); }},
      {.step = 7});
  for (std::size_t i = 0; i < pc.size(); ++i) check_close<double>(pg[i].grad(), pc[i].grad(), 1e-6, "RGE grad");
}
