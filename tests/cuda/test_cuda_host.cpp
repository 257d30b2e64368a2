// tests/cuda/test_cuda_host.cpp: trustml/device/cuda.hpp in a file compiled by the host compiler
// (g++, not nvcc): the Cuda type, its element types, memory and copies are usable without nvcc;
// only ops (kernels) need nvcc.
#include "cuda/gpu_skip.hpp"

#include <complex>
#include <cstdio>
#include <trustml/device/cuda.hpp>
#include <trustml/trustml.hpp>
#include <type_traits>
#include <vector>

#if defined(__CUDACC__)
#error "this file checks that trustml/device/cuda.hpp compiles without nvcc"
#endif

using trustml::Cuda;

static_assert(std::is_same_v<Cuda::value_t<double>, double>);
static_assert(std::is_same_v<Cuda::value_t<std::complex<float>>, cuda::std::complex<float>>);
static_assert(trustml::Device<Cuda>);

TEST_CASE("cuda host compiler: device policy without nvcc") {
  CHECK_NOTHROW(Cuda::available());
  CHECK(trustml::CudaCachingAllocator::bucket(100) == 512);
}

TEST_CASE("cuda: a host-compiled file makes, fills and reads back a GPU tensor") {
  SKIP_WITHOUT_GPU();
  // A tensor on the GPU made, filled and read back with the policy's copies only.
  auto t = trustml::Tensor<std::complex<double>, Cuda>::empty({3});
  const std::vector<std::complex<double>> in = {{1, 2}, {3, 4}, {5, -6}};
  std::vector<std::complex<double>> out(3);
  Cuda::copy_from_host(t.data(), in.data(), in.size());
  Cuda::copy_to_host(out.data(), t.data(), out.size());
  CHECK(out == in);
  CHECK(Cuda::memory_stats().bytes_in_use >= 48);
}
