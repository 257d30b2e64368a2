// libFuzzer harness: io::read_cfl on a .hdr/.cfl pair; the input is split into the two files by
// trustml_fuzz::split_parts (header first).
#include "fuzz_common.hpp"
#include "trustml/io/cfl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = trustml_fuzz::split_parts(data, size, 2);
  trustml_fuzz::write_file("input.hdr", parts[0]);
  trustml_fuzz::write_file("input.cfl", parts[1]);
  trustml_fuzz::guard([&] {
    const auto array = trustml::io::read_cfl(trustml_fuzz::scratch_dir() / "input");
    std::uint64_t numel = 1;
    for (const auto d : array.dims) numel *= static_cast<std::uint64_t>(d);
    if (numel != static_cast<std::uint64_t>(array.data.numel())) __builtin_trap();  // dims and tensor disagree
  });
  return 0;
}
