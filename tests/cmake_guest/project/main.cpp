#include <iostream>
#include <trustml/trustml.hpp>

int main() {
  auto x = trustml::Tensor<double>::from_vector({3}).set_requires_grad();
  trustml::sum(trustml::mul(x, x)).backward();
  std::cout << "guest grad " << x.grad().item() << "\n";
}
