// trustml/ops/elementwise.hpp: elementwise arithmetic and math, with PyTorch broadcasting.
//
// Each primitive computes its output with a shared functor (kernels/functors.hpp) and records
// itself; its derivative rule is at the end of this file. Composites (prelu) are
// written from primitives and need no rule. Activations with a kink (relu, clamp, maximum) are real
// only; the smooth functions also take complex input.
#pragma once

#include <cmath>

#include "trustml/ops/common.hpp"

namespace trustml {

namespace ops {
template <Op op, class F, class T, class D>
Tensor<T, D> unary(const Tensor<T, D>& a, F f) {
  return record<op>(unary_map<T>(a, f), NoAttrs{}, a);
}
template <Op op, class F, class T, class D>
Tensor<T, D> binary(const Tensor<T, D>& a, const Tensor<T, D>& b, F f) {
  return record<op>(binary_map<T>(op_name(op), a, b, f), NoAttrs{}, a, b);
}
template <class T>
concept RealFloating = std::same_as<T, float> || std::same_as<T, double>;
}  // namespace ops

// ---- arithmetic ----
template <FloatingScalar T, class D>
Tensor<T, D> add(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::add>(a, b, fn::Add{});
}
template <FloatingScalar T, class D>
Tensor<T, D> sub(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::sub>(a, b, fn::Sub{});
}
template <FloatingScalar T, class D>
Tensor<T, D> mul(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::mul>(a, b, fn::Mul{});
}
template <FloatingScalar T, class D>
Tensor<T, D> div(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::div>(a, b, fn::Div{});
}
template <FloatingScalar T, class D>
Tensor<T, D> neg(const Tensor<T, D>& a) {
  return ops::unary<Op::neg>(a, fn::Neg{});
}

// a * s and a + s for a host scalar s (no tensor is made for s).
template <FloatingScalar T, class D>
Tensor<T, D> scale(const Tensor<T, D>& a, T s) {
  auto out = ops::unary_map<T>(a, fn::Scale<value_t<T, D>>{ops::device_value<T, D>(s)});
  return ops::record<Op::scale>(out, s, a);
}
template <FloatingScalar T, class D>
Tensor<T, D> add_scalar(const Tensor<T, D>& a, T s) {
  auto out = ops::unary_map<T>(a, fn::AddScalar<value_t<T, D>>{ops::device_value<T, D>(s)});
  return ops::record<Op::add_scalar>(out, s, a);
}

// ---- smooth math (real and complex) ----
template <FloatingScalar T, class D>
Tensor<T, D> exp(const Tensor<T, D>& a) {
  return ops::unary<Op::exp>(a, fn::Exp{});
}
template <FloatingScalar T, class D>
Tensor<T, D> log(const Tensor<T, D>& a) {
  return ops::unary<Op::log>(a, fn::Log{});
}
template <FloatingScalar T, class D>
Tensor<T, D> sqrt(const Tensor<T, D>& a) {
  return ops::unary<Op::sqrt>(a, fn::Sqrt{});
}
template <FloatingScalar T, class D>
Tensor<T, D> sin(const Tensor<T, D>& a) {
  return ops::unary<Op::sin>(a, fn::Sin{});
}
template <FloatingScalar T, class D>
Tensor<T, D> cos(const Tensor<T, D>& a) {
  return ops::unary<Op::cos>(a, fn::Cos{});
}
template <FloatingScalar T, class D>
Tensor<T, D> tanh(const Tensor<T, D>& a) {
  return ops::unary<Op::tanh>(a, fn::Tanh{});
}
template <FloatingScalar T, class D>
Tensor<T, D> sigmoid(const Tensor<T, D>& a) {
  return ops::unary<Op::sigmoid>(a, fn::Sigmoid{});
}
// a^p for a real exponent p.
template <FloatingScalar T, class D>
Tensor<T, D> pow(const Tensor<T, D>& a, real_t<T> p) {
  auto out = ops::unary_map<T>(a, fn::Pow<real_t<T>>{p});
  return ops::record<Op::pow>(out, p, a);
}
// |a|; for complex input the result is real.
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> abs(const Tensor<T, D>& a) {
  return ops::record<Op::abs>(ops::unary_map<real_t<T>>(a, fn::Abs<real_t<T>>{}), NoAttrs{}, a);
}

// ---- activations and comparisons (real) ----
template <ops::RealFloating T, class D>
Tensor<T, D> erf(const Tensor<T, D>& a) {
  return ops::unary<Op::erf>(a, fn::Erf{});
}
template <ops::RealFloating T, class D>
Tensor<T, D> relu(const Tensor<T, D>& a) {
  return ops::unary<Op::relu>(a, fn::Relu{});
}
template <ops::RealFloating T, class D>
Tensor<T, D> leaky_relu(const Tensor<T, D>& a, T slope = T(0.01)) {
  return ops::record<Op::leaky_relu>(ops::unary_map<T>(a, fn::LeakyRelu<T>{slope}), slope, a);
}
template <ops::RealFloating T, class D>
Tensor<T, D> clamp(const Tensor<T, D>& a, T lo, T hi) {
  TRUSTML_CHECK(lo <= hi, "clamp", "lower bound ", lo, " exceeds upper bound ", hi);
  return ops::record<Op::clamp>(ops::unary_map<T>(a, fn::Clamp<T>{lo, hi}), fn::Clamp<T>{lo, hi}, a);
}
template <ops::RealFloating T, class D>
Tensor<T, D> maximum(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::maximum>(a, b, fn::Maximum{});
}
template <ops::RealFloating T, class D>
Tensor<T, D> minimum(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary<Op::minimum>(a, b, fn::Minimum{});
}
// `hard` in the forward pass; in the backward pass the output's gradient goes to `soft`, clipped to
// [-1, 1] (the straight-through estimator with a hardtanh on the gradient, as TextGrad uses it): a
// discrete sample stands for the relaxed variable it was drawn from (attacks/straight_through.hpp).
// `hard` gets no gradient; the shapes must be equal.
template <ops::RealFloating T, class D>
Tensor<T, D> straight_through(const Tensor<T, D>& soft, const Tensor<T, D>& hard) {
  TRUSTML_CHECK(soft.shape() == hard.shape(), "straight_through", "the soft and hard tensors differ in shape: ",
                soft.shape(), " and ", hard.shape());
  return ops::record<Op::straight_through>(hard.clone(), NoAttrs{}, soft);
}
// cond ? a : b elementwise (cond nonzero means true); all three broadcast together.
template <FloatingScalar T, class D>
Tensor<T, D> where(const Tensor<T, D>& cond, const Tensor<T, D>& a, const Tensor<T, D>& b) {
  const Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  auto out = Tensor<T, D>::empty(s);
  kernels::Kernels<D>::map(s, ops::dptr(out), fn::Where{}, ops::strided(cond, s), ops::strided(a, s),
                           ops::strided(b, s));
  return ops::record<Op::where>(out, NoAttrs{}, cond.detach(), a, b);
}
// Masks (not differentiable): a > 0; lo <= a <= hi; 0, 1/2 or 1 as a <, == b or neither.
template <ops::RealFloating T, class D>
Tensor<T, D> step(const Tensor<T, D>& a) {
  return ops::unary_map<T>(a, fn::Step{});
}
template <ops::RealFloating T, class D>
Tensor<T, D> in_range(const Tensor<T, D>& a, T lo, T hi) {
  return ops::unary_map<T>(a, fn::InRange<T>{lo, hi});
}
template <ops::RealFloating T, class D>
Tensor<T, D> max_mask(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return ops::binary_map<T>("max_mask", a, b, fn::MaxMask{});
}

// x * sigmoid(x), one fused pass.
template <ops::RealFloating T, class D>
Tensor<T, D> silu(const Tensor<T, D>& a) {
  return ops::unary<Op::silu>(a, fn::Silu{});
}
// Exact GELU, x * Phi(x), as PyTorch's default, one fused pass.
template <ops::RealFloating T, class D>
Tensor<T, D> gelu(const Tensor<T, D>& a) {
  return ops::unary<Op::gelu>(a, fn::Gelu{});
}

// ---- composites ----
// max(0, x) + weight * min(0, x), weight broadcast against x (one slope, or one per channel [C, 1, 1]).
template <ops::RealFloating T, class D>
Tensor<T, D> prelu(const Tensor<T, D>& a, const Tensor<T, D>& weight) {
  return add(relu(a), mul(weight, neg(relu(neg(a)))));
}

// ---- complex parts ----
template <FloatingScalar T, class D>
Tensor<T, D> conj(const Tensor<T, D>& a) {
  if constexpr (!is_complex_v<T>) return a;
  else return ops::unary<Op::conj>(a, fn::Conj{});
}
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> real(const Tensor<T, D>& a) {
  if constexpr (!is_complex_v<T>) return a;
  else return ops::record<Op::real>(ops::unary_map<real_t<T>>(a, fn::Real<real_t<T>>{}), NoAttrs{}, a);
}
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> imag(const Tensor<T, D>& a) {
  using R = real_t<T>;
  if constexpr (!is_complex_v<T>) return Tensor<R, D>::zeros(a.shape());
  else return ops::record<Op::imag>(ops::unary_map<R>(a, fn::Imag<R>{}), NoAttrs{}, a);
}
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> angle(const Tensor<T, D>& a) {
  using R = real_t<T>;
  return ops::record<Op::angle>(ops::unary_map<R>(a, fn::Angle<R>{}), NoAttrs{}, a);
}
// re + i im.
template <ops::RealFloating R, class D>
Tensor<std::complex<R>, D> make_complex(const Tensor<R, D>& re, const Tensor<R, D>& im) {
  using C = std::complex<R>;
  auto out = ops::binary_map<C>("make_complex", re, im, fn::MakeComplex<value_t<C, D>>{});
  return ops::record<Op::make_complex>(out, NoAttrs{}, re, im);
}

// ---- operators ----
template <FloatingScalar T, class D>
Tensor<T, D> operator+(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return add(a, b);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator-(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return sub(a, b);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator*(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return mul(a, b);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator/(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return div(a, b);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator-(const Tensor<T, D>& a) {
  return neg(a);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator*(const Tensor<T, D>& a, std::type_identity_t<T> s) {
  return scale(a, s);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator*(std::type_identity_t<T> s, const Tensor<T, D>& a) {
  return scale(a, s);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator/(const Tensor<T, D>& a, std::type_identity_t<T> s) {
  return scale(a, T(1) / s);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator+(const Tensor<T, D>& a, std::type_identity_t<T> s) {
  return add_scalar(a, s);
}
template <FloatingScalar T, class D>
Tensor<T, D> operator-(const Tensor<T, D>& a, std::type_identity_t<T> s) {
  return add_scalar(a, -s);
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

TRUSTML_RULE(add, nothing) { return grads(c.grad, c.grad); }
TRUSTML_RULE(sub, nothing) { return grads(c.grad, neg(c.grad)); }
TRUSTML_RULE(mul, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  return grads(c.template needs<0>() ? mul(c.grad, conj(c.template in<1>())) : G(),
               c.template needs<1>() ? mul(c.grad, conj(c.template in<0>())) : G());
}
TRUSTML_RULE(div, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  auto a = c.template in<0>(), b = c.template in<1>();
  auto ga = div(c.grad, conj(b));
  return grads(c.template needs<0>() ? ga : G(), c.template needs<1>() ? neg(mul(ga, conj(div(a, b)))) : G());
}
TRUSTML_RULE(neg, nothing) { return grads(neg(c.grad)); }
TRUSTML_RULE(scale, nothing) {
  if constexpr (is_complex_v<InT<C>>) return grads(scale(c.grad, std::conj(c.attrs)));
  else return grads(scale(c.grad, c.attrs));
}
TRUSTML_RULE(add_scalar, nothing) { return grads(c.grad); }
TRUSTML_RULE(exp, output) { return grads(mul(c.grad, conj(c.out()))); }
TRUSTML_RULE(log, inputs) { return grads(div(c.grad, conj(c.template in<0>()))); }
TRUSTML_RULE(sqrt, output) {
  using T = InT<C>;
  return grads(scale(div(c.grad, conj(c.out())), T(0.5)));
}
TRUSTML_RULE(pow, inputs) {
  using T = InT<C>;
  auto a = c.template in<0>();
  return grads(mul(c.grad, conj(scale(pow(a, c.attrs - 1), T(c.attrs)))));
}
TRUSTML_RULE(abs, inputs) {
  using T = InT<C>;
  auto a = c.template in<0>();
  if constexpr (is_complex_v<T>) {
    // g * z / |z|, taken as 0 at z = 0.
    using R = real_t<T>;
    auto safe =
        maximum(abs(a), Tensor<R, typename C::template In<0>::device_type>::scalar(std::numeric_limits<R>::min()));
    return grads(mul(cast<T>(c.grad), div(a, cast<T>(safe))));
  } else {
    return grads(mul(c.grad, sub(step(a), step(neg(a)))));
  }
}
TRUSTML_RULE(sin, inputs) { return grads(mul(c.grad, conj(cos(c.template in<0>())))); }
TRUSTML_RULE(cos, inputs) { return grads(neg(mul(c.grad, conj(sin(c.template in<0>()))))); }
TRUSTML_RULE(tanh, output) {
  using T = InT<C>;
  auto y = c.out();
  return grads(mul(c.grad, conj(add_scalar(neg(mul(y, y)), T(1)))));
}
TRUSTML_RULE(sigmoid, output) {
  using T = InT<C>;
  auto y = c.out();
  return grads(mul(c.grad, conj(mul(y, add_scalar(neg(y), T(1))))));
}
// relu: g except where the output is <= 0 (a NaN output passes g). Without create_graph, one fused
// pass (no mask tensor).
TRUSTML_RULE(relu, output) {
  using T = InT<C>;
  if (!grad_enabled()) return grads(ops::binary_map<T>("relu", c.grad, c.out(), fn::ReluBackward{}));
  return grads(mul(c.grad, ops::unary_map<T>(c.out(), fn::ReluMask{})));
}
TRUSTML_RULE(leaky_relu, inputs) {
  using T = InT<C>;
  return grads(mul(c.grad, add_scalar(scale(step(c.template in<0>()), T(1) - c.attrs), c.attrs)));
}
TRUSTML_RULE(erf, inputs) {
  using T = InT<C>;
  auto a = c.template in<0>();
  return grads(mul(c.grad, scale(exp(neg(mul(a, a))), T(1.12837916709551257390))));  // 2 / sqrt(pi)
}
// gelu' = Phi(x) + x phi(x); silu' = s (1 + x (1 - s)), s = sigmoid(x). Without create_graph, one
// fused pass; with it, tensor ops (so the rule is differentiable again).
TRUSTML_RULE(gelu, inputs) {
  using T = InT<C>;
  auto x = c.template in<0>();
  if (!grad_enabled()) return grads(ops::binary_map<T>("gelu", c.grad, x, fn::GeluBackward{}));
  auto cdf = scale(add_scalar(erf(scale(x, T(0.70710678118654752440))), T(1)), T(0.5));
  auto pdf = scale(exp(scale(mul(x, x), T(-0.5))), T(0.39894228040143267794));  // 1 / sqrt(2 pi)
  return grads(mul(c.grad, add(cdf, mul(x, pdf))));
}
TRUSTML_RULE(silu, inputs) {
  using T = InT<C>;
  auto x = c.template in<0>();
  if (!grad_enabled()) return grads(ops::binary_map<T>("silu", c.grad, x, fn::SiluBackward{}));
  auto s = sigmoid(x);
  return grads(mul(c.grad, mul(s, add_scalar(mul(x, add_scalar(neg(s), T(1))), T(1)))));
}
TRUSTML_RULE(straight_through, nothing) {
  using T = InT<C>;
  return grads(clamp(c.grad, T(-1), T(1)));
}
TRUSTML_RULE(clamp, inputs) {
  using T = InT<C>;
  return grads(mul(c.grad, ops::unary_map<T>(c.template in<0>(), fn::InOpenRange<T>{c.attrs.lo, c.attrs.hi})));
}
TRUSTML_RULE(where, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  auto cond = c.template in<0>();
  return grads(G(), where(cond, c.grad, zero_like(c.grad)), where(cond, zero_like(c.grad), c.grad));
}
TRUSTML_RULE(maximum, inputs) {
  auto a = c.template in<0>(), b = c.template in<1>();
  return grads(mul(c.grad, max_mask(a, b)), mul(c.grad, max_mask(b, a)));
}
TRUSTML_RULE(minimum, inputs) {
  auto a = c.template in<0>(), b = c.template in<1>();
  return grads(mul(c.grad, max_mask(b, a)), mul(c.grad, max_mask(a, b)));
}

TRUSTML_RULE(conj, nothing) { return grads(conj(c.grad)); }
TRUSTML_RULE(real, nothing) { return grads(make_complex(c.grad, zero_like(c.grad))); }
TRUSTML_RULE(imag, nothing) { return grads(make_complex(zero_like(c.grad), c.grad)); }
TRUSTML_RULE(angle, inputs) {
  // d angle = (-y dx + x dy) / |z|^2, so the gradient is g * i z / |z|^2.
  // For real input the angle is piecewise constant (0 or pi): zero gradient, as PyTorch.
  using T = InT<C>;
  auto z = c.template in<0>();
  if constexpr (is_complex_v<T>) return grads(mul(cast<T>(div(c.grad, real(mul(z, conj(z))))), scale(z, T(0, 1))));
  else return grads(scale(c.grad, T(0)));
}
TRUSTML_RULE(make_complex, nothing) { return grads(real(c.grad), imag(c.grad)); }

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
