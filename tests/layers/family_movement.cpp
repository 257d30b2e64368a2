// ops/movement.hpp alone is enough to differentiate views.
#include "trustml/ops/movement.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/movement.hpp alone: the gradient of a transposed slice lands in the sliced entries") {
  auto x = Tensor<double>::from_vector({1, 2, 3, 4, 5, 6}, Shape{2, 3}).set_requires_grad();
  auto y = transpose(slice(x, 1, 1, 3), 0, 1);  // [2, 2]: columns 1 and 2, transposed
  y.backward(Tensor<double>::from_vector({1, 2, 3, 4}, Shape{2, 2}));
  family_test::check_values(x.grad(), {0, 1, 3, 0, 2, 4});
}
