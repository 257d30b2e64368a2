// Synthetic MRI data (mri/phantom.hpp): the modified Shepp-Logan phantom (known values, BART's `phantom` when BART is
// installed), random ellipses, smooth phase, birdcage coil maps (SigPy's formula, `bart normalize 8` normalization) and
// complex Gaussian noise (the data of examples/smug, docs/papers.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <set>
#include <string>
#include <trustml/mri/phantom.hpp>
#include <vector>

#include "support/temp_dir.hpp"

using namespace trustml;
using cf = std::complex<float>;

namespace {
template <class T>
T at(const std::vector<T>& v, std::int64_t n, std::int64_t i, std::int64_t j) {
  return v[static_cast<std::size_t>(i * n + j)];
}
}  // namespace

TEST_CASE("shepp_logan: known pixel values, mean, orientation") {
  const std::int64_t n = 64;
  const auto img = mri::shepp_logan<double>(n);
  REQUIRE(img.shape() == Shape{n, n});
  const std::vector<double> v = img.to_vector();
  // Grid x = (j - 32) / 32, y = (32 - i) / 32.
  CHECK(at(v, n, 0, 0) == 0.0);                     // background
  CHECK(at(v, n, 32, 32) == doctest::Approx(0.2));  // (0, 0): brain, 1 - 0.8
  CHECK(at(v, n, 3, 32) == doctest::Approx(1.0));   // (0, 0.906): the skull rim, above ellipse 2
  CHECK(std::abs(at(v, n, 32, 25)) < 1e-12);        // (-0.219, 0): left ventricle, 1 - 0.8 - 0.2
  CHECK(at(v, n, 29, 32) == doctest::Approx(0.3));  // (0, 0.094): the small disc at (0, 0.1)
  CHECK(at(v, n, 21, 32) == doctest::Approx(0.3));  // (0, 0.344): ellipse 5, centred at (0, 0.35)
  // Sum 500.7 at n = 64: the ellipse table rasterized on this grid in numpy (float64), equal to the sum of `bart
  // phantom -x 64` (BART 0.8.00, real part).
  double sum = 0;
  for (double x : v) sum += x;
  CHECK(sum == doctest::Approx(500.7).epsilon(1e-9));
  // The pixel mean approaches the area-weighted mean sum_k I_k pi a_k b_k / 4 = 0.1238162 (computed from the table):
  // 0.12416 at n = 256.
  double analytic = 0;
  for (const auto& e : mri::shepp_logan_ellipses) analytic += e.intensity * std::numbers::pi * e.a * e.b / 4;
  CHECK(analytic == doctest::Approx(0.12381615121197884).epsilon(1e-12));
  double mean256 = 0;
  for (double x : mri::shepp_logan<double>(256).to_vector()) mean256 += x / (256.0 * 256.0);
  CHECK(std::abs(mean256 / analytic - 1) < 0.01);
  // Values: every pixel is one of the region intensities (0.1 and 0.4 where small ellipses overlap others: 7 and 3
  // pixels at n = 64, as in BART's phantom).
  std::set<long> levels;
  for (double x : v) levels.insert(std::lround(x * 10));
  CHECK(levels == std::set<long>{0, 1, 2, 3, 4, 10});
  // Left-right: rows above y = 0.45 contain only ellipses centred on x = 0 and are mirror symmetric about column n/2;
  // lower rows are not (the two ventricles differ), as in every Shepp-Logan.
  for (std::int64_t i = 0; i < 32 - 15; ++i)
    for (std::int64_t k = 1; k < 32; ++k) CHECK(at(v, n, i, 32 + k) == at(v, n, i, 32 - k));
  bool asymmetric = false;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 1; k < 32; ++k) asymmetric |= at(v, n, i, 32 + k) != at(v, n, i, 32 - k);
  CHECK(asymmetric);
  // Upright: the three small ellipses near y = -0.605 ("the mouth") are in the lower half.
  CHECK(at(v, n, 32 + 19, 32) == doctest::Approx(0.3));  // (0, -0.594): ellipse 9 at (0, -0.606)
}

TEST_CASE("shepp_logan: float, complex and small sizes") {
  const auto d = mri::shepp_logan<double>(33).to_vector();
  const auto f = mri::shepp_logan<float>(33).to_vector();
  const auto c = mri::shepp_logan<cf>(33).to_vector();
  for (std::size_t k = 0; k < d.size(); ++k) {
    CHECK(f[k] == doctest::Approx(d[k]).epsilon(1e-6));
    CHECK(c[k].real() == f[k]);
    CHECK(c[k].imag() == 0.0f);
  }
  CHECK(mri::shepp_logan<double>(1).to_vector()[0] == doctest::Approx(0.2));  // n = 1: the point (0, 0)
  CHECK_THROWS_AS(mri::shepp_logan<double>(0), Error);
}

TEST_CASE("shepp_logan equals bart phantom") {
  if (std::system("command -v bart > /dev/null 2>&1") != 0) {
    MESSAGE("bart is not on PATH: skipping the comparison with `bart phantom`");
    return;
  }
  tests::TempDir dir;
  for (std::int64_t n : {64, 45}) {
    const std::string base = dir.file("sl" + std::to_string(n));
    const std::string command = "bart phantom -x " + std::to_string(n) + " " + base + " > /dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    // .cfl: complex64 pairs, column-major [dim 0, dim 1]: element (i, j) at i + n j.
    std::ifstream cfl(base + ".cfl", std::ios::binary);
    std::vector<float> raw(static_cast<std::size_t>(2 * n * n));
    cfl.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size() * sizeof(float)));
    REQUIRE(cfl.gcount() == static_cast<std::streamsize>(raw.size() * sizeof(float)));
    const auto ours = mri::shepp_logan<double>(n).to_vector();
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        worst = std::max(worst, std::abs(at(ours, n, i, j) - static_cast<double>(raw[2 * (i + n * j)])));
        worst = std::max(worst, std::abs(static_cast<double>(raw[2 * (i + n * j) + 1])));
      }
    CAPTURE(n);
    CHECK(worst < 1e-6);  // float32 rounding of BART's sums
  }
}

TEST_CASE("random_ellipses: inside the disk, values in [0, 1], seeded") {
  const std::int64_t n = 64;
  const auto a = mri::random_ellipses<float>(n, 6, 3).to_vector();
  std::set<float> levels;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const float v = at(a, n, i, j);
      CHECK(v >= 0.0f);
      CHECK(v <= 1.0f);
      const double x = (j - 32) / 32.0, y = (32 - i) / 32.0;
      if (x * x + y * y > 0.95 * 0.95 + 1e-9) CHECK(v == 0.0f);
      levels.insert(v);
    }
  CHECK(levels.size() >= 4);  // background and several ellipses
  CHECK(*levels.rbegin() >= 0.1f);
  CHECK(mri::random_ellipses<float>(n, 6, 3).to_vector() == a);
  CHECK(mri::random_ellipses<float>(n, 6, 4).to_vector() != a);
  // Many seeds: never anything outside the disk, never a value outside [0, 1].
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    const auto b = mri::random_ellipses<double>(40, 10, seed).to_vector();
    for (std::int64_t i = 0; i < 40; ++i)
      for (std::int64_t j = 0; j < 40; ++j) {
        const double v = at(b, 40, i, j), x = (j - 20) / 20.0, y = (20 - i) / 20.0;
        CHECK((v >= 0.0 && v <= 1.0));
        if (x * x + y * y > 0.95 * 0.95 + 1e-9) CHECK(v == 0.0);
      }
  }
  const auto none = mri::random_ellipses<float>(8, 0, 1).to_vector();
  CHECK(std::all_of(none.begin(), none.end(), [](float v) { return v == 0.0f; }));
  CHECK_THROWS_AS(mri::random_ellipses<float>(8, -1, 1), Error);
  CHECK_THROWS_AS(mri::random_ellipses<float>(0, 2, 1), Error);
}

TEST_CASE("smooth_phase and apply_phase") {
  const std::int64_t n = 64;
  for (std::uint64_t seed : {0u, 1u, 2u, 3u}) {
    const auto phi = mri::smooth_phase<double>(n, seed, 1.5).to_vector();
    double peak = 0, step = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        peak = std::max(peak, std::abs(at(phi, n, i, j)));
        if (j + 1 < n) step = std::max(step, std::abs(at(phi, n, i, j + 1) - at(phi, n, i, j)));
        if (i + 1 < n) step = std::max(step, std::abs(at(phi, n, i + 1, j) - at(phi, n, i, j)));
      }
    CAPTURE(seed);
    CHECK(peak == doctest::Approx(1.5).epsilon(1e-12));
    MESSAGE("smooth_phase seed ", seed, ": largest neighbour step ", step, " rad");
    CHECK(step < 0.3);  // a quadratic over 64 pixels: no jumps
  }
  CHECK(mri::smooth_phase<float>(n, 1, 1.0).to_vector() == mri::smooth_phase<float>(n, 1, 1.0).to_vector());
  CHECK(mri::smooth_phase<float>(n, 1, 1.0).to_vector() != mri::smooth_phase<float>(n, 2, 1.0).to_vector());
  const auto zero = mri::smooth_phase<float>(8, 1, 0.0).to_vector();
  CHECK(std::all_of(zero.begin(), zero.end(), [](float v) { return v == 0.0f; }));

  const auto img = mri::shepp_logan<float>(32);
  const auto phase = mri::smooth_phase<float>(32, 5, 2.0);
  const auto z = mri::apply_phase(img, phase).to_vector();
  const auto m = img.to_vector(), p = phase.to_vector();
  for (std::size_t k = 0; k < z.size(); ++k) {
    CHECK(std::abs(z[k]) == doctest::Approx(m[k]).epsilon(1e-6));
    if (m[k] > 0) CHECK(std::arg(z[k]) == doctest::Approx(p[k]).epsilon(1e-5));
  }
  CHECK_THROWS_AS(mri::apply_phase(img, mri::smooth_phase<float>(16, 5, 2.0)), Error);
  CHECK_THROWS_AS(mri::smooth_phase<float>(8, 1, -1.0), Error);
  CHECK_THROWS_AS(mri::smooth_phase<float>(8, 1, INFINITY), Error);
}

TEST_CASE("coil_maps: normalized, SigPy's birdcage values, smooth, distinct") {
  // SigPy's sigpy.mri.sim.birdcage_maps((4, 6, 6)) followed by division by the root sum of squares, evaluated in numpy
  // 2.4 (float64) from the formula in the header comment.
  const auto s = mri::coil_maps<double>(4, 6, 6).to_vector();
  const auto S = [&](int c, int y, int x) { return s[static_cast<std::size_t>(c * 36 + y * 6 + x)]; };
  CHECK(S(0, 0, 0).real() == doctest::Approx(0.100707436813845).epsilon(1e-12));
  CHECK(S(0, 0, 0).imag() == doctest::Approx(-0.251768592034613).epsilon(1e-12));
  CHECK(S(1, 2, 5).real() == doctest::Approx(0.116372921469797).epsilon(1e-12));
  CHECK(S(1, 2, 5).imag() == doctest::Approx(-0.320025534041943).epsilon(1e-12));
  CHECK(S(3, 4, 1).imag() == doctest::Approx(-0.320025534041943).epsilon(1e-12));
  CHECK(std::abs(S(2, 3, 3) - std::complex<double>(0, -0.5)) < 1e-12);

  const std::int64_t C = 8, H = 64, W = 48;
  const auto maps = mri::coil_maps<float>(C, H, W);
  REQUIRE(maps.shape() == Shape{C, H, W});
  const auto v = maps.to_vector();
  const auto M = [&](std::int64_t c, std::int64_t i, std::int64_t j) {
    return v[static_cast<std::size_t>((c * H + i) * W + j)];
  };
  // Smooth: inside the unit disk (the object; the corners come within 0.1 of the coils at +-45 degrees, where 1 /
  // distance varies fast) neighbouring pixels differ little.
  double worst_norm = 0, worst_step = 0;
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < W; ++j) {
      double power = 0;
      const double x = (j - W / 2) / (0.5 * W), y = (i - H / 2) / (0.5 * H);
      for (std::int64_t c = 0; c < C; ++c) {
        power += std::norm(std::complex<double>(M(c, i, j)));
        if (x * x + y * y > 1) continue;
        if (j + 1 < W) worst_step = std::max(worst_step, static_cast<double>(std::abs(M(c, i, j + 1) - M(c, i, j))));
        if (i + 1 < H) worst_step = std::max(worst_step, static_cast<double>(std::abs(M(c, i + 1, j) - M(c, i, j))));
      }
      worst_norm = std::max(worst_norm, std::abs(power - 1));
    }
  CHECK(worst_norm < 1e-6);
  MESSAGE("coil_maps 8 x 64 x 48: largest neighbour difference in the unit disk ", worst_step);
  CHECK(worst_step < 0.1);
  // Distinct coils: pairwise relative distance is large; coil 0 (at x = +1.5) sees the right edge more strongly than
  // the left, coil C/2 (at x = -1.5) the opposite.
  for (std::int64_t a = 0; a < C; ++a)
    for (std::int64_t b = a + 1; b < C; ++b) {
      double diff = 0, norm = 0;
      for (std::int64_t k = 0; k < H * W; ++k) {
        diff += std::norm(v[a * H * W + k] - v[b * H * W + k]);
        norm += std::norm(v[a * H * W + k]);
      }
      CHECK(std::sqrt(diff / norm) > 0.3);
    }
  CHECK(std::abs(M(0, 32, W - 1)) > 2 * std::abs(M(0, 32, 0)));
  CHECK(std::abs(M(C / 2, 32, 0)) > 2 * std::abs(M(C / 2, 32, W - 1)));
  // One coil: a pure phase map.
  for (const auto& z : mri::coil_maps<double>(1, 5, 5).to_vector()) CHECK(std::abs(z) == doctest::Approx(1.0));
  CHECK_THROWS_AS(mri::coil_maps<float>(0, 8, 8), Error);
  CHECK_THROWS_AS(mri::coil_maps<float>(4, 0, 8), Error);
  CHECK_THROWS_AS(mri::coil_maps<float>(4, 8, 8, 1.0), Error);
}

TEST_CASE("complex_gaussian_noise: N(0, sigma^2) per part, seeded, randn times sqrt(2) sigma") {
  const double sigma = 0.3;
  const Shape shape{4, 250, 200};  // 200,000 samples
  const auto noise = mri::complex_gaussian_noise<double>(shape, sigma, 17);
  REQUIRE(noise.shape() == shape);
  const auto v = noise.to_vector();
  double mr = 0, mi = 0, vr = 0, vi = 0, cov = 0;
  const double N = static_cast<double>(v.size());
  for (const auto& z : v) {
    mr += z.real() / N;
    mi += z.imag() / N;
  }
  for (const auto& z : v) {
    vr += (z.real() - mr) * (z.real() - mr) / N;
    vi += (z.imag() - mi) * (z.imag() - mi) / N;
    cov += (z.real() - mr) * (z.imag() - mi) / N;
  }
  // Standard errors: mean sigma / sqrt(N) = 6.7e-4; variance sigma^2 sqrt(2 / N) = 2.8e-4.
  CHECK(std::abs(mr) < 5 * sigma / std::sqrt(N));
  CHECK(std::abs(mi) < 5 * sigma / std::sqrt(N));
  CHECK(vr == doctest::Approx(sigma * sigma).epsilon(0.02));
  CHECK(vi == doctest::Approx(sigma * sigma).epsilon(0.02));
  CHECK(std::abs(cov) < 0.02 * sigma * sigma);
  // Deterministic per seed, different across seeds, consistent offsets.
  CHECK(mri::complex_gaussian_noise<double>(shape, sigma, 17).to_vector() == v);
  CHECK(mri::complex_gaussian_noise<double>({10}, sigma, 18).to_vector() !=
        mri::complex_gaussian_noise<double>({10}, sigma, 17).to_vector());
  const auto tail = mri::complex_gaussian_noise<double>({5}, sigma, 17, 7).to_vector();
  for (std::size_t k = 0; k < 5; ++k) CHECK(tail[k] == v[7 + k]);
  // The same draws as Tensor<complex>::randn, whose parts are N(0, 1/2), scaled by sqrt(2) sigma.
  const auto randn = Tensor<std::complex<double>>::randn({100}, 17).to_vector();
  for (std::size_t k = 0; k < 100; ++k) CHECK(std::abs(randn[k] * (std::sqrt(2.0) * sigma) - v[k]) < 1e-12);
  const auto f = mri::complex_gaussian_noise<float>({3}, 0.0, 1).to_vector();
  CHECK(std::all_of(f.begin(), f.end(), [](const cf& z) { return z == cf(0, 0); }));
  CHECK_THROWS_AS(mri::complex_gaussian_noise<float>({3}, -0.1, 1), Error);
  CHECK_THROWS_AS(mri::complex_gaussian_noise<float>({3}, NAN, 1), Error);
}
