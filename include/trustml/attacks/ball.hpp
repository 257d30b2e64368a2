// trustml/attacks/ball.hpp: the Ball concept, the feasible set of an ascent, one set per sample of a
// batch [N, ...] (dimension 0 indexes the samples; each sample's other elements form one vector of
// d entries, constrained on its own).
//
// A Ball is a small value type holding the set's parameters (a radius, a count) with these const
// members, each taking and returning tensors of the batch's shape:
//
//   name()                     the set for messages, e.g. "L2 ball of radius 0.5"
//   check(shape, op)           throws trustml::Error, its message starting with `op`, unless the
//                              parameters are valid (a finite radius >= 0; 0 <= k <= d) for a
//                              non-empty batch of that shape
//   project(z)                 the Euclidean projection: the nearest point of each sample's set
//                              (so it is idempotent, up to rounding)
//   steepest_ascent(g, step)   the update direction for ascent on <g, .>: for a norm ball the
//                              maximizer of <g_i, eta_i> over |eta_i| <= step (CleverHans's
//                              optimize_linear), which meets the norm with equality; for the
//                              simplex sets, step times g_i restricted to the tangent space
//                              {sum eta_i = 0} (a gradient step: projected, it lands on the same
//                              point as the plain step step g_i would)
//   random_start<T, D>(shape, seed)   a random point of each sample's set, from the Philox
//                              streams of `seed`: the same seed gives the same draw on every
//                              device (bit for bit where no device math function rounds it)
//   norms(z)                   each sample's size in the set's norm, on the host: the L-inf, L2,
//                              L1 norm of the norm balls, the L1 norm (the mass) on the simplices
//
// A zero gradient gives a zero step. The sets and their algorithms are in attacks/norm_balls.hpp
// (LinfBall, L2Ball, L1Ball) and attacks/simplex.hpp (Simplex, CappedSimplex); attacks/ascent.hpp
// ascends over any of them, attacks/pgd.hpp uses them as threat models.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "trustml/ops/reduce.hpp"
#include "trustml/ops/rows.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::attacks {

template <class B>
concept Ball = requires(const B& ball, const Tensor<float, Cpu>& z, const Shape& shape, double step, std::uint64_t seed,
                        const char* op) {
  { ball.name() } -> std::convertible_to<std::string>;
  ball.check(shape, op);
  { ball.project(z) } -> std::same_as<Tensor<float, Cpu>>;
  { ball.steepest_ascent(z, step) } -> std::same_as<Tensor<float, Cpu>>;
  { ball.template random_start<float, Cpu>(shape, seed) } -> std::same_as<Tensor<float, Cpu>>;
  { ball.norms(z) } -> std::same_as<std::vector<double>>;
};

namespace detail {
// "<what> of radius <eps>" with the radius printed to round trip.
inline std::string named_radius(const char* what, double radius, const char* parameter = "radius") {
  std::ostringstream s;
  s.precision(17);
  s << what << " of " << parameter << " " << radius;
  return s.str();
}

inline void check_radius(const char* op, double eps) {
  TRUSTML_CHECK(eps >= 0 && std::isfinite(eps), op, "eps must be finite and >= 0, got ", eps);
}

inline void check_batch_shape(const char* op, const Shape& shape) {
  TRUSTML_CHECK(shape.rank >= 1 && shape.numel() > 0, op, "needs a non-empty batch shape [N, ...], got ", shape);
}

inline void check_step(const char* op, double step) {
  TRUSTML_CHECK(step >= 0 && std::isfinite(step), op, "the step size must be finite and >= 0, got ", step);
}

// The elements of one sample of a batch.
inline std::int64_t sample_size(const Shape& shape) { return shape.numel() / shape[0]; }

// Per-sample norms of a batch on the host: p = 0 for L-inf, else 1 or 2.
template <class T, class D>
std::vector<double> row_norms(const Tensor<T, D>& z, int p, const char* op) {
  check_batch(z, op);
  auto rows = as_rows(z);
  auto n = p == 0 ? amax(abs(rows), {1}) : p == 2 ? norm(rows, 2, {1}) : sum(abs(rows), {1});
  const auto host = n.to_vector();
  return {host.begin(), host.end()};
}
}  // namespace detail

}  // namespace trustml::attacks
