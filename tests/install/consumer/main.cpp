#include <filesystem>
#include <iostream>
#include <trustml/nn.hpp>
#include <trustml/nn/serialize.hpp>
#include <trustml/trustml.hpp>

int main() {
  auto x = trustml::Tensor<double>::from_vector({3}).set_requires_grad();
  trustml::sum(trustml::mul(x, x)).backward();
  std::cout << "grad " << x.grad().item() << "\n";
  // The installed nn and io headers: a model saved and loaded through safetensors.
  const auto path = std::filesystem::temp_directory_path() / "trustml_consumer.safetensors";
  auto a = trustml::nn::zoo::SmallCnn<float>(1, 10, 1), b = trustml::nn::zoo::SmallCnn<float>(1, 10, 2);
  trustml::nn::save_module(path, *a);
  trustml::nn::load_module(path, *b);
  std::filesystem::remove(path);
  const bool same = a->parameters()[0].to_vector() == b->parameters()[0].to_vector();
  std::cout << "model round trip " << (same ? "ok" : "FAILED") << "\n";
  return same ? 0 : 1;
}
