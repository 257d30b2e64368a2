// trustml/mri/masks.hpp: k-space sampling masks (fastMRI's random and equispaced masks, arXiv:1811.08839;
// SMUG's variable-density masks, arXiv:2312.07784; Poisson-disc as BART's `poisson`; docs/papers.md).
//
//   auto m = mri::random_mask(320, 320, /*acceleration=*/4, /*center_fraction=*/0.08, /*seed=*/7);
//   auto e = mri::equispaced_mask(320, 320, 4, 0.08, /*offset=*/0);
//   auto v = mri::vdrs_mask(320, 320, 4, 7);                        // SMUG journal acceleration test
//   auto p = mri::poisson_disc_mask(128, 128, /*accel_y=*/2, /*accel_z=*/2, /*calib=*/12, /*seed=*/7);
//   double r = mri::acceleration_of(m);                             // numel / number of samples
//
// Every mask is a Tensor<float, Cpu> [H, W] of zeros and ones, index [row, column], with the k-space centre at (H / 2,
// W / 2), the centre of the centred FFT of mri/sense.hpp; cast or move it as needed. The 1-D Cartesian masks select
// phase-encode COLUMNS (the last dimension) and are constant along rows, which is how fastMRI applies its masks to [..,
// rows, columns] k-space. Randomness comes only from the counter-based generator (random::uniform(seed, stream,
// index)), never from global state: the same arguments give the same mask on every machine, and nothing else is
// perturbed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::mri {

namespace detail {
// One random stream per mask kind, so that masks of different kinds drawn with one seed are unrelated.
inline constexpr std::uint64_t kRandomMaskStream = 0x6D61736B2D726E64ull;   // "mask-rnd"
inline constexpr std::uint64_t kVdrsMaskStream = 0x6D61736B2D766472ull;     // "mask-vdr"
inline constexpr std::uint64_t kPoissonMaskStream = 0x6D61736B2D706F69ull;  // "mask-poi"

// Python's round() and numpy's around(): halves go to the even neighbour. fastMRI rounds with these, so the number of
// centre lines (e.g. W * 0.04 = 12.5 -> 12) must be rounded the same way.
inline std::int64_t round_half_even(double x) {
  const double floor = std::floor(x);
  const double diff = x - floor;
  auto r = static_cast<std::int64_t>(floor);
  if (diff > 0.5 || (diff == 0.5 && (r % 2 != 0))) ++r;
  return r;
}

inline void check_size(const char* op, std::int64_t H, std::int64_t W) {
  TRUSTML_CHECK(H >= 1 && W >= 1, op, "the mask size must be at least 1 x 1, got H = ", H, ", W = ", W);
}
inline void check_acceleration(const char* op, const char* name, double acceleration) {
  TRUSTML_CHECK(acceleration >= 1 && std::isfinite(acceleration), op, name, " must be finite and >= 1, got ",
                acceleration);
}
inline void check_center_fraction(const char* op, double center_fraction) {
  TRUSTML_CHECK(center_fraction >= 0 && center_fraction <= 1, op, "center_fraction must lie in [0, 1], got ",
                center_fraction);
}

// fastMRI's centre block: num_low columns starting at (W - num_low + 1) / 2, all sampled.
inline void sample_center(std::vector<float>& columns, std::int64_t num_low) {
  const std::int64_t start = (static_cast<std::int64_t>(columns.size()) - num_low + 1) / 2;
  std::fill(columns.begin() + start, columns.begin() + start + num_low, 1.0f);
}

// A [H, W] mask whose every row is `columns`.
inline Tensor<float, Cpu> column_mask(std::int64_t H, const std::vector<float>& columns) {
  const auto W = static_cast<std::int64_t>(columns.size());
  std::vector<float> values(static_cast<std::size_t>(H * W));
  for (std::int64_t h = 0; h < H; ++h) std::copy(columns.begin(), columns.end(), values.begin() + h * W);
  return Tensor<float, Cpu>::from_vector(values, Shape{H, W});
}
}  // namespace detail

// numel / number of samples (sum of the real parts): 4 for a mask that keeps a quarter of k-space.
template <Scalar T>
double acceleration_of(const Tensor<T, Cpu>& mask) {
  double sum = 0;
  for (const T& v : mask.to_vector()) {
    if constexpr (is_complex_v<T>) sum += static_cast<double>(v.real());
    else sum += static_cast<double>(v);
  }
  TRUSTML_CHECK(sum > 0, "mri::acceleration_of", "the mask samples nothing (sum ", sum, ") in shape ", mask.shape());
  return static_cast<double>(mask.numel()) / sum;
}

// fastMRI RandomMaskFunc (fastmri/data/subsample.py): num_low = round(W * center_fraction) centre columns starting at
// (W - num_low + 1) / 2, and every column kept independently with probability (W / R - num_low) / (W - num_low) (so
// E[columns] = W / R; a negative probability keeps none). Column w is kept when random::uniform(seed, stream, w) < p:
// the draws, unlike fastMRI's numpy stream, are the library's, so masks match fastMRI's in distribution, not bit for
// bit.
inline Tensor<float, Cpu> random_mask(std::int64_t H, std::int64_t W, double acceleration, double center_fraction,
                                      std::uint64_t seed) {
  constexpr const char* op = "mri::random_mask";
  detail::check_size(op, H, W);
  detail::check_acceleration(op, "acceleration", acceleration);
  detail::check_center_fraction(op, center_fraction);
  const std::int64_t num_low = detail::round_half_even(static_cast<double>(W) * center_fraction);
  const double prob = num_low == W ? 0.0
                                   : (static_cast<double>(W) / acceleration - static_cast<double>(num_low)) /
                                         static_cast<double>(W - num_low);
  std::vector<float> columns(static_cast<std::size_t>(W), 0.0f);
  for (std::int64_t w = 0; w < W; ++w)
    if (random::uniform(seed, detail::kRandomMaskStream, static_cast<std::uint64_t>(w)) < prob) columns[w] = 1;
  detail::sample_center(columns, num_low);
  return detail::column_mask(H, columns);
}

// fastMRI EquispacedMaskFractionFunc (the mask of the public multi-coil brain data): the num_low = round(W *
// center_fraction) centre columns, plus the columns round_half_even(offset + k * R') for offset + k * R' < W - 1, where
// R' = R (num_low - W) / (num_low R - W) is the spacing that makes the total about W / R. fastMRI draws the offset from
// [0, round(R')) when none is given; here the caller passes it. Kept quirks of the original (fastMRI issue #54): the
// spacing R' is fractional, so the outer lines are only approximately equispaced, and column W - 1 is never an outer
// line. Requires num_low * R < W (otherwise the centre alone reaches the acceleration and R' is undefined).
inline Tensor<float, Cpu> equispaced_mask(std::int64_t H, std::int64_t W, double acceleration, double center_fraction,
                                          std::int64_t offset = 0) {
  constexpr const char* op = "mri::equispaced_mask";
  detail::check_size(op, H, W);
  detail::check_acceleration(op, "acceleration", acceleration);
  detail::check_center_fraction(op, center_fraction);
  TRUSTML_CHECK(offset >= 0 && offset < W, op, "offset must lie in [0, W = ", W, "), got ", offset);
  const std::int64_t num_low = detail::round_half_even(static_cast<double>(W) * center_fraction);
  TRUSTML_CHECK(static_cast<double>(num_low) * acceleration < static_cast<double>(W), op, "the ", num_low,
                " centre columns (center_fraction ", center_fraction, " of W = ", W, ") already sample 1/",
                acceleration, " of k-space; lower center_fraction or acceleration");
  const double spacing = acceleration * static_cast<double>(num_low - W) /
                         (static_cast<double>(num_low) * acceleration - static_cast<double>(W));
  std::vector<float> columns(static_cast<std::size_t>(W), 0.0f);
  // np.arange(offset, W - 1, spacing): ceil((W - 1 - offset) / spacing) values offset + k * spacing.
  const double stop = static_cast<double>(W - 1);
  const auto count = static_cast<std::int64_t>(std::ceil((stop - static_cast<double>(offset)) / spacing));
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t w = detail::round_half_even(static_cast<double>(offset) + static_cast<double>(k) * spacing);
    if (w >= 0 && w < W) columns[w] = 1;
  }
  detail::sample_center(columns, num_low);
  return detail::column_mask(H, columns);
}

// The SMUG journal's "VDRS" mask (sjames40/SMUG_journal test_acceleration.py; arXiv:2312.07784): round(0.32 W / R)
// centre columns (placed as fastMRI places its centre block) plus exactly round(W / R) - round(0.32 W / R) other
// columns drawn uniformly without replacement, so the mask has exactly round(W / R) columns. The other columns are
// those with the smallest random keys random::uniform(seed, stream, w) (ties, essentially impossible, go to the lower
// index).
inline Tensor<float, Cpu> vdrs_mask(std::int64_t H, std::int64_t W, double acceleration, std::uint64_t seed) {
  constexpr const char* op = "mri::vdrs_mask";
  detail::check_size(op, H, W);
  detail::check_acceleration(op, "acceleration", acceleration);
  const double lines = static_cast<double>(W) / acceleration;
  const std::int64_t total = detail::round_half_even(lines);
  const std::int64_t num_center = std::min(detail::round_half_even(0.32 * lines), total);
  std::vector<float> columns(static_cast<std::size_t>(W), 0.0f);
  detail::sample_center(columns, num_center);
  std::vector<std::pair<double, std::int64_t>> keyed;
  for (std::int64_t w = 0; w < W; ++w)
    if (columns[w] == 0)
      keyed.emplace_back(random::uniform(seed, detail::kVdrsMaskStream, static_cast<std::uint64_t>(w)), w);
  const auto extra = static_cast<std::size_t>(total - num_center);
  std::partial_sort(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(extra), keyed.end());
  for (std::size_t k = 0; k < extra; ++k) columns[keyed[k].second] = 1;
  return detail::column_mask(H, columns);
}

// ---- 2-D variable-density Poisson disc ----
//
// Geometry: k-space point (y, z) = (row, column) has the normalized radius rho = sqrt(((y - H/2) / (H/2))^2 + ((z -
// W/2) / (W/2))^2) (integer H/2, W/2: the FFT centre); only rho <= 1 is sampled (BART's -e elliptical shutter).
// Distances are anisotropic, d = sqrt((dy / s_y)^2 + (dz / s_z)^2) with s_y = sqrt(accel_y / accel_z) = 1 / s_z, so
// samples are accel_y / accel_z times farther apart along y than along z. The exclusion radius grows with rho, r(rho) =
// r0 (1 + v rho^2), and two samples p, q keep d(p, q) >= (r(p) + r(q)) / 2. The default v = 1.25 is the profile of
// BART's -v for -y 2 -z 2 on a square grid (BART: 1 + 20 |k|^2 with k in units of the grid before its points are
// stretched by the accelerations, |k| = rho / 4 there); v = 0 gives a uniform density. Where r < 1 every pixel is
// sampled, so variable density gives a fully sampled centre beyond the calibration block.
//
// Algorithm: dart throwing over the grid. The fully sampled calib x calib centre block (placed as BART places it, rows
// (H - calib) / 2 ...) is sampled first; then every pixel of the shutter, in a random order fixed by the seed (sorted
// Philox keys), becomes a sample if no earlier sample is closer than the radius rule allows. The result is a maximal
// Poisson disc set on the grid (every unsampled shutter pixel is within the exclusion radius of a sample), which
// Bridson's algorithm approximates with its k tries; on the grid there are no two samples in one pixel, which is what
// makes BART's continuous pattern lose points when it is rasterized.
//
// Density: BART fixes r0, so with -v its acceleration (numel / samples) comes out 2-3x larger than accel_y * accel_z
// (64 x 64, -y 2 -z 2 -C 8 -v -e: 10.2). Here r0 is chosen by bisection (as SigPy's mri.poisson chooses its slope) so
// that acceleration_of(mask) = numel / samples is accel_y * accel_z to within about 1% (grid granularity). A target
// below what the shutter itself allows (4/pi for accel_y = accel_z: the whole ellipse) gives the whole ellipse. With v
// = 0 (one radius everywhere) the grid allows only a few densities (about 0.36 of the pixels for 1 < r0 < sqrt(2) when
// accel_y = accel_z, the jamming density of nearest-neighbour exclusion), so the acceleration is the closest of those:
// 3.4 for a requested 4.
struct PoissonDisc {
  Tensor<float, Cpu> mask;      // [H, W], 0/1
  double base_radius = 0;       // r0
  double variable_density = 0;  // v
  double acceleration = 0;      // numel / samples
  std::int64_t H = 0, W = 0, calib = 0;
  double scale_y = 1, scale_z = 1;  // s_y, s_z

  double rho(std::int64_t y, std::int64_t z) const {
    const double u = static_cast<double>(y - H / 2) / (0.5 * static_cast<double>(H));
    const double v = static_cast<double>(z - W / 2) / (0.5 * static_cast<double>(W));
    return std::sqrt(u * u + v * v);
  }
  double radius_at(double r) const { return base_radius * (1.0 + variable_density * r * r); }
  double radius(std::int64_t y, std::int64_t z) const { return radius_at(rho(y, z)); }
  double distance(std::int64_t y0, std::int64_t z0, std::int64_t y1, std::int64_t z1) const {
    const double dy = static_cast<double>(y1 - y0) / scale_y, dz = static_cast<double>(z1 - z0) / scale_z;
    return std::sqrt(dy * dy + dz * dz);
  }
  bool in_calib(std::int64_t y, std::int64_t z) const {
    const std::int64_t y0 = (H - calib) / 2, z0 = (W - calib) / 2;
    return y >= y0 && y < y0 + calib && z >= z0 && z < z0 + calib;
  }
};

namespace detail {
// One dart-throwing pass with the radii of g; returns the number of samples, fills `sampled`. rho_max bounds rho over
// every pixel that can be sampled (the shutter and the calibration block).
inline std::int64_t poisson_pass(const PoissonDisc& g, const std::vector<std::int64_t>& order,
                                 const std::vector<double>& rho, double rho_max, std::vector<std::uint8_t>& sampled) {
  const std::int64_t H = g.H, W = g.W;
  std::fill(sampled.begin(), sampled.end(), std::uint8_t{0});
  std::vector<double> r(rho.size());
  for (std::size_t i = 0; i < rho.size(); ++i) r[i] = g.radius_at(rho[i]);
  const double r_max = g.radius_at(rho_max);
  std::vector<std::int64_t> samples;  // for sparse patterns, where a window would cover most of the grid
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t z = 0; z < W; ++z)
      if (g.in_calib(y, z)) {
        sampled[y * W + z] = 1;
        samples.push_back(y * W + z);
      }
  const auto excludes = [&](std::int64_t p, std::int64_t q) {
    const double dy = static_cast<double>(q / W - p / W) / g.scale_y;
    const double dz = static_cast<double>(q % W - p % W) / g.scale_z;
    const double need = 0.5 * (r[p] + r[q]);
    return dy * dy + dz * dz < need * need;
  };
  for (const std::int64_t p : order) {
    if (sampled[p]) continue;
    const std::int64_t y = p / W, z = p % W;
    const double reach = 0.5 * (r[p] + r_max);  // no sample farther than this can exclude p
    const auto wy = static_cast<std::int64_t>(reach * g.scale_y), wz = static_cast<std::int64_t>(reach * g.scale_z);
    bool free = true;
    if ((2 * wy + 1) * (2 * wz + 1) > static_cast<std::int64_t>(samples.size())) {
      for (std::size_t k = 0; free && k < samples.size(); ++k) free = !excludes(p, samples[k]);
    } else {
      for (std::int64_t yy = std::max<std::int64_t>(0, y - wy); free && yy <= std::min(H - 1, y + wy); ++yy)
        for (std::int64_t zz = std::max<std::int64_t>(0, z - wz); free && zz <= std::min(W - 1, z + wz); ++zz)
          free = !(sampled[yy * W + zz] && excludes(p, yy * W + zz));
    }
    if (free) {
      sampled[p] = 1;
      samples.push_back(p);
    }
  }
  return static_cast<std::int64_t>(samples.size());
}
}  // namespace detail

// The mask with its parameters (the radius rule), for callers and tests that need them.
inline PoissonDisc poisson_disc(std::int64_t H, std::int64_t W, double accel_y, double accel_z, std::int64_t calib,
                                std::uint64_t seed, double variable_density = 1.25) {
  constexpr const char* op = "mri::poisson_disc_mask";
  detail::check_size(op, H, W);
  detail::check_acceleration(op, "accel_y", accel_y);
  detail::check_acceleration(op, "accel_z", accel_z);
  TRUSTML_CHECK(calib >= 0 && calib <= std::min(H, W), op, "calib must lie in [0, min(H, W) = ", std::min(H, W),
                "], got ", calib);
  TRUSTML_CHECK(variable_density >= 0 && std::isfinite(variable_density), op,
                "variable_density must be finite and >= 0, got ", variable_density);
  const double target = accel_y * accel_z, numel = static_cast<double>(H * W);
  TRUSTML_CHECK(numel / static_cast<double>(std::max<std::int64_t>(calib * calib, 1)) > target, op, "the ", calib,
                " x ", calib, " calibration region alone samples more than 1/", target, " of the ", H, " x ", W,
                " grid (accel_y = ", accel_y, ", accel_z = ", accel_z, ")");
  PoissonDisc g;
  g.H = H;
  g.W = W;
  g.calib = calib;
  g.variable_density = variable_density;
  g.scale_y = std::sqrt(accel_y / accel_z);
  g.scale_z = 1.0 / g.scale_y;
  // The candidates (the shutter's pixels) in the seed's random order; ties go to the lower index.
  std::vector<double> rho(static_cast<std::size_t>(H * W));
  std::vector<std::pair<double, std::int64_t>> keyed;
  double rho_max = 1.0;
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t z = 0; z < W; ++z) {
      const std::int64_t p = y * W + z;
      rho[p] = g.rho(y, z);
      if (g.in_calib(y, z)) rho_max = std::max(rho_max, rho[p]);
      if (rho[p] <= 1.0)
        keyed.emplace_back(random::uniform(seed, detail::kPoissonMaskStream, static_cast<std::uint64_t>(p)), p);
    }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::int64_t> order(keyed.size());
  for (std::size_t i = 0; i < keyed.size(); ++i) order[i] = keyed[i].second;

  std::vector<std::uint8_t> sampled(rho.size()), best;
  double best_r0 = 0, best_accel = 0, best_error = std::numeric_limits<double>::infinity();
  const auto run = [&](double r0) {
    g.base_radius = r0;
    const std::int64_t count = detail::poisson_pass(g, order, rho, rho_max, sampled);
    const double accel = numel / static_cast<double>(std::max<std::int64_t>(count, 1));
    const double error = std::abs(std::log(accel / target));
    if (error < best_error) {
      best_error = error;
      best_r0 = r0;
      best_accel = accel;
      best = sampled;
    }
    return accel;
  };
  // Acceleration grows with r0 (up to the randomness of one pass): bracket the target, then bisect, keeping the closest
  // pattern seen. At r0 = 1 / (2 s_max (1 + v rho_max^2)) no two pixels exclude each other (they are at least 1 / s_max
  // apart), so that pass gives the whole shutter; at max_r0 every sample excludes the whole grid.
  const double r_floor = 0.5 / (std::max(g.scale_y, g.scale_z) * (1.0 + variable_density * rho_max * rho_max));
  double lo = r_floor, hi = 1;
  if (run(lo) < target) {
    const double max_r0 = 4.0 * static_cast<double>(std::max(H, W)) * std::max(g.scale_y, g.scale_z);
    while (run(hi) < target) {
      TRUSTML_CHECK(hi < max_r0, op, "cannot reach acceleration ", target, " on the ", H, " x ", W, " grid with calib ",
                    calib);
      lo = hi;
      hi *= 2;
    }
    for (int iter = 0; iter < 60 && best_error > 1e-3 && hi - lo > 1e-9 * hi; ++iter) {
      const double mid = 0.5 * (lo + hi);
      (run(mid) < target ? lo : hi) = mid;
    }
  }
  g.base_radius = best_r0;
  g.acceleration = best_accel;
  std::vector<float> values(best.begin(), best.end());
  g.mask = Tensor<float, Cpu>::from_vector(values, Shape{H, W});
  return g;
}

// The mask alone: like `bart poisson -Y H -Z W -y accel_y -z accel_z -C calib -v -e`, but with the density scaled so
// that acceleration_of(mask) is accel_y * accel_z (see PoissonDisc above); variable_density = 0 gives a uniform-density
// Poisson disc (BART without -v).
inline Tensor<float, Cpu> poisson_disc_mask(std::int64_t H, std::int64_t W, double accel_y, double accel_z,
                                            std::int64_t calib, std::uint64_t seed, double variable_density = 1.25) {
  return poisson_disc(H, W, accel_y, accel_z, calib, seed, variable_density).mask;
}

}  // namespace trustml::mri
