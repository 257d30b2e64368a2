// trustml/ops/nn.hpp: losses and normalized exponentials, written from primitives.
#pragma once

#include <vector>

#include "trustml/ops/reduce.hpp"

namespace trustml {

template <ops::RealFloating T, class D>
Tensor<T, D> softmax(const Tensor<T, D>& a, int dim) {
  auto e = exp(sub(a, amax(a, {dim}, true).detach()));
  return div(e, sum(e, {dim}, true));
}

template <ops::RealFloating T, class D>
Tensor<T, D> log_softmax(const Tensor<T, D>& a, int dim) {
  return sub(a, logsumexp(a, {dim}, true));
}

namespace ops {
template <class V>
struct OneHot {
  const std::int64_t* labels;
  V* out;
  std::int64_t classes;
  V on;
  TRUSTML_HD void operator()(std::int64_t i) const { out[i * classes + labels[i]] += on; }
};
}  // namespace ops

// (1 - smoothing) * one_hot(labels) + smoothing / classes, the target distribution of cross_entropy.
template <ops::RealFloating T, class D>
Tensor<T, D> smoothed_one_hot(const Tensor<std::int64_t, D>& labels, std::int64_t classes, T smoothing = T(0)) {
  TRUSTML_CHECK(labels.dim() == 1, "one_hot", "labels must be 1-D, got shape ", labels.shape());
  TRUSTML_CHECK(smoothing >= 0 && smoothing <= 1, "one_hot", "label smoothing must be in [0, 1], got ", smoothing);
  const auto host = labels.to_vector();
  for (std::size_t i = 0; i < host.size(); ++i)
    TRUSTML_CHECK(host[i] >= 0 && host[i] < classes, "cross_entropy", "label ", host[i], " at index ", i,
                  " is out of range for ", classes, " classes");
  auto target = Tensor<T, D>::full(Shape{labels.numel(), classes}, smoothing / T(classes));
  auto l = labels.contiguous_data();
  kernels::Kernels<D>::for_each(labels.numel(),
                                ops::OneHot<value_t<T, D>>{l.data(), ops::dptr(target), classes, T(1) - smoothing});
  return target;
}

// Mean cross-entropy of logits [N, C] against integer labels [N], with optional label smoothing.
template <ops::RealFloating T, class D>
Tensor<T, D> cross_entropy(const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels,
                           T label_smoothing = T(0)) {
  TRUSTML_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0), "cross_entropy",
                "needs logits [N, C] and labels [N], got ", logits.shape(), " and ", labels.shape());
  auto target = smoothed_one_hot<T>(labels, logits.size(1), label_smoothing);
  return scale(sum(mul(target, log_softmax(logits, 1))), T(-1) / T(logits.size(0)));
}

// Cross-entropy of each row of logits [N, C] against integer labels [N]: -log softmax(z_i)_{y_i}, [N].
template <ops::RealFloating T, class D>
Tensor<T, D> cross_entropy_per_sample(const Tensor<T, D>& logits, const Tensor<std::int64_t, D>& labels) {
  TRUSTML_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0), "cross_entropy",
                "needs logits [N, C] and labels [N], got ", logits.shape(), " and ", labels.shape());
  return neg(sum(mul(smoothed_one_hot<T>(labels, logits.size(1)), log_softmax(logits, 1)), {1}));
}

// Mean squared error; for complex input, the mean of |a - b|^2.
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> mse(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  TRUSTML_CHECK(a.shape() == b.shape(), "mse", "shapes differ: ", a.shape(), " and ", b.shape());
  auto d = sub(a, b);
  return mean(real(mul(d, conj(d))));
}

}  // namespace trustml
