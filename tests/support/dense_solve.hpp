// Tests' reference for linear solvers: a x = b for a dense row-major n x n matrix by Gauss-Jordan
// elimination with partial pivoting (n is tiny in tests, so O(n^3) is fine).
#pragma once

#include <cmath>
#include <utility>
#include <vector>

namespace tests {

template <class T>
std::vector<T> dense_solve(std::vector<T> a, std::vector<T> b) {
  const std::size_t n = b.size();
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t r = col + 1; r < n; ++r)
      if (std::abs(a[r * n + col]) > std::abs(a[pivot * n + col])) pivot = r;
    for (std::size_t k = 0; k < n; ++k) std::swap(a[col * n + k], a[pivot * n + k]);
    std::swap(b[col], b[pivot]);
    for (std::size_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const T f = a[r * n + col] / a[col * n + col];
      for (std::size_t k = 0; k < n; ++k) a[r * n + k] -= f * a[col * n + k];
      b[r] -= f * b[col];
    }
  }
  for (std::size_t i = 0; i < n; ++i) b[i] /= a[i * n + i];
  return b;
}

}  // namespace tests
