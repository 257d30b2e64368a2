// ops/conv.hpp alone is enough to differentiate conv2d.
#include "trustml/ops/conv.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/conv.hpp alone: a 1x1 convolution's gradients are the weight and the input sums") {
  auto x = Tensor<double>::from_vector({1, 2, 3, 4}, Shape{1, 1, 2, 2}).set_requires_grad();
  auto w = Tensor<double>::from_vector({3.0}, Shape{1, 1, 1, 1}).set_requires_grad();
  auto bias = Tensor<double>::from_vector({0.5}).set_requires_grad();
  conv2d(x, w, bias).backward(Tensor<double>::ones(Shape{1, 1, 2, 2}));
  family_test::check_values(x.grad(), {3, 3, 3, 3});
  family_test::check_values(w.grad(), {10});
  family_test::check_values(bias.grad(), {4});
}
