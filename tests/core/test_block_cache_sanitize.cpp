// The block cache steps aside under AddressSanitizer (device/block_cache.hpp): every allocation goes
// to the backend with exactly the bytes asked for and every free straight back, so that ASan sees
// overflows and uses after free. Without ASan it buckets and reuses. Each build checks its own
// behaviour; scripts/sanitize.sh runs the ASan one.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdlib>
#include <trustml/trustml.hpp>
#include <vector>

#ifdef TRUSTML_ADDRESS_SANITIZER
#include <sanitizer/asan_interface.h>
#endif

namespace {

// A backend that records the sizes it is asked for.
struct RecordingBackend {
  static constexpr const char* call = "malloc";
  static inline std::vector<std::size_t> sizes;
  static inline int live = 0;
  static void* allocate(std::size_t bytes) {
    sizes.push_back(bytes);
    ++live;
    return std::malloc(bytes);
  }
  static void release(void* p) noexcept {
    --live;
    std::free(p);
  }
};

using Cache = trustml::BlockCache<RecordingBackend>;

}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(TRUSTML_SANITIZE_ADDRESS)
static_assert(Cache::pass_through, "built with AddressSanitizer: the block cache must pass through");
#endif

TEST_CASE("block cache: pass-through under AddressSanitizer, buckets and reuse otherwise") {
  RecordingBackend::sizes.clear();
  Cache cache("test");
  void* first = cache.allocate(100);
  REQUIRE(first != nullptr);
  cache.deallocate(first);
  void* second = cache.allocate(100);  // the same size again
  const auto stats = cache.stats();
  if constexpr (Cache::pass_through) {
    // exact sizes, a backend call per allocation, nothing kept
    CHECK(RecordingBackend::sizes == std::vector<std::size_t>{100, 100});
    CHECK(stats.cache_hits == 0);
    CHECK(stats.backend_allocations == 2);
    CHECK(stats.bytes_cached == 0);
    CHECK(stats.bytes_in_use == 100);
    CHECK(RecordingBackend::live == 1);
  } else {
    // one 512-byte bucket, handed out twice
    CHECK(RecordingBackend::sizes == std::vector<std::size_t>{512});
    CHECK(second == first);
    CHECK(stats.cache_hits == 1);
    CHECK(stats.backend_allocations == 1);
    CHECK(stats.bytes_in_use == 512);
  }
  CHECK(stats.peak_bytes_in_use == stats.bytes_in_use);
  void* third = cache.allocate(300);
  CHECK(cache.stats().peak_bytes_in_use == (Cache::pass_through ? 400u : 1024u));
  cache.deallocate(second);
  cache.deallocate(third);
  CHECK(cache.stats().bytes_in_use == 0);
  CHECK(cache.stats().bytes_cached == (Cache::pass_through ? 0u : 1024u));
  cache.empty_cache();
  CHECK(RecordingBackend::live == 0);
}

#ifdef TRUSTML_ADDRESS_SANITIZER
TEST_CASE("block cache: ASan sees a 1-byte overflow and a use after free of a cached-size CPU block") {
  // Large enough for the CPU's block cache (kCpuCachedBlockBytes), and not a bucket size.
  const std::size_t n = trustml::kCpuCachedBlockBytes / sizeof(float) + 1;
  float* p = trustml::Cpu::allocate<float>(n);
  const auto* bytes = reinterpret_cast<const char*>(p);
  CHECK(!__asan_address_is_poisoned(bytes + n * sizeof(float) - 1));
  CHECK(__asan_address_is_poisoned(bytes + n * sizeof(float)));  // one past the end: a redzone
  trustml::Cpu::deallocate(p, n);
  CHECK(__asan_address_is_poisoned(bytes));  // freed (in ASan's quarantine), not cached
  CHECK(trustml::Cpu::memory_stats().bytes_cached == 0);
}
#endif
