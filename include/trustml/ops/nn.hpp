// trustml/ops/nn.hpp: normalized exponentials (softmax, log_softmax), layer_norm and the losses.
//
// softmax, log_softmax and layer_norm are primitives with fused row kernels (kernels/rows.hpp):
// each row of the input is read once into cache and normalized there, instead of the four
// (softmax) to eight (layer norm) passes and temporaries of their composite formulas. Their rules,
// at the end of this file, record tensor ops under create_graph, so gradients of any order work;
// a first-order gradient on the CPU is one pass per row as well.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/kernels/rows.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml {

namespace ops {
struct SoftmaxAttr {
  int dim = 0;  // normalized to [0, rank)
};
struct LayerNormAttr {
  int normalized_ndim = 0;  // statistics over the trailing normalized_ndim dims
  double eps = 1e-5;
  bool weight = false, bias = false;  // which optional inputs follow x on the tape
};

// softmax (Log = false) or log_softmax (Log = true) of `a` along `dim`, without recording. Rows are
// walked one call each (fused: statistics and output in one visit of the row) or, with PerElement,
// one call per row for the statistics and one per output element (what devices with
// per_element_threads run; tests/ops/test_nn_rows.cpp checks that both give the same bits).
template <bool Log, bool PerElement, class T, class D>
Tensor<T, D> softmax_forward(const Tensor<T, D>& a, int dim) {
  using V = value_t<T, D>;
  const int d = normalize_dim(dim, a.dim(), Log ? "log_softmax" : "softmax");
  const Tensor<T, D> x = a.contiguous_data();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= a.size(i);
  for (int i = d + 1; i < a.dim(); ++i) inner *= a.size(i);
  const std::int64_t n = a.size(d), rows = outer * inner;
  auto out = Tensor<T, D>::empty(a.shape());
  if (a.numel() == 0) return out;
  const V* xp = dptr(x);
  V* yp = dptr(out);
  if constexpr (PerElement) {
    auto stats = Tensor<T, D>::empty(Shape{2, rows});
    if (inner == 1)
      Kernels<D>::for_each(rows, kernels::rows::SoftmaxStats<V, true, Log>{xp, dptr(stats), rows, n, inner}, n);
    else Kernels<D>::for_each(rows, kernels::rows::SoftmaxStats<V, false, Log>{xp, dptr(stats), rows, n, inner}, n);
    Kernels<D>::for_each(a.numel(), kernels::rows::SoftmaxElements<V, Log>{xp, dptr(stats), yp, rows, n, inner});
  } else {
    // Along a dim that is not the last, a call takes a block of neighbouring rows (contiguous
    // loops across them; walking one strided row at a time measured slower than the composite).
    using Columns = kernels::rows::SoftmaxColumns<V, Log>;
    if (inner == 1) Kernels<D>::for_each(rows, kernels::rows::SoftmaxRows<V, true, Log>{xp, yp, n, inner}, n);
    else Kernels<D>::for_each(Columns::calls(outer, inner), Columns{xp, yp, n, inner}, n * Columns::kWidth);
  }
  return out;
}
template <bool Log, class T, class D>
Tensor<T, D> softmax_forward(const Tensor<T, D>& a, int dim) {
  return softmax_forward<Log, Kernels<D>::per_element_threads>(a, dim);
}

// Checks layer_norm's arguments; returns the number of rows and the row length.
template <class T, class D>
std::pair<std::int64_t, std::int64_t> layer_norm_rows(const Tensor<T, D>& x, const Shape& normalized_shape,
                                                      const Tensor<T, D>& weight, const Tensor<T, D>& bias,
                                                      double eps) {
  const int k = normalized_shape.rank, rank = x.dim();
  bool fits = k > 0 && rank >= k;
  for (int i = 0; fits && i < k; ++i) fits = x.size(rank - k + i) == normalized_shape[i];
  TRUSTML_CHECK(fits, "layer_norm", "input of shape ", x.shape(), " does not end in the normalized shape ",
                normalized_shape);
  TRUSTML_CHECK(!weight.defined() || weight.shape() == normalized_shape, "layer_norm", "weight of shape ",
                weight.shape(), " does not match the normalized shape ", normalized_shape, " (input ", x.shape(), ")");
  TRUSTML_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm", "bias of shape ", bias.shape(),
                " does not match the normalized shape ", normalized_shape, " (input ", x.shape(), ")");
  TRUSTML_CHECK(eps >= 0, "layer_norm", "eps must not be negative, got ", eps);
  const std::int64_t n = normalized_shape.numel();
  return {n ? x.numel() / n : 0, n};
}

// layer_norm's output, without recording (PerElement: as softmax_forward).
template <bool PerElement, class T, class D>
Tensor<T, D> layer_norm_forward(const Tensor<T, D>& x_in, const Shape& normalized_shape, const Tensor<T, D>& weight,
                                const Tensor<T, D>& bias, double eps) {
  using V = value_t<T, D>;
  const auto [rows, n] = layer_norm_rows(x_in, normalized_shape, weight, bias, eps);
  const Tensor<T, D> x = x_in.contiguous_data();
  const Tensor<T, D> w = weight.defined() ? weight.contiguous_data() : weight;
  const Tensor<T, D> b = bias.defined() ? bias.contiguous_data() : bias;
  const V* wp = w.defined() ? dptr(w) : nullptr;
  const V* bp = b.defined() ? dptr(b) : nullptr;
  auto out = Tensor<T, D>::empty(x_in.shape());
  if (out.numel() == 0) return out;
  Tensor<T, D> stats;
  if constexpr (PerElement) {
    stats = Tensor<T, D>::empty(Shape{2, rows});
    Kernels<D>::for_each(rows, kernels::rows::LayerNormStats<V>{dptr(x), dptr(stats), rows, n, V(eps)}, n);
  }
  auto launch = [&, rows = rows, n = n](auto has_w, auto has_b) {
    constexpr bool W = decltype(has_w)::value, B = decltype(has_b)::value;
    if constexpr (PerElement)
      Kernels<D>::for_each(out.numel(),
                           kernels::rows::LayerNormElements<V, W, B>{dptr(x), dptr(stats), wp, bp, dptr(out), rows, n});
    else Kernels<D>::for_each(rows, kernels::rows::LayerNormRows<V, W, B>{dptr(x), wp, bp, dptr(out), n, V(eps)}, n);
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if (wp && bp) launch(Yes{}, Yes{});
  else if (wp) launch(Yes{}, No{});
  else if (bp) launch(No{}, Yes{});
  else launch(No{}, No{});
  return out;
}

// The first-order gradients of softmax (Log = false) or log_softmax from the output y and the output
// gradient g, one call per row (what the rules run where no graph of the gradient is recorded).
template <bool Log, class T, class D>
Tensor<T, D> softmax_backward(const Tensor<T, D>& y_in, const Tensor<T, D>& g_in, int dim) {
  using V = value_t<T, D>;
  const Tensor<T, D> y = y_in.contiguous_data(), g = g_in.contiguous_data();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= y.size(i);
  for (int i = dim + 1; i < y.dim(); ++i) inner *= y.size(i);
  const std::int64_t n = y.size(dim), rows = outer * inner;
  auto dx = Tensor<T, D>::empty(y.shape());
  if (y.numel() == 0) return dx;
  if (inner == 1)
    Kernels<D>::for_each(rows, kernels::rows::SoftmaxBackwardRows<V, true, Log>{dptr(y), dptr(g), dptr(dx), n, inner},
                         n);
  else
    Kernels<D>::for_each(rows, kernels::rows::SoftmaxBackwardRows<V, false, Log>{dptr(y), dptr(g), dptr(dx), n, inner},
                         n);
  return dx;
}

// The first-order gradients of layer_norm (x over rows of n; weight undefined when absent); each
// output is computed only where asked for (undefined otherwise), dweight and dbias of shape
// param_shape.
template <class T, class D>
struct LayerNormGrads {
  Tensor<T, D> dx, dweight, dbias;
};
template <class T, class D>
LayerNormGrads<T, D> layer_norm_backward(const Tensor<T, D>& x_in, const Tensor<T, D>& weight, const Tensor<T, D>& g_in,
                                         const Shape& param_shape, double eps, bool need_dx, bool need_dweight,
                                         bool need_dbias) {
  using V = value_t<T, D>;
  LayerNormGrads<T, D> out;
  const std::int64_t n = param_shape.numel(), rows = n ? x_in.numel() / n : 0;
  const Tensor<T, D> x = x_in.contiguous_data(), g = g_in.contiguous_data();
  const Tensor<T, D> w = weight.defined() ? weight.contiguous_data() : weight;
  auto stats = Tensor<T, D>::empty(Shape{2, rows});
  if (need_dx) {
    out.dx = Tensor<T, D>::empty(x.shape());
    if (w.defined())
      Kernels<D>::for_each(rows,
                           kernels::rows::LayerNormBackwardRows<V, true>{dptr(x), dptr(w), dptr(g), dptr(out.dx),
                                                                         dptr(stats), rows, n, V(eps)},
                           n);
    else
      Kernels<D>::for_each(rows,
                           kernels::rows::LayerNormBackwardRows<V, false>{dptr(x), nullptr, dptr(g), dptr(out.dx),
                                                                          dptr(stats), rows, n, V(eps)},
                           n);
  } else if (need_dweight || need_dbias) {  // LayerNormParamGrads reads the statistics
    Kernels<D>::for_each(rows, kernels::rows::LayerNormStats<V>{dptr(x), dptr(stats), rows, n, V(eps)}, n);
  }
  if (need_dweight || need_dbias) {
    if (need_dweight) out.dweight = Tensor<T, D>::empty(param_shape);
    if (need_dbias) out.dbias = Tensor<T, D>::empty(param_shape);
    using P = kernels::rows::LayerNormParamGrads<V>;
    Kernels<D>::for_each((n + P::kColumns - 1) / P::kColumns,
                         P{dptr(x), dptr(g), dptr(stats), need_dweight ? dptr(out.dweight) : nullptr,
                           need_dbias ? dptr(out.dbias) : nullptr, rows, n},
                         rows * P::kColumns);
  }
  return out;
}
}  // namespace ops

// exp(a) / sum(exp(a)) along `dim`, computed around the row's maximum. A row of -inf only gives
// NaN, and -inf entries of other rows give 0, as PyTorch.
template <ops::RealFloating T, class D>
Tensor<T, D> softmax(const Tensor<T, D>& a, int dim) {
  auto out = ops::softmax_forward<false>(a, dim);
  return ops::record<Op::softmax>(std::move(out), ops::SoftmaxAttr{normalize_dim(dim, a.dim(), "softmax")}, a);
}

// a - log(sum(exp(a))) along `dim`.
template <ops::RealFloating T, class D>
Tensor<T, D> log_softmax(const Tensor<T, D>& a, int dim) {
  auto out = ops::softmax_forward<true>(a, dim);
  return ops::record<Op::log_softmax>(std::move(out), ops::SoftmaxAttr{normalize_dim(dim, a.dim(), "log_softmax")}, a);
}

// torch.nn.functional.layer_norm: statistics over the trailing dims `normalized_shape` (mean and
// biased variance), y = (x - mean) / sqrt(var + eps) * weight + bias; weight and bias, of shape
// normalized_shape, are optional (undefined tensors).
template <ops::RealFloating T, class D>
Tensor<T, D> layer_norm(const Tensor<T, D>& x, const Shape& normalized_shape, const Tensor<T, D>& weight = {},
                        const Tensor<T, D>& bias = {}, double eps = 1e-5) {
  auto out = ops::layer_norm_forward<kernels::Kernels<D>::per_element_threads>(x, normalized_shape, weight, bias, eps);
  const ops::LayerNormAttr attr{normalized_shape.rank, eps, weight.defined(), bias.defined()};
  if (weight.defined() && bias.defined()) return ops::record<Op::layer_norm>(std::move(out), attr, x, weight, bias);
  if (weight.defined()) return ops::record<Op::layer_norm>(std::move(out), attr, x, weight);
  if (bias.defined()) return ops::record<Op::layer_norm>(std::move(out), attr, x, bias);
  return ops::record<Op::layer_norm>(std::move(out), attr, x);
}
// The same, normalizing over the trailing `normalized_ndim` dims of x.
template <ops::RealFloating T, class D>
Tensor<T, D> layer_norm(const Tensor<T, D>& x, int normalized_ndim, const Tensor<T, D>& weight = {},
                        const Tensor<T, D>& bias = {}, double eps = 1e-5) {
  TRUSTML_CHECK(normalized_ndim > 0 && normalized_ndim <= x.dim(), "layer_norm", "cannot normalize over the last ",
                normalized_ndim, " dims of an input of shape ", x.shape());
  Shape s;
  for (int i = x.dim() - normalized_ndim; i < x.dim(); ++i) s.push_back(x.size(i));
  return layer_norm(x, s, weight, bias, eps);
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

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

// y = softmax(x): dx = y * (g - sum(g * y)); the saved output is re-attached under create_graph.
// Where no graph of the gradient is recorded, devices that run one call per row (the CPU) compute
// it in one pass per row instead (ops::softmax_backward, the same formula).
template <class C>
constexpr bool fused_row_backward() {
  using G = std::remove_cvref_t<decltype(std::declval<const C&>().grad)>;
  return !kernels::Kernels<typename G::device_type>::per_element_threads;
}
TRUSTML_RULE(softmax, output) {
  auto y = c.out();
  if constexpr (fused_row_backward<C>())
    if (!grad_enabled()) return grads(ops::softmax_backward<false>(y, c.grad, c.attrs.dim));
  const std::vector<int> dims{c.attrs.dim};
  return grads(mul(y, sub(c.grad, sum(mul(c.grad, y), dims, true))));
}
// y = log_softmax(x): dx = g - exp(y) * sum(g).
TRUSTML_RULE(log_softmax, output) {
  if constexpr (fused_row_backward<C>())
    if (!grad_enabled()) return grads(ops::softmax_backward<true>(c.out(), c.grad, c.attrs.dim));
  const std::vector<int> dims{c.attrs.dim};
  return grads(sub(c.grad, mul(exp(c.out()), sum(c.grad, dims, true))));
}
// With xhat = (x - mean) * rstd and gx = g * weight (g without weight):
//   dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)),  dweight = g * xhat,  dbias = g,
// the means over the normalized dims. Under create_graph (and on per-element devices) the
// statistics are recomputed from the saved x with tensor ops, so that the rule differentiates
// again, and dweight and dbias keep x's shape (the engine sums them over the leading dims);
// otherwise, on the CPU, ops::layer_norm_backward computes the same in one pass per row and one
// over the columns.
TRUSTML_RULE(layer_norm, inputs) {
  using T = InT<C>;
  using G = std::remove_cvref_t<decltype(c.grad)>;
  constexpr std::size_t inputs = std::tuple_size_v<typename std::remove_cvref_t<decltype(c.node)>::InputTypes>;
  auto x = c.template in<0>();
  G weight;
  if constexpr (inputs >= 2)
    if (c.attrs.weight) weight = c.template in<1>();
  bool need_dweight = false, need_dbias = false;
  if constexpr (inputs == 2) (c.attrs.weight ? need_dweight : need_dbias) = c.template needs<1>();
  if constexpr (inputs == 3) need_dweight = c.template needs<1>(), need_dbias = c.template needs<2>();
  G dx, dweight, dbias;
  bool done = false;
  if constexpr (fused_row_backward<C>()) {
    if (!grad_enabled()) {
      Shape param_shape;
      for (int d = x.dim() - c.attrs.normalized_ndim; d < x.dim(); ++d) param_shape.push_back(x.size(d));
      auto r = ops::layer_norm_backward(x, weight, c.grad, param_shape, c.attrs.eps, c.template needs<0>(),
                                        need_dweight, need_dbias);
      dx = r.dx;
      dweight = r.dweight;
      dbias = r.dbias;
      done = true;
    }
  }
  if (!done) {
    std::vector<int> dims;
    for (int d = x.dim() - c.attrs.normalized_ndim; d < x.dim(); ++d) dims.push_back(d);
    auto centered = sub(x, mean(x, dims, true));
    auto rstd = pow(add_scalar(mean(mul(centered, centered), dims, true), T(c.attrs.eps)), T(-0.5));
    auto xhat = mul(centered, rstd);
    if (c.template needs<0>()) {
      auto gx = weight.defined() ? mul(c.grad, weight) : c.grad;
      dx = mul(rstd, sub(sub(gx, mean(gx, dims, true)), mul(xhat, mean(mul(gx, xhat), dims, true))));
    }
    if (need_dweight) dweight = mul(c.grad, xhat);
    if (need_dbias) dbias = c.grad;
  }
  if constexpr (inputs == 1) return grads(dx);
  else if constexpr (inputs == 2) return grads(dx, c.attrs.weight ? dweight : dbias);
  else return grads(dx, dweight, dbias);
}

}  // namespace trustml::autograd

#include "trustml/autograd/engine.hpp"
