// trustml/ops/common.hpp: what every op file uses to launch kernels on tensors.
#pragma once

#include <cstdint>

#include "trustml/autograd/rule.hpp"
#include "trustml/kernels/cpu/gemm.hpp"
#include "trustml/kernels/functors.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml {

using autograd::NoAttrs;

template <class T, class D>
using value_t = typename D::template value_t<T>;

namespace ops {
using autograd::NoAttrs;
using autograd::record;
using kernels::Kernels;
using kernels::Strided;

// The element pointer as the device's kernels see it.
template <class T, class D>
value_t<T, D>* dptr(const Tensor<T, D>& t) {
  return reinterpret_cast<value_t<T, D>*>(t.data());
}

// `t` read as if it had shape `target` (PyTorch broadcasting).
template <class T, class D>
Strided<value_t<T, D>> strided(const Tensor<T, D>& t, const Shape& target) {
  return {dptr(t), broadcast_strides(t.shape(), t.strides(), target)};
}

// The device's element value of a host scalar.
template <class T, class D>
value_t<T, D> device_value(T v) {
  if constexpr (is_complex_v<T>) return value_t<T, D>(v.real(), v.imag());
  else return value_t<T, D>(v);
}

// out = f(a) elementwise, with an output element type that may differ from the input's.
template <class Out, class F, class T, class D>
Tensor<Out, D> unary_map(const Tensor<T, D>& a, F f) {
  auto out = Tensor<Out, D>::empty(a.shape());
  Kernels<D>::map(a.shape(), dptr(out), f, strided(a, a.shape()));
  return out;
}

// out = f(a, b) elementwise with broadcasting.
template <class Out, class F, class A, class B, class D>
Tensor<Out, D> binary_map(const char* op, const Tensor<A, D>& a, const Tensor<B, D>& b, F f) {
  const Shape s = broadcast_shapes(a.shape(), b.shape(), op);
  auto out = Tensor<Out, D>::empty(s);
  Kernels<D>::map(s, dptr(out), f, strided(a, s), strided(b, s));
  return out;
}

// Copies src into the (possibly strided) view dst of the same shape: dst[idx] = src[idx].
template <class V>
struct StridedCopy {
  Shape shape;
  V* dst;
  Strides dst_strides;
  const V* src;
  Strides src_strides;
  TRUSTML_HD void operator()(std::int64_t i) const {
    std::int64_t d = 0, s = 0;
    for (int k = shape.rank - 1; k >= 0; --k) {
      const std::int64_t c = i % shape.dims[k];
      i /= shape.dims[k];
      d += c * dst_strides.dims[k];
      s += c * src_strides.dims[k];
    }
    dst[d] = src[s];
  }
};
template <class T, class D>
void assign(const Tensor<T, D>& dst, const Tensor<T, D>& src) {
  TRUSTML_CHECK(dst.shape() == src.shape(), "assign", "shape ", src.shape(), " into ", dst.shape());
  if (dst.is_contiguous()) {  // the row loops of map: no index arithmetic per element
    Kernels<D>::map(src.shape(), dptr(dst), fn::Identity{}, strided(src, src.shape()));
    return;
  }
  Kernels<D>::for_each(src.numel(),
                       StridedCopy<value_t<T, D>>{src.shape(), dptr(dst), dst.strides(), dptr(src), src.strides()});
}

}  // namespace ops
}  // namespace trustml
