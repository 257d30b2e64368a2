// trustml/autograd/gradcheck.hpp: derivative rules checked against central finite differences.
//
// For f(inputs) -> out and a fixed random cotangent v, the scalar L = Re sum(conj(v) * out) has
// gradient (dL/dRe x + i dL/dIm x) with respect to each input element x: that is what backward
// returns under the conjugate-Wirtinger convention, and what central differences along the real
// (and for complex inputs, the imaginary) axis measure. gradgradcheck applies the same test to the
// gradient itself, computed with create_graph, which checks second-order derivatives.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "trustml/autograd/engine.hpp"

namespace trustml::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;
  explicit operator bool() const { return ok; }
};

namespace detail {
// Re sum(conj(v) * out), on the host.
template <class U>
double pairing(const std::vector<U>& v, const std::vector<U>& out) {
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if constexpr (is_complex_v<U>) s += std::real(std::conj(v[i]) * out[i]);
    else s += static_cast<double>(v[i]) * static_cast<double>(out[i]);
  }
  return s;
}
}  // namespace detail

template <class F, class T, class D>
GradcheckResult gradcheck(F&& f, const std::vector<Tensor<T, D>>& inputs, const GradcheckOptions& opt = {}) {
  static_assert(FloatingScalar<T>, "trustml::gradcheck: inputs must be floating tensors");
  std::vector<Tensor<T, D>> leaves;
  for (const auto& x : inputs) {
    Tensor<T, D> leaf = x.contiguous_data().detach();
    leaf = Tensor<T, D>::from_vector(leaf.to_vector(), leaf.shape());
    leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  auto out = f(leaves);
  using Out = decltype(out);
  using U = typename Out::value_type;
  const Out v = Out::randn(out.shape(), opt.seed);
  const auto v_host = v.to_vector();
  // An output that does not depend on the inputs through the tape (e.g. the gradient of a linear
  // function in gradgradcheck) has zero analytic gradient, which the finite differences must confirm.
  std::vector<Tensor<T, D>> analytic(leaves.size());
  if (out.requires_grad()) analytic = grad(std::vector<Out>{out}, leaves, std::vector<Out>{v}, false, false, true);

  auto loss_at = [&](std::size_t which, const std::vector<T>& values) {
    NoGradGuard no_grad;
    std::vector<Tensor<T, D>> xs = leaves;
    xs[which] = Tensor<T, D>::from_vector(values, leaves[which].shape());
    return detail::pairing<U>(v_host, f(xs).to_vector());
  };
  GradcheckResult result;
  std::ostringstream report;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    std::vector<T> values = leaves[i].to_vector();
    std::vector<T> a = analytic[i].defined() ? analytic[i].to_vector() : std::vector<T>(values.size(), T(0));
    const int parts = is_complex_v<T> ? 2 : 1;
    for (std::size_t k = 0; k < values.size(); ++k) {
      for (int part = 0; part < parts; ++part) {
        const T saved = values[k];
        T step;
        if constexpr (is_complex_v<T>) step = part == 0 ? T(opt.eps, 0) : T(0, opt.eps);
        else step = T(opt.eps);
        values[k] = saved + step;
        const double plus = loss_at(i, values);
        values[k] = saved - step;
        const double minus = loss_at(i, values);
        values[k] = saved;
        const double numeric = (plus - minus) / (2 * opt.eps);
        double got;
        if constexpr (is_complex_v<T>) got = part == 0 ? a[k].real() : a[k].imag();
        else got = static_cast<double>(a[k]);
        if (!(std::abs(got - numeric) <= opt.atol + opt.rtol * std::abs(numeric))) {
          if (result.ok) report << "gradient mismatch:";
          result.ok = false;
          report << " input " << i << " element " << k << (part ? " (imag)" : "") << ": analytic " << got
                 << ", numeric " << numeric << ";";
        }
      }
    }
  }
  result.message = report.str();
  return result;
}

// Checks the second derivative: gradcheck of x -> d/dx Re<v, f(x)> for the first input.
template <class F, class T, class D>
GradcheckResult gradgradcheck(F&& f, const std::vector<Tensor<T, D>>& inputs, const GradcheckOptions& opt = {}) {
  auto first_grad = [&](std::vector<Tensor<T, D>> xs) {
    // Finite differences evaluate this under NoGradGuard on plain tensors: it records regardless.
    EnableGradGuard enable;
    for (auto& x : xs)
      if (!x.requires_grad()) x = x.detach().set_requires_grad(true);
    auto out = f(xs);
    using Out = decltype(out);
    const Out v = Out::randn(out.shape(), opt.seed + 1);
    auto g = grad(std::vector<Out>{out}, std::vector<Tensor<T, D>>{xs[0]}, std::vector<Out>{v}, true, true, true)[0];
    return g.defined() ? g : Tensor<T, D>::zeros(xs[0].shape());
  };
  return gradcheck(first_grad, inputs, opt);
}

}  // namespace trustml::autograd

namespace trustml {
using autograd::gradcheck;
using autograd::GradcheckOptions;
using autograd::gradgradcheck;
}  // namespace trustml
