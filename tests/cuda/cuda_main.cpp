// tests/cuda/cuda_main.cpp: the main of test_cuda. It runs the selected cases with doctest and exits
// 77 when cases were skipped for want of a GPU and none failed, so that CTest reports the GPU
// cases as skipped (SKIP_RETURN_CODE 77) instead of passing them silently.
#define DOCTEST_CONFIG_IMPLEMENT
#include "cuda/gpu_skip.hpp"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int failed = context.run();
  if (context.shouldExit() || failed != 0) return failed;
  return cuda_tests::gpu_cases_skipped > 0 ? 77 : 0;
}
