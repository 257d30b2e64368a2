// ops/nn.hpp alone (softmax, log_softmax and layer_norm with their rules; the losses) is enough to
// differentiate cross-entropy.
#include "trustml/ops/nn.hpp"

#include <cmath>
#include <cstdint>

#include "layers/family_support.hpp"

using namespace trustml;

TEST_CASE("ops/nn.hpp alone: the gradient of cross-entropy is softmax minus the one-hot label") {
  auto logits = Tensor<double>::from_vector({1.0, 2.0, 0.5}, Shape{1, 3}).set_requires_grad();
  cross_entropy(logits, Tensor<std::int64_t>::from_vector({1})).backward();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  family_test::check_values(logits.grad(), {std::exp(1.0) / z, std::exp(2.0) / z - 1.0, std::exp(0.5) / z});
}
