// trustml/attacks/simplex.hpp: the probability simplex and the capped simplex as Balls
// (attacks/ball.hpp), one set per sample of a batch [N, ...]:
//
//   Simplex{}                {x : x >= 0, sum x = 1}: a relaxed one-hot choice (of a token, say:
//                            TextGrad, UnlearnDiff and CLAWSAT ascend over it)
//   CappedSimplex{.k = 3}    {x : 0 <= x <= 1, sum x = k}: a relaxed choice of k sites
//
// Projections are exact up to rounding. The simplex uses the sort-based algorithm (Duchi et al.,
// 2008): with u sorted in decreasing order, rho the largest j with u_j > (u_1 + ... + u_j - 1) / j
// and tau = (u_1 + ... + u_rho - 1) / rho, the projection is max(x - tau, 0). The capped simplex
// bisects on the shift tau of sum clamp(x - tau, 0, 1) = k (nonincreasing in tau) until the bracket
// is two adjacent doubles, then solves for tau in closed form on the coordinates strictly between
// the bounds, which gives the sum k to machine precision. Both thresholds are found on the host in
// double precision, one per sample; the tensor work (x - tau, the clamp) stays on the device.
//
// Steepest ascent is a gradient step, step (g - mean g) per sample: the gradient restricted to the
// directions {sum eta = 0} along the sets. Projected, it gives the point the plain step step g
// gives, since both projections are invariant to shifting x along (1, ..., 1). A normalized or
// sign step would not be the standard choice here: the relaxed attacks use plain gradient steps,
// so that coordinates with a small gradient move little.
// Random starts: Dirichlet(1, ..., 1), i.e. uniform on the simplex (normalized exponentials);
// for the capped simplex the projection of a uniform point of the cube [0, 1]^d (feasible, random,
// not uniform on the set).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trustml/attacks/ball.hpp"
#include "trustml/autograd/node.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::attacks {

namespace detail {
// The shift tau, one per row of a host matrix [rows, d], such that the rows of max(x - tau, 0)
// lie on the simplex of the given mass (>= 0).
inline std::vector<double> simplex_shift(const std::vector<double>& x, std::int64_t rows, double mass) {
  const std::size_t d = x.size() / static_cast<std::size_t>(rows);
  std::vector<double> tau(static_cast<std::size_t>(rows)), u(d);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(r * d), d, u.begin());
    std::sort(u.begin(), u.end(), std::greater<>());
    // The condition holds on a prefix of j, so the last j that meets it is rho. A mass of 0 keeps
    // tau = u_1 (the projection is 0).
    double running = 0, shift = u[0] - mass;
    for (std::size_t j = 0; j < d; ++j) {
      running += u[j];
      const double candidate = (running - mass) / static_cast<double>(j + 1);
      if (u[j] > candidate) shift = candidate;
    }
    tau[static_cast<std::size_t>(r)] = shift;
  }
  return tau;
}

// The shift tau, one per row, such that the rows of clamp(x - tau, 0, 1) sum to k (0 <= k <= d).
inline std::vector<double> capped_simplex_shift(const std::vector<double>& x, std::int64_t rows, double k) {
  const std::size_t d = x.size() / static_cast<std::size_t>(rows);
  std::vector<double> tau(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* v = x.data() + r * static_cast<std::ptrdiff_t>(d);
    auto mass = [&](double t) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j) s += std::clamp(v[j] - t, 0.0, 1.0);
      return s;
    };
    // mass(lo) = d >= k and mass(hi) = 0 <= k.
    double lo = *std::min_element(v, v + d) - 1, hi = *std::max_element(v, v + d);
    for (;;) {
      const double mid = lo + (hi - lo) / 2;
      if (mid <= lo || mid >= hi) break;
      (mass(mid) >= k ? lo : hi) = mid;
    }
    // On the bracket the coordinates at a bound are known; the free ones fix tau exactly.
    double free_sum = 0, at_one = 0, free = 0;
    for (std::size_t j = 0; j < d; ++j) {
      if (v[j] - hi >= 1) ++at_one;
      else if (v[j] - lo > 0) free_sum += v[j], ++free;
    }
    tau[static_cast<std::size_t>(r)] = free > 0 ? std::clamp((free_sum + at_one - k) / free, lo, hi) : lo;
  }
  return tau;
}

template <class T, class D>
Tensor<T, D> shift_rows(const Tensor<T, D>& rows, const std::vector<double>& tau) {
  const std::vector<T> cast(tau.begin(), tau.end());
  return sub(rows, Tensor<T, D>::from_vector(cast, Shape{static_cast<std::int64_t>(cast.size()), 1}));
}

template <class T, class D>
std::vector<double> host_values(const Tensor<T, D>& rows) {
  const auto host = rows.contiguous().to_vector();
  return {host.begin(), host.end()};
}

// Per sample, the gradient minus its mean: the step along the sets' affine hull.
template <class T, class D>
Tensor<T, D> tangent_step(const Tensor<T, D>& g, double step, const char* op) {
  check_batch(g, op);
  check_step(op, step);
  NoGradGuard no_grad;
  auto rows = as_rows(g);
  return reshape(scale(sub(rows, mean(rows, {1}, true)), T(step)), g.shape());
}
}  // namespace detail

struct Simplex {
  std::string name() const { return "probability simplex"; }

  void check(const Shape& shape, const char* op) const { detail::check_batch_shape(op, shape); }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& z) const {
    constexpr const char* op = "attacks::Simplex::project";
    check_batch(z, op);
    NoGradGuard no_grad;
    auto rows = as_rows(z);
    const auto tau = detail::simplex_shift(detail::host_values(rows), rows.size(0), 1.0);
    return reshape(maximum(detail::shift_rows(rows, tau), Tensor<T, D>::zeros(Shape{})), z.shape());
  }

  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    return detail::tangent_step(g, step, "attacks::Simplex::steepest_ascent");
  }

  // Dirichlet(1, ..., 1): d exponentials -log U, U in (0, 1], divided by their sum.
  template <class T, class D>
  Tensor<T, D> random_start(const Shape& shape, std::uint64_t seed) const {
    check(shape, "attacks::Simplex::random_start");
    NoGradGuard no_grad;
    const std::int64_t n = shape[0], d = detail::sample_size(shape);
    auto exponentials = neg(log(Tensor<T, D>::rand(Shape{n, d}, seed)));
    return reshape(div(exponentials, sum(exponentials, {1}, true)), shape);
  }

  template <class T, class D>
  std::vector<double> norms(const Tensor<T, D>& z) const {
    return detail::row_norms(z, 1, "attacks::Simplex::norms");
  }
};

struct CappedSimplex {
  double k = 1;  // the mass of each sample, 0 <= k <= d

  std::string name() const { return detail::named_radius("capped simplex", k, "mass"); }

  void check(const Shape& shape, const char* op) const {
    detail::check_batch_shape(op, shape);
    const auto d = detail::sample_size(shape);
    TRUSTML_CHECK(k >= 0 && k <= static_cast<double>(d), op, "the capped simplex needs 0 <= k <= d, got k = ", k,
                  " for samples of ", d, " elements (batch shape ", shape, ")");
  }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& z) const {
    constexpr const char* op = "attacks::CappedSimplex::project";
    check_batch(z, op);
    check(z.shape(), op);
    NoGradGuard no_grad;
    auto rows = as_rows(z);
    const auto tau = detail::capped_simplex_shift(detail::host_values(rows), rows.size(0), k);
    return reshape(clamp(detail::shift_rows(rows, tau), T(0), T(1)), z.shape());
  }

  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    return detail::tangent_step(g, step, "attacks::CappedSimplex::steepest_ascent");
  }

  template <class T, class D>
  Tensor<T, D> random_start(const Shape& shape, std::uint64_t seed) const {
    check(shape, "attacks::CappedSimplex::random_start");
    return project(Tensor<T, D>::rand(shape, seed));
  }

  template <class T, class D>
  std::vector<double> norms(const Tensor<T, D>& z) const {
    return detail::row_norms(z, 1, "attacks::CappedSimplex::norms");
  }
};

}  // namespace trustml::attacks
