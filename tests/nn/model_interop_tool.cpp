// model_interop_tool: the C++ side of tests/nn/model_interop.py (a SmallCnn's weights shared with
// Python through safetensors, its logits through NPY).
//
//   model_interop_tool save <dir>   writes small_cnn.safetensors (seed 3), input.npy and logits.npy
//   model_interop_tool load <dir>   loads py_small_cnn.safetensors (written by Python), runs it on
//                                   input.npy and writes cpp_logits.npy for Python to compare
#include <filesystem>
#include <iostream>
#include <trustml/io/npy.hpp>
#include <trustml/nn.hpp>
#include <trustml/nn/serialize.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "save" && mode != "load") {
    std::cerr << "usage: model_interop_tool save|load <dir>\n";
    return 2;
  }
  const fs::path dir = argv[2];
  try {
    if (mode == "save") {
      fs::create_directories(dir);
      auto model = nn::zoo::SmallCnn<float>(1, 10, 3);
      nn::save_module(dir / "small_cnn.safetensors", *model, {{"model", "SmallCnn"}});
      auto x = Tensor<float>::randn({2, 1, 28, 28}, 5);
      io::save_npy(dir / "input.npy", io::to_array("input", x));
      NoGradGuard no_grad;
      io::save_npy(dir / "logits.npy", io::to_array("logits", (*model)(x)));
    } else {
      auto model = nn::zoo::SmallCnn<float>(1, 10, 0);
      nn::load_module(dir / "py_small_cnn.safetensors", *model);
      auto x = io::to_tensor<float>(io::load_npy(dir / "input.npy"));
      NoGradGuard no_grad;
      io::save_npy(dir / "cpp_logits.npy", io::to_array("logits", (*model)(x)));
    }
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
