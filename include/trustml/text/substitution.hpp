// trustml/text/substitution.hpp: TextGrad's continuous relaxation of word substitution
// (Hou et al., "TextGrad: Advancing Robustness Evaluation in NLP by Gradient-Driven Optimization",
// ICLR 2023).
//
// A sentence of L tokens has embeddings e(x_i), [L, d]; site i has m candidate substitutes with
// embeddings e(s_ij), [L, m, d] (unused candidates may hold any vector: their probability is held
// at 0 by a mask). The attack's variables are relaxed: z_i in [0, 1], the probability that site i
// is changed (at most k sites: attacks::CappedSimplex{.k = k, .at_most = true}), and u_i, a
// distribution over site i's candidates (attacks::Simplex, masked). The victim reads
//
//     e'_i = (1 - z_i) e(x_i) + z_i sum_j u_ij e(s_ij),
//
// which is the embedded sentence with those substitutions when z is binary and each u_i one-hot
// (draws from attacks/straight_through.hpp), and is differentiable in z and u otherwise.
//
//   substituted_embeddings(z, u, original, candidates)   e' for R draws: z [R, L], u [R, L, m],
//                                       original [L, d], candidates [L, m, d] -> [R, L, d]
//   hinge_margin_gain(logits, label, kappa)   -max(Z_y - max_{c != y} Z_c + kappa, 0) per row of
//                                       logits [R, C]: TextGrad's (negated) C&W attack loss, 0 once
//                                       a draw is misclassified by kappa
//   fluency(z, u, log_ratio)            F = mean_i z_i sum_j u_ij r_ij per draw, [R], with
//                                       r_ij = log p(s_ij | x) - log p(x_i | x) [L, m] from a
//                                       language model: TextGrad's term that favours candidates the
//                                       model finds at least as likely as the original word
//
// The attack maximises mean_r hinge_margin_gain(victim(e'^(r)), y) + beta fluency(z, u) over the
// draws r (beta = 0.1 in the paper's code); all three are compositions of differentiable ops.
#pragma once

#include <cstdint>

#include "trustml/attacks/objectives.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"

namespace trustml::text {

template <class T, class D>
Tensor<T, D> substituted_embeddings(const Tensor<T, D>& z, const Tensor<T, D>& u, const Tensor<T, D>& original,
                                    const Tensor<T, D>& candidates) {
  constexpr const char* op = "text::substituted_embeddings";
  TRUSTML_CHECK(original.dim() == 2 && candidates.dim() == 3, op,
                "needs original embeddings [L, d] and candidate embeddings [L, m, d], got ", original.shape(), " and ",
                candidates.shape());
  const std::int64_t L = original.size(0), d = original.size(1), m = candidates.size(1);
  TRUSTML_CHECK(candidates.size(0) == L && candidates.size(2) == d, op, "candidate embeddings ", candidates.shape(),
                " do not match the sentence's ", original.shape(), " (expected [", L, ", m, ", d, "])");
  TRUSTML_CHECK(z.dim() == 2 && z.size(1) == L && u.dim() == 3 && u.size(0) == z.size(0) && u.size(1) == L &&
                    u.size(2) == m,
                op, "needs site probabilities z [R, ", L, "] and candidate distributions u [R, ", L, ", ", m,
                "], got ", z.shape(), " and ", u.shape());
  // sum_j u_ij e(s_ij): one [1, m] x [m, d] product per draw and site.
  auto mixed = reshape(matmul(unsqueeze(u, 2), candidates), Shape{z.size(0), L, d});
  // Written as (1 - z) e + z mixed, not e + z (mixed - e): for binary z and one-hot u it is then
  // exactly the embeddings of the substituted sentence.
  auto zc = unsqueeze(z, 2);
  return add(mul(add_scalar(neg(zc), T(1)), original), mul(zc, mixed));
}

template <class T, class D>
Tensor<T, D> hinge_margin_gain(const Tensor<T, D>& logits, std::int64_t label, double kappa = 0) {
  constexpr const char* op = "text::hinge_margin_gain";
  TRUSTML_CHECK(logits.dim() == 2 && logits.size(1) >= 2, op, "needs logits [R, C] with C >= 2, got ",
                logits.shape());
  TRUSTML_CHECK(label >= 0 && label < logits.size(1), op, "label ", label, " is outside the ", logits.size(1),
                " classes");
  auto labels = Tensor<std::int64_t, D>::full(Shape{logits.size(0)}, label);
  // margin_objective is max_{c != y} Z_c - Z_y.
  auto margin = attacks::margin_objective<T, D>()(logits, labels);
  return neg(relu(add_scalar(neg(margin), T(kappa))));
}

template <class T, class D>
Tensor<T, D> fluency(const Tensor<T, D>& z, const Tensor<T, D>& u, const Tensor<T, D>& log_ratio) {
  constexpr const char* op = "text::fluency";
  TRUSTML_CHECK(z.dim() == 2 && u.dim() == 3 && u.size(0) == z.size(0) && u.size(1) == z.size(1) &&
                    log_ratio.dim() == 2 && log_ratio.size(0) == u.size(1) && log_ratio.size(1) == u.size(2),
                op, "needs z [R, L], u [R, L, m] and log-ratios [L, m], got ", z.shape(), ", ", u.shape(), " and ",
                log_ratio.shape());
  return mean(mul(z, sum(mul(u, log_ratio), {2})), {1});
}

}  // namespace trustml::text
