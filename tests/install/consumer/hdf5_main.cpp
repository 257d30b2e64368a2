#include <filesystem>
#include <iostream>
#include <trustml/io/fastmri_h5.hpp>
#include <trustml/trustml.hpp>

int main() {
  const auto path = std::filesystem::temp_directory_path() / "trustml_consumer.h5";
  const auto kspace = trustml::Tensor<std::complex<float>>::randn(trustml::Shape{2, 3, 4, 5}, 7);
  trustml::io::write_fastmri_kspace(path, kspace);
  const bool same = trustml::io::read_fastmri_kspace(path).to_vector() == kspace.to_vector();
  std::filesystem::remove(path);
  std::cout << "hdf5 round trip " << (same ? "ok" : "FAILED") << "\n";
  return same ? 0 : 1;
}
