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

#include "trustml/core/config.hpp"
#include "trustml/device/block_cache.hpp"

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

// cudaMalloc and cudaFree for the block cache. cudaFree waits for the device to finish, so blocks
// still used by queued work are freed safely; a failed cudaMalloc reports out of memory as nullptr.
struct CudaMallocBackend {
  static constexpr const char* call = "cudaMalloc";
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    cuda_detail::check(status, "cudaMalloc");
    return p;
  }
  static void release(void* p) noexcept { (void)cudaFree(p); }
};

// The device memory of all threads. Never destroyed: tensors in static storage may free their
// blocks after it would have died, and the driver reclaims all device memory at exit anyway.
using CudaCachingAllocator = BlockCache<CudaMallocBackend>;
inline CudaCachingAllocator& cuda_allocator() {
  static auto* allocator = new CudaCachingAllocator("cuda");
  return *allocator;
}

struct Cuda {
  static constexpr const char* name = "cuda";
  static constexpr bool host_memory = false;
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
    return static_cast<T*>(cuda_allocator().allocate(n * sizeof(T)));
  }
  template <class T>
  static void deallocate(T* p, std::size_t) noexcept {
    cuda_allocator().deallocate(p);
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

  static void empty_cache() { cuda_allocator().empty_cache(); }
  static MemoryStats memory_stats() { return cuda_allocator().stats(); }
};

}  // namespace trustml
