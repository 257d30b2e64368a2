// ops/linalg.hpp alone is enough to differentiate matmul.
#include "trustml/ops/linalg.hpp"

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/linalg.hpp alone: d<G, A B>/dA = G B^T and d/dB = A^T G") {
  auto a = Tensor<double>::from_vector({1, 2, 3, 4}, Shape{2, 2}).set_requires_grad();
  auto b = Tensor<double>::from_vector({5, 6, 7, 8}, Shape{2, 2}).set_requires_grad();
  matmul(a, b).backward(Tensor<double>::from_vector({1, 0, 0, 2}, Shape{2, 2}));
  family_test::check_values(a.grad(), {5, 7, 12, 16});  // [[1,0],[0,2]] [[5,7],[6,8]]
  family_test::check_values(b.grad(), {1, 6, 2, 8});    // [[1,3],[2,4]] [[1,0],[0,2]]
}
