// trustml/ops/rows.hpp: a batch [N, ...] as N rows, one per sample: the bookkeeping that attacks,
// estimators and reconstruction attacks share.
//
//   check_batch(x, "op")                  throws unless x is a non-empty batch [N, ...], N >= 1
//   as_rows(x)                            the [N, d] view of a batch (d = elements of one sample)
//   scale_rows(rows, factors)             row i of [N, d] times factors[i]
//   select_rows(x, index)                 rows index[0], index[1], ... of a batch
//   replace_rows(target, index, values)   target with row index[k] replaced by row k of values
//   select_entries(v, index)              the same selection for a host vector (labels, losses)
//
// Selections copy values exactly, so a row taken out of a batch and put back is bit for bit the
// row it was.
#pragma once

#include <cstdint>
#include <vector>

#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/movement.hpp"

namespace trustml {

template <class T, class D>
void check_batch(const Tensor<T, D>& x, const char* op) {
  TRUSTML_CHECK(x.defined() && x.dim() >= 1 && x.size(0) > 0 && x.numel() > 0, op,
                "needs a non-empty batch of inputs [N, ...], got shape ", x.defined() ? x.shape() : Shape{});
}

template <class T, class D>
Tensor<T, D> as_rows(const Tensor<T, D>& x) {
  return reshape(x, {x.size(0), x.numel() / x.size(0)});
}

// `factors` holds one value per row, in any shape of N elements.
template <class T, class D>
Tensor<T, D> scale_rows(const Tensor<T, D>& rows, const Tensor<T, D>& factors) {
  return mul(rows, reshape(factors, {factors.numel(), 1}));
}

// Whether index is 0, 1, ..., rows - 1: every row, in order.
inline bool is_every_row(const std::vector<std::int64_t>& index, std::int64_t rows) {
  bool every = static_cast<std::int64_t>(index.size()) == rows;
  for (std::size_t k = 0; every && k < index.size(); ++k) every = index[k] == static_cast<std::int64_t>(k);
  return every;
}

// The identity selection 0, 1, ..., N-1 returns x itself (no copy).
template <class T, class D>
Tensor<T, D> select_rows(const Tensor<T, D>& x, const std::vector<std::int64_t>& index) {
  if (is_every_row(index, x.size(0))) return x;
  return index_select(x, 0, Tensor<std::int64_t, D>::from_vector(index));
}

template <class T, class D>
Tensor<T, D> replace_rows(const Tensor<T, D>& target, const std::vector<std::int64_t>& index,
                          const Tensor<T, D>& values) {
  TRUSTML_CHECK(values.defined() && values.dim() >= 1 && values.size(0) == static_cast<std::int64_t>(index.size()),
                "replace_rows", "needs one row of values per index: ", index.size(), " indices, values of shape ",
                values.defined() ? values.shape() : Shape{});
  if (index.empty()) return target;
  const std::int64_t n = target.size(0);
  if (is_every_row(index, n)) return values;
  std::vector<std::int64_t> source(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) source[i] = i;
  for (std::size_t k = 0; k < index.size(); ++k) source[index[k]] = n + static_cast<std::int64_t>(k);
  return select_rows(concat(std::vector{target, values}, 0), source);
}

template <class V>
std::vector<V> select_entries(const std::vector<V>& v, const std::vector<std::int64_t>& index) {
  std::vector<V> out;
  out.reserve(index.size());
  for (auto i : index) out.push_back(v[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace trustml
