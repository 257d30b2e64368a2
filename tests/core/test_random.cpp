#include <doctest/doctest.h>

#include <cmath>
#include <trustml/trustml.hpp>

using namespace trustml;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors") {
  // Random123's kat_vectors: philox4x32 10 rounds, counter and key all zero / all ones.
  auto r = random::philox4x32(0, 0, 0);
  CHECK(r.v[0] == 0x6627e8d5u);
  CHECK(r.v[1] == 0xe169c58du);
  CHECK(r.v[2] == 0xbc57ac4cu);
  CHECK(r.v[3] == 0x9b00dbd8u);
  auto s = random::philox4x32(~0ull, ~0ull, ~0ull);
  CHECK(s.v[0] == 0x408f276du);
  CHECK(s.v[1] == 0x41c83b0eu);
  CHECK(s.v[2] == 0xa20bc7c6u);
  CHECK(s.v[3] == 0x6d5451fdu);
}

TEST_CASE("rand and randn are pure functions of seed and offset") {
  auto a = Tensor<double>::randn({1000}, 7);
  auto b = Tensor<double>::randn({500}, 7, 500);
  auto av = a.to_vector(), bv = b.to_vector();
  for (int i = 0; i < 500; ++i) CHECK(av[500 + i] == bv[i]);
  auto c = Tensor<double>::randn({1000}, 8).to_vector();
  CHECK(c[0] != av[0]);
  // Drawn in Box-Muller pairs: any offset and length (odd ones included) gives element k of the
  // stream, random::normal(seed, 0, k), bit for bit; complex elements take one pair each.
  for (std::uint64_t offset : {0, 1, 2, 5}) {
    for (std::int64_t n : {1, 2, 3, 8}) {
      const auto f = Tensor<float>::randn({n}, 9, offset).to_vector();
      const auto d = Tensor<double>::randn({n}, 9, offset).to_vector();
      for (std::int64_t i = 0; i < n; ++i) {
        CHECK(d[i] == random::normal(9, 0, offset + i));
        CHECK(f[i] == static_cast<float>(random::normal(9, 0, offset + i)));
      }
    }
  }
  const auto z = Tensor<std::complex<double>>::randn({3}, 4, 1).to_vector();
  for (std::uint64_t i = 0; i < 3; ++i) {
    CHECK(z[i].real() == 0.70710678118654752440 * random::normal(4, 0, 2 * (1 + i)));
    CHECK(z[i].imag() == 0.70710678118654752440 * random::normal(4, 0, 2 * (1 + i) + 1));
  }
}

TEST_CASE("uniform and normal draws have the right moments") {
  const int n = 200000;
  auto u = Tensor<double>::rand({n}, 3).to_vector();
  auto z = Tensor<double>::randn({n}, 3).to_vector();
  double mu = 0, mz = 0, vz = 0, lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    mu += u[i];
    mz += z[i];
    vz += z[i] * z[i];
    lo = std::min(lo, u[i]);
    hi = std::max(hi, u[i]);
  }
  mu /= n, mz /= n, vz /= n;
  // Standard errors: 0.29/sqrt(n) = 6.5e-4 for the uniform mean, 1/sqrt(n) = 2.2e-3 for the normal mean.
  CHECK(std::abs(mu - 0.5) < 4e-3);
  CHECK(std::abs(mz) < 1e-2);
  CHECK(std::abs(vz - 1) < 2e-2);
  CHECK(lo > 0);
  CHECK(hi <= 1);
}

TEST_CASE("the portable log, sqrt, sin and cos behind randn agree with the C library") {
  for (double x : {1e-300, 2.3e-10, 0.001, 0.2, 0.5, 0.70710678, 0.7071068, 0.999999, 1.0}) {
    CAPTURE(x);
    CHECK(std::abs(random::portable::log(x) - std::log(x)) <= 4e-16 * std::max(1.0, std::abs(std::log(x))));
  }
  // sqrt: over the range Box-Muller uses (-2 ln u for u in [2^-32, 1]) and beyond, within one
  // rounding of the correctly rounded std::sqrt.
  for (double x = 1e-300; x < 1e300; x *= 1.37) {
    CAPTURE(x);
    CHECK(std::abs(random::portable::sqrt(x) - std::sqrt(x)) <= 0x1p-52 * std::sqrt(x));
  }
  for (int i = 0; i <= 1000; ++i) {
    const double theta = 1.5707963267948966 * i / 1000;
    double s, c;
    random::portable::sincos_quadrant(theta, s, c);
    CHECK(std::abs(s - std::sin(theta)) <= 4e-16);
    CHECK(std::abs(c - std::cos(theta)) <= 4e-16);
  }
}
