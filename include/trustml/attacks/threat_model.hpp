// trustml/attacks/threat_model.hpp: the geometry of norm-bounded perturbations, one ball per sample
// of a batch [N, ...].
//
//   steepest_ascent(g, Norm::linf, eps)   argmax_{|eta|_p <= eps} <g_i, eta_i> for every sample i
//   project(delta, Norm::l2, eps)         the nearest point of each sample's eps-ball
//   random_start(shape, Norm::l2, eps, seed)  a uniform draw from each sample's ball
//   norms(delta, Norm::l2)                |delta_i|_p for every sample, on the host
//
// Steepest ascent meets the norm with equality (CleverHans's optimize_linear): L-inf gives
// eps sign(g) (objective eps |g|_1), L2 eps g / |g|_2 (objective eps |g|_2), L1 puts eps on the
// coordinates of largest |g|, split evenly between ties (objective eps |g|_inf). A zero gradient
// gives a zero step. Random starts are uniform in the ball: L-inf by independent uniforms, L2 by a
// Gaussian direction and a radius eps U^(1/d) (Foolbox's convention: E|delta| = eps d / (d + 1);
// torchattacks' radius eps U has mean eps / 2 and is not uniform).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "trustml/estimators/input_gradient.hpp"
#include "trustml/trustml.hpp"

namespace trustml::attacks {

enum class Norm { linf, l2, l1 };

inline const char* norm_name(Norm p) { return p == Norm::linf ? "L-inf" : p == Norm::l2 ? "L2" : "L1"; }

namespace detail {
template <class T, class D>
Tensor<T, D> as_rows(const Tensor<T, D>& x) {
  return reshape(x, {x.size(0), x.numel() / x.size(0)});
}
template <class T, class D>
Tensor<T, D> sign(const Tensor<T, D>& a) {
  return sub(step(a), step(neg(a)));
}
inline void check_eps(const char* op, double eps) {
  TRUSTML_CHECK(eps >= 0 && std::isfinite(eps), op, "eps must be finite and >= 0, got ", eps);
}
}  // namespace detail

// The per-sample norm of every row of a batch.
template <class T, class D>
std::vector<double> norms(const Tensor<T, D>& delta, Norm p) {
  estimators::detail::check_batch(delta, "attacks::norms");
  auto rows = detail::as_rows(delta);
  auto n = p == Norm::linf ? amax(abs(rows), {1}) : p == Norm::l2 ? norm(rows, 2, {1}) : sum(abs(rows), {1});
  const auto host = n.to_vector();
  return {host.begin(), host.end()};
}

template <class T, class D>
Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, Norm p, double eps) {
  estimators::detail::check_batch(g, "attacks::steepest_ascent");
  detail::check_eps("attacks::steepest_ascent", eps);
  NoGradGuard no_grad;
  auto rows = detail::as_rows(g);
  Tensor<T, D> step_rows;
  if (p == Norm::linf) {
    step_rows = scale(detail::sign(rows), T(eps));
  } else if (p == Norm::l2) {
    // Rows with a zero gradient get a zero step, not 0/0.
    auto length = norm(rows, 2, {1});
    auto inverse = div(step(length), maximum(length, Tensor<T, D>::full(length.shape(), T(1e-30))));
    step_rows = scale(estimators::detail::scale_rows(rows, inverse), T(eps));
  } else {
    auto magnitude = abs(rows);
    auto largest = amax(magnitude, {1}, true);
    auto ties = mul(in_range(sub(magnitude, largest), T(0), T(0)), step(largest));  // none for a zero row
    auto count = maximum(sum(ties, {1}), Tensor<T, D>::ones(Shape{rows.size(0)}));
    step_rows =
        scale(estimators::detail::scale_rows(mul(ties, detail::sign(rows)), div(Tensor<T, D>::ones(count.shape()), count)), T(eps));
  }
  return reshape(step_rows, g.shape());
}

// The nearest point of each sample's ball: L-inf clamps, L2 rescales rows longer than eps.
template <class T, class D>
Tensor<T, D> project(const Tensor<T, D>& delta, Norm p, double eps) {
  estimators::detail::check_batch(delta, "attacks::project");
  detail::check_eps("attacks::project", eps);
  TRUSTML_CHECK(p != Norm::l1, "attacks::project",
                "projects onto L-inf and L2 balls; L1 perturbations come from one steepest-ascent step (FGM)");
  NoGradGuard no_grad;
  if (p == Norm::linf) return clamp(delta, T(-eps), T(eps));
  auto rows = detail::as_rows(delta);
  auto length = norm(rows, 2, {1});
  // Rows inside the ball are kept bit for bit; longer ones are scaled onto the sphere.
  auto factor = where(step(sub(length, Tensor<T, D>::full(length.shape(), T(eps)))),
                      div(Tensor<T, D>::full(length.shape(), T(eps)), length), Tensor<T, D>::ones(length.shape()));
  return reshape(estimators::detail::scale_rows(rows, factor), delta.shape());
}

// A uniform draw from each sample's ball, from the Philox streams of `seed`.
template <class T, class D>
Tensor<T, D> random_start(const Shape& shape, Norm p, double eps, std::uint64_t seed) {
  TRUSTML_CHECK(shape.rank >= 1 && shape.numel() > 0, "attacks::random_start", "needs a non-empty batch shape, got ",
                shape);
  detail::check_eps("attacks::random_start", eps);
  TRUSTML_CHECK(p != Norm::l1, "attacks::random_start", "draws from L-inf and L2 balls, not L1");
  NoGradGuard no_grad;
  if (p == Norm::linf) return add_scalar(scale(Tensor<T, D>::rand(shape, seed), T(2 * eps)), T(-eps));
  const std::int64_t n = shape[0], d = shape.numel() / n;
  auto direction = Tensor<T, D>::randn(Shape{n, d}, seed);
  auto length = norm(direction, 2, {1});
  // radius eps U^(1/d), U in (0, 1] from the second stream of the seed.
  auto radius =
      scale(pow(Tensor<T, D>::rand(Shape{n}, seed ^ 0x9E3779B97F4A7C15ull), T(1.0 / static_cast<double>(d))), T(eps));
  return reshape(estimators::detail::scale_rows(direction, div(radius, length)), shape);
}

}  // namespace trustml::attacks
