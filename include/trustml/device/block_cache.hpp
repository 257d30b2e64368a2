// trustml/device/block_cache.hpp: a caching allocator of memory blocks, shared by the devices.
//
// Fresh memory is slow on both devices: cudaMalloc and cudaFree synchronize the GPU, and on the
// host every new large block (glibc maps blocks over its mmap threshold) costs a page fault and a
// page clear per 4 KiB at first touch, which was a fifth of a small CNN's training step. Freed
// blocks therefore go to size-bucketed free lists and are handed to the next allocation of the same
// bucket. `Backend` supplies the raw calls:
//
//   struct Backend {
//     static constexpr const char* call = "...";  // the raw allocation, named in out-of-memory errors
//     static void* allocate(std::size_t bytes);   // nullptr when out of memory
//     static void release(void* p) noexcept;
//   };
//
// A cap on the cached bytes bounds what the cache keeps beyond the live tensors: a block freed when
// the cache is full goes back to the backend at once.
//
// Under AddressSanitizer the cache steps aside (BlockCache::pass_through): see allocate().
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "trustml/core/config.hpp"

// TRUSTML_ADDRESS_SANITIZER: this translation unit is built with AddressSanitizer. GCC defines
// __SANITIZE_ADDRESS__, Clang answers __has_feature(address_sanitizer), and -DTRUSTML_SANITIZE=address
// defines TRUSTML_SANITIZE_ADDRESS (cmake/trustml_sanitize.cmake).
#if defined(TRUSTML_SANITIZE_ADDRESS) || defined(__SANITIZE_ADDRESS__)
#define TRUSTML_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRUSTML_ADDRESS_SANITIZER 1
#endif
#endif

namespace trustml {

struct MemoryStats {
  std::size_t bytes_in_use = 0;  // in blocks held by live allocations (bucket sizes; exact under ASan)
  std::size_t bytes_cached = 0;  // in freed blocks kept for reuse
  std::size_t peak_bytes_in_use = 0;
  std::uint64_t backend_allocations = 0;  // raw allocations (cudaMalloc, operator new)
  std::uint64_t cache_hits = 0;           // allocations served from the free lists
};

template <class Backend>
class BlockCache {
 public:
  explicit BlockCache(const char* device, std::size_t max_cached_bytes = std::numeric_limits<std::size_t>::max())
      : device_(device), max_cached_(max_cached_bytes) {}

#ifdef TRUSTML_ADDRESS_SANITIZER
  static constexpr bool pass_through = true;
#else
  static constexpr bool pass_through = false;
#endif

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
    // Under AddressSanitizer every allocation goes straight to the backend with exactly the bytes
    // asked for, and deallocate() hands every block straight back: a block rounded up to its bucket
    // would hide a small overflow past the asked-for end, and a block kept for reuse would hide a
    // use after free, from ASan's redzones and quarantine. The free lists then stay empty.
    const std::size_t size = pass_through ? bytes : bucket(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
    } else {
      p = Backend::allocate(size);
      if (!p) {  // the cache may hold enough memory in blocks of other sizes: give it back, retry
        release_cached();
        p = Backend::allocate(size);
      }
      if (!p)
        detail::fail(device_, Backend::call, " of ", size, " bytes failed: out of memory (", stats_.bytes_in_use,
                     " bytes in use by tensors, cache emptied)");
      ++stats_.backend_allocations;
    }
    live_[p] = size;
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }

  // Keeps the block for reuse while the cache is under its cap (never under AddressSanitizer).
  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: never happens for storage made by this cache
    const std::size_t size = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= size;
    if (pass_through || stats_.bytes_cached + size > max_cached_) {
      Backend::release(p);
      return;
    }
    try {
      free_[size].push_back(p);
      stats_.bytes_cached += size;
    } catch (...) {  // no memory for the free list: give the block back instead of losing it
      Backend::release(p);
    }
  }

  // Returns every cached block to the backend.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached();
  }

  MemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  void release_cached() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) Backend::release(p);
      stats_.bytes_cached -= size * blocks.size();
    }
    free_.clear();
  }

  const char* device_;
  std::size_t max_cached_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
  std::unordered_map<void*, std::size_t> live_;     // block -> bucket size
  MemoryStats stats_;
};

}  // namespace trustml
