// trustml/kernels/api.hpp: the kernel entry points every device implements.
//
// Ops call Kernels<D>::map / reduce / for_each / gemm. Each device specializes Kernels<D>
// (kernels/cpu/loops.hpp, kernels/cuda/loops.cuh). The primary template only fires a readable
// static_assert, so an op used on a device whose kernels are not compiled in fails to compile with
// trustml's message instead of silently falling back to another device.
//
// Element functors (kernels/functors.hpp) are shared by all devices: the loops differ, the math
// does not.
#pragma once

#include <cstdint>

#include "trustml/core/config.hpp"
#include "trustml/core/shape.hpp"

namespace trustml::kernels {

// A read-only operand: a pointer and the strides that map an output index to it (0 = broadcast).
template <class T>
struct Strided {
  const T* ptr;
  Strides strides;
};

// Batched row-major GEMM: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b].
template <class T>
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  std::int64_t m = 0, n = 0, k = 0, batch = 1;
  T alpha = T(1), beta = T(0);
  const T* a = nullptr;
  std::int64_t lda = 0, stride_a = 0;
  const T* b = nullptr;
  std::int64_t ldb = 0, stride_b = 0;
  T* c = nullptr;
  std::int64_t ldc = 0, stride_c = 0;
};

// The kernels of device D:
//   map(shape, out, f, Strided<In>... in)      out[i] = f(in[i]...) over a contiguous output of `shape`
//   reduce(shape, out_rank, out, in, red)      input viewed as [out dims..., reduced dims...];
//                                              out[o] = red.done(fold of red.step from red.init(), count)
//   for_each(n, f, work)                       f(i) for i in [0, n), concurrently: gathers, scatters, im2col;
//                                              work = elements each f(i) touches (decides threading on the CPU)
//   gemm(GemmArgs<T>)                          batched GEMM
//   per_element_threads                        constexpr bool: true where f(i) runs one thread each
//                                              (a GPU). Ops whose CPU functors walk a whole row or
//                                              plane per call (im2col, col2im, pooling) launch
//                                              element-wise functors there instead: a few hundred
//                                              long-running threads leave a GPU idle.
template <class D>
struct Kernels {
  template <class... Args>
  static void map(Args&&...) {
    static_assert(detail::dependent_false<D>,
                  "trustml: no kernels are compiled in for this device; for Cuda, compile the calling file with "
                  "nvcc and include <trustml/cuda.hpp>");
  }
  template <class... Args>
  static void reduce(Args&&...) {
    static_assert(detail::dependent_false<D>,
                  "trustml: no kernels are compiled in for this device; for Cuda, compile the calling file with "
                  "nvcc and include <trustml/cuda.hpp>");
  }
  template <class... Args>
  static void for_each(Args&&...) {
    static_assert(detail::dependent_false<D>,
                  "trustml: no kernels are compiled in for this device; for Cuda, compile the calling file with "
                  "nvcc and include <trustml/cuda.hpp>");
  }
  template <class... Args>
  static void gemm(Args&&...) {
    static_assert(detail::dependent_false<D>,
                  "trustml: no kernels are compiled in for this device; for Cuda, compile the calling file with "
                  "nvcc and include <trustml/cuda.hpp>");
  }
};

// The in-place, unnormalized 2-D FFT of device D over the last two dims of `batch` contiguous
// n0 x n1 complex slices: Fft<D>::fft2(data, batch, n0, n1, inverse) (kernels/cpu/fft.hpp with FFTW,
// kernels/cuda/fft.cuh with cuFFT).
template <class D>
struct Fft {
  template <class... Args>
  static void fft2(Args&&...) {
    static_assert(detail::dependent_false<D>,
                  "trustml: no FFT kernel is compiled in for this device; for Cuda, compile the calling file "
                  "with nvcc and include <trustml/cuda.hpp>");
  }
};

}  // namespace trustml::kernels
