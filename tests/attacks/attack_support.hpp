// Helpers of the attack tests.
#pragma once

#include <trustml/trustml.hpp>

namespace tests {
// The largest elementwise |a - b| of two tensors of one shape.
template <class T, class D>
double max_abs_diff(const trustml::Tensor<T, D>& a, const trustml::Tensor<T, D>& b) {
  return static_cast<double>(trustml::amax(trustml::abs(trustml::sub(a, b))).item());
}
}  // namespace tests
