// libFuzzer harness: io::load_safetensors on arbitrary bytes, then io::to_tensor on each array.
#include "fuzz_arrays.hpp"
#include "fuzz_common.hpp"
#include "trustml/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = trustml_fuzz::write_file("input.safetensors", {reinterpret_cast<const char*>(data), size});
  trustml_fuzz::guard([&] {
    const auto file = trustml::io::load_safetensors(path);
    for (const auto& array : file.arrays) trustml_fuzz::exercise_array(array);
  });
  return 0;
}
