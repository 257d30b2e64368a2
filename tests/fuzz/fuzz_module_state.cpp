// libFuzzer harness: nn::load_module of arbitrary bytes into a small model (BatchNorm2d and Linear:
// parameters, float buffers and an int64 index buffer), strictly as float and non-strictly as
// double (so both the dtype checks of io::to_tensor and the partial-state path run), then one
// forward pass of the loaded float model.
#include "fuzz_common.hpp"
#include "fuzz_models.hpp"
#include "trustml/nn/serialize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = trustml_fuzz::write_file("module.safetensors", {reinterpret_cast<const char*>(data), size});
  auto model = trustml_fuzz::small_model<float>();
  trustml_fuzz::guard([&] {
    trustml::nn::load_module(path, *model, /*strict=*/true);
    model->train(false);
    (void)(*model)(trustml::Tensor<float>::ones(trustml::Shape{1, 2, 1, 3}));
  });
  auto model64 = trustml_fuzz::small_model<double>();
  trustml_fuzz::guard([&] { trustml::nn::load_module(path, *model64, /*strict=*/false); });
  return 0;
}
