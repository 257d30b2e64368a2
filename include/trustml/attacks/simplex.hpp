// trustml/attacks/simplex.hpp: the probability simplex and the capped simplex as Balls
// (attacks/ball.hpp), one set per sample of a batch [N, ...]:
//
//   Simplex{}                {x : x >= 0, sum x = 1}: a relaxed one-hot choice (of a token, say:
//                            TextGrad, UnlearnDiff and CLAWSAT ascend over it)
//   CappedSimplex{.k = 3}    {x : 0 <= x <= 1, sum x = k}: a relaxed choice of k sites
//   CappedSimplex{.k = 3, .at_most = true}   {x : 0 <= x <= 1, sum x <= k}: of at most k sites
//                            (TextGrad's site selection under a word budget)
//
// Both also project with a mask of z's shape, project(z, mask): entries where the mask is 0 are
// held at 0 and left out of the set (a site that may not change, a candidate that does not
// exist); the set is the one above over the entries where it is 1. A row with no entry left is an
// error for the simplex (nothing to put its mass on).
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
// directions {sum eta = 0} along the sets (step g on the "at most k" set, whose mass may change). Projected, it gives the point the plain step step g
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
// The entries of row r of a host matrix [rows, d] that a mask (nullptr: none) keeps.
inline std::vector<double> kept_entries(const std::vector<double>& x, const std::vector<double>* mask, std::int64_t r,
                                        std::size_t d) {
  std::vector<double> kept;
  kept.reserve(d);
  for (std::size_t j = r * d; j < (r + 1) * d; ++j)
    if (!mask || (*mask)[j] != 0) kept.push_back(x[j]);
  return kept;
}

// The shift tau, one per row of a host matrix [rows, d], such that the rows of max(x - tau, 0)
// (over the entries the mask keeps) lie on the simplex of the given mass (>= 0).
inline std::vector<double> simplex_shift(const std::vector<double>& x, std::int64_t rows, double mass,
                                         const std::vector<double>* mask = nullptr, const char* op = "") {
  const std::size_t d = x.size() / static_cast<std::size_t>(rows);
  std::vector<double> tau(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<double> u = kept_entries(x, mask, r, d);
    TRUSTML_CHECK(!u.empty(), op, "row ", r, " of the mask keeps no entry: the simplex has no point there");
    std::sort(u.begin(), u.end(), std::greater<>());
    // The condition holds on a prefix of j, so the last j that meets it is rho. A mass of 0 keeps
    // tau = u_1 (the projection is 0).
    double running = 0, shift = u[0] - mass;
    for (std::size_t j = 0; j < u.size(); ++j) {
      running += u[j];
      const double candidate = (running - mass) / static_cast<double>(j + 1);
      if (u[j] > candidate) shift = candidate;
    }
    tau[static_cast<std::size_t>(r)] = shift;
  }
  return tau;
}

// The shift tau, one per row, such that the rows of clamp(x - tau, 0, 1) over the kept entries sum
// to k (0 <= k <= their count), or, with at_most, to at most k (tau = 0 when clamp(x, 0, 1) does).
inline std::vector<double> capped_simplex_shift(const std::vector<double>& x, std::int64_t rows, double k,
                                                bool at_most = false, const std::vector<double>* mask = nullptr,
                                                const char* op = "") {
  const std::size_t d = x.size() / static_cast<std::size_t>(rows);
  std::vector<double> tau(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::vector<double> v = kept_entries(x, mask, r, d);
    auto mass = [&](double t) {
      double s = 0;
      for (double e : v) s += std::clamp(e - t, 0.0, 1.0);
      return s;
    };
    if (v.empty() || (at_most && mass(0) <= k)) continue;  // tau = 0
    TRUSTML_CHECK(k <= static_cast<double>(v.size()), op, "row ", r, " keeps ", v.size(),
                  " entries, fewer than the mass k = ", k);
    // mass(lo) = its count >= k and mass(hi) = 0 <= k.
    double lo = *std::min_element(v.begin(), v.end()) - 1, hi = *std::max_element(v.begin(), v.end());
    for (;;) {
      const double mid = lo + (hi - lo) / 2;
      if (mid <= lo || mid >= hi) break;
      (mass(mid) >= k ? lo : hi) = mid;
    }
    // On the bracket the coordinates at a bound are known; the free ones fix tau exactly.
    double free_sum = 0, at_one = 0, free = 0;
    for (double e : v) {
      if (e - hi >= 1) ++at_one;
      else if (e - lo > 0) free_sum += e, ++free;
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

// A projection's mask as host rows, checked: z's shape, entries 0 or 1.
template <class T, class D>
std::vector<double> host_mask(const Tensor<T, D>& mask, const Tensor<T, D>& z, const char* op) {
  TRUSTML_CHECK(mask.shape() == z.shape(), op, "the mask's shape ", mask.shape(), " differs from the batch's ",
                z.shape());
  auto values = host_values(mask);
  for (std::size_t i = 0; i < values.size(); ++i)
    TRUSTML_CHECK(values[i] == 0 || values[i] == 1, op, "mask entries must be 0 or 1, got ", values[i],
                  " at flat index ", i);
  return values;
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
    return project_kept(z, static_cast<const Tensor<T, D>*>(nullptr));
  }
  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& z, const Tensor<T, D>& mask) const {
    return project_kept(z, &mask);
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

 private:
  template <class T, class D>
  Tensor<T, D> project_kept(const Tensor<T, D>& z, const Tensor<T, D>* mask) const {
    constexpr const char* op = "attacks::Simplex::project";
    check_batch(z, op);
    NoGradGuard no_grad;
    auto rows = as_rows(z);
    const auto keep = mask ? detail::host_mask(*mask, z, op) : std::vector<double>();
    const auto tau = detail::simplex_shift(detail::host_values(rows), rows.size(0), 1.0, mask ? &keep : nullptr, op);
    auto p = reshape(maximum(detail::shift_rows(rows, tau), Tensor<T, D>::zeros(Shape{})), z.shape());
    return mask ? mul(p, *mask) : p;
  }
};

struct CappedSimplex {
  double k = 1;          // the mass of each sample, 0 <= k <= d
  bool at_most = false;  // sum x <= k instead of sum x = k

  std::string name() const { return detail::named_radius("capped simplex", k, at_most ? "mass at most" : "mass"); }

  void check(const Shape& shape, const char* op) const {
    detail::check_batch_shape(op, shape);
    const auto d = detail::sample_size(shape);
    TRUSTML_CHECK(k >= 0 && k <= static_cast<double>(d), op, "the capped simplex needs 0 <= k <= d, got k = ", k,
                  " for samples of ", d, " elements (batch shape ", shape, ")");
  }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& z) const {
    return project_kept(z, static_cast<const Tensor<T, D>*>(nullptr));
  }
  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& z, const Tensor<T, D>& mask) const {
    return project_kept(z, &mask);
  }

  // With at_most the mass may change, so the step is the plain gradient step.
  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    constexpr const char* op = "attacks::CappedSimplex::steepest_ascent";
    if (!at_most) return detail::tangent_step(g, step, op);
    check_batch(g, op);
    detail::check_step(op, step);
    NoGradGuard no_grad;
    return scale(g, T(step));
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

 private:
  template <class T, class D>
  Tensor<T, D> project_kept(const Tensor<T, D>& z, const Tensor<T, D>* mask) const {
    constexpr const char* op = "attacks::CappedSimplex::project";
    check_batch(z, op);
    check(z.shape(), op);
    NoGradGuard no_grad;
    auto rows = as_rows(z);
    const auto keep = mask ? detail::host_mask(*mask, z, op) : std::vector<double>();
    const auto tau = detail::capped_simplex_shift(detail::host_values(rows), rows.size(0), k, at_most,
                                                  mask ? &keep : nullptr, op);
    auto p = reshape(clamp(detail::shift_rows(rows, tau), T(0), T(1)), z.shape());
    return mask ? mul(p, *mask) : p;
  }
};

}  // namespace trustml::attacks
