// libFuzzer harness: data::read_idx on arbitrary bytes (zlib reads plain and gzipped files alike).
#include "fuzz_common.hpp"
#include "trustml/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = trustml_fuzz::write_file("input.idx", {reinterpret_cast<const char*>(data), size});
  trustml_fuzz::guard([&] {
    const auto array = trustml::data::read_idx(path.string());
    if (static_cast<std::uint64_t>(array.numel()) != array.bytes.size()) __builtin_trap();  // promised, not delivered
  });
  return 0;
}
