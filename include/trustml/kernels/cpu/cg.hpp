// trustml/kernels/cpu/cg.hpp: Kernels<Cpu>'s fused vector work of conjugate gradients (cg_solve,
// ops/cg.hpp), the optional entries cg_curvature, cg_update and cg_direction of kernels/api.hpp.
//
// One CG iteration given q = N p is ~14 elementwise ops and reductions when composed from tensor
// ops; here it is three passes over contiguous [systems, n] data, each writing fresh arrays (so
// nothing the linear map may hold on to is overwritten):
//   cg_curvature   p^H (N + lambda) p = Re <p, q> + lambda ||p||^2
//   cg_update      x += alpha p,  r -= alpha (q + lambda p),  ||r||^2
//   cg_direction   p = r + beta p
// Sums are in double, over fixed chunks of each system added in order (cpu::system_sums), so that
// they do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "trustml/core/scalar.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/kernels/cpu/loops.hpp"

namespace trustml::kernels {

namespace cpu {
// Re(conj(a) b) in double.
template <class T>
double re_dot(const T& a, const T& b) {
  if constexpr (is_complex_v<T>) {
    return static_cast<double>(a.real()) * static_cast<double>(b.real()) +
           static_cast<double>(a.imag()) * static_cast<double>(b.imag());
  } else {
    return static_cast<double>(a) * static_cast<double>(b);
  }
}

// One value per system of contiguous [systems, n] data: f(system, begin, end) summed over fixed
// chunks of each system, in parallel, the chunk sums then added in order, so that the result does
// not depend on the thread count. Also the parallel loop of a pass that sums nothing.
template <class F>
std::vector<double> system_sums(std::int64_t systems, std::int64_t n, F&& f) {
  constexpr std::int64_t chunk = 1 << 14;
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<std::size_t>(systems * chunks)), total(static_cast<std::size_t>(systems), 0);
  parallel_for(systems * chunks, chunk * 4, [&](std::int64_t k) {
    const std::int64_t s = k / chunks, c = k - s * chunks;
    partial[static_cast<std::size_t>(k)] = f(s, c * chunk, std::min(n, (c + 1) * chunk));
  });
  for (std::int64_t k = 0; k < systems * chunks; ++k)
    total[static_cast<std::size_t>(k / chunks)] += partial[static_cast<std::size_t>(k)];
  return total;
}
}  // namespace cpu

template <class V>
std::vector<double> Kernels<Cpu>::cg_curvature(std::int64_t systems, std::int64_t n, const V* p, const V* q,
                                               const double* lambda) {
  return cpu::system_sums(systems, n, [&](std::int64_t s, std::int64_t i0, std::int64_t i1) {
    double sum_pq = 0, sum_pp = 0;
    for (std::int64_t i = s * n + i0; i < s * n + i1; ++i) {
      sum_pq += cpu::re_dot(p[i], q[i]);
      sum_pp += cpu::re_dot(p[i], p[i]);
    }
    return sum_pq + lambda[s] * sum_pp;
  });
}

template <class V>
std::vector<double> Kernels<Cpu>::cg_update(std::int64_t systems, std::int64_t n, const double* alpha,
                                            const double* lambda, const V* x, const V* r, const V* p, const V* q,
                                            V* x_next, V* r_next) {
  using R = real_t<V>;
  return cpu::system_sums(systems, n, [&](std::int64_t s, std::int64_t i0, std::int64_t i1) {
    const R a = static_cast<R>(alpha[s]);
    const R l = static_cast<R>(lambda[s]);
    double sum = 0;
    for (std::int64_t i = s * n + i0; i < s * n + i1; ++i) {
      x_next[i] = x[i] + a * p[i];
      r_next[i] = r[i] - a * (q[i] + l * p[i]);
      sum += cpu::re_dot(r_next[i], r_next[i]);
    }
    return sum;
  });
}

template <class V>
void Kernels<Cpu>::cg_direction(std::int64_t systems, std::int64_t n, const double* beta, const V* r, const V* p,
                                V* p_next) {
  using R = real_t<V>;
  cpu::system_sums(systems, n, [&](std::int64_t s, std::int64_t i0, std::int64_t i1) {
    const R bt = static_cast<R>(beta[s]);
    for (std::int64_t i = s * n + i0; i < s * n + i1; ++i) p_next[i] = r[i] + bt * p[i];
    return 0.0;
  });
}

}  // namespace trustml::kernels
