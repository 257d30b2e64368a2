// trustml/kernels/cuda/loops.cuh: Kernels<Cuda>: elementwise map, reduction, for_each and GEMM.
//
// Same semantics as Kernels<Cpu> (kernels/cpu/loops.hpp), on the trustml stream (Cuda::stream()),
// asynchronously: errors of a kernel that fails while running surface at the next synchronizing
// call (a copy to the host, Cuda::synchronize()) as trustml::Error.
//
//   map, for_each   Thrust for_each_n over a counting iterator with a functor that unravels the
//                   flat index; dimensions that every operand walks contiguously are merged on the
//                   host first, so a contiguous operand costs no integer division per element.
//   reduce          one thread per output in general. Reducers that can merge two partial results
//                   (a `combine` member, see Combinable) get blocks that fold in parallel and merge
//                   with CUB BlockReduce when the reduced extent is long; when there are few
//                   outputs (a full sum) each is split over many blocks and a second pass merges
//                   the parts. (CUB's DeviceReduce would do the same, but its kernels are ten times
//                   larger and dominated compile time.)
//   gemm            cuBLAS strided-batched GEMM, row-major arguments mapped onto column-major.
//
// nvcc only: include <trustml/cuda.hpp>.
#pragma once

#if !defined(__CUDACC__)
#error "trustml/kernels/cuda/loops.cuh needs nvcc: include <trustml/cuda.hpp> from a .cu file"
#endif

#include <cublas_v2.h>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system_error.h>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cub/block/block_reduce.cuh>
#include <cuda/std/complex>
#include <cuda/std/tuple>
#include <type_traits>
#include <utility>

#include "trustml/device/cuda.hpp"
#include "trustml/kernels/api.hpp"

namespace trustml::kernels {

namespace gpu {

// Offset of flat (row-major) index i into an operand of `shape` with `strides`. The outermost
// coordinate is what remains after the inner ones, so rank 1 costs no division.
TRUSTML_HD inline std::int64_t offset_of(std::int64_t i, const Shape& shape, const Strides& strides) {
  std::int64_t off = 0;
  for (int d = shape.rank - 1; d > 0; --d) {
    const std::int64_t extent = shape.dims[d];
    off += (i % extent) * strides.dims[d];
    i /= extent;
  }
  return shape.rank > 0 ? off + i * strides.dims[0] : off;
}

// Drops size-1 dimensions and merges neighbours that every operand (each `strides[k]`) steps
// through as one: stride[outer] == stride[inner] * extent[inner]. Row-major order is kept, so flat
// indices mean the same after as before. The caller's output must be contiguous in `shape`.
template <std::size_t N>
void coalesce(Shape& shape, Strides (&strides)[N]) {
  Shape s;
  Strides st[N];
  for (int d = shape.rank - 1; d >= 0; --d) {  // built innermost first, reversed below
    if (shape.dims[d] == 1) continue;
    bool merge = s.rank > 0;
    for (std::size_t k = 0; k < N && merge; ++k)
      merge = strides[k].dims[d] == st[k].dims[s.rank - 1] * s.dims[s.rank - 1];
    if (merge) {
      s.dims[s.rank - 1] *= shape.dims[d];
    } else {
      s.push_back(shape.dims[d]);
      for (std::size_t k = 0; k < N; ++k) st[k].push_back(strides[k].dims[d]);
    }
  }
  auto reversed = [](const Shape& x) {
    Shape r;
    for (int i = x.rank - 1; i >= 0; --i) r.push_back(x.dims[i]);
    return r;
  };
  shape = reversed(s);
  for (std::size_t k = 0; k < N; ++k) strides[k] = reversed(st[k]);
}

// out[i] = f(in_0[off_0(i)], ..., in_{N-1}[off_{N-1}(i)]) for a contiguous output.
template <class Out, class F, class... In>
struct MapFn {
  static constexpr std::size_t N = sizeof...(In);
  Out* out;
  F f;
  Shape shape;
  Strides strides[N > 0 ? N : 1];
  ::cuda::std::tuple<const In*...> in;

  TRUSTML_HD void operator()(std::int64_t i) const { out[i] = apply(i, std::index_sequence_for<In...>{}); }
  template <std::size_t... K>
  TRUSTML_HD Out apply(std::int64_t i, std::index_sequence<K...>) const {
    return f(::cuda::std::get<K>(in)[offset_of(i, shape, strides[K])]...);
  }
};

// The functor of map(shape, out, f, in...), with its dimensions coalesced.
template <class Out, class F, class... In>
MapFn<Out, F, In...> make_map(const Shape& shape, Out* out, F f, const Strided<In>&... in) {
  MapFn<Out, F, In...> fn{out, f, shape, {in.strides...}, {in.ptr...}};
  if constexpr (sizeof...(In) > 0) coalesce(fn.shape, fn.strides);
  else fn.shape = Shape{shape.numel()};
  return fn;
}

// Thrust's for_each_n on the trustml stream. par_nosync: the call returns once the kernel is
// queued, like every other trustml kernel; launch errors still throw.
template <class F>
void launch(std::int64_t n, const F& f) {
  if (n <= 0) return;
  try {
    thrust::for_each_n(thrust::cuda::par_nosync.on(Cuda::stream()), thrust::counting_iterator<std::int64_t>(0), n, f);
  } catch (const thrust::system_error& e) {
    detail::fail("cuda", "kernel launch (thrust::for_each_n over ", n, " elements) failed: ", e.what());
  }
}

// A reducer whose partial results over disjoint parts of the input can be merged, in any order:
// combine(a, b). Only order-independent reductions (sum, max, min) may define it.
template <class R>
using acc_t = decltype(std::declval<const R&>().init());
template <class R>
concept Combinable = requires(const R& r, acc_t<R> acc) {
  { r.combine(acc, acc) } -> std::convertible_to<acc_t<R>>;
};

// The reduction geometry after splitting [out dims..., reduced dims...] and coalescing each part.
struct ReduceShape {
  Shape out_shape, red_shape;
  Strides out_strides, red_strides;
  std::int64_t n_out, n_red;
};
inline ReduceShape split_reduce(const Shape& shape, int out_rank, const Strides& strides) {
  ReduceShape r;
  for (int d = 0; d < shape.rank; ++d) {
    (d < out_rank ? r.out_shape : r.red_shape).push_back(shape.dims[d]);
    (d < out_rank ? r.out_strides : r.red_strides).push_back(strides.dims[d]);
  }
  r.n_out = r.out_shape.numel();
  r.n_red = r.red_shape.numel();
  Strides out_st[1] = {r.out_strides}, red_st[1] = {r.red_strides};
  coalesce(r.out_shape, out_st);
  coalesce(r.red_shape, red_st);
  r.out_strides = out_st[0];
  r.red_strides = red_st[0];
  return r;
}

// One thread per output: folds the reduced elements in order, exactly as the CPU does.
template <class Out, class In, class R>
struct ReduceFn {
  Out* out;
  const In* in;
  ReduceShape g;
  R red;
  TRUSTML_HD void operator()(std::int64_t o) const {
    const In* p = in + offset_of(o, g.out_shape, g.out_strides);
    auto acc = red.init();
    for (std::int64_t j = 0; j < g.n_red; ++j) acc = red.step(acc, p[offset_of(j, g.red_shape, g.red_strides)], j);
    out[o] = red.done(acc, g.n_red);
  }
};

template <class R>
struct CombineFn {
  R red;
  template <class Acc>
  TRUSTML_HD Acc operator()(const Acc& a, const Acc& b) const {
    return red.combine(a, b);
  }
};

// Cooperative reduction: block t (grid-strided) reduces part t % splits of output t / splits; its
// threads fold strided shares of that part, then the block merges them (CUB BlockReduce).
inline constexpr int kReduceBlock = 256;
template <class Out, class In, class R>
__global__ void __launch_bounds__(kReduceBlock)
    block_reduce_kernel(Out* out, const In* in, ReduceShape g, R red, std::int64_t splits) {
  using Acc = acc_t<R>;
  using BlockReduce = cub::BlockReduce<Acc, kReduceBlock>;
  __shared__ typename BlockReduce::TempStorage scratch;
  const std::int64_t part = (g.n_red + splits - 1) / splits;
  for (std::int64_t t = blockIdx.x; t < g.n_out * splits; t += gridDim.x) {
    const std::int64_t lo = (t % splits) * part, hi = lo + part < g.n_red ? lo + part : g.n_red;
    const In* p = in + offset_of(t / splits, g.out_shape, g.out_strides);
    Acc acc = red.init();
    for (std::int64_t j = lo + threadIdx.x; j < hi; j += kReduceBlock)
      acc = red.step(acc, p[offset_of(j, g.red_shape, g.red_strides)], j);
    acc = BlockReduce(scratch).Reduce(acc, CombineFn<R>{red});
    if (threadIdx.x == 0) out[t] = red.done(acc, g.n_red);
    __syncthreads();  // scratch is reused by the next iteration
  }
}

// With several parts per output, the first pass keeps the parts' raw results (PartialRed) and a
// second pass merges each output's parts (MergeRed, whose `done` is the reducer's own).
template <class R>
struct PartialRed {
  R red;
  TRUSTML_HD acc_t<R> init() const { return red.init(); }
  template <class V>
  TRUSTML_HD acc_t<R> step(const acc_t<R>& acc, const V& x, std::int64_t j) const {
    return red.step(acc, x, j);
  }
  TRUSTML_HD acc_t<R> combine(const acc_t<R>& a, const acc_t<R>& b) const { return red.combine(a, b); }
  TRUSTML_HD acc_t<R> done(const acc_t<R>& acc, std::int64_t) const { return acc; }
};
template <class R>
struct MergeRed {
  R red;
  std::int64_t n_red;  // of the original reduction, for red.done
  TRUSTML_HD acc_t<R> init() const { return red.init(); }
  TRUSTML_HD acc_t<R> step(const acc_t<R>& acc, const acc_t<R>& x, std::int64_t) const { return red.combine(acc, x); }
  TRUSTML_HD acc_t<R> combine(const acc_t<R>& a, const acc_t<R>& b) const { return red.combine(a, b); }
  TRUSTML_HD auto done(const acc_t<R>& acc, std::int64_t) const { return red.done(acc, n_red); }
};

// Below kBlockReduceMin reduced elements one thread per output is as fast as a block. Each part
// of a split reduction covers at least kMinPart elements, and splitting stops once there are
// kTargetBlocks blocks in all (enough to fill the largest GPUs several times over).
inline constexpr std::int64_t kBlockReduceMin = 256, kMinPart = 16 * kReduceBlock, kTargetBlocks = 2048;

template <class Out, class In, class R>
void launch_block_reduce(Out* out, const In* in, const ReduceShape& g, const R& red, std::int64_t splits) {
  const std::int64_t tasks = g.n_out * splits;
  const unsigned blocks = static_cast<unsigned>(tasks < (1 << 30) ? tasks : (1 << 30));
  block_reduce_kernel<<<blocks, kReduceBlock, 0, Cuda::stream()>>>(out, in, g, red, splits);
  cuda_detail::check(cudaGetLastError(), "launch of block_reduce_kernel");
}

template <class Out, class In, class R>
void cooperative_reduce(Out* out, const In* in, const ReduceShape& g, const R& red) {
  std::int64_t splits = g.n_out >= kTargetBlocks ? 1 : kTargetBlocks / g.n_out;
  if (splits > g.n_red / kMinPart) splits = g.n_red / kMinPart;
  if (splits <= 1) return launch_block_reduce(out, in, g, red, 1);
  using Acc = acc_t<R>;
  // Freed as soon as both passes are queued: the block's next user is queued behind them.
  Acc* parts = Cuda::allocate<Acc>(static_cast<std::size_t>(g.n_out * splits));
  launch_block_reduce(parts, in, g, PartialRed<R>{red}, splits);
  ReduceShape merge;
  merge.out_shape = Shape{g.n_out};
  merge.out_strides = Strides{splits};
  merge.red_shape = Shape{splits};
  merge.red_strides = Strides{1};
  merge.n_out = g.n_out;
  merge.n_red = splits;
  launch_block_reduce(out, static_cast<const Acc*>(parts), merge, MergeRed<R>{red, g.n_red}, 1);
  Cuda::deallocate(parts, 0);
}

// The BLAS (column-major) form of a row-major GEMM. A row-major matrix is its transpose stored
// column-major, so row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the operands
// and m, n swap, and each transpose flag stays with its operand.
template <class T>
struct ColumnMajorGemm {
  bool trans_x, trans_y;
  std::int64_t m, n, k, batch;
  const T* x;
  std::int64_t ldx, stride_x;
  const T* y;
  std::int64_t ldy, stride_y;
  T* c;
  std::int64_t ldc, stride_c;
};
template <class T>
ColumnMajorGemm<T> column_major(const GemmArgs<T>& g) {
  return {g.trans_b,  g.trans_a, g.n,   g.m,        g.k, g.batch, g.b,       g.ldb,
          g.stride_b, g.a,       g.lda, g.stride_a, g.c, g.ldc,   g.stride_c};
}

inline void cublas_check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    detail::fail("cuda", call, " failed: ", cublasGetStatusString(status));
}

// One cuBLAS handle per thread (a handle must not be used by two threads at once), created on
// first use and destroyed with the thread.
inline cublasHandle_t cublas_handle() {
  struct Handle {
    cublasHandle_t h = nullptr;
    ~Handle() {
      if (h) (void)cublasDestroy(h);
    }
  };
  thread_local Handle handle;
  if (!handle.h) cublas_check(cublasCreate(&handle.h), "cublasCreate");
  cublas_check(cublasSetStream(handle.h, Cuda::stream()), "cublasSetStream");
  return handle.h;
}

}  // namespace gpu

template <>
struct Kernels<Cuda> {
  static constexpr bool per_element_threads = true;  // for_each launches a thread per item

  template <class Out, class F, class... In>
  static void map(const Shape& shape, Out* out, F f, Strided<In>... in) {
    const std::int64_t n = shape.numel();
    if (n == 0) return;
    gpu::launch(n, gpu::make_map(shape, out, f, in...));
  }

  template <class Out, class In, class R>
  static void reduce(const Shape& shape, int out_rank, Out* out, Strided<In> in, R red) {
    const gpu::ReduceShape g = gpu::split_reduce(shape, out_rank, in.strides);
    if (g.n_out == 0) return;
    if constexpr (gpu::Combinable<R>) {
      if (g.n_red >= gpu::kBlockReduceMin) return gpu::cooperative_reduce(out, in.ptr, g, red);
    }
    gpu::launch(g.n_out, gpu::ReduceFn<Out, In, R>{out, in.ptr, g, red});
  }

  template <class F>
  static void for_each(std::int64_t n, F f, std::int64_t /*work_per_item: one thread per item anyway*/ = 1) {
    gpu::launch(n, f);
  }

  // float, double, and their complex types (cuda::std::complex, laid out as cuComplex).
  template <class T>
  static void gemm(const GemmArgs<T>& args) {
    const gpu::ColumnMajorGemm<T> g = gpu::column_major(args);
    const std::int64_t sizes[] = {g.m, g.n, g.k, g.batch, g.ldx, g.ldy, g.ldc};
    for (std::int64_t v : sizes) TRUSTML_CHECK(v <= INT_MAX, "matmul", "size ", v, " exceeds cuBLAS's 32-bit limit");
    const cublasHandle_t h = gpu::cublas_handle();
    const cublasOperation_t tx = g.trans_x ? CUBLAS_OP_T : CUBLAS_OP_N, ty = g.trans_y ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
    const int ldx = static_cast<int>(g.ldx), ldy = static_cast<int>(g.ldy), ldc = static_cast<int>(g.ldc);
    const int batch = static_cast<int>(g.batch);
    // A batch stride of 0 (a broadcast operand) is valid for cuBLAS: every product reads the same matrix.
    auto call = [&](auto fn, auto cast) {
      return fn(h, tx, ty, m, n, k, cast(&args.alpha), cast(g.x), ldx, g.stride_x, cast(g.y), ldy, g.stride_y,
                cast(&args.beta), cast(g.c), ldc, g.stride_c, batch);
    };
    cublasStatus_t status;
    if constexpr (std::is_same_v<T, float>) {
      status = call(cublasSgemmStridedBatched, [](auto p) { return p; });
    } else if constexpr (std::is_same_v<T, double>) {
      status = call(cublasDgemmStridedBatched, [](auto p) { return p; });
    } else if constexpr (std::is_same_v<T, ::cuda::std::complex<float>>) {
      status = call(cublasCgemmStridedBatched, [](auto p) { return as<cuComplex>(p); });
    } else if constexpr (std::is_same_v<T, ::cuda::std::complex<double>>) {
      status = call(cublasZgemmStridedBatched, [](auto p) { return as<cuDoubleComplex>(p); });
    } else {
      static_assert(detail::dependent_false<T>, "trustml: cuBLAS GEMM supports float, double and their complex types");
    }
    gpu::cublas_check(status, "cublasXgemmStridedBatched");
  }

 private:
  // The cuBLAS view of a cuda::std::complex pointer, keeping constness.
  template <class C, class V>
  static auto as(V* p) {
    if constexpr (std::is_const_v<V>) return reinterpret_cast<const C*>(p);
    else return reinterpret_cast<C*>(p);
  }
};

}  // namespace trustml::kernels
