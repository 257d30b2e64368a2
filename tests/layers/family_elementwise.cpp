// ops/elementwise.hpp alone is enough to differentiate elementwise ops, broadcasting included.
#include "trustml/ops/elementwise.hpp"

#include <cmath>

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/elementwise.hpp alone: exp(a) * b with b broadcast over rows") {
  auto a = Tensor<double>::from_vector({0.0, 1.0, -1.0, 0.5, 2.0, -0.25}, Shape{2, 3}).set_requires_grad();
  auto b = Tensor<double>::from_vector({2.0, -1.0, 3.0}).set_requires_grad();
  mul(exp(a), b).backward(Tensor<double>::ones(Shape{2, 3}));
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  std::vector<double> ga, gb(3, 0.0);
  for (int i = 0; i < 6; ++i) {
    ga.push_back(std::exp(av[i]) * bv[i % 3]);
    gb[i % 3] += std::exp(av[i]);
  }
  family_test::check_values(a.grad(), ga);
  family_test::check_values(b.grad(), gb);  // summed back over the broadcast rows
}
