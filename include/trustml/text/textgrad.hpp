// trustml/text/textgrad.hpp: TextGrad's attack on one sentence (Hou et al., ICLR 2023,
// arXiv:2212.09254; the optimiser of the official code, UCSB-NLP-Chang/TextGrad, with its flags
// --rand --ste --norm --cw --multi_sample).
//
//   SubstitutionProblem<V, D> p{.original = e(x) [L, d], .candidates = e(s) [L, m, d],
//                               .site_mask = [L], .candidate_mask = [L, m], .label = y,
//                               .budget = k, .log_ratio = r [L, m] (optional)};
//   TextGradResult r = textgrad(victim, query, p, TextGradOptions{...});
//
// victim(e') maps input embeddings [R, L, d] (element type V, device D) to logits [R, C]: a model's
// forward_from_embeddings. query(choice) classifies the discrete sentence that `choice` describes
// (choice[i] = -1 keeps token i, j >= 0 puts candidate j there): the attack's success is decided
// on real text, as the paper re-queries the victim on the detokenised string.
//
// Per restart (up to `restarts`): z ~ U(0, 1) on the allowed sites, projected onto
// {0 <= z <= 1, sum z <= k}; each allowed site's u_i ~ U(0, 1) on its candidates, projected onto
// the simplex. Then for t = 1..T: R straight-through draws (Bernoulli z~, categorical u~), the victim
// on the R relaxed sentences as one batch, J = mean_r hinge_margin_gain + beta fluency(z, u), and
// z <- Proj(z + eta_z / sqrt(t) g_z / |g_z|), u_i <- Proj(u_i + eta_u / sqrt(t) g_ui / |g_ui|)
// (l2-normalised gradients; a zero gradient gives no step). The attack variables are double, the
// victim runs in V. After T steps `final_samples` draws are taken from (z, u); those that change
// more than k sites are dropped, the rest are queried, and the first success with the fewest
// changed sites is returned. Queries count every sentence the victim saw (R per step, one per
// final draw). Draws use Philox streams of `seed`: a run is reproducible bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "trustml/attacks/norm_balls.hpp"
#include "trustml/attacks/simplex.hpp"
#include "trustml/attacks/straight_through.hpp"
#include "trustml/text/substitution.hpp"

namespace trustml::text {

template <class V, class D>
struct SubstitutionProblem {
  Tensor<V, D> original;        // [L, d] embeddings of the sentence's tokens
  Tensor<V, D> candidates;      // [L, m, d] embeddings of each site's candidates
  Tensor<V, D> site_mask;       // [L], 1 where the token may change
  Tensor<V, D> candidate_mask;  // [L, m], 1 where the candidate exists
  std::int64_t label = 0;       // the true class
  double budget = 1;            // k: at most this many changed sites
  Tensor<V, D> log_ratio;       // [L, m] log p(s_ij) - log p(x_i) of a language model; undefined: no fluency term
};

struct TextGradOptions {
  int steps = 20;          // T (5 inside adversarial training)
  int samples = 20;        // R draws per step
  int final_samples = 20;  // draws from the final (z, u)
  int restarts = 10;       // tries from a new random start
  double step_z = 0.8, step_u = 0.8;
  double beta = 0.1;   // weight of the fluency term
  double kappa = 0;    // margin of the hinge
  std::uint64_t seed = 107;
};

struct TextGradResult {
  bool attackable = true;  // false: no allowed site has a candidate (not attacked, no query)
  bool success = false;
  std::vector<std::int64_t> choice;  // per site: -1 kept, else the candidate put there
  std::int64_t changed = 0;          // sites changed in `choice`
  std::int64_t queries = 0;          // sentences the victim classified
  int restarts_used = 0;
};

namespace detail {
template <class V, class D>
void check_problem(const SubstitutionProblem<V, D>& p, const TextGradOptions& o) {
  constexpr const char* op = "text::textgrad";
  TRUSTML_CHECK(p.original.dim() == 2 && p.candidates.dim() == 3 && p.candidates.size(0) == p.original.size(0) &&
                    p.candidates.size(2) == p.original.size(1),
                op, "needs original embeddings [L, d] and candidates [L, m, d], got ", p.original.shape(), " and ",
                p.candidates.shape());
  const std::int64_t L = p.original.size(0), m = p.candidates.size(1);
  const bool masks_fit = p.site_mask.shape() == Shape{L} && p.candidate_mask.shape() == Shape{L, m};
  const bool ratios_fit = !p.log_ratio.defined() || p.log_ratio.shape() == Shape{L, m};
  TRUSTML_CHECK(masks_fit, op,
                "needs a site mask [", L, "] and a candidate mask [", L, ", ", m, "], got ", p.site_mask.shape(),
                " and ", p.candidate_mask.shape());
  TRUSTML_CHECK(ratios_fit, op, "log-ratios must be [", L, ", ", m,
                "], got ", p.log_ratio.shape());
  TRUSTML_CHECK(p.budget >= 1 && p.budget <= static_cast<double>(L), op, "the budget k must be in [1, ", L,
                "] sites, got ", p.budget, " (a sentence whose budget is below one word is not attackable)");
  TRUSTML_CHECK(o.steps >= 1 && o.samples >= 1 && o.final_samples >= 1 && o.restarts >= 1, op,
                "steps, samples, final samples and restarts must be >= 1");
  TRUSTML_CHECK(o.step_z > 0 && o.step_u > 0 && o.beta >= 0, op, "step sizes must be > 0 and beta >= 0");
}
}  // namespace detail

// The sites that can change: allowed by the site mask and with at least one candidate.
template <class V, class D>
Tensor<double, D> attackable_sites(const SubstitutionProblem<V, D>& p) {
  NoGradGuard no_grad;
  auto has_candidate = step(sum(cast<double>(p.candidate_mask), {1}));
  return mul(cast<double>(p.site_mask), has_candidate);
}

template <class V, class D, class Victim>
TextGradResult textgrad(const Victim& victim, const std::function<std::int64_t(const std::vector<std::int64_t>&)>& query,
                        const SubstitutionProblem<V, D>& p, const TextGradOptions& o = {}) {
  detail::check_problem(p, o);
  using Td = Tensor<double, D>;
  const std::int64_t L = p.original.size(0), m = p.candidates.size(1);
  const std::int64_t R = o.samples;
  TextGradResult result;
  const Td sites = attackable_sites(p);
  if (sum(sites).item() == 0) {  // no site with a candidate: reported, not attacked
    result.attackable = false;
    return result;
  }
  const Td candidate_mask = mul(cast<double>(p.candidate_mask), unsqueeze(sites, 1));
  const Td original = cast<double>(p.original), candidates = cast<double>(p.candidates);
  const Td log_ratio = p.log_ratio.defined() ? cast<double>(p.log_ratio) : Td::zeros(Shape{L, m});
  const attacks::CappedSimplex site_set{.k = p.budget, .at_most = true};
  const attacks::Simplex candidate_set{};
  // Rows of u whose site cannot change keep one dummy entry so that the simplex has a point; their
  // mass never reaches the sentence (z is 0 there).
  std::vector<double> first_entry(static_cast<std::size_t>(L * m), 0.0);
  for (std::int64_t i = 0; i < L; ++i) first_entry[static_cast<std::size_t>(i * m)] = 1;
  const Td u_mask = maximum(candidate_mask, mul(add_scalar(neg(unsqueeze(sites, 1)), 1.0),
                                                Td::from_vector(first_entry, Shape{L, m})));
  // Uniforms come from the Philox stream of o.seed (starts) and of o.seed xor a constant per kind of
  // draw (sites, candidates, final sites, final candidates), at offsets that only grow: no two draws
  // of a run share a uniform, and a run is the same for the same seed.
  std::uint64_t draw = 0;
  for (int restart = 0; restart < o.restarts; ++restart) {
    result.restarts_used = restart + 1;
    Td z, u;
    {
      NoGradGuard no_grad;
      z = reshape(site_set.project(reshape(mul(Td::rand(Shape{L}, o.seed, draw), sites), Shape{1, L}),
                                   reshape(sites, Shape{1, L})),
                  Shape{L});
      draw += static_cast<std::uint64_t>(L);
      u = candidate_set.project(mul(Td::rand(Shape{L, m}, o.seed, draw), u_mask), u_mask);
      draw += static_cast<std::uint64_t>(L * m);
    }
    for (int t = 1; t <= o.steps; ++t) {
      z.set_requires_grad();
      u.set_requires_grad();
      auto zr = expand(unsqueeze(z, 0), Shape{R, L});
      auto ur = expand(unsqueeze(u, 0), Shape{R, L, m});
      auto z_hard = attacks::bernoulli_sample(zr, o.seed ^ 0x5a17e5ull, draw);
      auto u_hard = attacks::categorical_sample(ur, o.seed ^ 0xca7e60ull, draw);
      draw += static_cast<std::uint64_t>(R * L * m);
      auto e = substituted_embeddings(z_hard, u_hard, original, candidates);
      auto logits = cast<double>(victim(cast<V>(e)));
      result.queries += R;
      auto objective = mean(hinge_margin_gain(logits, p.label, o.kappa));
      if (o.beta > 0) objective = add(objective, scale(mean(fluency(unsqueeze(z, 0), unsqueeze(u, 0), log_ratio)), o.beta));
      objective.backward();
      NoGradGuard no_grad;
      const double decay = 1.0 / std::sqrt(static_cast<double>(t));
      // The l2-normalised steps are L2Ball's steepest ascent: z as one row, u a row per site.
      const Td gz = reshape(mul(z.grad(), sites), Shape{1, L}), gu = mul(u.grad(), candidate_mask);
      const Td z_next = add(reshape(z.detach(), Shape{1, L}), attacks::L2Ball{}.steepest_ascent(gz, o.step_z * decay));
      const Td u_next = add(u.detach(), attacks::L2Ball{}.steepest_ascent(gu, o.step_u * decay));
      z = reshape(site_set.project(z_next, reshape(sites, Shape{1, L})), Shape{L});
      u = candidate_set.project(mul(u_next, u_mask), u_mask);
    }
    // Final draws, each within the budget, each classified on its real text.
    NoGradGuard no_grad;
    const auto z_final = attacks::bernoulli_sample(expand(unsqueeze(z, 0), Shape{o.final_samples, L}),
                                                   o.seed ^ 0xf17a1ull, draw)
                             .to_vector();
    const auto u_final = attacks::categorical_sample(expand(unsqueeze(u, 0), Shape{o.final_samples, L, m}),
                                                     o.seed ^ 0xf17a2ull, draw)
                             .to_vector();
    draw += static_cast<std::uint64_t>(o.final_samples * L * m);
    for (int s = 0; s < o.final_samples; ++s) {
      std::vector<std::int64_t> choice(static_cast<std::size_t>(L), -1);
      std::int64_t changed = 0;
      for (std::int64_t i = 0; i < L; ++i) {
        if (z_final[static_cast<std::size_t>(s * L + i)] == 0) continue;
        for (std::int64_t j = 0; j < m; ++j)
          if (u_final[static_cast<std::size_t>((s * L + i) * m + j)] == 1) choice[static_cast<std::size_t>(i)] = j;
        ++changed;
      }
      if (changed == 0 || static_cast<double>(changed) > p.budget) continue;
      ++result.queries;
      if (query(choice) != p.label && (!result.success || changed < result.changed)) {
        result.success = true;
        result.choice = choice;
        result.changed = changed;
      }
    }
    if (result.success) return result;
  }
  return result;
}

}  // namespace trustml::text
