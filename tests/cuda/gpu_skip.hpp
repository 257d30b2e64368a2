// tests/cuda/gpu_skip.hpp: how a CUDA test case steps aside on a machine without a GPU, and how the
// run then says so. Host-compilable (no nvcc needed), so test_cuda_host.cpp and cuda_main.cpp use it.
//
// A case that needs a GPU starts with SKIP_WITHOUT_GPU(); without one it returns at once and is
// counted. cuda_main.cpp turns a run in which cases were skipped, and none failed, into exit code
// 77, which CTest reports as "Skipped" (SKIP_RETURN_CODE), never as a silent pass.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <trustml/device/cuda.hpp>

namespace cuda_tests {

inline int gpu_cases_skipped = 0;

// Whether a GPU is present; without one the first call prints a banner.
inline bool have_gpu() {
  static const bool available = [] {
    const bool a = trustml::Cuda::available();
    if (!a) std::printf("trustml CUDA tests: no CUDA device found; every GPU test case is SKIPPED\n");
    return a;
  }();
  return available;
}

}  // namespace cuda_tests

#define SKIP_WITHOUT_GPU()                \
  do {                                    \
    if (!::cuda_tests::have_gpu()) {      \
      ++::cuda_tests::gpu_cases_skipped;  \
      MESSAGE("SKIPPED: no CUDA device"); \
      return;                             \
    }                                     \
  } while (0)
