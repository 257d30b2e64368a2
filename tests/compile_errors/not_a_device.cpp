// A type that is no device policy fails the Device concept where the Tensor is named.
#include <trustml/tensor/tensor.hpp>

struct NotADevice {};

int main() { return static_cast<int>(trustml::Tensor<float, NotADevice>::zeros({2}).numel()); }
