// trustml/device/cuda.hpp: the Cuda device policy (memory, copies, the stream, errors).
//
// This header needs only the CUDA runtime (cuda_runtime.h) and libcu++ (cuda/std/complex), so a
// plain C++ file compiled by g++ or clang may include it to name Tensor<T, Cuda>, make tensors
// (empty, from_vector), copy with Cuda::copy_to_host / copy_from_host and query memory. Anything
// that runs a kernel (ops, fill, to_vector of a strided view) needs nvcc: include
// <trustml/cuda.hpp> from a .cu file.
//
// Streams: all trustml work (kernels, cuBLAS, copies) is issued on one stream, Cuda::stream(). One
// stream makes every operation ordered after the ones before it, which is what lets the caching
// allocator hand a freed block to the next allocation at once, without events: any later use of the
// block is queued behind the earlier ones. The stream is created as a blocking stream, so it also
// orders with the legacy default stream that other libraries may use.
//
// Memory: cudaMalloc and cudaFree are slow and cudaFree synchronizes the device, so freed blocks go
// to size-bucketed free lists and are reused; empty_cache() returns them to the driver. Host code
// that touches a tensor's memory on another stream must synchronize before the tensor dies.
#pragma once

#include <cuda_runtime.h>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <cuda/std/complex>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "trustml/core/config.hpp"

namespace trustml {

namespace cuda_detail {
// Throws trustml::Error naming the CUDA call and the runtime's description of the failure.
inline void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) [[likely]]
    return;
  (void)cudaGetLastError();  // clear a non-sticky error so that the next call does not report it again
  detail::fail("cuda", call, " failed: ", cudaGetErrorString(status), " (", cudaGetErrorName(status), ")");
}

// The element type kernels see. std::complex is not usable in device code; cuda::std::complex has
// the same size and layout, so a std::complex buffer is read through it with reinterpret_cast.
// (Its alignment is stricter, 2 * sizeof(R), but every element of a trustml storage sits at a
// multiple of sizeof(std::complex<R>) from a 256-byte aligned cudaMalloc block.)
template <class T>
struct value {
  using type = T;
};
template <class R>
struct value<std::complex<R>> {
  using type = ::cuda::std::complex<R>;
  static_assert(sizeof(type) == sizeof(std::complex<R>), "cuda::std::complex must match std::complex");
};
}  // namespace cuda_detail

#define TRUSTML_CUDA_CHECK(call) ::trustml::cuda_detail::check((call), #call)

struct CudaMemoryStats {
  std::size_t bytes_in_use = 0;       // in blocks held by live allocations (bucket sizes)
  std::size_t bytes_cached = 0;       // in freed blocks kept for reuse
  std::size_t peak_bytes_in_use = 0;
  std::uint64_t device_allocations = 0;  // cudaMalloc calls
  std::uint64_t cache_hits = 0;          // allocations served from the free lists
};

// A caching allocator of device memory, shared by all threads.
class CudaCachingAllocator {
 public:
  // Never destroyed: tensors in static storage may free their blocks after it would have died, and
  // the driver reclaims all device memory at exit anyway.
  static CudaCachingAllocator& instance() {
    static auto* allocator = new CudaCachingAllocator;
    return *allocator;
  }

  // Bucket sizes: multiples of 512 bytes up to 8 KiB, then four buckets per power of two, so a
  // block is at most 25% larger than asked for and similar sizes share a free list.
  static std::size_t bucket(std::size_t bytes) {
    constexpr std::size_t kSmall = 512, kLinearUpTo = 8192;
    if (bytes <= kLinearUpTo) return (bytes + kSmall - 1) / kSmall * kSmall;
    std::size_t pow2 = kLinearUpTo;
    while (pow2 * 2 <= bytes) pow2 *= 2;
    const std::size_t step = pow2 / 4;
    return (bytes + step - 1) / step * step;
  }

  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = bucket(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
    } else {
      cudaError_t status = cudaMalloc(&p, size);
      if (status == cudaErrorMemoryAllocation) {
        // The cache may hold enough memory in blocks of other sizes: give it back and try again.
        (void)cudaGetLastError();
        release_cached();
        status = cudaMalloc(&p, size);
      }
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        detail::fail("cuda", "cudaMalloc of ", size, " bytes failed: out of memory (", stats_.bytes_in_use,
                     " bytes in use by tensors, cache emptied)");
      }
      cuda_detail::check(status, "cudaMalloc");
      ++stats_.device_allocations;
    }
    live_[p] = size;
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }

  // Keeps the block for reuse; no CUDA call, so it is safe during shutdown.
  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: never happens for storage made by Cuda::allocate
    const std::size_t size = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= size;
    stats_.bytes_cached += size;
    try {
      free_[size].push_back(p);
    } catch (...) {  // no memory for the free list: give the block back instead of losing it
      stats_.bytes_cached -= size;
      (void)cudaFree(p);
    }
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached();
  }

  CudaMemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  CudaCachingAllocator() = default;

  // cudaFree waits for the device to finish, so blocks still used by queued work are freed safely.
  void release_cached() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) cuda_detail::check(cudaFree(p), "cudaFree");
      stats_.bytes_cached -= size * blocks.size();
      blocks.clear();
    }
    free_.clear();
  }

  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
  std::unordered_map<void*, std::size_t> live_;     // block -> bucket size
  CudaMemoryStats stats_;
};

struct Cuda {
  static constexpr const char* name = "cuda";
  template <class T>
  using value_t = typename cuda_detail::value<T>::type;

  // Whether a CUDA device can be used; never throws (no driver or no GPU gives false).
  static bool available() noexcept {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return count > 0;
  }

  // The stream of all trustml work on the current device, created on first use and never destroyed
  // (destroying it at exit could race the driver's own shutdown).
  static cudaStream_t stream() {
    static const cudaStream_t s = [] {
      cudaStream_t created = nullptr;
      TRUSTML_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamDefault));
      return created;
    }();
    return s;
  }

  template <class T>
  static T* allocate(std::size_t n) {
    return static_cast<T*>(CudaCachingAllocator::instance().allocate(n * sizeof(T)));
  }
  template <class T>
  static void deallocate(T* p, std::size_t) noexcept {
    CudaCachingAllocator::instance().deallocate(p);
  }

  // Both copies wait for the stream: the device data must be final before the host reads it, and
  // the caller may reuse the host buffer as soon as we return (for pinned host memory the copy
  // would otherwise still be reading it).
  template <class T>
  static void copy_to_host(T* host, const T* dev, std::size_t n) {
    if (n == 0) return;
    TRUSTML_CUDA_CHECK(cudaMemcpyAsync(host, dev, n * sizeof(T), cudaMemcpyDeviceToHost, stream()));
    synchronize();
  }
  template <class T>
  static void copy_from_host(T* dev, const T* host, std::size_t n) {
    if (n == 0) return;
    TRUSTML_CUDA_CHECK(cudaMemcpyAsync(dev, host, n * sizeof(T), cudaMemcpyHostToDevice, stream()));
    synchronize();
  }
  // Errors of earlier asynchronous kernels surface here.
  static void synchronize() { TRUSTML_CUDA_CHECK(cudaStreamSynchronize(stream())); }

  static void empty_cache() { CudaCachingAllocator::instance().empty_cache(); }
  static CudaMemoryStats memory_stats() { return CudaCachingAllocator::instance().stats(); }
};

}  // namespace trustml
