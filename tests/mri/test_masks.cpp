// k-space sampling masks (mri/masks.hpp): fastMRI RandomMaskFunc and EquispacedMaskFractionFunc, the SMUG journal's
// VDRS mask, the variable-density Poisson disc (against `bart poisson` when BART is installed), acceleration_of and bad
// arguments (fastMRI's and SMUG's conventions, docs/papers.md: centre lines = round(center_fraction * W),
// deterministic per seed).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <trustml/mri/masks.hpp>
#include <vector>

#include "support/temp_dir.hpp"

using namespace trustml;
using trustml::mri::acceleration_of;

namespace {
using Grid = std::vector<std::vector<float>>;

Grid to_grid(const Tensor<float>& mask) {
  const auto H = mask.size(0), W = mask.size(1);
  const std::vector<float> v = mask.to_vector();
  Grid g(static_cast<std::size_t>(H), std::vector<float>(static_cast<std::size_t>(W)));
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t w = 0; w < W; ++w) g[h][w] = v[h * W + w];
  return g;
}

bool is_binary(const Tensor<float>& mask) {
  for (float v : mask.to_vector())
    if (v != 0.0f && v != 1.0f) return false;
  return true;
}

// The column pattern of a 1-D mask, checking that it is [H, W], 0/1 and the same in every row.
std::vector<int> columns_of(const Tensor<float>& mask, std::int64_t H, std::int64_t W) {
  REQUIRE(mask.shape() == Shape{H, W});
  REQUIRE(is_binary(mask));
  const Grid g = to_grid(mask);
  for (std::int64_t h = 1; h < H; ++h) REQUIRE(g[h] == g[0]);
  std::vector<int> cols;
  for (std::int64_t w = 0; w < W; ++w)
    if (g[0][w] == 1.0f) cols.push_back(static_cast<int>(w));
  return cols;
}

bool has_block(const std::vector<int>& cols, int start, int length) {
  for (int w = start; w < start + length; ++w)
    if (std::find(cols.begin(), cols.end(), w) == cols.end()) return false;
  return true;
}

// Sampled fraction of the non-calibration pixels with rho in [lo, hi).
double ring_fraction(const Grid& g, std::int64_t calib, double lo, double hi) {
  const auto H = static_cast<std::int64_t>(g.size()), W = static_cast<std::int64_t>(g[0].size());
  mri::PoissonDisc geometry;
  geometry.H = H;
  geometry.W = W;
  geometry.calib = calib;
  double sampled = 0, total = 0;
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t z = 0; z < W; ++z) {
      const double r = geometry.rho(y, z);
      if (r < lo || r >= hi || geometry.in_calib(y, z)) continue;
      total += 1;
      sampled += g[y][z];
    }
  return sampled / total;
}
}  // namespace

TEST_CASE("random_mask: fastMRI RandomMaskFunc columns, centre block, seeds") {
  const std::int64_t H = 20, W = 368;
  const auto cols = columns_of(mri::random_mask(H, W, 4, 0.08, 1), H, W);
  // round(368 * 0.08) = round(29.44) = 29 centre columns from (368 - 29 + 1) / 2 = 170.
  CHECK(has_block(cols, 170, 29));
  // Deterministic per seed, different for different seeds.
  CHECK(columns_of(mri::random_mask(H, W, 4, 0.08, 1), H, W) == cols);
  CHECK(columns_of(mri::random_mask(H, W, 4, 0.08, 2), H, W) != cols);

  // A huge acceleration makes fastMRI's probability negative: only the centre block remains. Its width is Python's
  // round (half to even): round(250 * 0.05) = round(12.5) = 12, from (250 - 12 + 1) / 2.
  const auto centre = columns_of(mri::random_mask(3, 250, 1e9, 0.05, 5), 3, 250);
  REQUIRE(centre.size() == 12);
  CHECK(centre.front() == 119);
  CHECK(has_block(centre, 119, 12));
  CHECK(columns_of(mri::random_mask(3, 10, 1e9, 0.25, 5), 3, 10).size() == 2);  // round(2.5) = 2
  CHECK(columns_of(mri::random_mask(3, 30, 1e9, 0.05, 5), 3, 30).size() == 2);  // round(1.5) = 2
  // Acceleration 1 keeps every column; center_fraction 1 too.
  CHECK(columns_of(mri::random_mask(2, 17, 1, 0.0, 9), 2, 17).size() == 17);
  CHECK(columns_of(mri::random_mask(2, 17, 4, 1.0, 9), 2, 17).size() == 17);
}

TEST_CASE("random_mask: acceleration 4 on average, outer columns with fastMRI's probability") {
  const std::int64_t W = 368;
  double mean_acceleration = 0, outer_kept = 0, outer_total = 0;
  const int seeds = 50;
  for (int seed = 0; seed < seeds; ++seed) {
    const auto mask = mri::random_mask(4, W, 4, 0.08, static_cast<std::uint64_t>(seed));
    mean_acceleration += acceleration_of(mask) / seeds;
    const auto cols = columns_of(mask, 4, W);
    for (int w : cols) outer_kept += (w < 170 || w >= 199) ? 1 : 0;
    outer_total += W - 29;
  }
  MESSAGE("random_mask W = 368, R = 4, cf = 0.08: mean acceleration over 50 seeds ", mean_acceleration);
  CHECK(std::abs(mean_acceleration / 4 - 1) < 0.05);
  // p = (368 / 4 - 29) / (368 - 29) = 0.18584; 50 * 339 Bernoulli draws: sd 0.0030.
  CHECK(outer_kept / outer_total == doctest::Approx(63.0 / 339.0).epsilon(0.1));
}

TEST_CASE("equispaced_mask: fastMRI EquispacedMaskFractionFunc columns") {
  // Reference columns from fastMRI's EquispacedMaskFractionFunc.calculate_acceleration_mask and calculate_center_mask
  // (fastmri/data/subsample.py) with the given offset, run in numpy 2.4 (the same arithmetic: np.arange(offset, W - 1,
  // R'), np.around, centre block).
  const auto a = columns_of(mri::equispaced_mask(8, 368, 4, 0.08, 0), 8, 368);
  const std::vector<int> expect_a = {0,   5,   11,  16,  22,  27,  32,  38,  43,  48,  54,  59,  65,  70,  75,  81,
                                     86,  91,  97,  102, 108, 113, 118, 124, 129, 135, 140, 145, 151, 156, 161, 167,
                                     170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185,
                                     186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 204, 210,
                                     215, 221, 226, 231, 237, 242, 248, 253, 258, 264, 269, 274, 280, 285, 291, 296,
                                     301, 307, 312, 317, 323, 328, 334, 339, 344, 350, 355, 361, 366};
  CHECK(a == expect_a);
  const auto b = columns_of(mri::equispaced_mask(4, 320, 8, 0.04, 3), 4, 320);
  const std::vector<int> expect_b = {3,   14,  26,  37,  48,  60,  71,  83,  94,  105, 117, 128, 139, 151,
                                     154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 174,
                                     185, 196, 208, 219, 230, 242, 253, 265, 276, 287, 299, 310};
  CHECK(b == expect_b);
  const auto c = columns_of(mri::equispaced_mask(2, 33, 3, 0.1, 1), 2, 33);
  CHECK(c == std::vector<int>{1, 5, 8, 12, 15, 16, 17, 20, 24, 27, 31});

  // Spacing: outside the centre block consecutive lines are floor(R') or ceil(R') apart, R' = 4 (29 - 368) / (29 * 4 -
  // 368) = 5.381; the total is about W / R.
  for (std::size_t k = 1; k < a.size(); ++k)
    if ((a[k] < 170) || (a[k - 1] >= 199)) CHECK((a[k] - a[k - 1] == 5 || a[k] - a[k - 1] == 6));
  CHECK(acceleration_of(mri::equispaced_mask(8, 368, 4, 0.08, 0)) == doctest::Approx(4.0).epsilon(0.02));
  // Without a centre the lines are exactly every R-th from the offset.
  CHECK(columns_of(mri::equispaced_mask(1, 16, 4, 0.0, 1), 1, 16) == std::vector<int>{1, 5, 9, 13});
}

TEST_CASE("vdrs_mask: exactly round(W / R) columns, round(0.32 W / R) of them central") {
  struct Case {
    std::int64_t W;
    double R;
    std::size_t total, centre;
  };
  // round(368 / 4) = 92, round(29.44) = 29; round(320 / 8) = 40, round(12.8) = 13; round(64 / 6) = 11, round(3.41) = 3.
  for (const Case c : {Case{368, 4, 92, 29}, Case{320, 8, 40, 13}, Case{64, 6, 11, 3}, Case{320, 2, 160, 51}}) {
    CAPTURE(c.W);
    CAPTURE(c.R);
    for (std::uint64_t seed : {0u, 1u, 17u}) {
      const auto cols = columns_of(mri::vdrs_mask(6, c.W, c.R, seed), 6, c.W);
      CHECK(cols.size() == c.total);
      CHECK(has_block(cols, static_cast<int>((c.W - static_cast<std::int64_t>(c.centre) + 1) / 2),
                      static_cast<int>(c.centre)));
    }
  }
  const auto a = columns_of(mri::vdrs_mask(2, 368, 4, 3), 2, 368);
  CHECK(columns_of(mri::vdrs_mask(2, 368, 4, 3), 2, 368) == a);
  CHECK(columns_of(mri::vdrs_mask(2, 368, 4, 4), 2, 368) != a);
  // The other columns are uniform: over 200 seeds every outer column is picked with probability 63 / 339 = 0.186, so
  // the left and right halves of the outer columns get the same share.
  double left = 0, right = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed)
    for (int w : columns_of(mri::vdrs_mask(1, 368, 4, seed), 1, 368)) {
      if (w < 170) left += 1;
      if (w >= 199) right += 1;
    }
  CHECK(left / (200.0 * 170) == doctest::Approx(63.0 / 339).epsilon(0.05));
  CHECK(right / (200.0 * 169) == doctest::Approx(63.0 / 339).epsilon(0.05));
  CHECK(columns_of(mri::vdrs_mask(1, 10, 1, 0), 1, 10).size() == 10);
}

TEST_CASE("poisson_disc_mask: calibration, acceleration, variable density, minimum distance") {
  struct Case {
    std::int64_t H, W;
    double ay, az;
    std::int64_t calib;
  };
  for (const Case c : {Case{64, 64, 2, 2, 8}, Case{128, 128, 2, 2, 12}, Case{64, 64, 2, 3, 8},
                       Case{128, 128, 3, 1.5, 16}, Case{96, 64, 2, 1, 10}}) {
    CAPTURE(c.H);
    CAPTURE(c.W);
    CAPTURE(c.ay);
    CAPTURE(c.az);
    const auto pd = mri::poisson_disc(c.H, c.W, c.ay, c.az, c.calib, 11);
    REQUIRE(pd.mask.shape() == Shape{c.H, c.W});
    REQUIRE(is_binary(pd.mask));
    const Grid g = to_grid(pd.mask);
    const double accel = acceleration_of(pd.mask);
    MESSAGE("poisson ", c.H, "x", c.W, " y ", c.ay, " z ", c.az, ": acceleration ", accel, ", r0 ", pd.base_radius);
    CHECK(accel == doctest::Approx(pd.acceleration));
    CHECK(std::abs(accel / (c.ay * c.az) - 1) < 0.2);
    // The calibration block is fully sampled; nothing outside the elliptical shutter except it.
    std::vector<std::pair<std::int64_t, std::int64_t>> outer;
    for (std::int64_t y = 0; y < c.H; ++y)
      for (std::int64_t z = 0; z < c.W; ++z) {
        if (pd.in_calib(y, z)) {
          CHECK(g[y][z] == 1.0f);
          continue;
        }
        if (g[y][z] == 1.0f) {
          CHECK(pd.rho(y, z) <= 1.0);
          outer.emplace_back(y, z);
        }
      }
    // Variable density: the inner ring is sampled more densely than the outer one.
    const double inner = ring_fraction(g, c.calib, 0.2, 0.4), rim = ring_fraction(g, c.calib, 0.7, 0.95);
    MESSAGE("  sampled fraction rho in [0.2, 0.4): ", inner, ", rho in [0.7, 0.95): ", rim);
    CHECK(inner > 1.5 * rim);
    // The Poisson disc property: samples outside the calibration block are at least the mean of their two exclusion
    // radii apart.
    int violations = 0;
    for (std::size_t i = 0; i < outer.size(); ++i)
      for (std::size_t j = i + 1; j < outer.size(); ++j) {
        const auto [y0, z0] = outer[i];
        const auto [y1, z1] = outer[j];
        const double need = 0.5 * (pd.radius(y0, z0) + pd.radius(y1, z1));
        if (pd.distance(y0, z0, y1, z1) < need - 1e-12) ++violations;
      }
    CHECK(violations == 0);
  }
}

TEST_CASE("poisson_disc_mask: variable_density 0 gives a uniform density") {
  const auto pd = mri::poisson_disc(128, 128, 2, 2, 12, 3, 0.0);
  const Grid g = to_grid(pd.mask);
  const double a = ring_fraction(g, 12, 0.3, 0.5), b = ring_fraction(g, 12, 0.5, 0.7),
               c = ring_fraction(g, 12, 0.7, 0.95);
  MESSAGE("uniform Poisson disc 128 x 128, 2 x 2: acceleration ", pd.acceleration, ", ring fractions ", a, " ", b, " ",
          c);
  CHECK(std::abs(a / c - 1) < 0.15);
  CHECK(std::abs(b / c - 1) < 0.15);
  // The grid's jamming densities allow 3.4 here, not 4 (see the header).
  CHECK(std::abs(pd.acceleration / 4 - 1) < 0.2);
  CHECK_THROWS_AS(mri::poisson_disc(64, 64, 2, 2, 8, 3, -1.0), Error);
}

TEST_CASE("poisson_disc_mask: deterministic per seed, maximal, different seeds differ") {
  const auto a = mri::poisson_disc_mask(64, 64, 2, 2, 8, 1);
  CHECK(mri::poisson_disc_mask(64, 64, 2, 2, 8, 1).to_vector() == a.to_vector());
  CHECK(mri::poisson_disc_mask(64, 64, 2, 2, 8, 2).to_vector() != a.to_vector());
  // Maximal: every unsampled pixel of the shutter is within the exclusion radius of a sample.
  const auto pd = mri::poisson_disc(64, 64, 2, 2, 8, 1);
  const Grid g = to_grid(pd.mask);
  int uncovered = 0;
  for (std::int64_t y = 0; y < 64; ++y)
    for (std::int64_t z = 0; z < 64; ++z) {
      if (g[y][z] == 1.0f || pd.rho(y, z) > 1.0) continue;
      bool covered = false;
      for (std::int64_t yy = 0; yy < 64 && !covered; ++yy)
        for (std::int64_t zz = 0; zz < 64 && !covered; ++zz)
          covered = g[yy][zz] == 1.0f && pd.distance(y, z, yy, zz) < 0.5 * (pd.radius(y, z) + pd.radius(yy, zz));
      uncovered += covered ? 0 : 1;
    }
  CHECK(uncovered == 0);
  // A target below the shutter's own acceleration gives the whole ellipse (795 of the 32 x 32 pixels have rho <= 1).
  const auto whole = mri::poisson_disc(32, 32, 1, 1, 4, 0);
  CHECK(acceleration_of(whole.mask) == doctest::Approx(1024.0 / 795).epsilon(0.02));
}

TEST_CASE("poisson_disc_mask against bart poisson") {
  if (std::system("command -v bart > /dev/null 2>&1") != 0) {
    MESSAGE("bart is not on PATH: skipping the comparison with `bart poisson`");
    return;
  }
  tests::TempDir dir;
  const std::int64_t n = 64, calib = 8;
  const std::string base = dir.file("pd");
  const std::string command = "bart poisson -Y 64 -Z 64 -y 2 -z 2 -C 8 -v -e -s 7 " + base + " > /dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  // .hdr: "# Dimensions" then the sizes; .cfl: complex64 pairs, column-major (dim 1 = y = our row).
  std::ifstream hdr(base + ".hdr");
  std::string line, dims_line;
  while (std::getline(hdr, line))
    if (line.rfind("# Dimensions", 0) == 0) std::getline(hdr, dims_line);
  std::istringstream dims_in(dims_line);
  std::vector<long> dims;
  for (long d; dims_in >> d;) dims.push_back(d);
  REQUIRE(dims.size() >= 3);
  REQUIRE(dims[0] == 1);
  REQUIRE(dims[1] == n);
  REQUIRE(dims[2] == n);
  std::ifstream cfl(base + ".cfl", std::ios::binary);
  std::vector<float> raw(static_cast<std::size_t>(2 * n * n));
  cfl.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size() * sizeof(float)));
  REQUIRE(cfl.gcount() == static_cast<std::streamsize>(raw.size() * sizeof(float)));
  Grid bart(n, std::vector<float>(n));
  double bart_samples = 0;
  for (std::int64_t y = 0; y < n; ++y)
    for (std::int64_t z = 0; z < n; ++z) {
      bart[y][z] = raw[2 * (y + n * z)];
      bart_samples += bart[y][z];
    }
  const double bart_accel = static_cast<double>(n * n) / bart_samples;
  const auto ours = mri::poisson_disc_mask(n, n, 2, 2, calib, 7);
  const double our_accel = acceleration_of(ours);
  const Grid g = to_grid(ours);
  MESSAGE("64x64 -y 2 -z 2 -C 8 -v -e: bart acceleration ", bart_accel, " (numel / samples), ours ", our_accel);
  const double bart_inner = ring_fraction(bart, calib, 0.2, 0.4), bart_rim = ring_fraction(bart, calib, 0.7, 0.95);
  const double our_inner = ring_fraction(g, calib, 0.2, 0.4), our_rim = ring_fraction(g, calib, 0.7, 0.95);
  MESSAGE("  sampled fraction rho in [0.2, 0.4) / [0.7, 0.95): bart ", bart_inner, " / ", bart_rim, ", ours ",
          our_inner, " / ", our_rim);
  // Both share the structure our tests check: full calibration block (placed alike), elliptical shutter, density
  // falling with radius.
  for (std::int64_t y = (n - calib) / 2; y < (n + calib) / 2; ++y)
    for (std::int64_t z = (n - calib) / 2; z < (n + calib) / 2; ++z) CHECK(bart[y][z] == 1.0f);
  CHECK(bart_inner > 1.5 * bart_rim);
  CHECK(ring_fraction(bart, calib, 1.05, 2.0) == 0.0);
  // The same radius profile (1 + 1.25 rho^2 here): the inner-to-rim density ratios agree within a factor of 2 (bart
  // 2.7, ours 3.1 at seed 7; (1 + 1.25 0.81^2)^2 / (1 + 1.25 0.3^2)^2 = 2.7).
  const double ratio = (our_inner / our_rim) / (bart_inner / bart_rim);
  CHECK(ratio > 0.5);
  CHECK(ratio < 2.0);
  // BART fixes the base radius, so its acceleration exceeds y * z = 4 (10.2 at seed 7); ours is scaled to 4.
  CHECK(bart_accel > 4.0);
  CHECK(std::abs(our_accel / 4.0 - 1) < 0.2);
}

TEST_CASE("acceleration_of") {
  auto m = Tensor<float>::zeros({4, 4});
  m.data()[0] = m.data()[5] = m.data()[10] = m.data()[15] = 1;
  CHECK(acceleration_of(m) == 4.0);
  CHECK(acceleration_of(Tensor<double>::ones({3, 5})) == 1.0);
  CHECK(acceleration_of(Tensor<std::complex<float>>::ones({2, 8})) == 1.0);
  CHECK_THROWS_AS(acceleration_of(Tensor<float>::zeros({4, 4})), Error);
}

TEST_CASE("masks: bad arguments name the function and the values") {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message([] { mri::random_mask(8, 8, 0.5, 0.1, 0); }).find("mri::random_mask") != std::string::npos);
  CHECK(message([] { mri::random_mask(8, 8, 0.5, 0.1, 0); }).find("0.5") != std::string::npos);
  CHECK(message([] { mri::random_mask(8, 8, 4, 1.5, 0); }).find("center_fraction") != std::string::npos);
  CHECK(message([] { mri::random_mask(0, 8, 4, 0.1, 0); }).find("H = 0") != std::string::npos);
  CHECK_THROWS_AS(mri::random_mask(8, 0, 4, 0.1, 0), Error);
  CHECK_THROWS_AS(mri::random_mask(8, 8, 4, -0.1, 0), Error);
  CHECK_THROWS_AS(mri::random_mask(8, 8, std::nan(""), 0.1, 0), Error);
  CHECK(message([] { mri::equispaced_mask(8, 8, 0.9, 0.1, 0); }).find("mri::equispaced_mask") != std::string::npos);
  CHECK_THROWS_AS(mri::equispaced_mask(8, 16, 4, 0.5, 0),
                  Error);  // the centre alone exceeds 1/4
  CHECK_THROWS_AS(mri::equispaced_mask(8, 16, 4, 0.1, 16), Error);
  CHECK_THROWS_AS(mri::equispaced_mask(8, 16, 4, 0.1, -1), Error);
  CHECK(message([] { mri::vdrs_mask(8, 8, 0, 0); }).find("mri::vdrs_mask") != std::string::npos);
  CHECK_THROWS_AS(mri::vdrs_mask(8, -1, 4, 0), Error);
  CHECK(message([] { mri::poisson_disc_mask(32, 32, 0.5, 2, 4, 0); }).find("accel_y") != std::string::npos);
  CHECK(message([] { mri::poisson_disc_mask(32, 32, 2, 0.5, 4, 0); }).find("accel_z") != std::string::npos);
  CHECK(message([] { mri::poisson_disc_mask(32, 32, 2, 2, 40, 0); }).find("calib") != std::string::npos);
  CHECK_THROWS_AS(mri::poisson_disc_mask(32, 32, 2, 2, -1, 0), Error);
  CHECK_THROWS_AS(mri::poisson_disc_mask(32, 32, 4, 4, 16, 0),
                  Error);  // the 256-point calib alone is 1/4
  CHECK_THROWS_AS(mri::poisson_disc_mask(0, 32, 2, 2, 0, 0), Error);
}
