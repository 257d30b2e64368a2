// trustml/kernels/cpu/loops.hpp: Kernels<Cpu>: elementwise map, reduction, for_each and host tasks
// (GEMM in gemm.hpp; the optional fused entries in fft.hpp, cg.hpp and sense.hpp).
//
// Loops run in parallel with OpenMP when the work is large enough to pay for the threads; small
// tensors (the zeroth-order and smoothing regime) stay on the calling thread. GEMM goes to Eigen
// (which uses OpenMP itself), or to a CBLAS when TRUSTML_USE_BLAS is defined.
#pragma once

#include <algorithm>
#include <array>
#include <complex>
#include <cstdint>
#include <exception>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "trustml/device/cpu.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/kernels/cpu/vmath_avx512.hpp"

namespace trustml::kernels {

namespace cpu {
// Below this many elements a loop runs on one thread: spawning threads costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 1 << 16;

template <class F>
void parallel_for(std::int64_t n, std::int64_t work_per_item, F&& f) {
#if defined(_OPENMP)
  if (n > 1 && n * work_per_item >= kParallelGrain) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)work_per_item;
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

// Merges adjacent dims that every operand walks as one (stride[d] == stride[d + 1] * size[d + 1],
// which holds for broadcast dims too) and drops size-1 dims, in place: a [N, C, H, W] map whose
// operands are contiguous over H and W runs rows of H * W elements instead of W, with fewer index
// divisions per row. `strides` are the operands' strides over `shape`.
template <std::size_t N>
void coalesce_dims(Shape& shape, std::array<Strides*, N> strides) {
  int out = 0;
  for (int d = 0; d < shape.rank; ++d) {
    if (shape.dims[d] == 1 && shape.rank > 1) continue;
    bool merge = out > 0;
    for (auto* s : strides) merge = merge && s->dims[out - 1] == s->dims[d] * shape.dims[d];
    if (merge) {
      shape.dims[out - 1] *= shape.dims[d];
      for (auto* s : strides) s->dims[out - 1] = s->dims[d];
    } else {
      shape.dims[out] = shape.dims[d];
      for (auto* s : strides) s->dims[out] = s->dims[d];
      ++out;
    }
  }
  if (out == 0 && shape.rank > 0) {  // every dim had size 1
    shape.dims[0] = 1;
    for (auto* s : strides) s->dims[0] = 0;
    out = 1;
  }
  shape.rank = out;
  for (auto* s : strides) s->rank = out;
}

// Offset of row `row` (an index over all dims but the last) into an operand with `strides`.
inline std::int64_t row_offset(const Shape& shape, const Strides& strides, std::int64_t row) {
  std::int64_t off = 0;
  for (int d = shape.rank - 2; d >= 0; --d) {
    std::int64_t extent = shape.dims[d];
    off += (row % extent) * strides.dims[d];
    row /= extent;
  }
  return off;
}
}  // namespace cpu

template <>
struct Kernels<Cpu> {
  static constexpr bool per_element_threads = false;  // for_each splits [0, n) among the OpenMP threads

  template <class Out, class F, class... In>
  static void map(const Shape& full_shape, Out* out, F f, Strided<In>... in) {
    const std::int64_t n = full_shape.numel();
    if (n == 0) return;
    Shape shape = full_shape;
    Strides out_strides = contiguous_strides(shape);
    cpu::coalesce_dims(shape, std::array<Strides*, sizeof...(In) + 1>{&out_strides, &in.strides...});
    if ((is_contiguous(shape, in.strides) && ...)) {
      auto body = [&](std::int64_t lo, std::int64_t hi) { cpu::map_contiguous(f, out + lo, hi - lo, (in.ptr + lo)...); };
      const std::int64_t chunks = n >= cpu::kParallelGrain ? (n + 4095) / 4096 : 1;
      cpu::parallel_for(chunks, cpu::kParallelGrain,
                        [&](std::int64_t c) { body(c * n / chunks, (c + 1) * n / chunks); });
      return;
    }
    const std::int64_t inner = shape.rank ? shape.dims[shape.rank - 1] : 1;
    const std::int64_t rows = n / inner;
    cpu::parallel_for(rows, inner, [&](std::int64_t r) {
      Out* o = out + r * inner;
      auto run = [&](auto... base) {
        for (std::int64_t j = 0; j < inner; ++j) o[j] = f(base[j * in.strides.dims[shape.rank - 1]]...);
      };
      if (shape.rank == 0) {
        o[0] = f(in.ptr[0]...);
      } else {
        run((in.ptr + cpu::row_offset(shape, in.strides, r))...);
      }
    });
  }

  // Partial accumulators per row in reduce (a multiple of the SIMD width of floats).
  static constexpr int kLanes = 16;

  template <class Out, class In, class R>
  static void reduce(const Shape& shape, int out_rank, Out* out, Strided<In> in, R red) {
    Shape out_shape, red_shape;
    Strides out_strides, red_strides;
    for (int d = 0; d < shape.rank; ++d) {
      if (d < out_rank) {
        out_shape.push_back(shape.dims[d]);
        out_strides.push_back(in.strides.dims[d]);
      } else {
        red_shape.push_back(shape.dims[d]);
        red_strides.push_back(in.strides.dims[d]);
      }
    }
    Strides out_contiguous = contiguous_strides(out_shape);
    cpu::coalesce_dims(out_shape, std::array<Strides*, 2>{&out_strides, &out_contiguous});
    cpu::coalesce_dims(red_shape, std::array<Strides*, 1>{&red_strides});
    const std::int64_t n_out = out_shape.numel(), n_red = red_shape.numel();
    const std::int64_t inner = red_shape.rank ? red_shape.dims[red_shape.rank - 1] : 1;
    const std::int64_t inner_stride = red_shape.rank ? red_strides.dims[red_shape.rank - 1] : 0;
    cpu::parallel_for(n_out, n_red, [&](std::int64_t o) {
      std::int64_t base = 0, rem = o;
      for (int d = out_shape.rank - 1; d >= 0; --d) {
        base += (rem % out_shape.dims[d]) * out_strides.dims[d];
        rem /= out_shape.dims[d];
      }
      auto acc = red.init();
      std::int64_t j = 0;
      for (std::int64_t row = 0; row < n_red / std::max<std::int64_t>(inner, 1); ++row) {
        const In* p = in.ptr + base + (red_shape.rank ? cpu::row_offset(red_shape, red_strides, row) : 0);
        std::int64_t k = 0;
        if constexpr (requires { red.combine(acc, acc); }) {
          // Independent partial results over a contiguous row: no loop-carried dependency on one
          // accumulator, so the loop vectorizes (a single running sum waits 4 cycles per element).
          if (inner_stride == 1 && inner >= 4 * kLanes) {
            decltype(acc) part[kLanes];
            for (int q = 0; q < kLanes; ++q) part[q] = red.init();
            for (; k + kLanes <= inner; k += kLanes)
              for (int q = 0; q < kLanes; ++q) part[q] = red.step(part[q], p[k + q], j + k + q);
            for (int q = 0; q < kLanes; ++q) acc = red.combine(acc, part[q]);
            j += k;
          }
        }
        for (; k < inner; ++k, ++j) acc = red.step(acc, p[k * inner_stride], j);
      }
      out[o] = red.done(acc, n_red);
    });
  }

  // Multiply-adds below which one product of a batched GEMM gets one thread, not several.
  static constexpr std::int64_t kSmallGemm = std::int64_t{1} << 21;

  template <class F>
  static void for_each(std::int64_t n, F f, std::int64_t work_per_item = 1) {
    cpu::parallel_for(n, work_per_item, f);
  }

  // Host tasks that launch kernels of their own share out the OpenMP threads in one parallel region,
  // each task's kernels running on its thread (loops inside do not fork again, and OpenBLAS's OpenMP
  // build runs single-threaded inside a region): a region per kernel of every task costs more in
  // thread wake-ups than small kernels take. An exception must not leave the region: the first one
  // (a failed allocation) is rethrown after it.
  template <class F>
  static void for_each_task(std::int64_t n, std::int64_t work_per_task, F&& f) {
    std::exception_ptr error;
    std::mutex error_mutex;
    cpu::parallel_for(n, work_per_task, [&](std::int64_t i) {
      try {
        f(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
    if (error) std::rethrow_exception(error);
  }

  // Defined in kernels/cpu/gemm.hpp (Eigen, or a CBLAS), which ops/common.hpp includes: the
  // elementwise loops above are all a Tensor needs, and they need no Eigen.
  template <class T>
  static void gemm(const GemmArgs<T>& g);

  // The optional entries of kernels/api.hpp, each defined in the header of the op family that uses
  // it (which that op's header includes), so that a Tensor needs neither FFTW nor their code.
  // kernels/cpu/fft.hpp:
  template <class V, class R>
  static void roll2(const V* src, V* out, std::int64_t rows, std::int64_t n0, std::int64_t n1, std::int64_t h0,
                    std::int64_t h1, R scale);
  // kernels/cpu/cg.hpp:
  template <class V>
  static std::vector<double> cg_curvature(std::int64_t systems, std::int64_t n, const V* p, const V* q,
                                          const double* lambda);
  template <class V>
  static std::vector<double> cg_update(std::int64_t systems, std::int64_t n, const double* alpha, const double* lambda,
                                       const V* x, const V* r, const V* p, const V* q, V* x_next, V* r_next);
  template <class V>
  static void cg_direction(std::int64_t systems, std::int64_t n, const double* beta, const V* r, const V* p, V* p_next);
  // kernels/cpu/sense.hpp:
  template <class V>
  static void sense_normal(const SenseNormalArgs<V>& a);
};

}  // namespace trustml::kernels
