// Casting complex to real must be explicit about what is dropped.
#include <trustml/trustml.hpp>

int main() { return static_cast<int>(trustml::Tensor<std::complex<float>>::zeros({2}).cast<float>().numel()); }
