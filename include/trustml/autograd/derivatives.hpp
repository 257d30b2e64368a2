// trustml/autograd/derivatives.hpp: the derivative rule of every primitive op, in one table.
//
// A rule maps the gradient of the op's output to the gradients of its inputs (a vector-Jacobian
// product), written with tensor ops, so that running it under create_graph records it and
// higher-order gradients come for free. Gradients whose shape differs from the input's (from
// broadcasting) are summed back by the engine (sum_to); a rule may return an undefined tensor for
// an input that needs no gradient.
//
// Complex numbers follow the conjugate-Wirtinger convention, as PyTorch: for a real loss L and
// z = x + iy the gradient is dL/dx + i dL/dy, so a holomorphic f(z) has the rule g * conj(f'(z))
// and `mul` multiplies by the conjugate of the other factor. For real tensors conj() is free.
//
// Each entry: TRUSTML_RULE(op, what it saves) { return grads(...one per input...); }
// c.grad is the output gradient; c.in<I>(), c.out() the saved tensors; c.attrs the op's attributes;
// c.needs<I>() whether input I wants a gradient.
#pragma once

#include <tuple>

#include "trustml/autograd/record.hpp"
#include "trustml/ops/cg.hpp"
#include "trustml/ops/conv.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/fft.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/pool.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::autograd {

template <Save S>
struct RuleBase {
  static constexpr bool defined = true;
  static constexpr Save save = S;
};

template <class... G>
auto grads(G... g) {
  return std::make_tuple(std::move(g)...);
}

#define TRUSTML_RULE(name, saved)                                \
  template <>                                                    \
  struct Rule<Op::name> : RuleBase<Save::saved> {                \
    template <class C>                                           \
    static auto backward(const C& c);                            \
  };                                                             \
  template <class C>                                             \
  auto Rule<Op::name>::backward(const C& c)

// Element type of input I, and a zero of the gradient's type to broadcast.
template <class C, std::size_t I = 0>
using InT = typename C::template In<I>::value_type;
template <class G>
G zero_like(const G&) {
  return G::zeros(Shape{});
}

// ---- elementwise ----
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
    auto safe = maximum(abs(a), Tensor<R, typename C::template In<0>::device_type>::scalar(
                                    std::numeric_limits<R>::min()));
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
// relu: g where the output is positive. Without create_graph, one fused pass (no mask tensor).
TRUSTML_RULE(relu, output) {
  if (!grad_enabled()) return grads(ops::binary_map<InT<C>>("relu", c.grad, c.out(), fn::PassWherePositive{}));
  return grads(mul(c.grad, step(c.out())));
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
TRUSTML_RULE(clamp, inputs) { return grads(mul(c.grad, in_range(c.template in<0>(), c.attrs.lo, c.attrs.hi))); }
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

// ---- complex parts ----
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

// ---- reductions ----
TRUSTML_RULE(sum, nothing) {
  const Shape& in = c.template in_shape<0>();
  return grads(expand(reshape(c.grad, ops::keepdim_shape(in, c.attrs)), in));
}
// The gradient goes to the extreme elements, shared equally among ties.
template <class C>
auto extremum_grad(const C& c) {
  using T = InT<C>;
  auto a = c.template in<0>();
  const Shape kept = ops::keepdim_shape(a.shape(), c.attrs);
  auto hit = in_range(sub(a, reshape(c.out(), kept)).detach(), T(0), T(0));
  auto share = div(hit, sum(hit, ops::reduced_dims(c.attrs, a.dim()), true));
  return grads(mul(reshape(c.grad, kept), share));
}
TRUSTML_RULE(amax, both) { return extremum_grad(c); }
TRUSTML_RULE(amin, both) { return extremum_grad(c); }

// ---- movement ----
TRUSTML_RULE(reshape, nothing) { return grads(reshape(c.grad, c.template in_shape<0>())); }
TRUSTML_RULE(permute, nothing) {
  std::vector<int> inverse(c.attrs.rank);
  for (int i = 0; i < c.attrs.rank; ++i) inverse[c.attrs.dims[i]] = i;
  return grads(permute(c.grad, inverse));
}
TRUSTML_RULE(slice, nothing) {
  return grads(slice_backward(c.grad, c.template in_shape<0>(), c.attrs.dim, c.attrs.start, c.attrs.step));
}
TRUSTML_RULE(slice_backward, nothing) {
  const std::int64_t n = c.template in_shape<0>()[c.attrs.dim];
  return grads(slice(c.grad, c.attrs.dim, c.attrs.start, c.attrs.start + (n - 1) * c.attrs.step + 1, c.attrs.step));
}
TRUSTML_RULE(expand, nothing) { return grads(c.grad); }  // the engine sums back to the input's shape
TRUSTML_RULE(contiguous, nothing) { return grads(c.grad); }
TRUSTML_RULE(to_device, nothing) { return grads(to<typename C::template In<0>::device_type>(c.grad)); }
TRUSTML_RULE(cast, nothing) {
  using From = InT<C>;
  if constexpr (!is_complex_v<From> && is_complex_v<typename std::decay_t<decltype(c.grad)>::value_type>)
    return grads(cast<From>(real(c.grad)));
  else
    return grads(cast<From>(c.grad));
}

// ---- linear algebra ----
TRUSTML_RULE(matmul, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  auto a = c.template in<0>(), b = c.template in<1>();
  return grads(c.template needs<0>() ? matmul(c.grad, conj(transpose(b, -1, -2))) : G(),
               c.template needs<1>() ? matmul(conj(transpose(a, -1, -2)), c.grad) : G());
}
// cg_solve: implicit differentiation of x = (N + lambda I)^{-1} b (see ops/cg.hpp). One more solve,
// from zero, gives both gradients; the lambda gradient is per system, summed back by the engine.
TRUSTML_RULE(cg_solve, both) {
  using G = std::decay_t<decltype(c.grad)>;
  using L = typename C::template In<1>;
  auto lambda = c.template in<1>();
  G gb = cg_solve(c.attrs.normal, c.grad, lambda, c.attrs.options);
  L glambda;
  if (c.template needs<1>()) {
    std::vector<int> dims;
    for (int d = 1; d < gb.dim(); ++d) dims.push_back(d);
    auto inner = real(mul(conj(gb), c.out()));
    glambda = neg(dims.empty() ? inner : sum(inner, dims));
  }
  return grads(c.template needs<0>() ? gb : G(), glambda);
}

// ---- convolution, pooling and resampling ----
// im2col and col2im are each other's adjoint; padding taps carry no gradient.
// max_pool2d: g goes to the first maximum of each window. Without create_graph one kernel writes
// the whole gradient; with it, the same positions feed scatter_add, whose rule is gather.
TRUSTML_RULE(max_pool2d, both) {
  using G = std::decay_t<decltype(c.grad)>;
  using V = trustml::value_t<InT<C>, typename G::device_type>;
  using K = kernels::Kernels<typename G::device_type>;
  const Shape& shape = c.template in_shape<0>();
  const auto x = c.template in<0>().contiguous_data(), y = c.out().contiguous_data();
  const std::int64_t planes = shape[0] * shape[1], windows = y.numel() / std::max<std::int64_t>(planes, 1);
  if (!grad_enabled()) {
    auto dx = G::empty(shape);
    const auto g = c.grad.contiguous_data();
    if constexpr (K::per_element_threads)
      K::for_each(dx.numel(), ops::MaxPoolGradPixel<V>{ops::dptr(x), ops::dptr(y), ops::dptr(g), ops::dptr(dx), c.attrs});
    else
      K::for_each(planes, ops::MaxPoolGradPlane<V>{ops::dptr(x), ops::dptr(y), ops::dptr(g), ops::dptr(dx), c.attrs},
                  shape[2] * shape[3]);
    return grads(dx);
  }
  auto argmax = Tensor<std::int64_t, typename G::device_type>::empty(Shape{planes, windows});
  K::for_each(y.numel(), ops::MaxPoolArgmax<V>{ops::dptr(x), ops::dptr(y), argmax.data(), c.attrs});
  auto scattered = ops::scatter_add_unchecked(G::zeros(Shape{planes, shape[2] * shape[3]}), 1, argmax,
                                              reshape(c.grad, {planes, windows}));
  return grads(reshape(scattered, shape));
}
// conv2d (groups = 1; grouped convolutions are im2col + matmul): without create_graph the chunked
// kernels of ops/conv.hpp; with it (or for complex values) the same products from recorded ops, so
// that they differentiate again: for the input conv_transpose2d of g with conj(W) (the output
// padding restores the rows and columns the strides dropped), for the weight g times the input's
// columns conjugated.
TRUSTML_RULE(conv2d, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  const ops::Window2d& win = c.attrs;
  auto x = c.template in<0>(), w = c.template in<1>();
  G dx, dw, db;
  if (c.template needs<2>()) db = sum(c.grad, {0, 2, 3});
  if (!grad_enabled() && !is_complex_v<InT<C>>) {  // the GEMM kernels have no conjugate transpose
    if (c.template needs<0>()) dx = ops::conv2d_input_grad(c.grad, w, win);
    if (c.template needs<1>()) dw = ops::conv2d_weight_grad(c.grad, x, win, w.shape());
    return grads(dx, dw, db);
  }
  if (c.template needs<0>()) {
    const Size2 dropped{(win.h + 2 * win.ph - win.dh * (win.kh - 1) - 1) % win.sh,
                        (win.w + 2 * win.pw - win.dw * (win.kw - 1) - 1) % win.sw};
    dx = conv_transpose2d(c.grad, conj(w), G(), {win.sh, win.sw}, {win.ph, win.pw}, dropped, 1, {win.dh, win.dw});
  }
  if (c.template needs<1>()) {
    const std::int64_t n = x.size(0), cin = x.size(1), l = win.lh() * win.lw();
    auto cols = ops::is_pointwise(win) ? reshape(x, {n, cin, l}) : ops::run_im2col(x, win, InT<C>(0));
    auto g = reshape(c.grad, {n, w.size(0), l});
    dw = reshape(sum(matmul(g, conj(transpose(cols, 1, 2))), {0}), w.shape());
  }
  return grads(dx, dw, db);
}
TRUSTML_RULE(im2col, nothing) { return grads(ops::run_col2im(c.grad, c.attrs.win)); }
TRUSTML_RULE(col2im, nothing) { return grads(ops::run_im2col(c.grad, c.attrs, InT<C>(0))); }

// ---- FFT and indexing ----
// fft2c and ifft2c are unitary: each one's adjoint is the other.
TRUSTML_RULE(fft2c, nothing) { return grads(ifft2c(c.grad)); }
TRUSTML_RULE(ifft2c, nothing) { return grads(fft2c(c.grad)); }
// Each input gets its slice of g.
TRUSTML_RULE(concat, nothing) {
  using G = std::decay_t<decltype(c.grad)>;
  std::vector<G> out;
  std::int64_t start = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const std::int64_t n = c.in_shape(i)[c.attrs.dim];
    out.push_back(c.needs(i) ? slice(c.grad, c.attrs.dim, start, start + n, 1) : G());
    start += n;
  }
  return out;
}
// gather reads x at the index; its adjoint adds g back at the index, and scatter_add's source
// gradient reads g at the index.
TRUSTML_RULE(gather, nothing) {
  using G = std::decay_t<decltype(c.grad)>;
  return grads(ops::scatter_add_unchecked(G::zeros(c.template in_shape<0>()), c.attrs.dim, c.attrs.index("gather"),
                                          c.grad));
}
TRUSTML_RULE(scatter_add, nothing) {
  using G = std::decay_t<decltype(c.grad)>;
  return grads(c.grad, c.template needs<1>()
                           ? ops::gather_unchecked(c.grad, c.attrs.dim, c.attrs.index("scatter_add"))
                           : G());
}

// Every primitive in ops/op_list.hpp must have a rule above.
#define TRUSTML_REQUIRE_RULE(name, kind)                                                                   \
  static_assert(OpKind::kind != OpKind::primitive || Rule<Op::name>::defined,                              \
                "trustml: primitive op '" #name "' has no derivative rule in autograd/derivatives.hpp; add " \
                "one, or mark the op composite or non_differentiable in ops/op_list.hpp");
TRUSTML_OPS(TRUSTML_REQUIRE_RULE)
#undef TRUSTML_REQUIRE_RULE

}  // namespace trustml::autograd
