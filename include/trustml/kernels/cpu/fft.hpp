// trustml/kernels/cpu/fft.hpp: Fft<D>, the device entry point of the 2-D FFT, and its CPU
// implementation on FFTW.
//
//   Fft<D>::fft2(data, batch, n0, n1, inverse)
//     in place over `batch` contiguous n0 x n1 complex slices, unnormalized (FFTW's and cuFFT's
//     convention): forward uses exp(-2 pi i jk / n), inverse exp(+2 pi i jk / n).
//
// The primary template only fires a static_assert, as Kernels<D> does, so that a device gets an FFT
// by specializing Fft<D> (cuFFT for Cuda) and never falls back to the CPU silently.
//
// FFTW plans are made once per (size, direction, alignment, precision) and cached for the life of
// the process. FFTW_ESTIMATE picks a plan from heuristics instead of timing candidates, so the
// same input always gives bit-identical output, run after run. FFTW's planner is not thread-safe
// (only execution is): planning is serialized by one mutex per precision, and execution of a
// cached plan runs on many threads at once, one slice each. Code outside trustml that plans with
// FFTW in the same process must not do so concurrently with a first-time trustml FFT.
#pragma once

#include <fftw3.h>

#include <climits>
#include <complex>
#include <cstdint>
#include <map>
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
  static Plan plan(int n0, int n1, Complex* p, int sign, unsigned flags) {
    return fftw_plan_dft_2d(n0, n1, p, p, sign, flags);
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
  static Plan plan(int n0, int n1, Complex* p, int sign, unsigned flags) {
    return fftwf_plan_dft_2d(n0, n1, p, p, sign, flags);
  }
  static void execute(Plan plan, Complex* p) { fftwf_execute_dft(plan, p, p); }
  static void destroy(Plan plan) { fftwf_destroy_plan(plan); }
  static Complex* alloc(std::size_t n) { return fftwf_alloc_complex(n); }
  static void free(Complex* p) { fftwf_free(p); }
  static int alignment_of(Complex* p) { return fftwf_alignment_of(reinterpret_cast<float*>(p)); }
};

// The process-wide cache of in-place 2-D plans of one precision.
template <class R>
class FftwPlans {
  using API = Fftw<R>;

 public:
  // A plan for n0 x n1 slices. An `aligned` plan may use SIMD loads and only runs on arrays with
  // FFTW's SIMD alignment; the other is planned with FFTW_UNALIGNED and runs on any array.
  static typename API::Plan get(int n0, int n1, bool inverse, bool aligned) {
    static FftwPlans cache;
    std::lock_guard<std::mutex> lock(cache.mutex_);
    auto [it, fresh] = cache.plans_.try_emplace(std::make_tuple(n0, n1, inverse, aligned), nullptr);
    if (fresh) {
      // The planner needs arrays to plan on; FFTW_ESTIMATE reads and writes neither.
      typename API::Complex* scratch = API::alloc(static_cast<std::size_t>(n0) * static_cast<std::size_t>(n1));
      it->second = API::plan(n0, n1, scratch, inverse ? FFTW_BACKWARD : FFTW_FORWARD,
                             FFTW_ESTIMATE | (aligned ? 0u : FFTW_UNALIGNED));
      API::free(scratch);
      if (!it->second) {
        cache.plans_.erase(it);
        detail::fail("fft2", "FFTW could not plan a ", n0, " x ", n1, " transform");
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
}  // namespace cpu

template <>
struct Fft<Cpu> {
  template <class R>
  static void fft2(std::complex<R>* data, std::int64_t batch, std::int64_t n0, std::int64_t n1, bool inverse) {
    using API = cpu::Fftw<R>;
    if (batch == 0 || n0 == 0 || n1 == 0) return;
    TRUSTML_CHECK(n0 <= INT_MAX && n1 <= INT_MAX, "fft2", "a ", n0, " x ", n1, " transform exceeds FFTW's int sizes");
    const std::int64_t slice = n0 * n1;
    // std::complex<R> has the layout of R[2], which is what FFTW's complex type is in C++.
    auto* p = reinterpret_cast<typename API::Complex*>(data);
    // One plan for every slice, chosen from the first two slice starts (which fix all of them), so
    // that a slice's result does not depend on its place in the batch.
    const bool aligned = API::alignment_of(p) == 0 && API::alignment_of(p + slice) == 0;
    const auto plan = cpu::FftwPlans<R>::get(static_cast<int>(n0), static_cast<int>(n1), inverse, aligned);
    cpu::parallel_for(batch, slice * 8, [&](std::int64_t b) { API::execute(plan, p + b * slice); });
  }
};

}  // namespace trustml::kernels
