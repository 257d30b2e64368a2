// ops/reduce.hpp alone is enough to differentiate reductions.
#include "trustml/ops/reduce.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/reduce.hpp alone: amax shares the gradient among ties, sum spreads it") {
  auto x = Tensor<double>::from_vector({1.0, 3.0, 3.0, -2.0}).set_requires_grad();
  amax(x).backward();
  family_test::check_values(x.grad(), {0.0, 0.5, 0.5, 0.0});
  auto y = Tensor<double>::from_vector({1.0, 2.0, 3.0, 4.0}, Shape{2, 2}).set_requires_grad();
  sum(y, {1}).backward(Tensor<double>::from_vector({10.0, 20.0}));
  family_test::check_values(y.grad(), {10.0, 10.0, 20.0, 20.0});
}
