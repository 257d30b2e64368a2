// Statistics of randomized smoothing: normal quantile, incomplete beta and its inverse, Clopper-Pearson
// bounds against a golden table (SciPy and statsmodels values) and against a direct binomial sum in
// long double, the two-sided binomial test against 1/2, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <trustml/smoothing/statistics.hpp>
#include <vector>

using namespace trustml;
using namespace trustml::smoothing;

namespace {
// log C(n, i) + i log p + (n - i) log(1 - p) in long double.
long double log_binomial_pmf(std::int64_t n, std::int64_t i, long double p) {
  using L = long double;
  return std::lgamma(L(n) + 1) - std::lgamma(L(i) + 1) - std::lgamma(L(n - i) + 1) + L(i) * std::log(p) +
         L(n - i) * std::log1p(-p);
}
// P(Bin(n, p) >= k) by direct summation of the pmf (the oracle: no incomplete beta involved).
double binomial_upper_tail(std::int64_t n, std::int64_t k, double p) {
  long double s = 0;
  for (std::int64_t i = k; i <= n; ++i) s += std::exp(log_binomial_pmf(n, i, p));
  return static_cast<double>(s);
}
double binomial_lower_tail(std::int64_t n, std::int64_t k, double p) {
  long double s = 0;
  for (std::int64_t i = 0; i <= k; ++i) s += std::exp(log_binomial_pmf(n, i, p));
  return static_cast<double>(s);
}
// got rounds to want's first 5 significant digits (half a unit of the fifth digit of want).
bool same_5_digits(double got, double want) {
  return std::abs(got - want) <= 0.5 * std::pow(10.0, std::floor(std::log10(std::abs(want))) - 4) + 1e-12;
}
}  // namespace

TEST_CASE("statistics: normal quantile at known points and round trip through the CDF") {
  struct Known {
    double p, z;
  };
  for (const Known k :
       {Known{0.975, 1.959963984540054}, Known{0.5, 0.0}, Known{0.999, 3.090232306167813},
        Known{0.001, -3.090232306167813}, Known{0.95, 1.6448536269514722}, Known{0.9, 1.2815515655446004},
        Known{1e-10, -6.361340902404056}, Known{0.3, -0.5244005127080407}, Known{1e-300, -37.0471}}) {
    INFO("p = " << k.p);
    CHECK(normal_quantile(k.p) == doctest::Approx(k.z).epsilon(k.p == 1e-300 ? 1e-6 : 1e-14));
  }
  CHECK(normal_cdf(0) == 0.5);
  CHECK(normal_cdf(1.959963984540054) == doctest::Approx(0.975).epsilon(1e-15));
  // Round trip: relative 1e-14 in z from z = -37 to 6. Above 0 the CDF rounds p to a multiple of
  // 2^-53 near 1, which moves the exact quantile by up to 1.1e-16 / phi(z): that is allowed for.
  double worst = 0;
  for (double z = -37; z <= 6; z += 0.0137) {
    const double p = normal_cdf(z), density = std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
    const double tolerance = 1e-14 * std::max(1.0, std::abs(z)) + (z > 0 ? 1.2e-16 / density : 0.0);
    worst = std::max(worst, std::abs(normal_quantile(p) - z) / tolerance);
  }
  CHECK(worst <= 1.0);
  // Upper tail by symmetry: Phi^-1(1 - 1e-12) = -Phi^-1(1e-12) up to the rounding of 1 - 1e-12.
  CHECK(normal_quantile(1 - 1e-12) == doctest::Approx(-normal_quantile(1 - (1 - 1e-12))).epsilon(1e-14));
}

TEST_CASE("statistics: regularized incomplete beta against closed forms and a binomial sum") {
  for (double x : {1e-6, 0.1, 0.37, 0.5, 0.8, 0.999}) {
    INFO("x = " << x);
    CHECK(regularized_incomplete_beta(x, 1, 7.5) == doctest::Approx(1 - std::pow(1 - x, 7.5)).epsilon(1e-13));
    CHECK(regularized_incomplete_beta(x, 3.25, 1) == doctest::Approx(std::pow(x, 3.25)).epsilon(1e-13));
    CHECK(regularized_incomplete_beta(x, 2.5, 7) + regularized_incomplete_beta(1 - x, 7, 2.5) ==
          doctest::Approx(1).epsilon(1e-14));
    // Integer parameters: I_x(k, n - k + 1) = P(Bin(n, x) >= k).
    CHECK(regularized_incomplete_beta(x, 4, 17) == doctest::Approx(binomial_upper_tail(20, 4, x)).epsilon(1e-12));
  }
  // The lgamma terms of the prefactor are ~1e7 at a, b ~ 1e6: long double leaves ~1e-12 relative.
  CHECK(regularized_incomplete_beta(0.5, 1e4, 1e4) == doctest::Approx(0.5).epsilon(1e-13));
  CHECK(regularized_incomplete_beta(0.5, 1e6, 1e6) == doctest::Approx(0.5).epsilon(1e-11));
  CHECK(regularized_incomplete_beta(0, 2, 3) == 0);
  CHECK(regularized_incomplete_beta(1, 2, 3) == 1);
  // a, b ~ 1e6 (n = 2e6 trials): the tail of a binomial at 3.5 standard deviations.
  const std::int64_t n = 2000000, k = 1003500;
  CHECK(regularized_incomplete_beta(0.5, double(k), double(n - k + 1)) ==
        doctest::Approx(binomial_upper_tail(n, k, 0.5)).epsilon(1e-10));
}

TEST_CASE("statistics: beta quantile inverts the incomplete beta, from tiny tails to a, b = 1e6") {
  struct Case {
    double a, b;
  };
  for (const Case c : {Case{1, 1}, Case{0.5, 0.5}, Case{3, 1e6}, Case{50, 51}, Case{990, 11}, Case{99000, 1001},
                       Case{1e6, 2}, Case{6e5, 4e5}}) {
    for (double p : {1e-200, 1e-10, 0.001, 0.3, 0.5, 0.75, 0.999, 1 - 1e-12}) {
      INFO("a = " << c.a << ", b = " << c.b << ", p = " << p);
      const double x = beta_quantile(p, c.a, c.b);
      REQUIRE(x >= 0);
      REQUIRE(x <= 1);
      if (p <= 0.5) {
        CHECK(regularized_incomplete_beta(x, c.a, c.b) == doctest::Approx(p).epsilon(1e-9));
      } else {  // compare the small complement
        CHECK(regularized_incomplete_beta(1 - x, c.b, c.a) == doctest::Approx(1 - p).epsilon(1e-9));
      }
    }
  }
  CHECK(beta_quantile(0.25, 1, 1) == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(beta_quantile(0.25, 2, 1) == doctest::Approx(0.5).epsilon(1e-15));  // x^2 = 1/4
  CHECK(beta_quantile(0, 2, 3) == 0);
  CHECK(beta_quantile(1, 2, 3) == 1);
}

TEST_CASE("statistics: Clopper-Pearson lower bound matches the golden table (alpha = 0.001)") {
  struct Row {
    std::int64_t k, n;
    double p_lower, radius_over_sigma;  // radius NaN: abstain
  };
  const double abstains = std::nan("");
  for (const Row r :
       {Row{100, 100, 0.933254, 1.50048}, Row{1000, 1000, 0.993116, 2.4633}, Row{10000, 10000, 0.999309, 3.1986},
        Row{100000, 100000, 0.999931, 3.81146}, Row{990, 1000, 0.976036, 1.97801}, Row{9900, 10000, 0.986531, 2.21242},
        Row{99000, 100000, 0.988989, 2.29000}, Row{60000, 100000, 0.595201, 0.240945},
        Row{50, 100, 0.344798, abstains}}) {
    INFO(r.k << " of " << r.n);
    const double p = clopper_pearson_lower(r.k, r.n, 0.001);
    CHECK(std::abs(p - r.p_lower) <= 1e-6);
    if (std::isnan(r.radius_over_sigma)) {
      CHECK(p < 0.5);
    } else {
      CHECK(same_5_digits(normal_quantile(p), r.radius_over_sigma));
      CHECK(certified_radius(p, 0.5) == doctest::Approx(0.5 * normal_quantile(p)).epsilon(1e-15));
    }
  }
  CHECK(clopper_pearson_lower(0, 10, 0.001) == 0);
  CHECK(clopper_pearson_lower(7, 7, 0.01) == doctest::Approx(std::pow(0.01, 1.0 / 7)).epsilon(1e-15));
  CHECK(same_5_digits(max_certified_radius(100000, 0.001, 1.0), 3.81146));
}

TEST_CASE("statistics: the minimum non-abstaining n_A is 550 / 5156 / 50,490 of 1e3 / 1e4 / 1e5") {
  struct Edge {
    std::int64_t n, k;
  };
  for (const Edge e : {Edge{1000, 550}, Edge{10000, 5156}, Edge{100000, 50490}}) {
    INFO("n = " << e.n);
    CHECK(clopper_pearson_lower(e.k - 1, e.n, 0.001) < 0.5);
    CHECK(clopper_pearson_lower(e.k, e.n, 0.001) >= 0.5);
  }
  // The same by a scan over every n_A of n = 1000, which also checks monotonicity in n_A.
  std::int64_t first = -1;
  double previous = -1;
  for (std::int64_t k = 0; k <= 1000; ++k) {
    const double p = clopper_pearson_lower(k, 1000, 0.001);
    CHECK(p > previous);
    previous = p;
    if (first < 0 && p >= 0.5) first = k;
  }
  CHECK(first == 550);
}

TEST_CASE("statistics: Clopper-Pearson bounds solve the binomial tail equation (direct long double sum)") {
  struct Case {
    std::int64_t k, n;
    double alpha;
  };
  for (const Case c :
       {Case{1, 10, 0.05}, Case{550, 1000, 0.001}, Case{990, 1000, 0.001}, Case{5156, 10000, 0.001},
        Case{9999, 10000, 0.01}, Case{60000, 100000, 0.001}, Case{99000, 100000, 0.001}, Case{3, 100000, 0.001}}) {
    INFO(c.k << " of " << c.n << ", alpha = " << c.alpha);
    const double lower = clopper_pearson_lower(c.k, c.n, c.alpha);
    CHECK(binomial_upper_tail(c.n, c.k, lower) == doctest::Approx(c.alpha).epsilon(1e-9));
    const double upper = clopper_pearson_upper(c.k, c.n, c.alpha);
    CHECK(binomial_lower_tail(c.n, c.k, upper) == doctest::Approx(c.alpha).epsilon(1e-9));
    CHECK(lower < double(c.k) / double(c.n));
    CHECK(upper > double(c.k) / double(c.n));
    // Symmetry: the upper bound of k is 1 - the lower bound of n - k.
    CHECK(upper == doctest::Approx(1 - clopper_pearson_lower(c.n - c.k, c.n, c.alpha)).epsilon(1e-14));
  }
  CHECK(clopper_pearson_upper(10, 10, 0.05) == 1);
  CHECK(clopper_pearson_upper(0, 100000, 0.001) == doctest::Approx(1 - std::pow(0.001, 1e-5)).epsilon(1e-9));
  // A smaller alpha gives a lower lower bound.
  CHECK(clopper_pearson_lower(900, 1000, 0.0001) < clopper_pearson_lower(900, 1000, 0.001));
}

TEST_CASE("statistics: two-sided binomial p-value against 1/2 (PREDICT's test)") {
  CHECK(binomial_two_sided_p_value(510, 1000) == doctest::Approx(0.548).epsilon(1e-3));
  CHECK(binomial_two_sided_p_value(550, 1000) == doctest::Approx(0.00173).epsilon(2e-3));
  CHECK(binomial_two_sided_p_value(600, 1000) == doctest::Approx(2.7e-10).epsilon(2e-2));
  // Against 2 P(X >= max(k, n - k)) summed directly, both sides of n / 2.
  for (std::int64_t k : {0, 3, 420, 450, 490, 510, 550, 600, 1000}) {
    INFO("k = " << k);
    const std::int64_t m = std::max<std::int64_t>(k, 1000 - k);
    CHECK(binomial_two_sided_p_value(k, 1000) ==
          doctest::Approx(std::min(1.0, 2 * binomial_upper_tail(1000, m, 0.5))).epsilon(1e-11));
    CHECK(binomial_two_sided_p_value(k, 1000) == binomial_two_sided_p_value(1000 - k, 1000));
  }
  CHECK(binomial_two_sided_p_value(500, 1000) == 1);
  CHECK(binomial_two_sided_p_value(0, 0 + 1) == 1);  // odd n, k = (n - 1) / 2: 2 * 1/2
  CHECK(binomial_two_sided_p_value(501, 1001) == 1);
  CHECK(binomial_two_sided_p_value(1, 1) == 1);
  CHECK(binomial_two_sided_p_value(2, 2) == 0.5);
  // 2 * 2^-1000 ~ 1e-301: the tail is formed in log space, so no intermediate underflows.
  CHECK(binomial_two_sided_p_value(1000, 1000) == doctest::Approx(std::ldexp(1.0, -999)).epsilon(1e-10));
  CHECK(binomial_two_sided_p_value(0, 1000) == doctest::Approx(std::ldexp(1.0, -999)).epsilon(1e-10));
}

TEST_CASE("statistics: bad input throws trustml::Error naming the function") {
  CHECK_THROWS_WITH_AS(normal_quantile(0), doctest::Contains("smoothing::normal_quantile"), Error);
  CHECK_THROWS_WITH_AS(normal_quantile(1), doctest::Contains("got 1"), Error);
  CHECK_THROWS_WITH_AS(normal_quantile(std::nan("")), doctest::Contains("p must be in (0, 1)"), Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_lower(5, 0, 0.001), doctest::Contains("trials must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_lower(11, 10, 0.001), doctest::Contains("smoothing::clopper_pearson_lower"),
                       Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_lower(-1, 10, 0.001), doctest::Contains("got -1"), Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_lower(5, 10, 0), doctest::Contains("alpha must be in (0, 1), got 0"), Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_lower(5, 10, 1.5), doctest::Contains("got 1.5"), Error);
  CHECK_THROWS_WITH_AS(clopper_pearson_upper(5, 10, 1), doctest::Contains("smoothing::clopper_pearson_upper"), Error);
  CHECK_THROWS_WITH_AS(binomial_two_sided_p_value(3, 2), doctest::Contains("smoothing::binomial_two_sided_p_value"),
                       Error);
  CHECK_THROWS_WITH_AS(beta_quantile(0.5, 0, 1), doctest::Contains("smoothing::beta_quantile"), Error);
  CHECK_THROWS_WITH_AS(beta_quantile(1.5, 1, 1), doctest::Contains("p must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(regularized_incomplete_beta(-0.1, 1, 1), doctest::Contains("x must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(certified_radius(0.9, 0), doctest::Contains("sigma must be positive"), Error);
  CHECK_THROWS_WITH_AS(certified_radius(0, 0.5), doctest::Contains("smoothing::certified_radius"), Error);
}
