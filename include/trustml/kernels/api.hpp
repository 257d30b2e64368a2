// trustml/kernels/api.hpp: the kernel entry points every device implements.
//
// Ops call Kernels<D>::map / reduce / for_each / gemm, and the optional entries a device may add
// (listed below) where it has them. Each device specializes Kernels<D>
// (kernels/cpu/loops.hpp, kernels/cuda/loops.cuh). The primary template only fires a readable
// static_assert, so an op used on a device whose kernels are not compiled in fails to compile with
// trustml's message instead of silently falling back to another device.
//
// Element functors (kernels/functors.hpp) are shared by all devices: the loops differ, the math
// does not.
#pragma once

#include <cstdint>
#include <vector>

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

// The operands of Kernels<D>::sense_normal (optional, see below): out = A^H A x for the SENSE model
// A = M F S of mri/sense.hpp (F the centred orthonormal 2-D FFT), all arrays contiguous, complex V.
template <class V>
struct SenseNormalArgs {
  std::int64_t batch = 0, coils = 0, n0 = 0, n1 = 0;  // n0 x n1 images, both even
  const V* x = nullptr;                               // [batch, n0, n1]
  const V* maps = nullptr;                            // S: [map_sets, coils, n0, n1], map_sets 1 or batch
  std::int64_t map_sets = 1;
  const V* mask = nullptr;  // M: [mask_sets, mask_coils, n0, n1], mask_sets 1 or batch, mask_coils 1 or coils
  std::int64_t mask_sets = 1, mask_coils = 1;
  const std::vector<int>* columns = nullptr;  // per mask slice, the columns where it is not zero, ascending
  V* work = nullptr;                          // scratch of [batch, coils, n0, n1]
  V* out = nullptr;                           // [batch, n0, n1]
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
//
// Optional entries: fused or host-side versions of what ops otherwise compose from the entries
// above. An op asks whether Kernels<D> has one (a requires-expression on the call) and, where D
// lacks it, runs its generic path, which gives the same results up to rounding (Kernels<Cuda> has
// none of them). The CPU declares them in kernels/cpu/loops.hpp and defines each in the header of
// the op family that uses it.
//   for_each_task(n, work, f)                  f(i) for i in [0, n), where f is host code that launches
//                                              kernels itself (conv2d's batch chunks) and may throw;
//                                              the calls may run concurrently, and the first
//                                              exception is rethrown once all have ended. Without
//                                              it: the calls run in order on the calling thread.
//   roll2(src, out, rows, n0, n1, h0, h1, s)   out[b, i, j] = s * src[b, (i + h0) % n0, (j + h1) % n1]
//                                              over contiguous [rows / n0, n0, n1] data, 0 <= h <= n
//                                              (fft2c's shifts). Without it: a strided gather
//                                              through for_each, one element per call.
//   cg_curvature(S, n, p, q, lambda)           returns Re <p, q> + lambda ||p||^2 per system
//   cg_update(S, n, alpha, lambda, x, r, p, q, x_next, r_next)
//                                              x_next = x + alpha p, r_next = r - alpha (q + lambda p);
//                                              returns ||r_next||^2 per system
//   cg_direction(S, n, beta, r, p, p_next)     p_next = r + beta p
//                                              The vector work of a CG iteration given q = N p, in
//                                              three passes over contiguous [S, n] data of S systems;
//                                              per-system scalars are host arrays of S doubles, sums
//                                              are in double, in an order that does not depend on
//                                              the thread count. cg_solve uses them where all three
//                                              exist; without them an iteration is ~14 elementwise
//                                              ops and reductions.
//   sense_normal(SenseNormalArgs<V>)           MRI's normal operator A^H A of SenseOp in one pass
//                                              per coil (even n0 and n1 only). Without it:
//                                              SenseOp::normal, composed from fft2c, ifft2c and
//                                              elementwise ops.
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
