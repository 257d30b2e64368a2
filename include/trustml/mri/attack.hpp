// trustml/mri/attack.hpp: PGD against a reconstruction, on the image-domain input x_0 = A^H y
// (SMUG ICASSP protocol) or on the sampled k-space entries (SMUG journal protocol).
//
//   auto r = mri::reconstruction_pgd(recon, input, x_star, options);   // L-inf, eps 0.02
//   auto r = mri::reconstruction_pgd(recon, input, x_star, mri::ReconstructionPgdOptions{
//                                    .domain = mri::AttackDomain::image, .ball = attacks::L2Ball{0.3}});
//   recon:  any callable Image -> Image: the perturbed input (y [B, C, H, W] in k-space mode, A^H y
//           [B, H, W] in image mode) to the reconstruction [B, H, W], e.g.
//           [&](const auto& y) { return net.reconstruct(A, y); }. A smoothed network draws fresh noise
//           on every call, so the attack is adaptive with one Monte-Carlo gradient per step (EOT); a
//           different callable (the unsmoothed base model) gives the ICASSP transfer attack.
//   r.input: the perturbed input; r.delta: the perturbation; r.loss: mean MSE(recon, x*) at the start
//           and after every step.
//
// The attack maximizes MSE(recon(input + delta), x*) (mse_channels, the batch's mean) by steepest
// ascent in the chosen norm ball (attacks/norm_balls.hpp: LinfBall, L2Ball, L1Ball) on the real and
// imaginary parts of delta, seen as one real vector per image: L-inf bounds every real and
// imaginary part by eps. The loop is attacks/ascent.hpp's, run once without early stop, returning
// the last iterate. Step size alpha = eps / 3 by default (both SMUG codes), 10 steps; the random
// start is N(0, eps^2) noise projected to the ball (both codes). In k-space mode delta is multiplied by the sampling mask after every update, so
// unsampled entries are never perturbed; in image mode the perturbed x_0 is clamped to
// [-clip, clip] (both channels) after every step, as the ICASSP code does, except that an entry of
// x_0 already outside that box may only move back toward it. The ball holds exactly, the box up to
// the rounding of x_0 + delta.
#pragma once

#include <complex>
#include <cstdint>
#include <optional>
#include <vector>

#include "trustml/attacks/ascent.hpp"
#include "trustml/attacks/norm_balls.hpp"
#include "trustml/autograd/engine.hpp"
#include "trustml/mri/losses.hpp"
#include "trustml/mri/unrolled.hpp"

namespace trustml::mri {

enum class AttackDomain { image, kspace };

template <attacks::NormBall B = attacks::LinfBall>
struct ReconstructionPgdOptions {
  AttackDomain domain = AttackDomain::kspace;
  B ball = {0.02};
  double step_size = 0;  // 0: eps / 3
  int steps = 10;
  bool random_start = true;
  double clip = 1.0;  // image mode: the perturbed x_0 is clamped to [-clip, clip]; 0: no clamp
  std::uint64_t seed = 0;
};

template <class R, class D>
struct ReconstructionAttack {
  Tensor<std::complex<R>, D> input;  // the perturbed input
  Tensor<std::complex<R>, D> delta;
  std::vector<double> loss;  // mean MSE at the start and after each step
};

// `kspace_mask` (k-space mode): the SenseOp's mask, broadcastable to y; ignored in image mode.
template <class Recon, class R, class D, attacks::NormBall B>
ReconstructionAttack<R, D> reconstruction_pgd(Recon&& recon, const Tensor<std::complex<R>, D>& input,
                                              const Tensor<std::complex<R>, D>& x_star,
                                              const ReconstructionPgdOptions<B>& options,
                                              const Tensor<std::complex<R>, D>& kspace_mask = {}) {
  using C = std::complex<R>;
  constexpr const char* op = "mri::reconstruction_pgd";
  const bool kspace = options.domain == AttackDomain::kspace;
  const B& ball = options.ball;
  TRUSTML_CHECK(options.steps >= 0 && options.step_size >= 0, op, "needs steps >= 0 and step_size >= 0, got ",
                options.steps, " and ", options.step_size);
  TRUSTML_CHECK(kspace ? input.dim() == 4 : input.dim() == 3, op, "needs ",
                kspace ? "k-space [B, C, H, W]" : "an image [B, H, W]", " as input, got shape ", input.shape());
  TRUSTML_CHECK(!kspace || kspace_mask.defined(), op, "k-space mode needs the sampling mask");
  // A non-finite entry makes every loss and step NaN, and the "attack" would return garbage.
  for (const auto* t : {&input, &x_star}) {
    const std::int64_t bad = first_nonfinite(*t);
    TRUSTML_CHECK(bad < 0, op, t == &input ? "the input" : "the target x_star", " (shape ", t->shape(),
                  ") holds a non-finite value at element ", bad);
  }
  // The mask on the [B, 2, ...] parts view: [1 or B, 1, 1 or C, H, W].
  const Tensor<R, D> mask = kspace ? unsqueeze(real(kspace_mask), 1) : Tensor<R, D>();
  const Tensor<R, D> base = to_channels(input.detach());
  ball.check(base.shape(), op);
  // Image mode: the box [-clip, clip], widened to [min(x_0, -clip), max(x_0, clip)] per entry, so
  // that clamping into it never moves an entry further from x_0 than the projected delta did.
  Tensor<R, D> lower, upper;
  if (!kspace && options.clip > 0) {
    lower = minimum(base, Tensor<R, D>::full(base.shape(), R(-options.clip)));
    upper = maximum(base, Tensor<R, D>::full(base.shape(), R(options.clip)));
  }
  auto admissible = [&](Tensor<R, D> delta) {
    delta = ball.project(delta);
    if (kspace) return mul(delta, mask);
    // Projected again: (x_0 + delta clamped) - x_0 rounds, and the ball must hold exactly.
    if (options.clip > 0) return ball.project(sub(minimum(maximum(add(base, delta), lower), upper), base));
    return delta;
  };

  ReconstructionAttack<R, D> result;
  // The whole batch is one variable delta [B, 2, ...] with one ball per image, ascending the
  // batch's mean MSE: every image is charged that mean.
  attacks::AscentProblem<R, D> problem{
      .start =
          [&](const std::vector<std::int64_t>&, int) {
            // N(0, eps^2) noise projected to the ball (both SMUG codes).
            if (options.random_start && ball.eps > 0)
              return admissible(scale(Tensor<R, D>::randn(base.shape(), options.seed), R(ball.eps)));
            return Tensor<R, D>::zeros(base.shape());
          },
      .evaluate =
          [&](const Tensor<R, D>& delta, const std::vector<std::int64_t>& live, std::uint64_t, bool gradient) {
            std::optional<NoGradGuard> no_tape;
            if (!gradient) no_tape.emplace();
            Tensor<R, D> leaf = delta.detach();
            leaf.set_requires_grad(gradient);
            const Tensor<C, D> perturbed = add(input.detach(), from_channels(leaf));
            const Tensor<R, D> loss = mse_channels(recon(perturbed), x_star.detach());
            result.loss.push_back(static_cast<double>(loss.item()));
            attacks::Evaluation<R, D> e{.objective = std::vector<double>(live.size(), result.loss.back())};
            if (gradient) e.grad = grad(std::vector{loss}, std::vector{leaf})[0];
            return e;
          },
      .feasible = [&](const Tensor<R, D>& stepped, const std::vector<std::int64_t>&) { return admissible(stepped); }};
  const attacks::AscentOptions ascent{.steps = options.steps,
                                      .step_size = options.step_size > 0 ? options.step_size : ball.eps / 3,
                                      .keep_best = false};
  const Tensor<R, D> delta = attacks::ascend(ball, problem, base.size(0), ascent, op).best;
  result.delta = from_channels(delta);
  result.input = add(input.detach(), result.delta);
  return result;
}

}  // namespace trustml::mri
