// trustml/attacks/norm_balls.hpp: the eps-balls of the L-inf, L2 and L1 norms as Balls
// (attacks/ball.hpp), centred at 0 (perturbations), one ball per sample of a batch [N, ...]:
//
//   LinfBall{.eps = 8.0 / 255}   L2Ball{.eps = 0.5}   L1Ball{.eps = 10}
//   ball.steepest_ascent(g, step)   argmax_{|eta_i| <= step} <g_i, eta_i> for every sample i
//   ball.project(delta)             the nearest point of each sample's ball
//   ball.random_start<T, D>(shape, seed)   a uniform draw from each sample's ball
//   ball.norms(delta)               |delta_i| for every sample, on the host
//
// Steepest ascent meets the norm with equality (CleverHans's optimize_linear): L-inf gives
// step sign(g) (objective step |g|_1), L2 step g / |g|_2 (objective step |g|_2), L1 puts the step
// on the coordinates of largest |g|, split evenly between ties (objective step |g|_inf). A zero
// gradient gives a zero step. Projections: L-inf clamps; L2 rescales rows longer than eps; L1
// projects |delta| onto the simplex of mass eps (attacks/simplex.hpp) and restores the signs. L2
// and L1 keep rows inside the ball bit for bit. Random starts are uniform in the ball: L-inf by
// independent uniforms, L2 by a Gaussian direction and a radius eps U^(1/d) (Foolbox's convention:
// E|delta| = eps d / (d + 1); torchattacks' radius eps U has mean eps / 2 and is not uniform), L1
// by the first d coordinates of a uniform point of the (d + 1)-simplex (normalized exponentials,
// uniform in {x >= 0, sum x <= 1}) with independent random signs.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "trustml/attacks/ball.hpp"
#include "trustml/attacks/simplex.hpp"
#include "trustml/autograd/node.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::attacks {

namespace detail {
template <class T, class D>
Tensor<T, D> sign(const Tensor<T, D>& a) {
  return sub(step(a), step(neg(a)));
}

// Rows strictly longer than eps (a per-row length) take `outside`; the others are kept as they are.
template <class T, class D>
Tensor<T, D> keep_inside(const Tensor<T, D>& rows, const Tensor<T, D>& length, double eps,
                         const Tensor<T, D>& outside) {
  auto beyond = step(sub(length, Tensor<T, D>::full(length.shape(), T(eps))));
  return where(reshape(beyond, {beyond.numel(), 1}), outside, rows);
}

inline void check_ball(const Shape& shape, double eps, const char* op) {
  check_batch_shape(op, shape);
  check_radius(op, eps);
}
template <class T, class D>
void check_ball_input(const Tensor<T, D>& z, double eps, const char* op) {
  check_batch(z, op);
  check_radius(op, eps);
}
}  // namespace detail

// A Ball with a radius eps (the norm balls): what attacks that scale a default step or a noise by
// the radius need.
template <class B>
concept NormBall = Ball<B> && requires(const B& ball) {
  { ball.eps } -> std::convertible_to<double>;
};

struct LinfBall {
  double eps = 0;  // the radius, finite and >= 0

  void check(const Shape& shape, const char* op) const { detail::check_ball(shape, eps, op); }
  std::string name() const { return detail::named_radius("L-inf ball", eps); }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& delta) const {
    detail::check_ball_input(delta, eps, "attacks::LinfBall::project");
    NoGradGuard no_grad;
    return clamp(delta, T(-eps), T(eps));
  }

  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    constexpr const char* op = "attacks::LinfBall::steepest_ascent";
    check_batch(g, op);
    detail::check_step(op, step);
    NoGradGuard no_grad;
    return reshape(scale(detail::sign(as_rows(g)), T(step)), g.shape());
  }

  template <class T, class D>
  Tensor<T, D> random_start(const Shape& shape, std::uint64_t seed) const {
    check(shape, "attacks::LinfBall::random_start");
    NoGradGuard no_grad;
    return add_scalar(scale(Tensor<T, D>::rand(shape, seed), T(2 * eps)), T(-eps));
  }

  template <class T, class D>
  std::vector<double> norms(const Tensor<T, D>& delta) const {
    return detail::row_norms(delta, 0, "attacks::LinfBall::norms");
  }
};

struct L2Ball {
  double eps = 0;  // the radius, finite and >= 0

  void check(const Shape& shape, const char* op) const { detail::check_ball(shape, eps, op); }
  std::string name() const { return detail::named_radius("L2 ball", eps); }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& delta) const {
    detail::check_ball_input(delta, eps, "attacks::L2Ball::project");
    NoGradGuard no_grad;
    auto rows = as_rows(delta);
    auto length = norm(rows, 2, {1});
    // Rows inside the ball are kept bit for bit; longer ones are scaled onto the sphere.
    auto on_sphere = scale_rows(rows, div(Tensor<T, D>::full(length.shape(), T(eps)), length));
    return reshape(detail::keep_inside(rows, length, eps, on_sphere), delta.shape());
  }

  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    constexpr const char* op = "attacks::L2Ball::steepest_ascent";
    check_batch(g, op);
    detail::check_step(op, step);
    NoGradGuard no_grad;
    auto rows = as_rows(g);
    // Rows with a zero gradient get a zero step, not 0/0.
    auto length = norm(rows, 2, {1});
    auto inverse = div(trustml::step(length), maximum(length, Tensor<T, D>::full(length.shape(), T(1e-30))));
    return reshape(scale(scale_rows(rows, inverse), T(step)), g.shape());
  }

  template <class T, class D>
  Tensor<T, D> random_start(const Shape& shape, std::uint64_t seed) const {
    check(shape, "attacks::L2Ball::random_start");
    NoGradGuard no_grad;
    const std::int64_t n = shape[0], d = detail::sample_size(shape);
    auto direction = Tensor<T, D>::randn(Shape{n, d}, seed);
    auto length = norm(direction, 2, {1});
    // radius eps U^(1/d), U in (0, 1] from the second stream of the seed.
    auto radius =
        scale(pow(Tensor<T, D>::rand(Shape{n}, seed ^ 0x9E3779B97F4A7C15ull), T(1.0 / static_cast<double>(d))), T(eps));
    return reshape(scale_rows(direction, div(radius, length)), shape);
  }

  template <class T, class D>
  std::vector<double> norms(const Tensor<T, D>& delta) const {
    return detail::row_norms(delta, 2, "attacks::L2Ball::norms");
  }
};

struct L1Ball {
  double eps = 0;  // the radius, finite and >= 0

  void check(const Shape& shape, const char* op) const { detail::check_ball(shape, eps, op); }
  std::string name() const { return detail::named_radius("L1 ball", eps); }

  template <class T, class D>
  Tensor<T, D> project(const Tensor<T, D>& delta) const {
    detail::check_ball_input(delta, eps, "attacks::L1Ball::project");
    NoGradGuard no_grad;
    auto rows = as_rows(delta);
    auto magnitude = abs(rows);
    const auto tau = detail::simplex_shift(detail::host_values(magnitude), rows.size(0), eps);
    auto shrunk = mul(detail::sign(rows), maximum(detail::shift_rows(magnitude, tau), Tensor<T, D>::zeros(Shape{})));
    return reshape(detail::keep_inside(rows, sum(magnitude, {1}), eps, shrunk), delta.shape());
  }

  template <class T, class D>
  Tensor<T, D> steepest_ascent(const Tensor<T, D>& g, double step) const {
    constexpr const char* op = "attacks::L1Ball::steepest_ascent";
    check_batch(g, op);
    detail::check_step(op, step);
    NoGradGuard no_grad;
    auto rows = as_rows(g);
    auto magnitude = abs(rows);
    auto largest = amax(magnitude, {1}, true);
    auto ties = mul(in_range(sub(magnitude, largest), T(0), T(0)), trustml::step(largest));  // none for a zero row
    auto count = maximum(sum(ties, {1}), Tensor<T, D>::ones(Shape{rows.size(0)}));
    auto shared = scale_rows(mul(ties, detail::sign(rows)), div(Tensor<T, D>::ones(count.shape()), count));
    return reshape(scale(shared, T(step)), g.shape());
  }

  template <class T, class D>
  Tensor<T, D> random_start(const Shape& shape, std::uint64_t seed) const {
    check(shape, "attacks::L1Ball::random_start");
    NoGradGuard no_grad;
    const std::int64_t n = shape[0], d = detail::sample_size(shape);
    auto exponentials = neg(log(Tensor<T, D>::rand(Shape{n, d + 1}, seed)));
    auto magnitude = div(exponentials.slice(1, 0, d), sum(exponentials, {1}, true));
    // Signs from the second stream of the seed: +1 where U > 1/2.
    auto signs = add_scalar(
        scale(step(add_scalar(Tensor<T, D>::rand(Shape{n, d}, seed ^ 0x9E3779B97F4A7C15ull), T(-0.5))), T(2)), T(-1));
    return reshape(scale(mul(signs, magnitude), T(eps)), shape);
  }

  template <class T, class D>
  std::vector<double> norms(const Tensor<T, D>& delta) const {
    return detail::row_norms(delta, 1, "attacks::L1Ball::norms");
  }
};

}  // namespace trustml::attacks
