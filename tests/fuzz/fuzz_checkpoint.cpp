// libFuzzer harness: train::load_checkpoint of arbitrary bytes into a small model (BatchNorm2d and
// Linear: parameters, float buffers and an int64 index buffer) and its Adam optimizer.
#include "fuzz_common.hpp"
#include "fuzz_models.hpp"
#include "trustml/train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = trustml_fuzz::write_file("checkpoint.safetensors", {reinterpret_cast<const char*>(data), size});
  auto model = trustml_fuzz::small_model<float>();
  auto optimizer = trustml_fuzz::small_optimizer(*model);
  trustml_fuzz::guard([&] { (void)trustml::train::load_checkpoint(path, *model, *optimizer); });
  return 0;
}
