// trustml/ops/movement.hpp: views (reshape, permute, slice, expand, squeeze, unsqueeze, transpose),
// copies (contiguous, pad), and conversions between devices and element types.
//
// Views share storage with their input; reshape copies only when the input's strides cannot be
// reshaped in place. slice_backward (the adjoint of slice: the gradient placed into zeros of the
// input's shape) is a primitive so that slice stays differentiable to any order; pad is built on it.
#pragma once

#include <array>
#include <numeric>
#include <vector>

#include "trustml/ops/common.hpp"

namespace trustml {

namespace ops {
struct DimsAttr {
  std::array<int, kMaxRank> dims{};
  int rank = 0;
};
struct SliceAttr {
  int dim;
  std::int64_t start, step;
};
}  // namespace ops

// Reshape to `shape` (one entry may be -1). A view when the data is contiguous, otherwise a copy.
template <Scalar T, class D>
Tensor<T, D> reshape(const Tensor<T, D>& a, const Shape& shape) {
  Shape s = shape;
  int infer = -1;
  for (int i = 0; i < s.rank; ++i) {
    if (s.dims[i] == -1) {
      TRUSTML_CHECK(infer < 0, "reshape", "more than one -1 in target shape ", shape);
      infer = i;
    } else {
      TRUSTML_CHECK(s.dims[i] >= 0, "reshape", "negative size in target shape ", shape);
    }
  }
  if (infer >= 0) {
    s.dims[infer] = 1;
    const std::int64_t known = s.numel("reshape");
    TRUSTML_CHECK(known != 0 && a.numel() % known == 0, "reshape", "cannot reshape ", a.shape(), " into ", shape);
    s.dims[infer] = a.numel() / known;
  }
  const std::int64_t n = s.numel("reshape");
  TRUSTML_CHECK(n == a.numel(), "reshape", "cannot reshape ", a.shape(), " (", a.numel(), " elements) into ", shape,
                " (", n, " elements)");
  if (s == a.shape()) return a;
  Tensor<T, D> src = a.contiguous_data();
  Tensor<T, D> out = src.restride(s, contiguous_strides(s), src.offset());
  return ops::record<Op::reshape>(out, NoAttrs{}, a);
}

// Reorder dimensions: output dim i is input dim perm[i].
template <Scalar T, class D>
Tensor<T, D> permute(const Tensor<T, D>& a, const std::vector<int>& perm) {
  TRUSTML_CHECK(static_cast<int>(perm.size()) == a.dim(), "permute", "permutation of length ", perm.size(),
                " for a tensor of shape ", a.shape());
  ops::DimsAttr attr;
  attr.rank = a.dim();
  std::array<bool, kMaxRank> used{};
  Shape s, st;
  for (int i = 0; i < a.dim(); ++i) {
    const int d = normalize_dim(perm[i], a.dim(), "permute");
    TRUSTML_CHECK(!used[d], "permute", "dimension ", d, " repeated in the permutation of shape ", a.shape());
    used[d] = true;
    attr.dims[i] = d;
    s.push_back(a.shape()[d]);
    st.push_back(a.strides()[d]);
  }
  return ops::record<Op::permute>(a.restride(s, st, a.offset()), attr, a);
}

template <Scalar T, class D>
Tensor<T, D> transpose(const Tensor<T, D>& a, int d0, int d1) {
  std::vector<int> perm(a.dim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[normalize_dim(d0, a.dim(), "transpose")], perm[normalize_dim(d1, a.dim(), "transpose")]);
  return permute(a, perm);
}

// Elements start, start + step, ... below end along `dim` (Python slice semantics, step > 0).
template <Scalar T, class D>
Tensor<T, D> slice(const Tensor<T, D>& a, int dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  const int d = normalize_dim(dim, a.dim(), "slice");
  TRUSTML_CHECK(step > 0, "slice", "step must be positive, got ", step);
  const std::int64_t n = a.shape()[d];
  auto clampi = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clampi(start);
  end = std::max(clampi(end), start);
  Shape s = a.shape();
  Strides st = a.strides();
  s.dims[d] = (end - start + step - 1) / step;
  st.dims[d] *= step;
  auto out = a.restride(s, st, a.offset() + start * a.strides()[d]);
  return ops::record<Op::slice>(out, ops::SliceAttr{d, start, step}, a);
}

// The adjoint of slice: zeros of `shape` with `g` placed at start, start + step, ... along `dim`.
template <Scalar T, class D>
Tensor<T, D> slice_backward(const Tensor<T, D>& g, const Shape& shape, int dim, std::int64_t start, std::int64_t step) {
  auto out = Tensor<T, D>::zeros(shape);
  Strides st = out.strides();
  st.dims[dim] *= step;
  ops::assign(out.restride(g.shape(), st, start * out.strides()[dim]), g);
  return ops::record<Op::slice_backward>(out, ops::SliceAttr{dim, start, step}, g);
}

// Broadcast to `shape` without copying (stride 0 on broadcast dimensions).
template <Scalar T, class D>
Tensor<T, D> expand(const Tensor<T, D>& a, const Shape& shape) {
  const Shape target = broadcast_shapes(a.shape(), shape, "expand");
  TRUSTML_CHECK(target == shape, "expand", "cannot expand shape ", a.shape(), " to ", shape);
  if (shape == a.shape()) return a;
  return ops::record<Op::expand>(a.restride(shape, broadcast_strides(a.shape(), a.strides(), shape), a.offset()),
                                 NoAttrs{}, a);
}

template <Scalar T, class D>
Tensor<T, D> squeeze(const Tensor<T, D>& a, int dim) {
  const int d = normalize_dim(dim, a.dim(), "squeeze");
  if (a.shape()[d] != 1) return a;
  Shape s;
  for (int i = 0; i < a.dim(); ++i)
    if (i != d) s.push_back(a.shape()[i]);
  return reshape(a, s);
}

template <Scalar T, class D>
Tensor<T, D> unsqueeze(const Tensor<T, D>& a, int dim) {
  const int d = normalize_dim(dim, a.dim() + 1, "unsqueeze");
  Shape s;
  for (int i = 0; i < a.dim(); ++i) {
    if (i == d) s.push_back(1);
    s.push_back(a.shape()[i]);
  }
  if (d == a.dim()) s.push_back(1);
  return reshape(a, s);
}

template <Scalar T, class D>
Tensor<T, D> contiguous(const Tensor<T, D>& a) {
  if (a.is_contiguous()) return a;
  return ops::record<Op::contiguous>(a.contiguous_data(), NoAttrs{}, a);
}

// Constant zero padding: pads[2 * i], pads[2 * i + 1] are the amounts before and after the i-th of
// the trailing dimensions (i = 0 is the last dimension, as torch.nn.functional.pad).
template <Scalar T, class D>
Tensor<T, D> pad(const Tensor<T, D>& a, const std::vector<std::int64_t>& pads) {
  TRUSTML_CHECK(pads.size() % 2 == 0 && static_cast<int>(pads.size()) / 2 <= a.dim(), "pad", pads.size(),
                " pad amounts for a tensor of shape ", a.shape());
  Tensor<T, D> out = a;
  for (std::size_t i = 0; i < pads.size() / 2; ++i) {
    const int d = a.dim() - 1 - static_cast<int>(i);
    const std::int64_t before = pads[2 * i], after = pads[2 * i + 1];
    TRUSTML_CHECK(before >= 0 && after >= 0, "pad", "negative padding ", before, ", ", after);
    if (before == 0 && after == 0) continue;
    Shape s = out.shape();
    s.dims[d] += before + after;
    out = slice_backward(out, s, d, before, 1);
  }
  return out;
}

// Copy to another device (the same tensor when it is already there).
template <class D2, Scalar T, class D>
Tensor<T, D2> to(const Tensor<T, D>& a) {
  if constexpr (std::is_same_v<D, D2>) {
    return a;
  } else {
    Tensor<T, D> src = a.contiguous_data();
    std::vector<T> host(static_cast<std::size_t>(src.numel()));
    D::copy_to_host(host.data(), src.data(), host.size());
    auto out = Tensor<T, D2>::empty(a.shape());
    D2::copy_from_host(out.data(), host.data(), host.size());
    if constexpr (FloatingScalar<T>) return ops::record<Op::to_device>(out, NoAttrs{}, a);
    else return out;  // int64 (labels, indices) carries no gradient
  }
}

// Convert the element type: between reals, between complexes, or real to complex.
template <Scalar T2, Scalar T, class D>
Tensor<T2, D> cast(const Tensor<T, D>& a) {
  static_assert(!(is_complex_v<T> && !is_complex_v<T2>),
                "trustml::cast: complex to real would drop the imaginary part; use real(), imag() or abs()");
  if constexpr (std::is_same_v<T, T2>) {
    return a;
  } else {
    auto out = ops::unary_map<T2>(a, fn::Convert<value_t<T2, D>>{});
    if constexpr (FloatingScalar<T> && FloatingScalar<T2>) return ops::record<Op::cast>(out, NoAttrs{}, a);
    else return out;
  }
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

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
  else return grads(cast<From>(c.grad));
}

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
