// ops/cg.hpp alone is enough to differentiate cg_solve (implicitly).
#include "trustml/ops/cg.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/cg.hpp alone: x = b / (2 + lambda) for the map 2x, and its gradients") {
  LinearMap<double, Cpu> twice = [](const Tensor<double>& v) { return scale(v, 2.0); };
  auto b = Tensor<double>::from_vector({1.0, -3.0}, Shape{1, 2}).set_requires_grad();
  auto lambda = Tensor<double>::from_vector({0.5}).set_requires_grad();
  auto x = cg_solve(twice, b, lambda, CgOptions{.max_iter = 5});
  family_test::check_values(x, {0.4, -1.2});
  x.backward(Tensor<double>::ones(Shape{1, 2}));
  family_test::check_values(b.grad(), {0.4, 0.4});                         // 1 / (2 + lambda)
  family_test::check_values(lambda.grad(), {-(1.0 - 3.0) / (2.5 * 2.5)});  // -sum(b) / (2 + lambda)^2
}
