// trustml/cuda.hpp: the umbrella header of the library with the CUDA device, for files compiled by
// nvcc (.cu files, or sources with LANGUAGE CUDA). Link the CMake target trustml::cuda.
//
//   auto x = trustml::Tensor<float, trustml::Cuda>::randn({64, 128}, /*seed=*/1);
//   auto y = trustml::relu(trustml::matmul(x, w)).sum();
//
// Plain C++ files may include trustml/device/cuda.hpp alone to name Tensor<T, Cuda> and copy data,
// but every op on a Cuda tensor must be instantiated in a file that includes this header.
#pragma once

#if !defined(__CUDACC__)
#error \
    "trustml/cuda.hpp must be compiled by nvcc (a .cu file, or a source with LANGUAGE CUDA); plain C++ files may include trustml/device/cuda.hpp for the Cuda type and memory functions only"
#endif

// Eigen 3.4 (used by the CPU kernels) marks defaulted special members __host__ __device__, which
// nvcc warns about once per declaration; harmless, so silenced here, around Eigen only.
#pragma nv_diagnostic push
#pragma nv_diag_suppress 20012
#include <Eigen/Core>
#pragma nv_diagnostic pop

#include "trustml/device/cuda.hpp"
#include "trustml/kernels/cuda/fft.cuh"
#include "trustml/kernels/cuda/loops.cuh"
#include "trustml/trustml.hpp"
