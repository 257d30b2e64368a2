// trustml/tensor/print.hpp: operator<< for tensors, in PyTorch's layout:
//   tensor([[1, 2], [3, 4]], shape=[2, 2], dtype=float32, device=cpu, grad_fn=<mul>)
// Large tensors print their first and last three entries per dimension.
#pragma once

#include <complex>
#include <ostream>
#include <vector>

#include "trustml/tensor/tensor.hpp"

namespace trustml {

namespace detail {
template <class T>
void print_value(std::ostream& os, const T& v) {
  if constexpr (is_complex_v<T>) {
    os << v.real() << (v.imag() < 0 ? "-" : "+") << (v.imag() < 0 ? -v.imag() : v.imag()) << "j";
  } else {
    os << v;
  }
}
template <class T>
void print_block(std::ostream& os, const std::vector<T>& v, const Shape& s, int dim, std::int64_t base) {
  if (s.rank == 0) return print_value(os, v[0]);
  std::int64_t stride = 1;
  for (int i = dim + 1; i < s.rank; ++i) stride *= s[i];
  const std::int64_t n = s[dim];
  constexpr std::int64_t kEdge = 3;
  os << '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge && i == kEdge) {
      os << "..., ";
      i = n - kEdge;
    }
    if (dim + 1 == s.rank) print_value(os, v[base + i]);
    else print_block(os, v, s, dim + 1, base + i * stride);
    if (i + 1 < n) os << ", ";
  }
  os << ']';
}
}  // namespace detail

template <Scalar T, class D>
std::ostream& operator<<(std::ostream& os, const Tensor<T, D>& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  detail::print_block(os, t.to_vector(), t.shape(), 0, 0);
  os << ", shape=" << t.shape() << ", dtype=" << dtype_name<T>() << ", device=" << D::name;
  if (*t.grad_fn_name()) os << ", grad_fn=<" << t.grad_fn_name() << ">";
  else if (t.requires_grad()) os << ", requires_grad=true";
  return os << ')';
}

}  // namespace trustml
