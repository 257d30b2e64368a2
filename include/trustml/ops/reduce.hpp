// trustml/ops/reduce.hpp: reductions over any set of dimensions (sum, mean, amax, amin, argmax,
// var, logsumexp, norm) and sum_to, the adjoint of broadcasting.
//
// A reduction views its input with the kept dimensions first and the reduced ones last (a stride
// permutation, no copy) and runs Kernels<D>::reduce with a small accumulator functor.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"

namespace trustml {

namespace ops {
struct ReduceAttr {
  std::array<bool, kMaxRank> reduced{};
  bool keepdim = false;
};

inline ReduceAttr reduce_attr(const Shape& shape, const std::vector<int>& dims, bool keepdim, const char* op) {
  ReduceAttr r;
  r.keepdim = keepdim;
  if (dims.empty()) {
    for (int i = 0; i < shape.rank; ++i) r.reduced[i] = true;
  } else {
    for (int d : dims) {
      const int n = normalize_dim(d, shape.rank, op);
      TRUSTML_CHECK(!r.reduced[n], op, "dimension ", d, " listed twice for shape ", shape);
      r.reduced[n] = true;
    }
  }
  return r;
}

// Output shape with reduced dims kept as 1.
inline Shape keepdim_shape(const Shape& in, const ReduceAttr& r) {
  Shape s = in;
  for (int i = 0; i < in.rank; ++i)
    if (r.reduced[i]) s.dims[i] = 1;
  return s;
}
inline std::vector<int> reduced_dims(const ReduceAttr& r, int rank) {
  std::vector<int> dims;
  for (int i = 0; i < rank; ++i)
    if (r.reduced[i]) dims.push_back(i);
  return dims;
}
inline Shape reduced_shape(const Shape& in, const ReduceAttr& r) {
  if (r.keepdim) return keepdim_shape(in, r);
  Shape s;
  for (int i = 0; i < in.rank; ++i)
    if (!r.reduced[i]) s.push_back(in.dims[i]);
  return s;
}

// Runs `red` over the reduced dims of `a`; returns the output with keepdim applied.
template <class Out, class T, class D, class R>
Tensor<Out, D> run_reduce(const Tensor<T, D>& a, const ReduceAttr& attr, R red) {
  Shape perm_shape;
  Strides perm_strides;
  int out_rank = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < a.dim(); ++i)
      if (attr.reduced[i] == (pass == 1)) {
        perm_shape.push_back(a.shape()[i]);
        perm_strides.push_back(a.strides()[i]);
        out_rank += pass == 0;
      }
  auto out = Tensor<Out, D>::empty(reduced_shape(a.shape(), attr));
  Kernels<D>::reduce(perm_shape, out_rank, dptr(out), Strided<value_t<T, D>>{dptr(a), perm_strides}, red);
  return out;
}

template <class V>
struct SumRed {
  TRUSTML_HD V init() const { return V(0); }
  TRUSTML_HD V step(V acc, V x, std::int64_t) const { return acc + x; }
  TRUSTML_HD V done(V acc, std::int64_t) const { return acc; }
  // Merges partial results of disjoint parts: lets a device split the reduction across threads.
  TRUSTML_HD V combine(V a, V b) const { return a + b; }
};
template <class V, bool Max>
struct ExtremumRed {
  TRUSTML_HD V init() const { return Max ? -std::numeric_limits<V>::infinity() : std::numeric_limits<V>::infinity(); }
  TRUSTML_HD V step(V acc, V x, std::int64_t) const {
    if (x != x) return x;  // NaN propagates, as in PyTorch
    return Max ? (x > acc ? x : acc) : (x < acc ? x : acc);
  }
  TRUSTML_HD V done(V acc, std::int64_t) const { return acc; }
  TRUSTML_HD V combine(V a, V b) const { return step(a, b, 0); }
};
template <class V>
struct ArgmaxRed {
  struct Acc {
    V value;
    std::int64_t index;
  };
  TRUSTML_HD Acc init() const { return {-std::numeric_limits<V>::infinity(), 0}; }
  TRUSTML_HD Acc step(Acc acc, V x, std::int64_t j) const { return (x > acc.value || j == 0) ? Acc{x, j} : acc; }
  TRUSTML_HD std::int64_t done(Acc acc, std::int64_t) const { return acc.index; }
};
}  // namespace ops

// Sum over `dims` (all when empty).
template <FloatingScalar T, class D>
Tensor<T, D> sum(const Tensor<T, D>& a, const std::vector<int>& dims = {}, bool keepdim = false) {
  const auto attr = ops::reduce_attr(a.shape(), dims, keepdim, "sum");
  return ops::record<Op::sum>(ops::run_reduce<T>(a, attr, ops::SumRed<value_t<T, D>>{}), attr, a);
}

template <FloatingScalar T, class D>
Tensor<T, D> mean(const Tensor<T, D>& a, const std::vector<int>& dims = {}, bool keepdim = false) {
  const auto attr = ops::reduce_attr(a.shape(), dims, keepdim, "mean");
  const std::int64_t n = a.numel() / std::max<std::int64_t>(ops::keepdim_shape(a.shape(), attr).numel(), 1);
  TRUSTML_CHECK(n > 0, "mean", "mean over an empty set of elements (shape ", a.shape(), ")");
  return scale(sum(a, dims, keepdim), T(1) / T(static_cast<real_t<T>>(n)));
}

// Largest and smallest element over `dims`; the gradient is shared equally among ties.
template <ops::RealFloating T, class D>
Tensor<T, D> amax(const Tensor<T, D>& a, const std::vector<int>& dims = {}, bool keepdim = false) {
  TRUSTML_CHECK(a.numel() > 0, "amax", "reduction of an empty tensor (shape ", a.shape(), ")");
  const auto attr = ops::reduce_attr(a.shape(), dims, keepdim, "amax");
  return ops::record<Op::amax>(ops::run_reduce<T>(a, attr, ops::ExtremumRed<T, true>{}), attr, a);
}
template <ops::RealFloating T, class D>
Tensor<T, D> amin(const Tensor<T, D>& a, const std::vector<int>& dims = {}, bool keepdim = false) {
  TRUSTML_CHECK(a.numel() > 0, "amin", "reduction of an empty tensor (shape ", a.shape(), ")");
  const auto attr = ops::reduce_attr(a.shape(), dims, keepdim, "amin");
  return ops::record<Op::amin>(ops::run_reduce<T>(a, attr, ops::ExtremumRed<T, false>{}), attr, a);
}

// Index of the first largest element along `dim`.
template <ops::RealFloating T, class D>
Tensor<std::int64_t, D> argmax(const Tensor<T, D>& a, int dim, bool keepdim = false) {
  TRUSTML_CHECK(a.numel() > 0, "argmax", "reduction of an empty tensor (shape ", a.shape(), ")");
  const auto attr = ops::reduce_attr(a.shape(), {dim}, keepdim, "argmax");
  return ops::run_reduce<std::int64_t>(a, attr, ops::ArgmaxRed<T>{});
}

// Variance with Bessel's `correction` (1: unbiased, as torch.var; 0: population).
template <ops::RealFloating T, class D>
Tensor<T, D> var(const Tensor<T, D>& a, const std::vector<int>& dims = {}, int correction = 1, bool keepdim = false) {
  const auto attr = ops::reduce_attr(a.shape(), dims, keepdim, "var");
  const std::int64_t n = a.numel() / std::max<std::int64_t>(ops::keepdim_shape(a.shape(), attr).numel(), 1);
  TRUSTML_CHECK(n - correction > 0, "var", n, " elements per output with correction ", correction, " (shape ",
                a.shape(), ")");
  auto centered = sub(a, mean(a, dims, true));
  return scale(sum(mul(centered, centered), dims, keepdim), T(1) / T(n - correction));
}

// log(sum(exp(a))) over `dims`, computed stably around the maximum.
template <ops::RealFloating T, class D>
Tensor<T, D> logsumexp(const Tensor<T, D>& a, const std::vector<int>& dims = {}, bool keepdim = false) {
  auto m = amax(a, dims, true).detach();
  auto lse = add(log(sum(exp(sub(a, m)), dims, true)), m);
  if (keepdim) return lse;
  return reshape(lse, ops::reduced_shape(a.shape(), ops::reduce_attr(a.shape(), dims, false, "logsumexp")));
}

// The p-norm over `dims` (p = 2 by default; p = infinity gives the largest magnitude).
template <FloatingScalar T, class D>
Tensor<real_t<T>, D> norm(const Tensor<T, D>& a, double p = 2, const std::vector<int>& dims = {},
                          bool keepdim = false) {
  using R = real_t<T>;
  TRUSTML_CHECK(p > 0, "norm", "p must be positive, got ", p);
  auto mag = abs(a);
  if (std::isinf(p)) return amax(mag, dims, keepdim);
  if (p == 1) return sum(mag, dims, keepdim);
  // On an all-zero slice the gradient x |x|^(p-2) / norm^(p-1) is 0/0, and PyTorch takes it as 0.
  // There the root is taken of 1 instead and its result replaced by 0: `where` gives the side it
  // did not pick a zero gradient, so the slice's gradient is 0 (and the root's stays finite).
  auto total = p == 2 ? sum(mul(mag, mag), dims, keepdim) : sum(pow(mag, R(p)), dims, keepdim);
  const auto zero = Tensor<R, D>::scalar(R(0)), one = Tensor<R, D>::scalar(R(1));
  const auto all_zero = in_range(total.detach(), R(0), R(0));
  auto safe = where(all_zero, one, total);
  return where(all_zero, zero, p == 2 ? sqrt(safe) : pow(safe, R(1.0 / p)));
}

namespace autograd {
// Sums g over the dimensions that broadcasting expanded, giving a tensor of `shape`.
template <class T, class D>
Tensor<T, D> sum_to(const Tensor<T, D>& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int lead = g.dim() - shape.rank;
  TRUSTML_CHECK(lead >= 0, "sum_to", "cannot sum shape ", g.shape(), " to ", shape);
  std::vector<int> dims;
  for (int i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  if (dims.empty()) return reshape(g, shape);
  return reshape(trustml::sum(g, dims, false), shape);
}
}  // namespace autograd
using autograd::sum_to;

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

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
  // Equality, not a - out == 0: inf - inf is NaN, and a row of infinities shares its gradient.
  auto hit = ops::binary_map<T>("amax or amin", a.detach(), reshape(c.out(), kept).detach(), fn::EqualMask{});
  auto share = div(hit, sum(hit, ops::reduced_dims(c.attrs, a.dim()), true));
  return grads(mul(reshape(c.grad, kept), share));
}
TRUSTML_RULE(amax, both) { return extremum_grad(c); }
TRUSTML_RULE(amin, both) { return extremum_grad(c); }

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
