// trustml/attacks/objectives.hpp: what an attack maximizes, one value per sample.
//
//   Objective<T, D> f = cross_entropy_objective<T, D>();   // or margin_objective, or any function
//   f(logits [N, C], labels [N]) -> [N]
//
// cross_entropy  -log softmax(z)_y, the loss PGD usually ascends (Madry et al.);
// margin         max_{i != y} z_i - z_y, Carlini and Wagner's margin: positive exactly when the
//                sample is misclassified, and not saturated far from the boundary as the
//                cross-entropy's gradient is.
// A targeted attack maximizes -f(logits, target): it descends the cross-entropy to the target, or
// raises z_target above every other logit.
#pragma once

#include <functional>
#include <limits>

#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::attacks {

template <class T, class D>
using Objective = std::function<Tensor<T, D>(const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels)>;

namespace detail {
template <class T, class D>
void check_logits(const char* op, const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels) {
  TRUSTML_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0), op,
                "needs logits [N, C] and labels [N], got ", logits.shape(), " and ", labels.shape());
}
}  // namespace detail

template <class T, class D>
Objective<T, D> cross_entropy_objective() {
  return [](const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels) {
    detail::check_logits("attacks::cross_entropy_objective", logits, labels);
    return cross_entropy_per_sample(logits, labels);
  };
}

template <class T, class D>
Objective<T, D> margin_objective() {
  return [](const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels) {
    detail::check_logits("attacks::margin_objective", logits, labels);
    TRUSTML_CHECK(logits.size(1) >= 2, "attacks::margin_objective", "needs at least two classes, got ", logits.size(1));
    auto target = smoothed_one_hot<T>(labels, logits.size(1));
    auto own = sum(mul(target, logits), {1});
    // The label's logit is pushed below every other one before the maximum; the offset is a
    // constant, so it does not reach the gradient.
    auto others = amax(where(target, Tensor<T, D>::full(Shape{}, std::numeric_limits<T>::lowest()), logits), {1});
    return sub(others, own);
  };
}

}  // namespace trustml::attacks
