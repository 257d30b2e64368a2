// trustml/ops/linalg.hpp: matmul with NumPy/PyTorch semantics (1-D operands, broadcast batch dims).
//
// The primitive is the batched product of rank >= 2 operands; a transposed operand (a permuted
// view) is passed to GEMM with a transpose flag instead of being copied.
#pragma once

#include <vector>

#include "trustml/ops/movement.hpp"

namespace trustml {

namespace ops {
// How GEMM reads a [rows, cols] matrix view: row-major with leading dim ld, or transposed.
struct MatrixLayout {
  bool ok, trans;
  std::int64_t ld;
};
inline MatrixLayout matrix_layout(const Shape& s, const Strides& st) {
  const int r = s.rank;
  const std::int64_t rows = s[r - 2], cols = s[r - 1];
  if (st[r - 1] == 1 || cols == 1) {
    const std::int64_t ld = rows == 1 ? cols : st[r - 2];
    if (ld >= cols && ld > 0) return {true, false, ld};
  }
  if (st[r - 2] == 1 || rows == 1) {
    const std::int64_t ld = cols == 1 ? rows : st[r - 1];
    if (ld >= rows && ld > 0) return {true, true, ld};
  }
  return {false, false, 0};
}
// The single stride that steps through all batch dims of a view, when they collapse into one.
inline bool batch_stride(const Shape& s, const Strides& st, std::int64_t& stride) {
  stride = 0;
  std::int64_t inner_extent = -1;
  for (int i = s.rank - 3; i >= 0; --i) {
    if (s[i] == 1) continue;
    if (inner_extent < 0) stride = st[i];
    else if (st[i] != inner_extent) return false;
    inner_extent = st[i] * s[i];
  }
  return true;
}
}  // namespace ops

template <FloatingScalar T, class D>
Tensor<T, D> matmul(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  TRUSTML_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "needs operands of rank >= 1, got ", a.shape(), " and ",
                b.shape());
  if (a.dim() == 1 && b.dim() == 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), Shape{});
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  TRUSTML_CHECK(b.size(-2) == k, "matmul", "inner dimensions differ: ", a.shape(), " @ ", b.shape());
  if (b.dim() == 2 && a.dim() > 2 && k > 0 && a.is_contiguous()) {
    // [..., m, k] @ [k, n] is one product of a [rows, k] matrix: one large GEMM instead of a batch
    // of small ones (a linear layer on [B, L, E] tokens: 3-10x faster), and one for b's gradient.
    Shape so = a.shape();
    so[so.rank - 1] = n;
    return reshape(matmul(reshape(a, Shape{a.numel() / k, k}), b), so);
  }
  Shape batch_a, batch_b;
  for (int i = 0; i < a.dim() - 2; ++i) batch_a.push_back(a.shape()[i]);
  for (int i = 0; i < b.dim() - 2; ++i) batch_b.push_back(b.shape()[i]);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.push_back(m), sa.push_back(k);
  sb.push_back(k), sb.push_back(n);
  so.push_back(m), so.push_back(n);
  auto operand = [](const Tensor<T, D>& t, const Shape& s) {
    Tensor<T, D> v = t.restride(s, broadcast_strides(t.shape(), t.strides(), s), t.offset());
    std::int64_t stride;
    if (!ops::matrix_layout(s, v.strides()).ok || !ops::batch_stride(s, v.strides(), stride)) v = v.contiguous_data();
    return v;
  };
  Tensor<T, D> va = operand(a, sa), vb = operand(b, sb);
  auto out = Tensor<T, D>::empty(so);
  const auto la = ops::matrix_layout(sa, va.strides()), lb = ops::matrix_layout(sb, vb.strides());
  kernels::GemmArgs<value_t<T, D>> g;
  g.trans_a = la.trans, g.trans_b = lb.trans;
  g.m = m, g.n = n, g.k = k, g.batch = batch.numel();
  g.a = ops::dptr(va), g.lda = la.ld;
  g.b = ops::dptr(vb), g.ldb = lb.ld;
  g.c = ops::dptr(out), g.ldc = n, g.stride_c = m * n;
  ops::batch_stride(sa, va.strides(), g.stride_a);
  ops::batch_stride(sb, vb.strides(), g.stride_b);
  if (m * n > 0) {
    if (k == 0) out.fill_(T(0));
    else kernels::Kernels<D>::gemm(g);
  }
  return ops::record<Op::matmul>(out, NoAttrs{}, a, b);
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

TRUSTML_RULE(matmul, inputs) {
  using G = std::decay_t<decltype(c.grad)>;
  auto a = c.template in<0>(), b = c.template in<1>();
  return grads(c.template needs<0>() ? matmul(c.grad, conj(transpose(b, -1, -2))) : G(),
               c.template needs<1>() ? matmul(conj(transpose(a, -1, -2)), c.grad) : G());
}

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
