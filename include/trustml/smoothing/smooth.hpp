// trustml/smoothing/smooth.hpp: randomized smoothing with Gaussian noise (Cohen, Rosenfeld and Kolter,
// "Certified adversarial robustness via randomized smoothing", ICML 2019, arXiv:1902.02918; see
// docs/papers.md). The smoothed classifier g(x) is the class the base
// classifier f returns most often on x + N(0, sigma^2 I); CERTIFY gives an L2 radius within which g
// provably does not change, except with probability alpha over the sampling.
//
//   smoothing::GaussianSmoothing<float> smooth(model, /*classes=*/10, {.sigma = 0.25, .batch_size = 400});
//   auto cert = smooth.certify(image, /*n0=*/100, /*n=*/100000, /*alpha=*/0.001, /*index=*/i);
//   if (cert.label != smoothing::abstain) ... cert.radius ...    // sigma * Phi^-1(p_lower)
//   auto pred = smooth.predict(image, /*n=*/1000, 0.001, i);    // pred.label, pred.p_value
//   auto table = smoothing::certified_accuracy(certificates, labels, {0, 0.25, 0.5});
//
// `image` is one input without a batch dimension ([1, 28, 28]); the base classifier (any function
// from a batch [B, ...] to logits [B, classes], or a module, which then runs in eval mode without
// recording) sees batches of at most batch_size noisy copies on the input's device.
//
// Noise: draw k (0-based within one sampling call) of input `index` in phase `phase` is
// randn(seed = key, offset = k * numel(x)) with key = noise_key(options.seed, index, phase), a
// Philox hash. It is a pure function of (seed, index, phase, k), so counts do not depend on the batch
// size or the device, and CERTIFY's selection (n0) and estimation (n) samples are independent
// (different phases), as the bound requires: a class guessed from the very samples that count it
// biases n_A upwards. The decision rules are pure functions of the counts (predict_from_counts,
// certify_from_counts), testable without sampling.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/smoothing/statistics.hpp"

namespace trustml::smoothing {

// The label of a smoothed classifier that declines to decide.
inline constexpr std::int64_t abstain = -1;

struct SmoothingOptions {
  double sigma = 0.25;            // noise standard deviation, in the units of the input
  std::int64_t batch_size = 400;  // noisy copies per base-classifier call
  std::uint64_t seed = 0;         // with the input index, determines every noise draw
};

struct Prediction {
  std::int64_t label;                // the top class, or abstain
  double p_value;                    // two-sided binomial test of the top two counts against 1/2
  std::vector<std::int64_t> counts;  // per class
};

struct Certificate {
  std::int64_t label;    // the guessed class, or abstain
  double radius;         // certified L2 radius (0 when abstaining)
  double p_lower;        // one-sided Clopper-Pearson lower bound on P(f(x + noise) = label)
  std::int64_t count;    // n_A: estimation samples classified as the guess
  std::int64_t samples;  // n
};

// Which sampling a draw belongs to: each phase has its own noise streams.
enum class Phase : std::uint64_t { sample = 0, predict = 1, selection = 2, estimation = 3 };

// The randn seed of the noise of input `index` in `phase` (a Philox hash of the three).
inline std::uint64_t noise_key(std::uint64_t seed, std::uint64_t index, Phase phase) {
  const auto r = random::philox4x32(index, static_cast<std::uint64_t>(phase), seed ^ 0x536D6F6F7468696Eull);
  return (static_cast<std::uint64_t>(r.v[1]) << 32) | r.v[0];
}

namespace detail {
inline void check_sigma(const char* op, double sigma) {
  TRUSTML_CHECK(sigma > 0 && std::isfinite(sigma), op, "sigma must be positive and finite, got ", sigma);
}
}  // namespace detail

// PREDICT's decision from class counts: the top two counts c1 >= c2 (the lower index wins a tie in
// c1, which then has p = 1 and abstains); the label when the two-sided binomial test of c1 out of
// c1 + c2 against 1/2 has p-value <= alpha, abstain otherwise.
inline Prediction predict_from_counts(std::vector<std::int64_t> counts, double alpha) {
  constexpr const char* op = "smoothing::predict_from_counts";
  detail::check_alpha(op, alpha);
  TRUSTML_CHECK(!counts.empty(), op, "needs the count of at least one class");
  std::int64_t top = 0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    TRUSTML_CHECK(counts[c] >= 0, op, "counts must be non-negative, got ", counts[c], " for class ", c);
    if (counts[c] > counts[top]) top = static_cast<std::int64_t>(c);
  }
  std::int64_t second = 0;
  for (std::size_t c = 0; c < counts.size(); ++c)
    if (static_cast<std::int64_t>(c) != top) second = std::max(second, counts[c]);
  const std::int64_t first = counts[top];
  const double p = first + second == 0 ? 1.0 : binomial_two_sided_p_value(first, first + second);
  return {p > alpha ? abstain : top, p, std::move(counts)};
}

// CERTIFY's decision: n_A = count of n estimation samples agree with the guess; abstain (radius 0)
// when the (1 - alpha) lower bound p_lower on P(f = guess) is below 1/2, else radius
// sigma * Phi^-1(p_lower).
inline Certificate certify_from_counts(std::int64_t guess, std::int64_t count, std::int64_t n, double alpha,
                                       double sigma) {
  constexpr const char* op = "smoothing::certify_from_counts";
  TRUSTML_CHECK(guess >= 0, op, "the guessed class must be non-negative, got ", guess);
  detail::check_binomial(op, count, n);
  detail::check_alpha(op, alpha);
  detail::check_sigma(op, sigma);
  const double p_lower = clopper_pearson_lower(count, n, alpha);
  if (p_lower < 0.5) return {abstain, 0.0, p_lower, count, n};
  return {guess, sigma * normal_quantile(p_lower), p_lower, count, n};
}

// The smoothed classifier g(x) = argmax_c P(f(x + e) = c), e ~ N(0, sigma^2 I), estimated by sampling.
template <class T = float, class D = Cpu>
class GaussianSmoothing {
  static_assert(std::is_floating_point_v<T>, "GaussianSmoothing needs a real floating-point tensor type");

 public:
  using TensorT = Tensor<T, D>;
  using Classifier = std::function<TensorT(const TensorT&)>;  // batch [B, ...] -> logits [B, classes]

  GaussianSmoothing(Classifier base, std::int64_t classes, SmoothingOptions options = {})
      : base_(std::move(base)), classes_(classes), options_(options) {
    constexpr const char* op = "smoothing::GaussianSmoothing";
    TRUSTML_CHECK(static_cast<bool>(base_), op, "needs a base classifier");
    TRUSTML_CHECK(classes > 0, op, "the number of classes must be positive, got ", classes);
    detail::check_sigma(op, options.sigma);
    TRUSTML_CHECK(options.batch_size > 0, op, "batch_size must be positive, got ", options.batch_size);
  }
  // A module as the base classifier: each call runs it in eval mode (BatchNorm running statistics,
  // no Dropout) and restores its mode, even when it throws. The module must outlive this object.
  GaussianSmoothing(nn::Module<T, D>& model, std::int64_t classes, SmoothingOptions options = {})
      : GaussianSmoothing(eval_mode(model), classes, options) {}

  // Class counts of f over n noisy copies of x (the streams of (options.seed, index, phase)).
  std::vector<std::int64_t> sample_counts(const TensorT& x, std::int64_t n, std::uint64_t index = 0,
                                          Phase phase = Phase::sample) const {
    constexpr const char* op = "smoothing::GaussianSmoothing::sample_counts";
    TRUSTML_CHECK(n > 0, op, "the number of samples n must be positive, got ", n);
    check_input(op, x);
    NoGradGuard no_grad;
    const std::uint64_t key = noise_key(options_.seed, index, phase);
    std::vector<std::int64_t> counts(static_cast<std::size_t>(classes_), 0);
    for (std::int64_t first = 0; first < n; first += options_.batch_size) {
      const std::int64_t b = std::min(options_.batch_size, n - first);
      const TensorT logits = base_(noisy_batch(x, key, first, b));
      TRUSTML_CHECK(logits.defined(), op, "the base classifier returned an undefined tensor");
      TRUSTML_CHECK(logits.dim() == 2 && logits.size(0) == b && logits.size(1) == classes_, op,
                    "the base classifier must return logits [", b, ", ", classes_, "] for a batch of ", b,
                    " noisy inputs, got shape ", logits.shape());
      for (const std::int64_t c : argmax(logits, 1).to_vector()) {
        TRUSTML_CHECK(c >= 0 && c < classes_, op, "class index ", c, " is outside [0, ", classes_, ")");
        ++counts[static_cast<std::size_t>(c)];
      }
    }
    return counts;
  }

  // PREDICT(x, n, alpha): the top class when it beats the runner-up at level alpha, else abstain;
  // it differs from g(x) with probability at most alpha.
  Prediction predict(const TensorT& x, std::int64_t n, double alpha, std::uint64_t index = 0) const {
    constexpr const char* op = "smoothing::GaussianSmoothing::predict";
    detail::check_alpha(op, alpha);
    TRUSTML_CHECK(n > 0, op, "the number of samples n must be positive, got ", n);
    check_input(op, x);
    return predict_from_counts(sample_counts(x, n, index, Phase::predict), alpha);
  }

  // CERTIFY(x, n0, n, alpha): guess the class from n0 samples, bound its probability from n fresh
  // ones; the returned radius is sound with probability at least 1 - alpha. n0 <= n: the selection
  // is meant to be the cheap step.
  Certificate certify(const TensorT& x, std::int64_t n0, std::int64_t n, double alpha, std::uint64_t index = 0) const {
    constexpr const char* op = "smoothing::GaussianSmoothing::certify";
    TRUSTML_CHECK(n0 > 0, op, "the number of selection samples n0 must be positive, got ", n0);
    TRUSTML_CHECK(n > 0, op, "the number of estimation samples n must be positive, got ", n);
    TRUSTML_CHECK(n0 <= n, op, "n0 (", n0, ") must not exceed n (", n, ")");
    detail::check_alpha(op, alpha);
    check_input(op, x);
    const auto selection = sample_counts(x, n0, index, Phase::selection);
    const auto guess =
        static_cast<std::int64_t>(std::max_element(selection.begin(), selection.end()) - selection.begin());
    const auto estimation = sample_counts(x, n, index, Phase::estimation);
    return certify_from_counts(guess, estimation[static_cast<std::size_t>(guess)], n, alpha, options_.sigma);
  }

  // Copies first .. first + count - 1 of the noise stream `key`: [count, ...x.shape] = x + sigma z.
  // It records when gradients are on (expectation-over-transformation attacks differentiate it).
  TensorT noisy_batch(const TensorT& x, std::uint64_t key, std::int64_t first, std::int64_t count) const {
    check_shape("smoothing::GaussianSmoothing::noisy_batch", x);
    TRUSTML_CHECK(first >= 0 && count > 0, "smoothing::GaussianSmoothing::noisy_batch",
                  "needs first >= 0 and count > 0, got first = ", first, ", count = ", count);
    Shape batch;
    batch.rank = x.dim() + 1;
    batch.dims[0] = count;
    for (int i = 0; i < x.dim(); ++i) batch.dims[i + 1] = x.size(i);
    Shape one = batch;
    one.dims[0] = 1;
    // Element j of draw k is element k * numel + j of the stream, whatever the batch boundaries.
    const auto noise =
        TensorT::randn(batch, key, static_cast<std::uint64_t>(first) * static_cast<std::uint64_t>(x.numel()));
    return add(reshape(x, one), scale(noise, static_cast<T>(options_.sigma)));
  }

  std::int64_t classes() const { return classes_; }
  const SmoothingOptions& options() const { return options_; }
  const Classifier& base() const { return base_; }

 private:
  static Classifier eval_mode(nn::Module<T, D>& model) {
    return [&model](const TensorT& batch) {
      nn::EvalModeGuard<T, D> eval(model);
      NoGradGuard no_grad;
      return model(batch);
    };
  }

  static void check_shape(const char* op, const TensorT& x) {
    TRUSTML_CHECK(x.defined() && x.numel() > 0, op, "needs a non-empty input");
    TRUSTML_CHECK(x.dim() < kMaxRank, op, "the input has rank ", x.dim(),
                  "; with the batch dimension it must fit rank ", kMaxRank);
  }
  // A NaN input would reach the classifier as NaN logits, whose argmax is an arbitrary class that
  // CERTIFY would then certify: refused instead.
  static void check_input(const char* op, const TensorT& x) {
    check_shape(op, x);
    const std::int64_t bad = first_nonfinite(x);
    TRUSTML_CHECK(bad < 0, op, "the input (shape ", x.shape(), ") holds a non-finite value (",
                  x.to_vector()[static_cast<std::size_t>(bad < 0 ? 0 : bad)], ") at element ", bad);
  }

  Classifier base_;
  std::int64_t classes_;
  SmoothingOptions options_;
};

// Approximate certified accuracy (Cohen et al.): at each radius r, the fraction of inputs whose
// certificate is correct AND has radius >= r. Abstentions count as wrong.
struct CertifiedAccuracy {
  std::vector<double> radii, accuracy;  // accuracy[i] at radii[i]
  double abstain_rate = 0;              // fraction of abstentions
  double clean_accuracy = 0;            // fraction correct (at radius 0)
};

inline CertifiedAccuracy certified_accuracy(const std::vector<Certificate>& certificates,
                                            const std::vector<std::int64_t>& labels, const std::vector<double>& radii) {
  constexpr const char* op = "smoothing::certified_accuracy";
  TRUSTML_CHECK(!certificates.empty(), op, "needs at least one certificate");
  TRUSTML_CHECK(certificates.size() == labels.size(), op, "needs one label per certificate, got ", labels.size(),
                " labels for ", certificates.size(), " certificates");
  for (double r : radii) TRUSTML_CHECK(r >= 0, op, "radii must be non-negative, got ", r);
  CertifiedAccuracy out;
  out.radii = radii;
  out.accuracy.assign(radii.size(), 0.0);
  const double total = static_cast<double>(certificates.size());
  std::int64_t abstained = 0, correct = 0;
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    const Certificate& c = certificates[i];
    TRUSTML_CHECK(labels[i] >= 0, op, "labels must be non-negative, got ", labels[i], " at ", i);
    if (c.label == abstain) {
      ++abstained;
      continue;
    }
    if (c.label != labels[i]) continue;
    ++correct;
    for (std::size_t j = 0; j < radii.size(); ++j) out.accuracy[j] += c.radius >= radii[j] ? 1.0 : 0.0;
  }
  for (double& a : out.accuracy) a /= total;
  out.abstain_rate = static_cast<double>(abstained) / total;
  out.clean_accuracy = static_cast<double>(correct) / total;
  return out;
}

}  // namespace trustml::smoothing
