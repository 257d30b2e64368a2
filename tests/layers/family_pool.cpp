// ops/pool.hpp alone is enough to differentiate max pooling.
#include "trustml/ops/pool.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/pool.hpp alone: max_pool2d sends the gradient to each window's maximum") {
  auto x = Tensor<double>::from_vector({1, 5, 2, 0, 3, 4, 9, 1, 0, 2, 7, 8, 6, 1, 3, 2}, Shape{1, 1, 4, 4})
               .set_requires_grad();
  max_pool2d(x, Size2{2, 2}).backward(Tensor<double>::from_vector({1, 2, 3, 4}, Shape{1, 1, 2, 2}));
  family_test::check_values(x.grad(), {0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 3, 0, 0, 0});
}
