// trustml/data/fashion_mnist.hpp: Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) from its IDX files.
//
// 70,000 grayscale 28x28 images of clothing in 10 classes: 60,000 for training, 10,000 for testing.
// The files come from the Debian package dataset-fashion-mnist (in /usr/share/datasets/fashion-mnist);
// TRUSTML_FASHION_MNIST_DIR points elsewhere. Gzipped (*.gz) and unpacked files are both accepted.
//
// Link zlib (the trustml::data target does).
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "trustml/core/config.hpp"
#include "trustml/data/dataset.hpp"
#include "trustml/data/idx.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::data {

enum class Split { train, test };

inline constexpr std::int64_t kFashionMnistClasses = 10;
inline constexpr std::int64_t kFashionMnistSide = 28;
inline constexpr std::array<std::string_view, kFashionMnistClasses> kFashionMnistClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

inline constexpr const char* kFashionMnistPackageDir = "/usr/share/datasets/fashion-mnist";

// TRUSTML_FASHION_MNIST_DIR when set and not empty, else the Debian package's directory.
inline std::string fashion_mnist_default_dir() {
  const char* env = std::getenv("TRUSTML_FASHION_MNIST_DIR");
  return env && *env ? std::string(env) : std::string(kFashionMnistPackageDir);
}

// The name of class `label` ("Sneaker" for 7).
inline std::string fashion_mnist_class_name(std::int64_t label) {
  TRUSTML_CHECK(label >= 0 && label < kFashionMnistClasses, "fashion_mnist_class_name", "label ", label,
                " is not in [0, ", kFashionMnistClasses, ")");
  return std::string(kFashionMnistClassNames[static_cast<std::size_t>(label)]);
}

namespace detail {
// dir/name.gz, or dir/name when only the unpacked file is there.
inline std::string fashion_mnist_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (name + ".gz"), plain = fs::path(dir) / name;
  std::error_code ec;
  if (!fs::exists(gz, ec) && fs::exists(plain, ec)) return plain.string();
  TRUSTML_CHECK(fs::exists(gz, ec), "load_fashion_mnist", gz.string(),
                " not found; install the Debian package dataset-fashion-mnist (apt-get install "
                "dataset-fashion-mnist), or set TRUSTML_FASHION_MNIST_DIR to a directory with the Fashion-MNIST "
                "IDX files (",
                kFashionMnistPackageDir, " is the package's)");
  return gz.string();
}
}  // namespace detail

// Images [N, 1, 28, 28] scaled to [0, 1] (byte / 255) and labels [N] in 0..9.
inline LabeledImages load_fashion_mnist(Split split, const std::string& dir = fashion_mnist_default_dir()) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images_path = detail::fashion_mnist_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = detail::fashion_mnist_file(dir, prefix + "-labels-idx1-ubyte");
  const IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  TRUSTML_CHECK(images.dims.size() == 3 && images.dims[1] == kFashionMnistSide && images.dims[2] == kFashionMnistSide,
                "load_fashion_mnist", images_path, ": expected images [N, 28, 28], got ", images.dims_string());
  TRUSTML_CHECK(labels.dims.size() == 1, "load_fashion_mnist", labels_path, ": expected labels [N], got ",
                labels.dims_string());
  const std::int64_t n = images.dims[0];
  TRUSTML_CHECK(labels.dims[0] == n, "load_fashion_mnist", images_path, " has ", n, " images but ", labels_path,
                " has ", labels.dims[0], " labels");

  LabeledImages data{Tensor<float>::empty(Shape{n, 1, kFashionMnistSide, kFashionMnistSide}),
                     Tensor<std::int64_t>::empty(Shape{n})};
  float* x = data.images.data();
  for (std::size_t i = 0; i < images.bytes.size(); ++i) x[i] = static_cast<float>(images.bytes[i]) / 255.0f;
  std::int64_t* y = data.labels.data();
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = labels.bytes[static_cast<std::size_t>(i)];
    TRUSTML_CHECK(y[i] < kFashionMnistClasses, "load_fashion_mnist", labels_path, ": label ", y[i], " of sample ", i,
                  " (byte ", 8 + i, ") is not a class id in [0, ", kFashionMnistClasses, ")");
  }
  return data;
}

}  // namespace trustml::data
