// libFuzzer harness: io::load_npy on arbitrary bytes, then io::to_tensor on the array.
#include "fuzz_arrays.hpp"
#include "fuzz_common.hpp"
#include "trustml/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = trustml_fuzz::write_file("input.npy", {reinterpret_cast<const char*>(data), size});
  trustml_fuzz::guard([&] { trustml_fuzz::exercise_array(trustml::io::load_npy(path)); });
  return 0;
}
