// trustml/mri/phantom.hpp: synthetic MRI data: phantoms, a smooth phase, coil sensitivities and complex noise,
// the small-scale stand-in for fastMRI knee data in examples/smug (phantom -> maps -> k-space -> noise; docs/papers.md).
//
//   auto x = mri::shepp_logan<double>(64);                        // [64, 64], BART's `phantom -x 64`
//   auto e = mri::random_ellipses<float>(64, /*count=*/6, /*seed=*/3);
//   auto z = mri::apply_phase(e, mri::smooth_phase<float>(64, 3, /*max_radians=*/1.0));  // complex
//   auto S = mri::coil_maps<float>(/*coils=*/8, 64, 64);            // [8, 64, 64], sum_c |S_c|^2 = 1
//   auto n = mri::complex_gaussian_noise<float>({8, 64, 64}, /*sigma=*/0.01, /*seed=*/5);
//
// Image grid (phantoms and phase): element [i, j] of an n x n image is the point x = (j - n/2) / (n/2) (left to right),
// y = (n/2 - i) / (n/2) (row 0 at the top, y up) of [-1, 1]^2, with integer n/2: the image centre is pixel (n/2, n/2),
// the centre of the centred FFT. This is the grid of BART's `phantom` (its [dim 0, dim 1] array equals our [row,
// column] tensor exactly), and it shows the phantom upright, as MATLAB's and scikit-image's phantoms are shown. For odd
// n the grid is half a pixel off symmetric, as BART's is. Pixels are point samples (no anti-aliasing).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <vector>

#include "trustml/core/random.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::mri {

// An ellipse of the phantom tables: value `intensity` inside, semi-axes a (along x before rotation) and b, centre (x0,
// y0), rotated counter-clockwise by angle_degrees.
struct Ellipse {
  double intensity, a, b, x0, y0, angle_degrees;
};

// The modified Shepp-Logan phantom: Shepp and Logan's geometry (Jain, "Fundamentals of Digital Image Processing", p.
// 439) with Toft's higher-contrast intensities (Toft, "The Radon transform", pp. 199-200), the values of MATLAB's
// phantom('Modified Shepp-Logan'), scikit-image and BART.
inline constexpr std::array<Ellipse, 10> shepp_logan_ellipses{{
    {1.0, 0.69, 0.92, 0.0, 0.0, 0.0},
    {-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0},
    {-0.2, 0.11, 0.31, 0.22, 0.0, -18.0},
    {-0.2, 0.16, 0.41, -0.22, 0.0, 18.0},
    {0.1, 0.21, 0.25, 0.0, 0.35, 0.0},
    {0.1, 0.046, 0.046, 0.0, 0.1, 0.0},
    {0.1, 0.046, 0.046, 0.0, -0.1, 0.0},
    {0.1, 0.046, 0.023, -0.08, -0.605, 0.0},
    {0.1, 0.023, 0.023, 0.0, -0.606, 0.0},
    {0.1, 0.023, 0.046, 0.06, -0.605, 0.0},
}};

namespace detail {
// The real element types (float, double): the maps and noise below are built from real parameters.
template <class T>
concept RealFloatingScalar = FloatingScalar<T> && !is_complex_v<T>;

inline void check_image_size(const char* op, std::int64_t n) {
  TRUSTML_CHECK(n >= 1, op, "the image size n must be at least 1, got ", n);
}
// The grid coordinates of index i of n (see the header comment).
inline double grid_x(std::int64_t j, std::int64_t n) {
  return static_cast<double>(j - n / 2) / (0.5 * static_cast<double>(n));
}
inline double grid_y(std::int64_t i, std::int64_t n) {
  return static_cast<double>(n / 2 - i) / (0.5 * static_cast<double>(n));
}
inline bool inside(const Ellipse& e, double x, double y) {
  const double t = e.angle_degrees * (std::numbers::pi / 180.0);
  const double dx = x - e.x0, dy = y - e.y0;
  const double u = dx * std::cos(t) + dy * std::sin(t), v = -dx * std::sin(t) + dy * std::cos(t);
  return (u / e.a) * (u / e.a) + (v / e.b) * (v / e.b) <= 1.0;
}
// Rasterizes ellipses: additive (values sum, as Shepp-Logan's) or painted (a later ellipse covers earlier ones).
template <class T>
Tensor<T, Cpu> rasterize(std::int64_t n, const std::vector<Ellipse>& ellipses, bool additive) {
  std::vector<T> values(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double x = grid_x(j, n), y = grid_y(i, n);
      double v = 0;
      for (const Ellipse& e : ellipses)
        if (inside(e, x, y)) v = additive ? v + e.intensity : e.intensity;
      values[i * n + j] = T(static_cast<real_t<T>>(v));
    }
  return Tensor<T, Cpu>::from_vector(values, Shape{n, n});
}
}  // namespace detail

// The modified Shepp-Logan phantom on the n x n grid: background 0, skull rim 1, brain 0.2, ventricles 0, the small
// features 0.3 (and 0.1 or 0.4 in a few pixels where ellipses overlap). For complex T the imaginary part is 0. The
// area-weighted mean over [-1, 1]^2, sum_k intensity_k pi a_k b_k / 4 = 0.12382, is what the pixel mean approaches as n
// grows (0.12224 at n = 64, 0.12416 at n = 256).
template <FloatingScalar T = double>
Tensor<T, Cpu> shepp_logan(std::int64_t n) {
  detail::check_image_size("mri::shepp_logan", n);
  return detail::rasterize<T>(n, {shepp_logan_ellipses.begin(), shepp_logan_ellipses.end()}, true);
}

// A random piecewise-constant phantom: `count` ellipses, each with semi-axes a in [0.08, 0.45] and b = a * [0.3, 1], a
// centre within 0.95 - a of the origin (so every ellipse lies in the disk of radius 0.95), a uniform rotation and an
// intensity in [0.1, 1]; a later ellipse is painted over earlier ones, so values are 0 (background) or one ellipse's
// intensity, all in [0, 1]. Ellipse k uses draws 8k .. 8k + 5 of random::uniform(seed, stream, .): the same seed gives
// the same phantom.
template <FloatingScalar T = float>
Tensor<T, Cpu> random_ellipses(std::int64_t n, std::int64_t count, std::uint64_t seed) {
  constexpr const char* op = "mri::random_ellipses";
  detail::check_image_size(op, n);
  TRUSTML_CHECK(count >= 0, op, "the number of ellipses must be non-negative, got ", count);
  constexpr std::uint64_t stream = 0x7068616E2D656C6Cull;  // "phan-ell"
  std::vector<Ellipse> ellipses;
  for (std::int64_t k = 0; k < count; ++k) {
    const auto u = [&](std::uint64_t field) {
      return random::uniform(seed, stream, 8 * static_cast<std::uint64_t>(k) + field);
    };
    const double a = 0.08 + 0.37 * u(0), b = a * (0.3 + 0.7 * u(1));
    const double r = (0.95 - a) * std::sqrt(u(2)), phi = 2 * std::numbers::pi * u(3);
    ellipses.push_back({0.1 + 0.9 * u(5), a, b, r * std::cos(phi), r * std::sin(phi), 180.0 * u(4)});
  }
  return detail::rasterize<T>(n, ellipses, false);
}

// A smooth random phase map in radians on the n x n grid: phi = sum of c_k b_k(x, y) over the quadratic monomials b =
// (1, x, y, x^2, x y, y^2) with c_k uniform in [-1, 1], scaled so that max |phi| over the grid is exactly max_radians
// (0 gives a zero map). Real MR images carry such a slowly varying phase (B0 and coil phase), which makes the real and
// imaginary channels both matter.
template <detail::RealFloatingScalar T = float>
Tensor<T, Cpu> smooth_phase(std::int64_t n, std::uint64_t seed, double max_radians) {
  constexpr const char* op = "mri::smooth_phase";
  detail::check_image_size(op, n);
  TRUSTML_CHECK(max_radians >= 0 && std::isfinite(max_radians), op, "max_radians must be finite and >= 0, got ",
                max_radians);
  constexpr std::uint64_t stream = 0x7068616E2D706873ull;  // "phan-phs"
  std::array<double, 6> c{};
  for (std::size_t k = 0; k < c.size(); ++k) c[k] = 2 * random::uniform(seed, stream, k) - 1;
  std::vector<double> phi(static_cast<std::size_t>(n * n));
  double peak = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double x = detail::grid_x(j, n), y = detail::grid_y(i, n);
      const double v = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y;
      phi[i * n + j] = v;
      peak = std::max(peak, std::abs(v));
    }
  const double scale = peak > 0 ? max_radians / peak : 0.0;
  std::vector<T> values(phi.size());
  for (std::size_t k = 0; k < phi.size(); ++k) values[k] = static_cast<T>(phi[k] * scale);
  return Tensor<T, Cpu>::from_vector(values, Shape{n, n});
}

// image * exp(i phase), elementwise: a real phantom made complex (same shapes required).
template <detail::RealFloatingScalar T>
Tensor<std::complex<T>, Cpu> apply_phase(const Tensor<T, Cpu>& image, const Tensor<T, Cpu>& phase) {
  TRUSTML_CHECK(image.shape() == phase.shape(), "mri::apply_phase", "image shape ", image.shape(),
                " differs from phase shape ", phase.shape());
  const std::vector<T> m = image.to_vector(), p = phase.to_vector();
  std::vector<std::complex<T>> values(m.size());
  for (std::size_t k = 0; k < m.size(); ++k) values[k] = std::polar(m[k], p[k]);
  return Tensor<std::complex<T>, Cpu>::from_vector(values, image.shape());
}

// Birdcage coil sensitivities, the model of SigPy's mri.sim.birdcage_maps: coil c sits at (x, y) = radius (cos 2 pi c /
// C, sin 2 pi c / C) with x = (column - W/2) / (W/2) and y = (row - H/2) / (H/2) (rows downwards, as SigPy's meshgrid);
// at a pixel at offset (dx, dy) from coil c the map is (1 / sqrt(dx^2 + dy^2)) exp(i (atan2(dx, -dy) - 2 pi c / C)).
// The maps are then normalized as `bart normalize 8` (and SigPy) do: divided by sqrt(sum_c |S_c|^2) at every pixel, so
// sum_c |S_c|^2 = 1 and the SENSE operator is unitary where k-space is fully sampled. radius > sqrt(2) keeps every coil
// outside the image.
template <detail::RealFloatingScalar T = float>
Tensor<std::complex<T>, Cpu> coil_maps(std::int64_t num_coils, std::int64_t H, std::int64_t W, double radius = 1.5) {
  constexpr const char* op = "mri::coil_maps";
  TRUSTML_CHECK(num_coils >= 1, op, "the number of coils must be at least 1, got ", num_coils);
  TRUSTML_CHECK(H >= 1 && W >= 1, op, "the map size must be at least 1 x 1, got H = ", H, ", W = ", W);
  TRUSTML_CHECK(radius > std::sqrt(2.0) && std::isfinite(radius), op,
                "the coil radius must exceed sqrt(2) (coils outside the image), got ", radius);
  const std::int64_t plane = H * W;
  std::vector<std::complex<double>> maps(static_cast<std::size_t>(num_coils * plane));
  std::vector<double> power(static_cast<std::size_t>(plane), 0.0);
  for (std::int64_t c = 0; c < num_coils; ++c) {
    const double angle = 2 * std::numbers::pi * static_cast<double>(c) / static_cast<double>(num_coils);
    const double cx = radius * std::cos(angle), cy = radius * std::sin(angle);
    for (std::int64_t i = 0; i < H; ++i)
      for (std::int64_t j = 0; j < W; ++j) {
        const double dx = detail::grid_x(j, W) - cx, dy = -detail::grid_y(i, H) - cy;  // rows downwards
        const std::complex<double> s = std::polar(1.0 / std::sqrt(dx * dx + dy * dy), std::atan2(dx, -dy) - angle);
        maps[c * plane + i * W + j] = s;
        power[i * W + j] += std::norm(s);
      }
  }
  std::vector<std::complex<T>> values(maps.size());
  for (std::size_t k = 0; k < maps.size(); ++k) {
    const std::complex<double> s = maps[k] / std::sqrt(power[k % static_cast<std::size_t>(plane)]);
    values[k] = std::complex<T>(static_cast<T>(s.real()), static_cast<T>(s.imag()));
  }
  return Tensor<std::complex<T>, Cpu>::from_vector(values, Shape{num_coils, H, W});
}

// Complex Gaussian noise whose real and imaginary parts are independent N(0, sigma^2), so E|n|^2 = 2 sigma^2, on any
// device. Note the factor: Tensor<complex>::randn has N(0, 1/2) parts (E|z|^2 = 1); this is that tensor, the same
// draws (seed, offset), times sqrt(2) sigma.
template <detail::RealFloatingScalar T = float, class D = Cpu>
Tensor<std::complex<T>, D> complex_gaussian_noise(const Shape& shape, double sigma, std::uint64_t seed,
                                                  std::uint64_t offset = 0) {
  TRUSTML_CHECK(sigma >= 0 && std::isfinite(sigma), "mri::complex_gaussian_noise",
                "sigma must be finite and >= 0, got ", sigma, " for shape ", shape);
  using C = std::complex<T>;
  return scale(Tensor<C, D>::randn(shape, seed, offset), C(static_cast<T>(sigma * std::numbers::sqrt2)));
}

}  // namespace trustml::mri
