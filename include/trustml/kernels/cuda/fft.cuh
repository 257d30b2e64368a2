// trustml/kernels/cuda/fft.cuh: Fft<Cuda>, the 2-D FFT of ops/fft.hpp on cuFFT.
//
//   Fft<Cuda>::fft2(data, batch, n0, n1, inverse)
//     in place over `batch` contiguous n0 x n1 complex slices, unnormalized, forward with
//     exp(-2 pi i jk / n) and inverse with exp(+2 pi i jk / n): the contract of Fft<Cpu>.
//
// A cuFFT plan is specific to (n0, n1, batch, precision) and owns a work area of device memory, so
// plans are cached, but only the most recently used few: a training loop repeats one or two shapes,
// while a sweep over batch sizes must not keep a work area per size forever. The cache and each
// execution are serialized by one mutex (a plan is bound to one stream at a time).
//
// nvcc only: include <trustml/cuda.hpp>.
#pragma once

#if !defined(__CUDACC__)
#error "trustml/kernels/cuda/fft.cuh needs nvcc: include <trustml/cuda.hpp> from a .cu file"
#endif

#include <cufft.h>

#include <climits>
#include <cstdint>
#include <cuda/std/complex>
#include <list>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "trustml/device/cuda.hpp"
#include "trustml/kernels/api.hpp"

namespace trustml::kernels {

namespace gpu {
inline const char* cufft_status_name(cufftResult status) {
  switch (status) {
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED (out of device memory)";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    default: return "cufftResult error";
  }
}
inline void cufft_check(cufftResult status, const char* call) {
  if (status != CUFFT_SUCCESS) [[unlikely]]
    detail::fail("cuda", call, " failed: ", cufft_status_name(status), " (", static_cast<int>(status), ")");
}

class CufftPlans {
 public:
  using Key = std::tuple<int, int, int, cufftType>;  // n0, n1, batch, type
  static constexpr std::size_t kCapacity = 8;

  static CufftPlans& instance() {
    static auto* plans = new CufftPlans;  // never destroyed: plans outlive static tensors at exit
    return *plans;
  }
  std::mutex& mutex() { return mutex_; }

  // A plan for the key, made on a miss; the caller holds mutex().
  cufftHandle get(const Key& key) {
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first != key) continue;
      plans_.splice(plans_.begin(), plans_, it);  // most recently used first
      return plans_.front().second;
    }
    if (plans_.size() == kCapacity) {
      // Queued transforms may still use the plan's work area.
      TRUSTML_CUDA_CHECK(cudaStreamSynchronize(Cuda::stream()));
      cufft_check(cufftDestroy(plans_.back().second), "cufftDestroy");
      plans_.pop_back();
    }
    const auto [n0, n1, batch, type] = key;
    int dims[2] = {n0, n1};
    cufftHandle plan = 0;
    cufftResult status = cufftPlanMany(&plan, 2, dims, nullptr, 1, 0, nullptr, 1, 0, type, batch);
    if (status == CUFFT_ALLOC_FAILED) {  // cuFFT allocates its work area itself: make room and retry
      Cuda::empty_cache();
      status = cufftPlanMany(&plan, 2, dims, nullptr, 1, 0, nullptr, 1, 0, type, batch);
    }
    cufft_check(status, "cufftPlanMany");
    plans_.emplace_front(key, plan);
    return plan;
  }

 private:
  CufftPlans() = default;
  std::mutex mutex_;
  std::list<std::pair<Key, cufftHandle>> plans_;
};
}  // namespace gpu

template <>
struct Fft<Cuda> {
  template <class R>
  static void fft2(::cuda::std::complex<R>* data, std::int64_t batch, std::int64_t n0, std::int64_t n1, bool inverse) {
    static_assert(std::is_same_v<R, float> || std::is_same_v<R, double>, "cuFFT transforms float and double");
    if (batch == 0 || n0 == 0 || n1 == 0) return;
    TRUSTML_CHECK(n0 <= INT_MAX && n1 <= INT_MAX && batch <= INT_MAX, "fft2", "a batch of ", batch, " transforms of ",
                  n0, " x ", n1, " exceeds cuFFT's int sizes");
    constexpr bool single = std::is_same_v<R, float>;
    auto& plans = gpu::CufftPlans::instance();
    std::lock_guard<std::mutex> lock(plans.mutex());
    const cufftHandle plan = plans.get(
        {static_cast<int>(n0), static_cast<int>(n1), static_cast<int>(batch), single ? CUFFT_C2C : CUFFT_Z2Z});
    gpu::cufft_check(cufftSetStream(plan, Cuda::stream()), "cufftSetStream");
    const int direction = inverse ? CUFFT_INVERSE : CUFFT_FORWARD;
    // cuda::std::complex<R> has the layout of cufftComplex / cufftDoubleComplex (R[2]).
    if constexpr (single) {
      auto* p = reinterpret_cast<cufftComplex*>(data);
      gpu::cufft_check(cufftExecC2C(plan, p, p, direction), "cufftExecC2C");
    } else {
      auto* p = reinterpret_cast<cufftDoubleComplex*>(data);
      gpu::cufft_check(cufftExecZ2Z(plan, p, p, direction), "cufftExecZ2Z");
    }
  }
};

}  // namespace trustml::kernels
