// trustml/attacks/straight_through.hpp: discrete draws from relaxed variables whose gradients pass
// straight through to those variables (the straight-through estimator, Bengio et al., 2013).
//
// The relaxed discrete attacks (TextGrad, UnlearnDiff, CLAWSAT) ascend over probabilities (a site's
// chance to be changed, a distribution over its substitutes) but evaluate the victim on discrete
// draws from them. Each draw here returns the hard sample in the forward pass and, in the backward
// pass, hands the upstream gradient to the probabilities clipped to [-1, 1] (`straight_through`,
// ops/elementwise.hpp: TextGrad's hardtanh on the gradient).
//
//   bernoulli_sample(z, seed, offset)     1 where z > r, else 0, with r uniform in (0, 1]: one
//                                         Bernoulli(z) draw per element (z in [0, 1])
//   categorical_sample(u, seed, offset)   one-hot rows along the last dim: row i picks the first j
//                                         with u_i1 + ... + u_ij > r_i (u_i1 + ... + u_im), one
//                                         uniform r_i per row, so a row need not sum to 1 and a zero
//                                         entry (a masked candidate) is never drawn; a row of zeros
//                                         is an error naming the row
//
// The uniforms are elements offset, offset + 1, ... of the Philox stream (seed, 0), as
// Tensor::rand draws them, element i (Bernoulli) or row i (categorical): the same seed gives the
// same draws on every device. Categorical rows are drawn on the host (the rows are short: a site's
// candidates), so their running sums are exact left-to-right sums on every device.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/ops/elementwise.hpp"

namespace trustml::attacks {

template <ops::RealFloating T, class D>
Tensor<T, D> bernoulli_sample(const Tensor<T, D>& z, std::uint64_t seed, std::uint64_t offset = 0) {
  Tensor<T, D> hard;
  {
    NoGradGuard no_grad;
    hard = step(sub(z.detach(), Tensor<T, D>::rand(z.shape(), seed, offset)));
  }
  return straight_through(z, hard);
}

template <ops::RealFloating T, class D>
Tensor<T, D> categorical_sample(const Tensor<T, D>& u, std::uint64_t seed, std::uint64_t offset = 0) {
  constexpr const char* op = "attacks::categorical_sample";
  TRUSTML_CHECK(u.dim() >= 1 && u.numel() > 0, op, "needs a non-empty tensor of rows [..., m], got ", u.shape());
  const std::int64_t m = u.size(-1), rows = u.numel() / m;
  const auto p = u.detach().contiguous().to_vector();
  std::vector<T> hard(p.size(), T(0));
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* row = p.data() + i * m;
    double total = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      TRUSTML_CHECK(row[j] >= 0, op, "probabilities must be >= 0; row ", i, " of ", u.shape(), " has ", row[j],
                    " at ", j);
      total += static_cast<double>(row[j]);
    }
    TRUSTML_CHECK(total > 0 && std::isfinite(total), op, "row ", i, " of ", u.shape(),
                  " has no positive finite mass (sum ", total, "): nothing to draw");
    const double target = random::uniform(seed, 0, offset + static_cast<std::uint64_t>(i)) * total;
    // The first j whose running sum exceeds the target; a target that rounding put at the total
    // takes the last positive entry.
    std::int64_t pick = -1;
    double running = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      if (row[j] <= 0) continue;
      pick = j;
      running += static_cast<double>(row[j]);
      if (running > target) break;
    }
    hard[static_cast<std::size_t>(i * m + pick)] = T(1);
  }
  return straight_through(u, Tensor<T, D>::from_vector(hard, u.shape()));
}

}  // namespace trustml::attacks
