// trustml/device/cpu.hpp: the Cpu device policy (the Device concept is in device/device.hpp).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#include "trustml/device/block_cache.hpp"
#include "trustml/device/device.hpp"

namespace trustml {

// Aligned operator new and delete for the block cache (64 bytes: a cache line, and what AVX-512
// loads like).
struct CpuHeapBackend {
  static constexpr const char* call = "aligned operator new";
  static constexpr std::size_t alignment = 64;
  static void* allocate(std::size_t bytes) { return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow); }
  static void release(void* p) noexcept { ::operator delete (p, std::align_val_t{alignment}); }
};

// Blocks of at least this many bytes go through the cache; smaller ones come from malloc's own
// free lists, which are already fast and touch no fresh pages.
inline constexpr std::size_t kCpuCachedBlockBytes = std::size_t{1} << 16;

// The host block cache of all threads, holding at most TRUSTML_CPU_CACHE_MB (default 2048) MiB of
// freed blocks. Never destroyed, like the CUDA one: static tensors may outlive it.
inline BlockCache<CpuHeapBackend>& cpu_allocator() {
  static auto* allocator = [] {
    std::size_t megabytes = 2048;
    if (const char* env = std::getenv("TRUSTML_CPU_CACHE_MB")) megabytes = std::strtoull(env, nullptr, 10);
    return new BlockCache<CpuHeapBackend>("cpu", megabytes << 20);
  }();
  return *allocator;
}

struct Cpu {
  static constexpr const char* name = "cpu";
  static constexpr bool host_memory = true;
  template <class T>
  using value_t = T;

  static constexpr std::size_t alignment = CpuHeapBackend::alignment;

  template <class T>
  static T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= kCpuCachedBlockBytes) return static_cast<T*>(cpu_allocator().allocate(bytes));
    T* p = static_cast<T*>(CpuHeapBackend::allocate(bytes));
    if (!p) throw std::bad_alloc();
    return p;
  }
  template <class T>
  static void deallocate(T* p, std::size_t n) noexcept {
    if (!p) return;
    if (n * sizeof(T) >= kCpuCachedBlockBytes) cpu_allocator().deallocate(p);
    else CpuHeapBackend::release(p);
  }
  static void empty_cache() { cpu_allocator().empty_cache(); }
  static MemoryStats memory_stats() { return cpu_allocator().stats(); }
  template <class T>
  static void copy_to_host(T* host, const T* dev, std::size_t n) {
    if (n) std::memcpy(host, dev, n * sizeof(T));
  }
  template <class T>
  static void copy_from_host(T* dev, const T* host, std::size_t n) {
    if (n) std::memcpy(dev, host, n * sizeof(T));
  }
  static void synchronize() {}
};

static_assert(Device<Cpu>);

}  // namespace trustml
