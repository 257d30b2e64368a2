// trustml/kernels/cpu/fft.hpp: Fft<D>, the device entry point of the 2-D FFT, and its CPU
// implementation on FFTW.
//
//   Fft<D>::fft2(data, batch, n0, n1, inverse)
//     in place over `batch` contiguous n0 x n1 complex slices, unnormalized (FFTW's and cuFFT's
//     convention): forward uses exp(-2 pi i jk / n), inverse exp(+2 pi i jk / n).
//   cpu::masked_round_trip(slice, n0, n1, weights, columns)   (CPU only)
//     slice <- F^H diag(w) F slice on one slice, skipping the columns where w is zero: the k-space
//     part of MRI's normal operator A^H A (kernels/cpu/sense.hpp).
//   Kernels<Cpu>::roll2(src, out, rows, n0, n1, h0, h1, scale)   (optional entry, kernels/api.hpp)
//     the cyclic shifts of fft2c (ops/fft.hpp) on contiguous data, a row at a time.
//
// The primary template only fires a static_assert, as Kernels<D> does, so that a device gets an FFT
// by specializing Fft<D> (cuFFT for Cuda) and never falls back to the CPU silently.
//
// A 2-D transform is computed as two passes of 1-D transforms, not by FFTW's 2-D planner: the rows
// (contiguous) in place, then the columns in blocks, each block gathered into a small contiguous
// buffer, transformed as rows there and scattered back. Why: plans are made with FFTW_ESTIMATE (from
// heuristics, not timings, so the same input gives bit-identical output run after run), and for
// 256 x 256 FFTW_ESTIMATE's 2-D plan transforms the columns in place at a stride of 2 KiB, which
// thrashes the cache: 13.9 ms for eight forward transforms on one core of this project's machine,
// against 1.2 ms for the plan FFTW_MEASURE finds (whose choice, from timings, may change between
// runs).
// The two passes take about the time of the measured plan and stay deterministic. They also let the
// masked round trip skip the column transforms of unsampled k-space columns.
//
// FFTW plans are made once per (length, count, direction, alignment, precision) and cached for the
// life of the process. FFTW's planner is not thread-safe (only execution is): planning is serialized
// by one mutex per precision, and execution of a cached plan runs on many threads at once, one slice
// each, each thread with its own column buffer. Code outside trustml that plans with FFTW in the
// same process must not do so concurrently with a first-time trustml FFT.
#pragma once

#include <fftw3.h>

#include <algorithm>
#include <climits>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "trustml/core/config.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/kernels/cpu/loops.hpp"

namespace trustml::kernels {

namespace cpu {
// FFTW's API for one precision (fftw_* for double, fftwf_* for float).
template <class R>
struct Fftw;
template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  static Plan plan(int n, int howmany, Complex* p, int sign, unsigned flags) {
    return fftw_plan_many_dft(1, &n, howmany, p, nullptr, 1, n, p, nullptr, 1, n, sign, flags);
  }
  static void execute(Plan plan, Complex* p) { fftw_execute_dft(plan, p, p); }
  static void destroy(Plan plan) { fftw_destroy_plan(plan); }
  static Complex* alloc(std::size_t n) { return fftw_alloc_complex(n); }
  static void free(Complex* p) { fftw_free(p); }
  static int alignment_of(Complex* p) { return fftw_alignment_of(reinterpret_cast<double*>(p)); }
};
template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  static Plan plan(int n, int howmany, Complex* p, int sign, unsigned flags) {
    return fftwf_plan_many_dft(1, &n, howmany, p, nullptr, 1, n, p, nullptr, 1, n, sign, flags);
  }
  static void execute(Plan plan, Complex* p) { fftwf_execute_dft(plan, p, p); }
  static void destroy(Plan plan) { fftwf_destroy_plan(plan); }
  static Complex* alloc(std::size_t n) { return fftwf_alloc_complex(n); }
  static void free(Complex* p) { fftwf_free(p); }
  static int alignment_of(Complex* p) { return fftwf_alignment_of(reinterpret_cast<float*>(p)); }
};

// The process-wide cache of plans of one precision: `howmany` in-place 1-D transforms of length n
// over consecutive lines (line k at offset k n).
template <class R>
class FftwPlans {
  using API = Fftw<R>;

 public:
  // An `aligned` plan may use SIMD loads and only runs on arrays with FFTW's SIMD alignment; the
  // other is planned with FFTW_UNALIGNED and runs on any array.
  static typename API::Plan get(int n, int howmany, bool inverse, bool aligned) {
    static FftwPlans cache;
    std::lock_guard<std::mutex> lock(cache.mutex_);
    auto [it, fresh] = cache.plans_.try_emplace(std::make_tuple(n, howmany, inverse, aligned), nullptr);
    if (fresh) {
      // The planner needs arrays to plan on; FFTW_ESTIMATE reads and writes neither.
      typename API::Complex* scratch = API::alloc(static_cast<std::size_t>(n) * static_cast<std::size_t>(howmany));
      it->second = API::plan(n, howmany, scratch, inverse ? FFTW_BACKWARD : FFTW_FORWARD,
                             FFTW_ESTIMATE | (aligned ? 0u : FFTW_UNALIGNED));
      API::free(scratch);
      if (!it->second) {
        cache.plans_.erase(it);
        detail::fail("fft2", "FFTW could not plan ", howmany, " transforms of length ", n);
      }
    }
    return it->second;
  }

  FftwPlans(const FftwPlans&) = delete;
  FftwPlans& operator=(const FftwPlans&) = delete;
  ~FftwPlans() {
    for (auto& entry : plans_) API::destroy(entry.second);
  }

 private:
  FftwPlans() = default;
  std::mutex mutex_;
  std::map<std::tuple<int, int, bool, bool>, typename API::Plan> plans_;
};

// The calling thread's column buffer of at least n elements, SIMD-aligned (FFTW's allocator), kept
// for the life of the thread and grown when a larger one is asked for.
template <class R>
std::complex<R>* fft_scratch(std::size_t n) {
  struct Free {
    void operator()(typename Fftw<R>::Complex* p) const { Fftw<R>::free(p); }
  };
  thread_local std::unique_ptr<typename Fftw<R>::Complex, Free> buffer;
  thread_local std::size_t size = 0;
  if (size < n) {
    buffer.reset(Fftw<R>::alloc(n));
    TRUSTML_CHECK(buffer != nullptr, "fft2", "could not allocate an FFT buffer of ", n, " complex values");
    size = n;
  }
  return reinterpret_cast<std::complex<R>*>(buffer.get());
}

// Columns per block of the column pass: 16 complex floats are two cache lines of each row, and a
// 256-row block (32 KiB) stays in the L1/L2 cache through gather, transform and scatter.
inline constexpr int kFftColumnBlock = 16;

// In place: `lines` consecutive transforms of length n starting at p, one FFTW call.
template <class R>
void fft_lines(std::complex<R>* p, int lines, int n, bool inverse, bool aligned) {
  auto* q = reinterpret_cast<typename Fftw<R>::Complex*>(p);
  Fftw<R>::execute(FftwPlans<R>::get(n, lines, inverse, aligned), q);
}

// Block buf[k][i] = slice[i][columns[k]] for k < count (a transpose of `count` columns).
template <class R>
void gather_columns(const std::complex<R>* slice, int n0, int n1, const int* columns, int count, std::complex<R>* buf) {
  for (int i = 0; i < n0; ++i) {
    const std::complex<R>* row = slice + static_cast<std::int64_t>(i) * n1;
    for (int k = 0; k < count; ++k) buf[static_cast<std::int64_t>(k) * n0 + i] = row[columns[k]];
  }
}
template <class R>
void scatter_columns(const std::complex<R>* buf, int n0, int n1, const int* columns, int count,
                     std::complex<R>* slice) {
  for (int i = 0; i < n0; ++i) {
    std::complex<R>* row = slice + static_cast<std::int64_t>(i) * n1;
    for (int k = 0; k < count; ++k) row[columns[k]] = buf[static_cast<std::int64_t>(k) * n0 + i];
  }
}

// The 2-D transform of one n0 x n1 slice in place: rows, then columns in blocks. `aligned` says the
// slice start has FFTW's SIMD alignment (the column buffer always has).
template <class R>
void fft2_slice(std::complex<R>* slice, int n0, int n1, bool inverse, bool aligned) {
  fft_lines(slice, n0, n1, inverse, aligned);
  std::complex<R>* buf = fft_scratch<R>(static_cast<std::size_t>(kFftColumnBlock) * static_cast<std::size_t>(n0));
  int columns[kFftColumnBlock];
  for (int j0 = 0; j0 < n1; j0 += kFftColumnBlock) {
    const int count = std::min(kFftColumnBlock, n1 - j0);
    for (int k = 0; k < count; ++k) columns[k] = j0 + k;
    gather_columns(slice, n0, n1, columns, count, buf);
    fft_lines(buf, count, n0, inverse, true);
    scatter_columns(buf, n0, n1, columns, count, slice);
  }
}

// slice <- F^H diag(w) F slice for one n0 x n1 slice (F the unnormalized 2-D DFT, so w carries any
// 1 / (n0 n1)), where w[i][j] = weight(i, j), a real weight, and `columns` lists, ascending, the
// `count` columns j where w is not zero everywhere. F's row pass runs on every row, but the column
// transforms (forward, weighting and inverse in one gather and scatter) run only on the listed
// columns, and the others, whose weight is zero, are set to zero: with a 4x column mask that is a
// quarter of the column work. `aligned` as in fft2_slice.
template <class R, class Weight>
void masked_round_trip(std::complex<R>* slice, int n0, int n1, const Weight& weight, const int* columns, int count,
                       bool aligned) {
  fft_lines(slice, n0, n1, false, aligned);
  std::complex<R>* buf = fft_scratch<R>(static_cast<std::size_t>(kFftColumnBlock) * static_cast<std::size_t>(n0));
  for (int k0 = 0; k0 < count; k0 += kFftColumnBlock) {
    const int m = std::min(kFftColumnBlock, count - k0);
    gather_columns(slice, n0, n1, columns + k0, m, buf);
    fft_lines(buf, m, n0, false, true);
    for (int k = 0; k < m; ++k) {
      std::complex<R>* line = buf + static_cast<std::int64_t>(k) * n0;
      for (int i = 0; i < n0; ++i) line[i] *= weight(i, columns[k0 + k]);
    }
    fft_lines(buf, m, n0, true, true);
    scatter_columns(buf, n0, n1, columns + k0, m, slice);
  }
  // Zero the unlisted columns, row by row (the listed ones are ascending).
  for (int i = 0; i < n0; ++i) {
    std::complex<R>* row = slice + static_cast<std::int64_t>(i) * n1;
    int next = 0;
    for (int j = 0; j < n1; ++j) {
      if (next < count && columns[next] == j) ++next;
      else row[j] = std::complex<R>(0);
    }
  }
  fft_lines(slice, n0, n1, true, aligned);
}

// Whether every slice start p + b slice of a batch has FFTW's SIMD alignment (decided from the
// first two starts, which fix all of them), so that one plan serves the whole batch and a slice's
// result does not depend on its place in the batch.
template <class R>
bool fft_batch_aligned(std::complex<R>* p, std::int64_t slice, std::int64_t batch) {
  auto* q = reinterpret_cast<typename Fftw<R>::Complex*>(p);
  return Fftw<R>::alignment_of(q) == 0 && (batch == 1 || Fftw<R>::alignment_of(q + slice) == 0);
}
}  // namespace cpu

// A row per call (one division per row, not two per element, as the element-wise gather fft2c
// falls back to needs), each row two contiguous runs.
template <class V, class R>
void Kernels<Cpu>::roll2(const V* src, V* out, std::int64_t rows, std::int64_t n0, std::int64_t n1, std::int64_t h0,
                         std::int64_t h1, R scale) {
  cpu::parallel_for(rows, n1 * 2, [&](std::int64_t row) {
    const std::int64_t batch = row / n0, i = row - batch * n0;
    const std::int64_t k = i + h0 >= n0 ? i + h0 - n0 : i + h0;
    const V* s = src + (batch * n0 + k) * n1;
    V* o = out + row * n1;
    const std::int64_t split = n1 - h1;  // out[j] = s[j + h1] for j < split, s[j + h1 - n1] after
    for (std::int64_t j = 0; j < split; ++j) o[j] = s[j + h1] * scale;
    for (std::int64_t j = split; j < n1; ++j) o[j] = s[j + h1 - n1] * scale;
  });
}

template <>
struct Fft<Cpu> {
  template <class R>
  static void fft2(std::complex<R>* data, std::int64_t batch, std::int64_t n0, std::int64_t n1, bool inverse) {
    if (batch == 0 || n0 == 0 || n1 == 0) return;
    TRUSTML_CHECK(n0 <= INT_MAX && n1 <= INT_MAX, "fft2", "a ", n0, " x ", n1, " transform exceeds FFTW's int sizes");
    const std::int64_t slice = n0 * n1;
    const bool aligned = cpu::fft_batch_aligned(data, slice, batch);
    cpu::parallel_for(batch, slice * 8, [&](std::int64_t b) {
      cpu::fft2_slice(data + b * slice, static_cast<int>(n0), static_cast<int>(n1), inverse, aligned);
    });
  }
};

}  // namespace trustml::kernels
