// MRI reconstruction metrics (trustml/mri/metrics.hpp): values against the real peers (SMUG's PSNR
// expression in torch, pytorch_msssim.ssim, fastMRI's evaluate.py on skimage), analytic values,
// invariants (identity, symmetry, scaling) and bad input.
//
// The reference values come from tests/mri/metrics_reference.py (run it to regenerate them; it
// records the package versions). The images are rebuilt here with the same formulas.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <trustml/mri/metrics.hpp>
#include <trustml/trustml.hpp>  // abs, slice, squeeze, cast and their derivative rules
#include <vector>

using namespace trustml;
using namespace trustml::mri;
using C = std::complex<double>;
using Tc = Tensor<C>;
using Tr = Tensor<double>;

namespace {
constexpr std::int64_t kB = 2, kH = 24, kW = 20;

// metrics_reference.py images(): target, and recon = target + a smooth error.
struct Pair {
  Tc target, recon;
};
Pair images() {
  std::vector<C> t, r;
  for (int b = 0; b < kB; ++b)
    for (int i = 0; i < kH; ++i)
      for (int j = 0; j < kW; ++j) {
        const double r2 = (i - 11.5) * (i - 11.5) + (j - 9.5) * (j - 9.5);
        const double mag = 0.7 * std::exp(-r2 / 60.0) + 0.15 * (1.0 + std::cos(0.7 * i + 0.3 * b) * std::sin(0.5 * j));
        const double phase = 0.1 * (i + 2 * j) + 0.5 * b;
        const C v(mag * std::cos(phase), mag * std::sin(phase));
        const C d(0.08 * std::sin(1.3 * i + 0.7 * j + b), 0.06 * std::cos(0.9 * i - 1.1 * j + 2 * b));
        t.push_back(v);
        r.push_back(v + d);
      }
  return {Tc::from_vector(t, Shape{kB, kH, kW}), Tc::from_vector(r, Shape{kB, kH, kW})};
}

Tc scaled(const Tc& x, C c) {
  std::vector<C> v = x.to_vector();
  for (C& e : v) e *= c;
  return Tc::from_vector(v, x.shape());
}
Tr scaled(const Tr& x, double c) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e *= c;
  return Tr::from_vector(v, x.shape());
}

void check_rel(double got, double want, double rel) {
  INFO("got " << got << ", want " << want);
  CHECK(std::abs(got - want) <= rel * std::abs(want));
}

// The message of the trustml::Error that f throws, or "" if it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("mri metrics: SMUG convention against SMUG's PSNR expression and pytorch_msssim") {
  const auto [target, recon] = images();
  // SMUG util/metrics.py PSNR in torch float64, one image at a time.
  const ImageScores psnr = psnr_complex(recon, target);
  REQUIRE(psnr.values.size() == 2);
  check_rel(psnr.values[0], 22.65792339434425, 1e-12);
  check_rel(psnr.values[1], 22.72726374995952, 1e-12);
  check_rel(psnr.mean(), 0.5 * (22.65792339434425 + 22.72726374995952), 1e-12);
  check_rel(psnr.std(), 0.5 * (22.72726374995952 - 22.65792339434425), 1e-9);

  // pytorch_msssim.ssim(data_range=2) on [B, 2, H, W] float64, as SMUG runs it: the window is built in
  // float32, which alone moves the value by 4.7e-8 relative (this file uses a double window), so 1e-6.
  const ImageScores ssim = ssim_realimag(recon, target);
  REQUIRE(ssim.values.size() == 2);
  check_rel(ssim.values[0], 0.9447780548860429, 1e-6);
  check_rel(ssim.values[1], 0.9437168311479588, 1e-6);
  // The same call with the Gaussian window built in float64 (passed as win=): rounding only.
  check_rel(ssim.values[0], 0.9447780105421497, 1e-12);
  check_rel(ssim.values[1], 0.9437167840143847, 1e-12);
  const ImageScores ssim1 = ssim_realimag(recon, target, 1.0);
  check_rel(ssim1.values[0], 0.9395867953676382, 1e-12);
  check_rel(ssim1.values[1], 0.9383249245537542, 1e-12);

  // One image as [H, W], a [1, H, W] view of the batch, and single precision.
  CHECK(psnr_complex(recon.slice(0, 1, 2), target.slice(0, 1, 2)).values == std::vector{psnr.values[1]});
  CHECK(ssim_realimag(recon.slice(0, 1, 2).squeeze(0), target.slice(0, 1, 2).squeeze(0)).values ==
        std::vector{ssim.values[1]});
  const auto rf = recon.cast<std::complex<float>>(), tf = target.cast<std::complex<float>>();
  check_rel(psnr_complex(rf, tf).values[0], psnr.values[0], 1e-5);  // float inputs, double arithmetic
  check_rel(ssim_realimag(rf, tf).values[0], ssim.values[0], 1e-6);
}

TEST_CASE("mri metrics: fastMRI convention against fastmri/evaluate.py on skimage") {
  const auto [target, recon] = images();
  const Tr gt = abs(target), pred = abs(recon);  // magnitude volumes [2, 24, 20]
  check_rel(nmse(gt, pred), 0.012340289808566975, 1e-12);
  check_rel(psnr_fastmri(gt, pred), 25.84760744013643, 1e-12);  // data_range = gt.max() = 0.9680171285278448
  check_rel(psnr_fastmri(gt, pred, 1.5), 29.651771781707946, 1e-12);
  check_rel(ssim_fastmri(gt, pred), 0.933311929284284, 1e-12);
  check_rel(ssim_fastmri(gt, pred, 1.5), 0.9356237810200948, 1e-12);
  // Per slice, with the volume's maximum as the data range, and as a plain [H, W] slice.
  check_rel(ssim_fastmri(gt.slice(0, 0, 1), pred.slice(0, 0, 1), 0.9680171285278448), 0.932656274500363, 1e-12);
  check_rel(ssim_fastmri(gt.slice(0, 1, 2).squeeze(0), pred.slice(0, 1, 2).squeeze(0), 0.9680171285278448),
            0.9339675840682048, 1e-12);
  // The volume PSNR is not the mean of per-slice PSNRs: the MSE is pooled over the volume.
  const double per_slice = 0.5 * (psnr_fastmri(gt.slice(0, 0, 1), pred.slice(0, 0, 1), 0.9680171285278448) +
                                  psnr_fastmri(gt.slice(0, 1, 2), pred.slice(0, 1, 2), 0.9680171285278448));
  CHECK(std::abs(per_slice - psnr_fastmri(gt, pred)) > 1e-6);
}

TEST_CASE("mri metrics: analytic values") {
  // Target with peak |target| = 1 and a constant error 0.1 + 0i: MSE 0.01, PSNR 20 dB.
  const auto [target, recon] = images();
  std::vector<C> t = target.to_vector();
  t[7] = C(0.6, -0.8);  // |t| = 1, the largest
  std::vector<C> r = t;
  for (C& v : r) v += C(0.1, 0);
  const Tc tt = Tc::from_vector(t, target.shape()), rr = Tc::from_vector(r, target.shape());
  CHECK(psnr_complex(rr, tt).values[0] == doctest::Approx(20).epsilon(1e-12));

  // fastMRI: gt max 2, pred = gt + 0.2: PSNR 10 log10(4 / 0.04) = 20; pred = 0.9 gt: NMSE 0.01.
  std::vector<double> g = abs(target).to_vector();
  const double gmax = *std::max_element(g.begin(), g.end());
  for (double& v : g) v *= 2 / gmax;
  std::vector<double> p = g;
  for (double& v : p) v += 0.2;
  const Tr gt = Tr::from_vector(g, target.shape());
  CHECK(psnr_fastmri(gt, Tr::from_vector(p, gt.shape())) == doctest::Approx(20).epsilon(1e-12));
  CHECK(nmse(gt, scaled(gt, 0.9)) == doctest::Approx(0.01).epsilon(1e-12));

  // Constant images have zero variance: SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1).
  const auto lum = [](double a, double b, double range) {
    const double c1 = 1e-4 * range * range;
    return (2 * a * b + c1) / (a * a + b * b + c1);
  };
  const Tc ca = Tc::full(Shape{12, 13}, C(0.5, -0.2)), cb = Tc::full(Shape{12, 13}, C(0.3, 0.1));
  CHECK(ssim_realimag(ca, cb).values[0] == doctest::Approx(0.5 * (lum(0.5, 0.3, 2) + lum(-0.2, 0.1, 2))));
  const Tr fa = Tr::full(Shape{3, 9, 8}, 0.7), fb = Tr::full(Shape{3, 9, 8}, 0.4);
  CHECK(ssim_fastmri(fa, fb) == doctest::Approx(lum(0.7, 0.4, 0.7)));
  CHECK(ssim_fastmri(fa, fb, 1.0) == doctest::Approx(lum(0.7, 0.4, 1.0)));
}

TEST_CASE("mri metrics: identity, symmetry and scaling") {
  const auto [target, recon] = images();
  const Tr gt = abs(target), pred = abs(recon);
  // Identical images: PSNR is +inf (MSE 0, as numpy/torch give), SSIM 1, NMSE 0.
  for (double v : psnr_complex(target, target).values) CHECK(v == std::numeric_limits<double>::infinity());
  for (double v : ssim_realimag(target, target).values) CHECK(v == doctest::Approx(1).epsilon(1e-14));
  CHECK(psnr_fastmri(gt, gt) == std::numeric_limits<double>::infinity());
  CHECK(ssim_fastmri(gt, gt) == doctest::Approx(1).epsilon(1e-14));
  CHECK(nmse(gt, gt) == 0);

  // SSIM is symmetric; the fastMRI SSIM only with a fixed data range (the default is max of the first).
  // (Not bitwise: the compiler may contract a * a + b * b into an fma, which is not symmetric.)
  const ImageScores st = ssim_realimag(recon, target), ts = ssim_realimag(target, recon);
  for (std::int64_t b = 0; b < kB; ++b) CHECK(st.values[b] == doctest::Approx(ts.values[b]).epsilon(1e-15));
  CHECK(ssim_fastmri(gt, pred, 1.0) == doctest::Approx(ssim_fastmri(pred, gt, 1.0)).epsilon(1e-15));
  // Complex PSNR takes its peak from the target: swapping shifts it by 20 log10(max|recon| / max|target|).
  const auto peak = [](const Tc& x, std::int64_t b) {
    double m = 0;
    for (const C& v : x.slice(0, b, b + 1).to_vector()) m = std::max(m, std::abs(v));
    return m;
  };
  for (std::int64_t b = 0; b < kB; ++b)
    CHECK(psnr_complex(target, recon).values[b] - psnr_complex(recon, target).values[b] ==
          doctest::Approx(20 * std::log10(peak(recon, b) / peak(target, b))).epsilon(1e-12));

  // Scaling both images: complex PSNR is invariant under any complex factor (a global phase too),
  // the fastMRI PSNR, SSIM (default range) and NMSE under a positive one; the real/imaginary SSIM
  // when the data range scales with the images.
  const C c = std::polar(3.0, 0.7);
  const ImageScores p0 = psnr_complex(recon, target), p1 = psnr_complex(scaled(recon, c), scaled(target, c));
  for (std::int64_t b = 0; b < kB; ++b) CHECK(p1.values[b] == doctest::Approx(p0.values[b]).epsilon(1e-13));
  const ImageScores s0 = ssim_realimag(recon, target), s1 = ssim_realimag(scaled(recon, 3), scaled(target, 3), 6.0);
  for (std::int64_t b = 0; b < kB; ++b) CHECK(s1.values[b] == doctest::Approx(s0.values[b]).epsilon(1e-13));
  CHECK(psnr_fastmri(scaled(gt, 3), scaled(pred, 3)) == doctest::Approx(psnr_fastmri(gt, pred)).epsilon(1e-13));
  CHECK(ssim_fastmri(scaled(gt, 3), scaled(pred, 3)) == doctest::Approx(ssim_fastmri(gt, pred)).epsilon(1e-13));
  CHECK(nmse(scaled(gt, 3), scaled(pred, 3)) == doctest::Approx(nmse(gt, pred)).epsilon(1e-13));
  // A larger error lowers PSNR and SSIM and raises NMSE.
  const Tc worse = Tc::from_vector(
      [&] {
        std::vector<C> v = recon.to_vector(), t = target.to_vector();
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = t[i] + 2.0 * (v[i] - t[i]);
        return v;
      }(),
      recon.shape());
  CHECK(psnr_complex(worse, target).values[0] == doctest::Approx(p0.values[0] - 20 * std::log10(2.0)));
  CHECK(ssim_realimag(worse, target).values[0] < s0.values[0]);
  CHECK(nmse(gt, abs(worse)) > nmse(gt, pred));
  CHECK(ssim_fastmri(gt, abs(worse)) < ssim_fastmri(gt, pred));

  // ImageScores: mean and population standard deviation.
  const ImageScores s{{1.0, 2.0, 4.0}};
  CHECK(s.mean() == doctest::Approx(7.0 / 3));
  CHECK(s.std() == doctest::Approx(std::sqrt((16.0 + 1.0 + 25.0) / 27.0)));
}

TEST_CASE("mri metrics: bad input names the function and the shapes") {
  const auto [target, recon] = images();
  const Tr gt = abs(target), pred = abs(recon);
  const Tc other = Tc::zeros(Shape{2, 24, 21});
  std::string m = error_of([&] { psnr_complex(recon, other); });
  CHECK(m.find("mri::psnr_complex") != std::string::npos);
  CHECK(m.find("[2, 24, 20]") != std::string::npos);
  CHECK(m.find("[2, 24, 21]") != std::string::npos);
  CHECK(error_of([&] { ssim_realimag(recon, other); }).find("mri::ssim_realimag") != std::string::npos);
  m = error_of([&] { nmse(gt, pred.slice(0, 0, 1)); });
  CHECK(m.find("mri::nmse") != std::string::npos);
  CHECK(m.find("[1, 24, 20]") != std::string::npos);
  CHECK(error_of([&] { psnr_fastmri(gt, pred.slice(2, 0, 10)); }).find("mri::psnr_fastmri") != std::string::npos);
  CHECK(error_of([&] { ssim_fastmri(gt, pred.slice(1, 0, 10)); }).find("mri::ssim_fastmri") != std::string::npos);

  // Empty, wrong rank, smaller than the window.
  const Tc empty = Tc::zeros(Shape{0, 24, 20});
  CHECK(error_of([&] { psnr_complex(empty, empty); }).find("empty") != std::string::npos);
  CHECK(error_of([&] {
          nmse(Tr::zeros(Shape{2, 0, 3}), Tr::zeros(Shape{2, 0, 3}));
        }).find("empty") != std::string::npos);
  CHECK_THROWS_AS(psnr_complex(Tc::ones(Shape{5}), Tc::ones(Shape{5})), Error);
  CHECK_THROWS_AS(ssim_fastmri(Tr::ones(Shape{1, 2, 8, 8}), Tr::ones(Shape{1, 2, 8, 8})), Error);
  CHECK(error_of([&] {
          ssim_realimag(Tc::ones(Shape{10, 30}), Tc::ones(Shape{10, 30}));
        }).find("11 x 11") != std::string::npos);
  CHECK_NOTHROW(ssim_realimag(Tc::ones(Shape{11, 11}), Tc::ones(Shape{11, 11})));
  CHECK(error_of([&] {
          ssim_fastmri(Tr::ones(Shape{7, 6}), Tr::ones(Shape{7, 6}));
        }).find("7 x 7") != std::string::npos);
  CHECK_NOTHROW(ssim_fastmri(Tr::ones(Shape{7, 7}), Tr::ones(Shape{7, 7})));

  // Non-positive data ranges: given, or implied by an all-zero target / gt.
  CHECK(error_of([&] { ssim_realimag(recon, target, 0.0); }).find("data_range") != std::string::npos);
  CHECK_THROWS_AS(ssim_realimag(recon, target, -2.0), Error);
  CHECK_THROWS_AS(ssim_realimag(recon, target, std::nan("")), Error);
  CHECK_THROWS_AS(psnr_fastmri(gt, pred, 0.0), Error);
  CHECK_THROWS_AS(ssim_fastmri(gt, pred, -1.0), Error);
  const Tr zero = Tr::zeros(gt.shape());
  CHECK(error_of([&] { psnr_fastmri(zero, pred); }).find("gt.max()") != std::string::npos);
  CHECK_THROWS_AS(ssim_fastmri(zero, pred), Error);
  CHECK_THROWS_AS(nmse(zero, pred), Error);
  CHECK(error_of([&] { psnr_complex(recon, Tc::zeros(recon.shape())); }).find("all zero") != std::string::npos);
  CHECK_NOTHROW(psnr_fastmri(zero, pred, 1.0));  // a given range makes an all-zero gt valid
  CHECK_THROWS_AS(psnr_complex(Tc(), target), Error);
}

TEST_CASE("nrmse: BART's relative error of a complex reconstruction") {
  const auto x = Tensor<std::complex<double>>::randn({2, 5, 6}, 3);
  CHECK(mri::nrmse(x, x) == 0);
  CHECK(mri::nrmse(scale(x, std::complex<double>(0, 2)), x) == doctest::Approx(std::sqrt(5.0)));  // |2i - 1| = sqrt 5
  CHECK_THROWS_WITH_AS(mri::nrmse(x, x.slice(0, 0, 1)), doctest::Contains("mri::nrmse"), Error);
  CHECK_THROWS_WITH_AS(mri::nrmse(x, Tensor<std::complex<double>>::zeros({2, 5, 6})), doctest::Contains("zero"), Error);
}
