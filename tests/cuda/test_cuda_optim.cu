// tests/cuda/test_cuda_optim.cu: optimizer steps and gradient clipping on Cuda against the CPU.
// Tolerances: see cuda_support.hpp (nvcc contracts a * b + c into FMAs, the host compiler may not).
#include <trustml/optim/adam.hpp>
#include <trustml/optim/clip.hpp>
#include <trustml/optim/sgd.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;
using namespace trustml::optim;

namespace {

// The same leaves on each device: a contiguous one and a transposed (strided) one.
template <class T, class D>
std::vector<Tensor<T, D>> make_params() {
  auto a = Tensor<T>::randn({5, 7}, 1).template to<D>();
  auto b = Tensor<T>::randn({4, 3}, 2).template to<D>().transpose(0, 1);
  return {a.detach().set_requires_grad(), b.detach().set_requires_grad()};
}
// The gradient of step `t` for parameter `k`.
template <class T, class D>
Tensor<T, D> make_grad(const Shape& shape, std::uint64_t t, std::size_t k) {
  return Tensor<T>::randn(shape, 100 + 10 * t + k).template to<D>();
}

// Three steps of the optimizer `make(params)` builds, on both devices; parameters and state compared.
template <class T, class Make>
void compare_steps(const std::string& what, Make make) {
  auto cpu = make_params<T, Cpu>();
  auto gpu = make_params<T, Cuda>();
  auto cpu_opt = make(cpu);
  auto gpu_opt = make(gpu);
  for (std::uint64_t t = 0; t < 3; ++t) {
    for (std::size_t k = 0; k < cpu.size(); ++k) {
      cpu[k].set_grad(make_grad<T, Cpu>(cpu[k].shape(), t, k));
      gpu[k].set_grad(make_grad<T, Cuda>(gpu[k].shape(), t, k));
    }
    cpu_opt.step();
    gpu_opt.step();
  }
  const double tol = default_rtol<T>();
  for (std::size_t k = 0; k < cpu.size(); ++k) check_close(gpu[k], cpu[k], tol, what + " param " + std::to_string(k));
  const auto cpu_state = cpu_opt.state();
  const auto gpu_state = gpu_opt.state();
  REQUIRE(cpu_state.size() == gpu_state.size());
  for (std::size_t k = 0; k < cpu_state.size(); ++k) {
    CHECK(gpu_state[k].first == cpu_state[k].first);
    check_close(gpu_state[k].second, cpu_state[k].second, tol, what + " " + cpu_state[k].first);
  }
}

template <class T>
void optimizers() {
  compare_steps<T>("SGD momentum", [](const auto& params) {
    using P = typename std::decay_t<decltype(params)>::value_type;
    return SGD<T, typename P::device_type>(params,
                                           {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
  });
  compare_steps<T>("SGD nesterov", [](const auto& params) {
    using P = typename std::decay_t<decltype(params)>::value_type;
    return SGD<T, typename P::device_type>(params, {.lr = 0.05, .momentum = 0.8, .nesterov = true});
  });
  compare_steps<T>("Adam", [](const auto& params) {
    using P = typename std::decay_t<decltype(params)>::value_type;
    return Adam<T, typename P::device_type>(params, {.lr = 0.01, .weight_decay = 0.05});
  });
  compare_steps<T>("AdamW amsgrad", [](const auto& params) {
    using P = typename std::decay_t<decltype(params)>::value_type;
    return AdamW<T, typename P::device_type>(params, {.lr = 0.01, .amsgrad = true});
  });
}

template <class T>
void clipping() {
  const double tol = default_rtol<T>();
  for (double norm_type : {2.0, 1.0, 3.0, kInfNorm}) {
    auto cpu = make_params<T, Cpu>();
    auto gpu = make_params<T, Cuda>();
    for (std::size_t k = 0; k < cpu.size(); ++k) {
      cpu[k].set_grad(make_grad<T, Cpu>(cpu[k].shape(), 0, k));
      gpu[k].set_grad(make_grad<T, Cuda>(gpu[k].shape(), 0, k));
    }
    const std::string what = "clip_grad_norm_ of order " + std::to_string(norm_type);
    const double cpu_norm = clip_grad_norm_(cpu, 0.5, norm_type), gpu_norm = clip_grad_norm_(gpu, 0.5, norm_type);
    INFO(what << ": gpu " << gpu_norm << ", cpu " << cpu_norm);
    CHECK(std::abs(gpu_norm - cpu_norm) <= 1e-12 * cpu_norm);  // both accumulate in double
    for (std::size_t k = 0; k < cpu.size(); ++k) check_close(gpu[k].grad(), cpu[k].grad(), tol, what);
    clip_grad_value_(cpu, 0.01);
    clip_grad_value_(gpu, 0.01);
    for (std::size_t k = 0; k < cpu.size(); ++k) check_close(gpu[k].grad(), cpu[k].grad(), tol, "clip_grad_value_");
  }
}

}  // namespace

TEST_CASE("cuda optim: SGD and Adam steps, float") {
  SKIP_WITHOUT_GPU();
  optimizers<float>();
}
TEST_CASE("cuda optim: SGD and Adam steps, double") {
  SKIP_WITHOUT_GPU();
  optimizers<double>();
}
TEST_CASE("cuda optim: gradient clipping") {
  SKIP_WITHOUT_GPU();
  clipping<float>();
  clipping<double>();
}
