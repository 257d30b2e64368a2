// trustml/ops/index.hpp: joining and indexing: concat, stack, index_select, gather, scatter_add,
// embedding.
//
// Primitives: concat (over a list of inputs, recorded with record_list; its gradient is slices of
// the output gradient), gather and scatter_add, whose rules are each other: the gradient of gather
// scatters g into zeros, and scatter_add passes g to its base and gathers g for its source.
// index_select is gather with the index broadcast along the other dims (a stride-0 view, no copy),
// so its gradient is a scatter_add of g at the selected rows: index_add. stack and embedding are
// built on concat and index_select.
//
// Index tensors are Tensor<std::int64_t, D> and are checked on the host before any kernel runs: an
// index out of range throws trustml::Error naming the op, the index value and the shapes, instead
// of reading or writing out of bounds. The ops keep the index in their attributes as a saved tensor
// (data and version), so modifying it in place before backward is reported as well.
//
// scatter_add accumulates along each line of `dim` sequentially, in index order, one line per task:
// lines write disjoint parts of the output, so sums over repeated indices are race-free and
// deterministic (no atomics), on every device.
#pragma once

#include <vector>

#include "trustml/ops/movement.hpp"

namespace trustml {

namespace ops {
struct ConcatAttr {
  int dim;
};
// The dim and the index of gather and scatter_add; the index is saved like an input.
template <class D>
struct IndexAttr {
  int dim;
  autograd::Saved<std::int64_t, D> saved;
  Tensor<std::int64_t, D> index(const char* op) const { return saved.unpack(nullptr, op); }
};

// out[p] = src[p with coordinate `dim` replaced by index[p]], for every position p of `shape` (the
// index's, and the contiguous output's). The outermost coordinate is what remains after the inner
// ones are divided out: one integer division fewer, which is most of this kernel's cost.
template <class V>
struct GatherFn {
  Shape shape;
  int dim;
  const std::int64_t* index;
  Strides index_strides;
  const V* src;
  Strides src_strides;
  V* out;
  TRUSTML_HD void operator()(std::int64_t i) const {
    std::int64_t rem = i, ix = 0, s = 0;
    for (int k = shape.rank - 1; k >= 0; --k) {
      const std::int64_t c = k ? rem % shape.dims[k] : rem;
      if (k) rem /= shape.dims[k];
      ix += c * index_strides.dims[k];
      if (k != dim) s += c * src_strides.dims[k];
    }
    out[i] = src[s + index[ix] * src_strides.dims[dim]];
  }
};

// GatherFn for a whole row of the last dimension per call, where the index does not vary along it
// (index_select and embedding: stride 0) and the source's rows are contiguous: one coordinate
// computation and one contiguous copy per row instead of one per element.
template <class V>
struct GatherRowsFn {
  GatherFn<V> element;
  std::int64_t row_length;
  TRUSTML_HD void operator()(std::int64_t r) const {
    const std::int64_t first = r * row_length;
    std::int64_t rem = r, ix = 0, s = 0;
    for (int k = element.shape.rank - 2; k >= 0; --k) {
      const std::int64_t c = k ? rem % element.shape.dims[k] : rem;
      if (k) rem /= element.shape.dims[k];
      ix += c * element.index_strides.dims[k];
      if (k != element.dim) s += c * element.src_strides.dims[k];
    }
    const V* from = element.src + s + element.index[ix] * element.src_strides.dims[element.dim];
    for (std::int64_t j = 0; j < row_length; ++j) element.out[first + j] = from[j];
  }
};

// For one line of positions p along `dim` of `shape` (the index's), in order:
// out[p with coordinate `dim` replaced by index[p]] += src[p].
template <class V>
struct ScatterAddFn {
  Shape shape;
  int dim;
  const std::int64_t* index;
  Strides index_strides;
  const V* src;
  Strides src_strides;
  V* out;
  Strides out_strides;
  TRUSTML_HD void operator()(std::int64_t line) const {
    std::int64_t rem = line, ix = 0, s = 0, o = 0;
    for (int k = shape.rank - 1; k >= 0; --k) {
      if (k == dim) continue;
      const std::int64_t c = rem % shape.dims[k];
      rem /= shape.dims[k];
      ix += c * index_strides.dims[k];
      s += c * src_strides.dims[k];
      o += c * out_strides.dims[k];
    }
    for (std::int64_t j = 0; j < shape.dims[dim]; ++j)
      out[o + index[ix + j * index_strides.dims[dim]] * out_strides.dims[dim]] += src[s + j * src_strides.dims[dim]];
  }
};

// Throws unless every entry of `index` lies in [0, size).
template <class D>
void check_index_values(const char* op, const Tensor<std::int64_t, D>& index, std::int64_t size, int dim,
                        const Shape& input) {
  for (std::int64_t v : index.to_vector())
    TRUSTML_CHECK(v >= 0 && v < size, op, "index ", v, " is out of range for dimension ", dim, " of size ", size,
                  " (input shape ", input, ", index shape ", index.shape(), ")");
}

// Checks that an index of x's rank fits x outside `dim` (and, when `same` is given, has its shape).
template <class T, class D>
void check_index_shape(const char* op, const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index,
                       const Shape* same = nullptr) {
  TRUSTML_CHECK(index.dim() == x.dim(), op, "index of rank ", index.dim(), " for an input of rank ", x.dim(),
                " (input shape ", x.shape(), ", index shape ", index.shape(), ")");
  for (int d = 0; d < x.dim(); ++d)
    TRUSTML_CHECK(d == dim || index.shape()[d] <= x.shape()[d], op, "index shape ", index.shape(),
                  " exceeds input shape ", x.shape(), " in dimension ", d);
  TRUSTML_CHECK(!same || index.shape() == *same, op, "index shape ", index.shape(), " differs from source shape ",
                *same);
}

// gather and scatter_add once the index is known to be valid: the rules call these directly.
template <class T, class D>
Tensor<T, D> gather_unchecked(const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index) {
  using V = value_t<T, D>;
  auto out = Tensor<T, D>::empty(index.shape());
  const GatherFn<V> element{index.shape(), dim, index.data(), index.strides(), dptr(x), x.strides(), dptr(out)};
  const int last = index.dim() - 1;
  const bool by_rows = !Kernels<D>::per_element_threads && last > 0 && dim != last && out.numel() > 0 &&
                       index.strides()[last] == 0 && x.strides()[last] == 1;
  if (by_rows) {
    const std::int64_t row = index.shape()[last];
    Kernels<D>::for_each(out.numel() / row, GatherRowsFn<V>{element, row}, row);
  } else {
    Kernels<D>::for_each(out.numel(), element);
  }
  return record<Op::gather>(out, IndexAttr<D>{dim, autograd::Saved<std::int64_t, D>(index)}, x);
}
template <class T, class D>
Tensor<T, D> scatter_add_unchecked(const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index,
                                   const Tensor<T, D>& src) {
  using V = value_t<T, D>;
  auto out = Tensor<T, D>::empty(x.shape());
  assign(out, x);
  const Shape& s = index.shape();
  const std::int64_t lines = s.dims[dim] ? s.numel() / s.dims[dim] : 0;
  Kernels<D>::for_each(
      lines, ScatterAddFn<V>{s, dim, index.data(), index.strides(), dptr(src), src.strides(), dptr(out), out.strides()},
      s.dims[dim]);
  return record<Op::scatter_add>(out, IndexAttr<D>{dim, autograd::Saved<std::int64_t, D>(index)}, x, src);
}

// The 1-D `index` read as a tensor of `shape` whose coordinate `dim` picks the index entry.
template <class D>
Tensor<std::int64_t, D> broadcast_index(const Tensor<std::int64_t, D>& index, const Shape& shape, int dim) {
  Strides st = Strides::filled(shape.rank, 0);
  st.dims[dim] = index.strides()[0];
  return index.restride(shape, st, index.offset());
}

template <class T, class D>
Tensor<T, D> index_select(const char* op, const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index) {
  const int d = normalize_dim(dim, x.dim(), op);
  TRUSTML_CHECK(index.dim() == 1, op, "needs a 1-D index, got shape ", index.shape(), " (input shape ", x.shape(), ")");
  check_index_values(op, index, x.shape()[d], d, x.shape());
  Shape s = x.shape();
  s.dims[d] = index.numel();
  return gather_unchecked(x, d, broadcast_index(index, s, d));
}
}  // namespace ops

// Joins tensors of equal shape outside `dim` along `dim`.
template <FloatingScalar T, class D>
Tensor<T, D> concat(const std::vector<Tensor<T, D>>& xs, int dim) {
  TRUSTML_CHECK(!xs.empty(), "concat", "needs at least one tensor");
  const Shape& first = xs[0].shape();
  const int d = normalize_dim(dim, first.rank, "concat");
  Shape s = first;
  s.dims[d] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& si = xs[i].shape();
    bool match = si.rank == first.rank;
    for (int k = 0; match && k < first.rank; ++k) match = k == d || si.dims[k] == first.dims[k];
    TRUSTML_CHECK(match, "concat", "tensor ", i, " has shape ", si, ", which differs from tensor 0's shape ", first,
                  " outside dimension ", d);
    s.dims[d] += si.dims[d];
  }
  auto out = Tensor<T, D>::empty(s);
  std::int64_t start = 0;
  for (const auto& x : xs) {
    ops::assign(out.restride(x.shape(), out.strides(), start * out.strides()[d]), x);
    start += x.shape()[d];
  }
  return autograd::record_list<Op::concat>(out, ops::ConcatAttr{d}, xs);
}

// Joins tensors of one shape along a new dimension `dim`.
template <FloatingScalar T, class D>
Tensor<T, D> stack(const std::vector<Tensor<T, D>>& xs, int dim) {
  TRUSTML_CHECK(!xs.empty(), "stack", "needs at least one tensor");
  const int d = normalize_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor<T, D>> parts;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    TRUSTML_CHECK(xs[i].shape() == xs[0].shape(), "stack", "tensor ", i, " has shape ", xs[i].shape(),
                  ", tensor 0 has shape ", xs[0].shape());
    parts.push_back(unsqueeze(xs[i], d));
  }
  return concat(parts, d);
}

// The slices of x at positions `index` (1-D) along `dim`, in index order (repeats allowed).
template <FloatingScalar T, class D>
Tensor<T, D> index_select(const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index) {
  return ops::index_select("index_select", x, dim, index);
}

// torch.gather: out[p] = x[p with coordinate `dim` replaced by index[p]]; out has the index's shape,
// which must have x's rank and fit in x outside `dim`.
template <FloatingScalar T, class D>
Tensor<T, D> gather(const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index) {
  const int d = normalize_dim(dim, x.dim(), "gather");
  ops::check_index_shape("gather", x, d, index);
  ops::check_index_values("gather", index, x.shape()[d], d, x.shape());
  return ops::gather_unchecked(x, d, index);
}

// torch.scatter_add: x with src[p] added at p with coordinate `dim` replaced by index[p], for every
// position p of index. index must have src's shape (PyTorch also allows it to be smaller), x's
// rank, and fit in x outside `dim`.
template <FloatingScalar T, class D>
Tensor<T, D> scatter_add(const Tensor<T, D>& x, int dim, const Tensor<std::int64_t, D>& index,
                         const Tensor<T, D>& src) {
  const int d = normalize_dim(dim, x.dim(), "scatter_add");
  ops::check_index_shape("scatter_add", x, d, index, &src.shape());
  ops::check_index_values("scatter_add", index, x.shape()[d], d, x.shape());
  return ops::scatter_add_unchecked(x, d, index, src);
}

// Rows of weight [V, E] looked up by ids of any shape: the result has shape ids.shape + [E].
template <FloatingScalar T, class D>
Tensor<T, D> embedding(const Tensor<T, D>& weight, const Tensor<std::int64_t, D>& ids) {
  TRUSTML_CHECK(weight.dim() == 2, "embedding", "needs a weight of shape [V, E], got ", weight.shape());
  TRUSTML_CHECK(ids.dim() < kMaxRank, "embedding", "ids of rank ", ids.dim(), " give an output above the maximum rank ",
                kMaxRank);
  const Tensor<std::int64_t, D> c = ids.contiguous_data();
  const Tensor<std::int64_t, D> flat = c.restride(Shape{c.numel()}, Strides{1}, c.offset());
  Shape s = ids.shape();
  s.push_back(weight.shape()[1]);
  return reshape(ops::index_select("embedding", weight, 0, flat), s);
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

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
  return grads(
      ops::scatter_add_unchecked(G::zeros(c.template in_shape<0>()), c.attrs.dim, c.attrs.index("gather"), c.grad));
}
TRUSTML_RULE(scatter_add, nothing) {
  using G = std::decay_t<decltype(c.grad)>;
  return grads(c.grad,
               c.template needs<1>() ? ops::gather_unchecked(c.grad, c.attrs.dim, c.attrs.index("scatter_add")) : G());
}

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
