// tests/cuda/cuda_support.hpp: what the CUDA tests share: skipping without a GPU, and comparing a
// result computed on the GPU with the same computation on the CPU.
//
// Tolerances (relative to the larger of 1 and the CPU value's magnitude, see check_close):
//   float 1e-5, double 1e-10 for elementwise math: the device math library and libcu++'s complex
//   functions are within a few ulps of glibc / libstdc++ but not bit-identical;
//   sums and products over k terms are compared with a tolerance that grows with k (the GPU adds
//   in a different order).
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <trustml/cuda.hpp>
#include <vector>

#include "cuda/gpu_skip.hpp"

namespace cuda_tests {

using trustml::Cpu;
using trustml::Cuda;
using trustml::Shape;
using trustml::Tensor;

template <class T>
constexpr double default_rtol() {
  return std::is_same_v<trustml::real_t<T>, float> ? 1e-5 : 1e-10;
}

// |got - want| <= rtol * max(1, |want|) elementwise, reporting the first mismatches.
template <class T>
void check_close(const std::vector<T>& got, const std::vector<T>& want, double rtol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(got[i] - want[i]), scale = std::max(1.0, double(std::abs(want[i])));
    if (err <= rtol * scale) continue;
    if (++bad <= 3) MESSAGE(what << ": element " << i << ": gpu " << got[i] << ", cpu " << want[i]);
  }
  INFO(what << ": " << bad << " of " << want.size() << " elements differ beyond rtol " << rtol);
  CHECK(bad == 0);
}
template <class T>
void check_close(const Tensor<T, Cuda>& got, const Tensor<T, Cpu>& want, double rtol, const std::string& what) {
  INFO(what << ": gpu shape " << got.shape() << ", cpu shape " << want.shape());
  REQUIRE(got.shape() == want.shape());
  check_close(got.to_vector(), want.to_vector(), rtol, what);
}

// f(inputs) on the CPU and f(inputs moved to the GPU), compared.
template <class F, class... In>
void compare(const std::string& what, F f, double rtol, const In&... cpu) {
  auto want = f(cpu...);
  auto got = f(cpu.template to<Cuda>()...);
  using T = typename decltype(want)::value_type;
  check_close<T>(got, want, rtol, what);
}

// The gradients of sum(f(inputs)) on both devices, compared input by input (and the values too).
template <class F, class T>
void compare_grad(const std::string& what, F f, double rtol, const std::vector<Tensor<T, Cpu>>& inputs) {
  std::vector<Tensor<T, Cpu>> xc;
  std::vector<Tensor<T, Cuda>> xg;
  for (const auto& x : inputs) {
    xc.push_back(x.detach().contiguous().set_requires_grad());
    xg.push_back(x.template to<Cuda>().detach().set_requires_grad());
  }
  auto yc = trustml::sum(f(xc));
  auto yg = trustml::sum(f(xg));
  check_close<T>(yg, yc, rtol, what + " (value)");
  yc.backward();
  yg.backward();
  for (std::size_t i = 0; i < xc.size(); ++i) {
    REQUIRE(xg[i].grad().defined() == xc[i].grad().defined());
    if (xc[i].grad().defined())
      check_close<T>(xg[i].grad(), xc[i].grad(), rtol, what + " (gradient of input " + std::to_string(i) + ")");
  }
}

}  // namespace cuda_tests
