// ops/index.hpp alone is enough to differentiate concat and gather.
#include "trustml/ops/index.hpp"

#include <cstdint>

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/index.hpp alone: concat splits the gradient, gather adds it back at the index") {
  auto a = Tensor<double>::from_vector({1, 2}).set_requires_grad();
  auto b = Tensor<double>::from_vector({3, 4, 5}).set_requires_grad();
  concat(std::vector{a, b}, 0).backward(Tensor<double>::from_vector({10, 20, 30, 40, 50}));
  family_test::check_values(a.grad(), {10, 20});
  family_test::check_values(b.grad(), {30, 40, 50});
  auto x = Tensor<double>::from_vector({1, 2, 3}).set_requires_grad();
  gather(x, 0, Tensor<std::int64_t>::from_vector({2, 0, 2})).backward(Tensor<double>::from_vector({1, 2, 3}));
  family_test::check_values(x.grad(), {2, 0, 4});
}
