// trustml/ops/cg.hpp: cg_solve, conjugate gradients for (N + lambda I) x = b, differentiable by
// implicit differentiation.
//
//   x = cg_solve(normal, b, lambda, CgOptions{max_iter, tol, rtol}, x0, &stats)
//
// `normal` is any linear map N that is Hermitian positive semi-definite (MRI's A^H A, a Gram matrix
// X^H X, a graph Laplacian); lambda >= 0 makes N + lambda I definite. Dimension 0 of b indexes
// independent systems (an MRI batch): each gets its own step sizes and its own stopping test, so a
// system's iterates do not depend on the others in the batch. lambda is one value ([] or [1]) or
// one per system ([B]).
//
// Forward is textbook CG (Hestenes-Stiefel, as BART's `pics -l2` runs it): from x0 (zero by
// default) for at most max_iter iterations, a system stopping once its residual norm ||b - (N +
// lambda I) x|| is <= max(tol, rtol ||b||). With tol = rtol = 0 every system runs exactly max_iter
// iterations, which is what makes iterates comparable with another implementation.
//
// Backward treats x as the exact solution x = (N + lambda I)^{-1} b (implicit differentiation), so it
// never stores the iterates: memory is one node whatever max_iter is. For an output gradient g,
//   grad b      = (N + lambda I)^{-1} g                  (one more CG solve: the matrix is Hermitian)
//   grad lambda = -Re <(N + lambda I)^{-1} g, x>         (from d x = -(N + lambda I)^{-1} x d lambda)
// summed over the systems that share a lambda. The rule calls cg_solve itself, so create_graph gives
// second derivatives. Gradients do not reach tensors captured inside `normal` (coil maps, masks:
// data, not parameters), and a warm start x0 is treated as a constant.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <functional>
#include <type_traits>
#include <vector>

#include "trustml/kernels/cpu/cg.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml {

template <class T, class D>
using LinearMap = std::function<Tensor<T, D>(const Tensor<T, D>&)>;

struct CgOptions {
  int max_iter = 10;  // always set: CG in float may never reach a tiny tolerance
  double tol = 0;     // absolute residual norm per system
  double rtol = 0;    // residual norm relative to ||b|| per system
};

// What the last forward solve did (backward solves do not report).
struct CgStats {
  int iterations = 0;                  // the most any system ran
  std::vector<double> residual_norms;  // ||b - (N + lambda I) x|| per system, as CG tracks it
  std::vector<int> system_iterations;  // per system
};

namespace ops {
template <class T, class D>
struct CgAttrs {
  LinearMap<T, D> normal;
  CgOptions options;
};

// Re <a, b> = Re sum conj(a) b for each system (dimension 0), on the host.
template <class T, class D>
std::vector<double> system_inner(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  std::vector<int> dims;
  for (int d = 1; d < a.dim(); ++d) dims.push_back(d);
  auto s = real(dims.empty() ? mul(conj(a), b) : sum(mul(conj(a), b), dims)).to_vector();
  return std::vector<double>(s.begin(), s.end());
}

// A per-system scalar as a tensor of shape [B, 1, ..., 1] that broadcasts against `like`.
template <class T, class D>
Tensor<T, D> per_system(const std::vector<double>& values, const Tensor<T, D>& like) {
  std::vector<T> v(values.begin(), values.end());
  Shape s = like.shape();
  for (int d = 1; d < s.rank; ++d) s.dims[d] = 1;
  return Tensor<T, D>::from_vector(v, s);
}

// The per-system scalars of CG: which systems still iterate, ||r||^2, the stopping threshold, the
// iteration counts and the step sizes. Both loops below (the generic one and the fused one)
// update them through these two steps.
struct CgSystems {
  std::vector<char> active;
  std::vector<double> rr, threshold, alpha, beta;
  std::vector<int> done;

  bool any_active() const {
    return std::any_of(active.begin(), active.end(), [](char a) { return a; });
  }
  // alpha = ||r||^2 / p^H (N + lambda I) p, from the denominators pap.
  void step_sizes(const std::vector<double>& pap) {
    for (std::size_t i = 0; i < active.size(); ++i) {
      // p^H (N + lambda I) p <= 0 with p != 0 means N + lambda I is singular along p: no progress.
      if (active[i] && !(pap[i] > 0)) active[i] = 0;
      alpha[i] = active[i] ? rr[i] / pap[i] : 0;
    }
  }
  // beta = ||r_next||^2 / ||r||^2, and the stopping test on the new residual.
  void advance(const std::vector<double>& rr_next) {
    for (std::size_t i = 0; i < active.size(); ++i) {
      beta[i] = active[i] ? rr_next[i] / rr[i] : 0;
      if (active[i]) {
        ++done[i];
        rr[i] = rr_next[i];
        active[i] = std::sqrt(rr[i]) > threshold[i];
      }
    }
  }
};

// Whether device D's kernels have CG's fused vector work (the optional entries cg_curvature,
// cg_update and cg_direction of kernels/api.hpp).
template <class D, class V>
concept FusedCgKernels = requires(std::int64_t n, const double* scalars, const V* in, V* out) {
  { Kernels<D>::cg_curvature(n, n, in, in, scalars) } -> std::same_as<std::vector<double>>;
  { Kernels<D>::cg_update(n, n, scalars, scalars, in, in, in, in, out, out) } -> std::same_as<std::vector<double>>;
  Kernels<D>::cg_direction(n, n, scalars, in, in, out);
};

// One CG iteration given q = N p (all contiguous) with those kernels: the steps and stopping rule
// of the generic loop below, its vector work fused into three passes, each writing fresh tensors (so
// nothing the linear map may hold on to is overwritten).
template <class T, class D>
void fused_cg_iteration(const Tensor<T, D>& q, const std::vector<double>& lam, CgSystems& cg, Tensor<T, D>& x,
                        Tensor<T, D>& r, Tensor<T, D>& p) {
  const std::int64_t systems = p.size(0), n = systems == 0 ? 0 : p.numel() / systems;
  cg.step_sizes(Kernels<D>::cg_curvature(systems, n, dptr(p), dptr(q), lam.data()));
  auto x_next = Tensor<T, D>::empty(x.shape()), r_next = Tensor<T, D>::empty(r.shape());
  const auto rr_next = Kernels<D>::cg_update(systems, n, cg.alpha.data(), lam.data(), dptr(x), dptr(r), dptr(p),
                                             dptr(q), dptr(x_next), dptr(r_next));
  x = x_next;
  r = r_next;
  cg.advance(rr_next);
  auto p_next = Tensor<T, D>::empty(p.shape());
  Kernels<D>::cg_direction(systems, n, cg.beta.data(), dptr(r), dptr(p), dptr(p_next));
  p = p_next;
}

template <class T, class D>
Tensor<T, D> conjugate_gradient(const LinearMap<T, D>& normal, const Tensor<T, D>& b,
                                const Tensor<real_t<T>, D>& lambda, const CgOptions& opt, const Tensor<T, D>& x0,
                                CgStats* stats) {
  NoGradGuard no_tape;  // the iterates are never differentiated: backward is implicit
  TRUSTML_CHECK(static_cast<bool>(normal), "cg_solve", "needs a linear map (the normal operator), got an empty one");
  TRUSTML_CHECK(b.dim() >= 1, "cg_solve", "the right-hand side needs a leading system dimension, got shape ",
                b.shape());
  const std::int64_t systems = b.size(0);
  TRUSTML_CHECK(lambda.numel() == 1 || (lambda.dim() == 1 && lambda.size(0) == systems), "cg_solve",
                "lambda must have one value or one per system (", systems, " for right-hand side shape ", b.shape(),
                "), got shape ", lambda.shape());
  TRUSTML_CHECK(opt.max_iter >= 0 && opt.tol >= 0 && opt.rtol >= 0, "cg_solve",
                "needs max_iter >= 0, tol >= 0 and rtol >= 0, got ", opt.max_iter, ", ", opt.tol, ", ", opt.rtol);
  TRUSTML_CHECK(!x0.defined() || x0.shape() == b.shape(), "cg_solve", "the initial guess has shape ", x0.shape(),
                " but the right-hand side has shape ", b.shape());
  std::vector<double> lam;
  for (auto v : lambda.to_vector()) lam.push_back(static_cast<double>(v));
  TRUSTML_CHECK(std::all_of(lam.begin(), lam.end(), [](double v) { return v >= 0; }), "cg_solve",
                "needs lambda >= 0 (N + lambda I must be positive definite)");
  if (lam.size() == 1) lam.assign(static_cast<std::size_t>(systems), lam[0]);
  const Tensor<T, D> lam_t = per_system(lam, b);

  auto normal_of = [&](const Tensor<T, D>& p) {
    Tensor<T, D> q = normal(p);
    TRUSTML_CHECK(q.shape() == p.shape(), "cg_solve", "the linear map changed the shape ", p.shape(), " into ",
                  q.shape(), "; it must map the solution space to itself");
    return q;
  };
  auto apply = [&](const Tensor<T, D>& p) { return add(normal_of(p), mul(lam_t, p)); };

  // Its own storage: with no iteration to run, the result would otherwise alias the caller's x0.
  Tensor<T, D> x = x0.defined() ? x0.detach().clone() : Tensor<T, D>::zeros(b.shape());
  Tensor<T, D> r = x0.defined() ? sub(b, apply(x)) : b.detach();
  Tensor<T, D> p = r;
  const auto count = static_cast<std::size_t>(systems);
  CgSystems cg{std::vector<char>(count),   system_inner(r, r),         system_inner(b, b),
               std::vector<double>(count), std::vector<double>(count), std::vector<int>(count, 0)};
  for (std::size_t i = 0; i < count; ++i) {
    cg.threshold[i] = std::max(opt.tol, opt.rtol * std::sqrt(cg.threshold[i]));
    cg.active[i] = std::sqrt(cg.rr[i]) > cg.threshold[i];
  }
  constexpr bool fused = FusedCgKernels<D, value_t<T, D>>;
  if constexpr (fused) {
    // The same iteration with its vector work fused into three passes (fused_cg_iteration).
    if (opt.max_iter > 0 && cg.any_active()) {
      x = x.contiguous();
      r = r.contiguous();  // only read: it may still be the caller's b
      p = r;
    }
  }
  for (int it = 0; it < opt.max_iter && cg.any_active(); ++it) {
    if constexpr (fused) {
      fused_cg_iteration(normal_of(p).contiguous(), lam, cg, x, r, p);
    } else {
      Tensor<T, D> ap = apply(p);
      cg.step_sizes(system_inner(p, ap));
      const Tensor<T, D> step = per_system(cg.alpha, b);
      x = add(x, mul(step, p));
      r = sub(r, mul(step, ap));
      cg.advance(system_inner(r, r));
      p = add(r, mul(per_system(cg.beta, b), p));
    }
  }
  if (stats) {
    stats->system_iterations = cg.done;
    stats->iterations = cg.done.empty() ? 0 : *std::max_element(cg.done.begin(), cg.done.end());
    stats->residual_norms.clear();
    for (double v : cg.rr) stats->residual_norms.push_back(std::sqrt(v));
  }
  return x;
}
}  // namespace ops

// Solves (normal + lambda I) x = b by conjugate gradients; see the top of this file.
template <FloatingScalar T, class D>
Tensor<T, D> cg_solve(const LinearMap<T, D>& normal, const Tensor<T, D>& b, const Tensor<real_t<T>, D>& lambda,
                      const CgOptions& options = {}, const Tensor<T, D>& x0 = {}, CgStats* stats = nullptr) {
  Tensor<T, D> x = ops::conjugate_gradient(normal, b, lambda, options, x0, stats);
  return ops::record<Op::cg_solve>(x, ops::CgAttrs<T, D>{normal, options}, b, lambda);
}

}  // namespace trustml

// ---- derivative rules (autograd/rule.hpp says how they are written) ----
namespace trustml::autograd {

// cg_solve: implicit differentiation of x = (N + lambda I)^{-1} b (see ops/cg.hpp). One more solve,
// from zero, gives both gradients; the lambda gradient is per system, summed back by the engine.
TRUSTML_RULE(cg_solve, both) {
  using G = std::decay_t<decltype(c.grad)>;
  using L = typename C::template In<1>;
  auto lambda = c.template in<1>();
  G gb = cg_solve(c.attrs.normal, c.grad, lambda, c.attrs.options);
  L glambda;
  if (c.template needs<1>()) {
    std::vector<int> dims;
    for (int d = 1; d < gb.dim(); ++d) dims.push_back(d);
    auto inner = real(mul(conj(gb), c.out()));
    glambda = neg(dims.empty() ? inner : sum(inner, dims));
  }
  return grads(c.template needs<0>() ? gb : G(), glambda);
}

}  // namespace trustml::autograd

// An op records tape nodes whose backward runs the engine's gradient accumulation and sum_to: the
// engine comes with every family header (after the ops it uses), so one family header is enough to
// differentiate its ops.
#include "trustml/autograd/engine.hpp"
