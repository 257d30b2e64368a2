// trustml/smoothing/statistics.hpp: the statistics of randomized smoothing in double precision,
// without external dependencies: the normal CDF and quantile, the regularized incomplete beta
// function and its inverse, one-sided Clopper-Pearson bounds, the two-sided binomial test against
// p = 1/2 and the certified radius of Cohen et al., arXiv:1902.02918 (docs/papers.md).
//
//   using namespace trustml::smoothing;
//   double p = clopper_pearson_lower(99000, 100000, 0.001);  // 0.988989: P(Bin(n, p) >= 99000) = 0.001
//   double r = certified_radius(p, 0.25);                    // 0.25 * Phi^-1(p) = 0.25 * 2.29000
//   double q = binomial_two_sided_p_value(550, 1000);        // 0.00173 (scipy.stats.binomtest)
//
// Accuracy: normal_quantile is within a few ulps (Halley steps on erfc after Acklam's rational
// approximation, and the upper half by symmetry so that 1 - p is exact); the incomplete beta
// function is accurate to about 1e-14 relative for a, b ~ 1e4 and 1e-12 for a, b ~ 1e6 (its
// x^a (1-x)^b / B(a, b) prefactor is formed in long double: its lgamma terms reach 1e7, where a
// double's rounding alone would be 1e-9); beta_quantile solves I_x(a, b) = p by Newton steps kept
// inside a bisection bracket, to ~1e-15 absolute for the Clopper-Pearson bounds of n <= 1e6.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "trustml/core/config.hpp"

namespace trustml::smoothing {

// Phi(z) = P(N(0, 1) <= z); erfc keeps the lower tail relatively accurate down to 1e-308.
inline double normal_cdf(double z) { return 0.5 * std::erfc(-z * 0.70710678118654752440); }

// Phi^-1(p) for p in (0, 1).
inline double normal_quantile(double p) {
  TRUSTML_CHECK(p > 0 && p < 1, "smoothing::normal_quantile", "p must be in (0, 1), got ", p);
  // Work in the lower half: for p >= 1/2, 1 - p is exact (Sterbenz), and Phi(x) - p below would
  // lose the digits of 1 - p near 1.
  if (p > 0.5) return -normal_quantile(1.0 - p);
  // Acklam's rational approximation (relative error 1.15e-9), central region and lower tail.
  constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                          1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
                          -1.328068155288572e+01};
  constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                          -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // Halley steps on Phi(x) = p: one takes 1e-9 to full precision; the second is a safety margin.
  // Below p ~ 1e-300 the density underflows and Acklam's 1e-9 is kept.
  for (int it = 0; it < 2; ++it) {
    const double density = 0.39894228040143267794 * std::exp(-0.5 * x * x);
    if (!(density > 0) || !std::isfinite(density)) break;
    const double u = (normal_cdf(x) - p) / density;
    x -= u / (1 + 0.5 * x * u);
  }
  return x;
}

namespace detail {
// log(x^a (1-x)^b / B(a, b)) in long double: the three lgamma terms each reach ~1e7 for a, b ~ 1e6,
// and the difference is what matters.
inline long double log_inverse_beta(double a, double b) {
  using L = long double;
  return std::lgamma(static_cast<L>(a) + static_cast<L>(b)) - std::lgamma(static_cast<L>(a)) -
         std::lgamma(static_cast<L>(b));
}
inline long double log_beta_prefactor(double x, double a, double b) {
  using L = long double;
  return static_cast<L>(a) * std::log(static_cast<L>(x)) + static_cast<L>(b) * std::log1p(-static_cast<L>(x)) +
         log_inverse_beta(a, b);
}

// The continued fraction of I_x(a, b) (x^a (1-x)^b / (a B(a, b)) times it) by the modified Lentz
// method. It converges fast for x < (a+1)/(a+b+2), in O(sqrt(max(a, b))) terms.
inline double beta_continued_fraction(double x, double a, double b) {
  constexpr double tiny = 1e-300, eps = 4e-16;  // two ulps of 1
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  const std::int64_t max_terms = 1000 + static_cast<std::int64_t>(20 * std::sqrt(std::max(a, b)));
  for (std::int64_t m = 1; m <= max_terms; ++m) {
    const double m2 = 2.0 * static_cast<double>(m), md = static_cast<double>(m);
    // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double aa = md * (b - md) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    aa = -(a + md) * (qab + md) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1) <= eps) return h;
  }
  TRUSTML_CHECK(false, "smoothing::regularized_incomplete_beta", "the continued fraction did not converge for x = ", x,
                ", a = ", a, ", b = ", b);
  return h;
}

// {I_x(a, b), 1 - I_x(a, b)}, each accurate in its own tail: the one the continued fraction
// computes is relatively accurate, the other is 1 minus it.
inline std::pair<double, double> incomplete_beta_pair(double x, double a, double b) {
  if (x <= 0) return {0.0, 1.0};
  if (x >= 1) return {1.0, 0.0};
  if (x < (a + 1) / (a + b + 2)) {
    const double v = static_cast<double>(std::exp(log_beta_prefactor(x, a, b))) / a * beta_continued_fraction(x, a, b);
    return {v, 1 - v};
  }
  const double y = 1 - x;
  const double w = static_cast<double>(std::exp(log_beta_prefactor(y, b, a))) / b * beta_continued_fraction(y, b, a);
  return {1 - w, w};
}

inline void check_beta_parameters(const char* op, double a, double b) {
  TRUSTML_CHECK(a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b), op,
                "shape parameters must be positive and finite, got a = ", a, ", b = ", b);
}

inline void check_binomial(const char* op, std::int64_t successes, std::int64_t trials) {
  TRUSTML_CHECK(trials > 0, op, "trials must be positive, got ", trials);
  TRUSTML_CHECK(successes >= 0 && successes <= trials, op, "successes must be in [0, trials = ", trials, "], got ",
                successes);
}

inline void check_alpha(const char* op, double alpha) {
  TRUSTML_CHECK(alpha > 0 && alpha < 1, op, "alpha must be in (0, 1), got ", alpha);
}
}  // namespace detail

// I_x(a, b) = P(Beta(a, b) <= x) for x in [0, 1], a, b > 0.
inline double regularized_incomplete_beta(double x, double a, double b) {
  detail::check_beta_parameters("smoothing::regularized_incomplete_beta", a, b);
  TRUSTML_CHECK(x >= 0 && x <= 1, "smoothing::regularized_incomplete_beta", "x must be in [0, 1], got ", x);
  return detail::incomplete_beta_pair(x, a, b).first;
}

// The p-quantile of Beta(a, b): the x in [0, 1] with I_x(a, b) = p, to about 1e-15 relative in x
// (absolute 1e-13 or better near 1).
inline double beta_quantile(double p, double a, double b) {
  detail::check_beta_parameters("smoothing::beta_quantile", a, b);
  TRUSTML_CHECK(p >= 0 && p <= 1, "smoothing::beta_quantile", "p must be in [0, 1], got ", p);
  if (p == 0) return 0;
  if (p == 1) return 1;
  // The upper half by symmetry, I_x(a, b) = 1 - I_{1-x}(b, a): 1 - p is exact there, and the
  // equation solved below always has a target p <= 1/2 that is relatively accurate.
  if (p > 0.5) return 1 - beta_quantile(1 - p, b, a);
  // Start from the normal approximation of Beta(a, b), clamped inside (0, 1).
  const double mean = a / (a + b), sd = std::sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
  double x = std::clamp(mean + normal_quantile(p) * sd, 1e-300, 1 - 1e-16);
  double lo = 0, hi = 1;
  const double log_norm = static_cast<double>(detail::log_inverse_beta(a, b));
  for (int it = 0; it < 400; ++it) {
    const double f = detail::incomplete_beta_pair(x, a, b).first - p;
    if (f == 0) return x;
    (f < 0 ? lo : hi) = x;
    if (hi - lo <= 2 * std::numeric_limits<double>::epsilon() * hi) return x;
    // Newton on the density x^(a-1) (1-x)^(b-1) / B(a, b), formed in log space.
    const double log_density = (a - 1) * std::log(x) + (b - 1) * std::log1p(-x) + log_norm;
    double next = x - f / std::exp(log_density);
    // A step that leaves the bracket (or overflows) bisects instead: geometrically while the
    // bracket spans orders of magnitude, so that quantiles near 1e-300 take tens of steps.
    if (!(next > lo && next < hi)) next = lo == 0 ? hi / 16 : (hi > 4 * lo ? std::sqrt(lo * hi) : 0.5 * (lo + hi));
    if (std::abs(next - x) <= 2 * std::numeric_limits<double>::epsilon() * x) return next;
    x = next;
  }
  return x;
}

// One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion: the p with
// P(Bin(trials, p) >= successes) = alpha, i.e. the alpha-quantile of Beta(k, n - k + 1); 0 for
// k = 0 and alpha^(1/n) for k = n. (statsmodels' proportion_confint(k, n, 2 alpha, "beta")[0].)
inline double clopper_pearson_lower(std::int64_t successes, std::int64_t trials, double alpha) {
  detail::check_binomial("smoothing::clopper_pearson_lower", successes, trials);
  detail::check_alpha("smoothing::clopper_pearson_lower", alpha);
  if (successes == 0) return 0;
  if (successes == trials) return std::exp(std::log(alpha) / static_cast<double>(trials));
  return beta_quantile(alpha, static_cast<double>(successes), static_cast<double>(trials - successes + 1));
}

// One-sided (1 - alpha) upper bound: P(Bin(trials, p) <= successes) = alpha; 1 for k = n.
inline double clopper_pearson_upper(std::int64_t successes, std::int64_t trials, double alpha) {
  detail::check_binomial("smoothing::clopper_pearson_upper", successes, trials);
  detail::check_alpha("smoothing::clopper_pearson_upper", alpha);
  if (successes == trials) return 1;
  if (successes == 0) return -std::expm1(std::log(alpha) / static_cast<double>(trials));  // 1 - alpha^(1/n)
  // P(Bin(n, p) <= k) = P(Bin(n, 1 - p) >= n - k): one minus the lower bound of n - k.
  return 1 - beta_quantile(alpha, static_cast<double>(trials - successes), static_cast<double>(successes + 1));
}

// Two-sided p-value of k successes in n trials against p = 1/2 (scipy.stats.binomtest): the pmf is
// symmetric, so it is min(1, 2 P(X >= max(k, n - k))), and exactly 1 when k = n - k. The tail is
// I_{1/2}(m, n - m + 1), whose prefactor is formed in log space, so it stays relatively accurate
// far below 1e-300 / 2^n underflow of a direct sum.
inline double binomial_two_sided_p_value(std::int64_t k, std::int64_t n) {
  detail::check_binomial("smoothing::binomial_two_sided_p_value", k, n);
  const std::int64_t m = std::max(k, n - k);
  if (2 * m == n) return 1;
  const double tail = detail::incomplete_beta_pair(0.5, static_cast<double>(m), static_cast<double>(n - m + 1)).first;
  return std::min(1.0, 2 * tail);
}

// The certified L2 radius sigma * Phi^-1(p_lower) of Cohen et al. (the p_A + p_B <= 1 case of
// sigma / 2 (Phi^-1(p_A) - Phi^-1(p_B))). The caller abstains when p_lower < 1/2.
inline double certified_radius(double p_lower, double sigma) {
  TRUSTML_CHECK(sigma > 0 && std::isfinite(sigma), "smoothing::certified_radius",
                "sigma must be positive and finite, got ", sigma);
  TRUSTML_CHECK(p_lower > 0 && p_lower < 1, "smoothing::certified_radius", "p_lower must be in (0, 1), got ", p_lower);
  return sigma * normal_quantile(p_lower);
}

// The largest radius n samples can certify at level alpha: every sample agrees, p_lower = alpha^(1/n)
// (3.81 sigma for n = 1e5, alpha = 1e-3).
inline double max_certified_radius(std::int64_t n, double alpha, double sigma) {
  return certified_radius(clopper_pearson_lower(n, n, alpha), sigma);
}

}  // namespace trustml::smoothing
