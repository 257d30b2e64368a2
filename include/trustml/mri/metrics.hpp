// trustml/mri/metrics.hpp: MRI reconstruction metrics, one function per convention, because the
// conventions give different numbers for the same images and every reported number must say which
// one it used (SMUG, arXiv:2303.12735 and arXiv:2312.07784; fastMRI, arXiv:1811.08839; docs/papers.md).
//
//   SMUG's convention (LGM70/SMUG util/metrics.py and test.py), complex images [B, H, W] or [H, W]:
//     ImageScores p = psnr_complex(recon, target);   // 10 log10(max_p |target_p|^2 / mean_p |recon_p - target_p|^2)
//     ImageScores s = ssim_realimag(recon, target);  // pytorch_msssim SSIM(data_range=2, channel=2) on re/im
//     p.mean(), p.std()                               // SMUG prints np.average +- np.std over the test slices
//   fastMRI's convention (fastmri/evaluate.py), real magnitude volumes [slices, H, W] (or one [H, W] slice);
//   trustml::abs(x) (ops/elementwise.hpp) gives the magnitude of a complex image:
//     double e = nmse(gt, pred);          // ||gt - pred||^2 / ||gt||^2 over the volume
//     double q = psnr_fastmri(gt, pred);  // skimage peak_signal_noise_ratio, data_range = gt.max() of the volume
//     double r = ssim_fastmri(gt, pred);  // skimage structural_similarity per slice (7x7 uniform), averaged
//
// Mind the argument order: the SMUG pair takes (recon, target) (SMUG's own PSNR(label, result) takes
// the label first), the fastMRI trio (gt, pred) as evaluate.py does. The order matters for
// psnr_complex (peak from target), nmse and the fastMRI pair (data range from gt); SSIM itself is
// symmetric.
//
// All metrics copy the tensors to the host and compute in double precision, whatever T and D are;
// they are evaluation code, not differentiable. Identical images give PSNR = +infinity (the MSE is
// 0, as in the references), SSIM = 1 and NMSE = 0. Mismatched shapes, empty tensors, a rank other
// than 2 or 3, images smaller than the SSIM window and a non-positive data range (including an
// all-zero target or gt) throw trustml::Error.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <concepts>
#include <cstdint>
#include <optional>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::mri {

// Per-image values of a metric, in batch order, with the summary SMUG reports.
struct ImageScores {
  std::vector<double> values;

  double mean() const {
    TRUSTML_CHECK(!values.empty(), "mri::ImageScores::mean", "no values");
    double s = 0;
    for (double v : values) s += v;
    return s / static_cast<double>(values.size());
  }
  // Population standard deviation (ddof = 0), as np.std in SMUG's test.py.
  double std() const {
    const double m = mean();
    double s = 0;
    for (double v : values) s += (v - m) * (v - m);
    return std::sqrt(s / static_cast<double>(values.size()));
  }
};

namespace detail {

// [B, H, W] or [H, W] (B = 1) after checking the shapes of both arguments.
struct ImageDims {
  std::int64_t batch, height, width;
  std::int64_t pixels() const { return height * width; }
};

template <class A, class B>
ImageDims image_dims(const A& a, const B& b, const char* op, const char* a_name, const char* b_name) {
  TRUSTML_CHECK(a.defined() && b.defined(), op, "undefined tensor");
  const Shape& s = a.shape();
  TRUSTML_CHECK(s == b.shape(), op, "shapes differ: ", a_name, " ", s, " vs ", b_name, " ", b.shape());
  TRUSTML_CHECK(s.rank == 2 || s.rank == 3, op, "expects [B, H, W] or [H, W] images, got ", a_name, " ", s);
  TRUSTML_CHECK(s.numel() > 0, op, "empty input: ", a_name, " ", s, " vs ", b_name, " ", b.shape());
  return s.rank == 2 ? ImageDims{1, s[0], s[1]} : ImageDims{s[0], s[1], s[2]};
}

// Host copy in double precision (to_vector copies from any device, gathering strided views).
template <std::floating_point T, class D>
std::vector<double> host_double(const Tensor<T, D>& t) {
  const std::vector<T> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}
template <std::floating_point T, class D>
std::vector<std::complex<double>> host_double(const Tensor<std::complex<T>, D>& t) {
  const std::vector<std::complex<T>> v = t.to_vector();
  return std::vector<std::complex<double>>(v.begin(), v.end());
}

// Separable VALID filtering of an h x w image with the 1-D window `win` along both axes: output
// (h - k + 1) x (w - k + 1). Both references reduce to this: pytorch_msssim convolves without
// padding, and skimage filters with reflection but then crops (win - 1) / 2 from every side
// (`crop(S, pad).mean()`), which leaves exactly the windows that lie inside the image.
inline std::vector<double> filter_valid(const std::vector<double>& img, std::int64_t h, std::int64_t w,
                                        const std::vector<double>& win) {
  const auto k = static_cast<std::int64_t>(win.size());
  const std::int64_t oh = h - k + 1, ow = w - k + 1;
  std::vector<double> rows(static_cast<std::size_t>(h * ow)), out(static_cast<std::size_t>(oh * ow));
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j < ow; ++j) {
      double s = 0;
      for (std::int64_t t = 0; t < k; ++t) s += win[t] * img[i * w + j + t];
      rows[i * ow + j] = s;
    }
  for (std::int64_t i = 0; i < oh; ++i)
    for (std::int64_t j = 0; j < ow; ++j) {
      double s = 0;
      for (std::int64_t t = 0; t < k; ++t) s += win[t] * rows[(i + t) * ow + j];
      out[i * ow + j] = s;
    }
  return out;
}

// Mean over the valid region of the SSIM map of two h x w images. The local moments are the
// window-weighted ones (E[xy] - E[x]E[y]), times cov_norm: 1 for pytorch_msssim ("compensation"),
// N / (N - 1) for skimage's use_sample_covariance=True with N = win_size^2.
inline double ssim_mean(const std::vector<double>& x, const std::vector<double>& y, std::int64_t h, std::int64_t w,
                        const std::vector<double>& win, double data_range, double cov_norm) {
  const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
  std::vector<double> xx(x.size()), yy(x.size()), xy(x.size());
  for (std::size_t p = 0; p < x.size(); ++p) {
    xx[p] = x[p] * x[p];
    yy[p] = y[p] * y[p];
    xy[p] = x[p] * y[p];
  }
  const std::vector<double> mx = filter_valid(x, h, w, win), my = filter_valid(y, h, w, win);
  const std::vector<double> mxx = filter_valid(xx, h, w, win), myy = filter_valid(yy, h, w, win),
                            mxy = filter_valid(xy, h, w, win);
  double sum = 0;
  for (std::size_t p = 0; p < mx.size(); ++p) {
    const double vx = cov_norm * (mxx[p] - mx[p] * mx[p]), vy = cov_norm * (myy[p] - my[p] * my[p]),
                 vxy = cov_norm * (mxy[p] - mx[p] * my[p]);
    sum += (2 * mx[p] * my[p] + c1) * (2 * vxy + c2) / ((mx[p] * mx[p] + my[p] * my[p] + c1) * (vx + vy + c2));
  }
  return sum / static_cast<double>(mx.size());
}

// pytorch_msssim's _fspecial_gauss_1d(11, 1.5): exp(-(i - 5)^2 / (2 sigma^2)), normalized to sum 1.
// It builds the window in float32 even for float64 images; this one is double, which moves SSIM by
// ~5e-8 relative (tests/mri/metrics_reference.py prints both).
inline std::vector<double> gaussian_window(int size = 11, double sigma = 1.5) {
  std::vector<double> g(static_cast<std::size_t>(size));
  double s = 0;
  for (int i = 0; i < size; ++i) {
    const double c = i - size / 2;
    g[i] = std::exp(-c * c / (2 * sigma * sigma));
    s += g[i];
  }
  for (double& v : g) v /= s;
  return g;
}

// The data range the fastMRI pair uses: the caller's, else the maximum of the gt volume.
inline double data_range_or_max(std::optional<double> given, const std::vector<double>& gt, const Shape& shape,
                                const char* op) {
  const double range = given ? *given : *std::max_element(gt.begin(), gt.end());
  TRUSTML_CHECK(range > 0, op, "data range (", given ? "given" : "gt.max()", ") must be positive, got ", range, " (gt ",
                shape, ")");
  return range;
}

}  // namespace detail

// SMUG's complex PSNR per image: 10 log10(max_p |target_p|^2 / MSE_c), MSE_c = mean over pixels of
// |recon_p - target_p|^2 (real plus imaginary squared errors). SMUG's PSNR(label, result) computes
// mean((img1 - img2)^2) * 2 over the [1, 2, H, W] real/imaginary tensor, which is the same, and
// takes the peak from its first argument, the label. +inf where recon equals target.
template <std::floating_point T, class D>
ImageScores psnr_complex(const Tensor<std::complex<T>, D>& recon, const Tensor<std::complex<T>, D>& target) {
  const char* op = "mri::psnr_complex";
  const detail::ImageDims d = detail::image_dims(recon, target, op, "recon", "target");
  const std::vector<std::complex<double>> r = detail::host_double(recon), t = detail::host_double(target);
  ImageScores out;
  for (std::int64_t b = 0; b < d.batch; ++b) {
    double peak = 0, se = 0;
    for (std::int64_t p = b * d.pixels(); p < (b + 1) * d.pixels(); ++p) {
      peak = std::max(peak, std::norm(t[p]));
      se += std::norm(r[p] - t[p]);
    }
    TRUSTML_CHECK(peak > 0, op, "image ", b, " of target ", target.shape(),
                  " is all zero: the peak max|target|^2 (the data range) must be positive");
    out.values.push_back(10 * std::log10(peak / (se / static_cast<double>(d.pixels()))));
  }
  return out;
}

// SSIM as SMUG reports it: pytorch_msssim.SSIM(data_range=2.0, channel=2) on the real and imaginary
// parts as two channels (pytorch_msssim/ssim.py): 11 x 11 Gaussian window (sigma 1.5) applied
// separably with VALID convolution, K1 = 0.01, K2 = 0.03, C1 = (K1 L)^2, C2 = (K2 L)^2,
// window-weighted (population) moments, the SSIM map averaged over pixels, then over the two
// channels; one value per image (SMUG's batch size is 1, so its mean is this value). Images smaller
// than 11 x 11 are rejected: recent pytorch_msssim would silently skip smoothing along that axis.
template <std::floating_point T, class D>
ImageScores ssim_realimag(const Tensor<std::complex<T>, D>& recon, const Tensor<std::complex<T>, D>& target,
                          double data_range = 2.0) {
  const char* op = "mri::ssim_realimag";
  const detail::ImageDims d = detail::image_dims(recon, target, op, "recon", "target");
  TRUSTML_CHECK(data_range > 0, op, "data_range must be positive, got ", data_range, " (shapes ", recon.shape(), ")");
  TRUSTML_CHECK(d.height >= 11 && d.width >= 11, op, "images must be at least 11 x 11 (the Gaussian window), got ",
                recon.shape());
  const std::vector<std::complex<double>> r = detail::host_double(recon), t = detail::host_double(target);
  const std::vector<double> win = detail::gaussian_window();
  const auto n = static_cast<std::size_t>(d.pixels());
  std::vector<double> xr(n), xi(n), yr(n), yi(n);
  ImageScores out;
  for (std::int64_t b = 0; b < d.batch; ++b) {
    for (std::size_t p = 0; p < n; ++p) {
      const std::complex<double> u = r[b * n + p], v = t[b * n + p];
      xr[p] = u.real();
      xi[p] = u.imag();
      yr[p] = v.real();
      yi[p] = v.imag();
    }
    const double re = detail::ssim_mean(xr, yr, d.height, d.width, win, data_range, 1.0);
    const double im = detail::ssim_mean(xi, yi, d.height, d.width, win, data_range, 1.0);
    out.values.push_back(0.5 * (re + im));
  }
  return out;
}

// BART's `nrmse`: ||recon - reference|| / ||reference|| over the whole complex array, in double (how
// two reconstructions of the same data, say ours and `bart pics`, are compared).
template <std::floating_point T, class D>
double nrmse(const Tensor<std::complex<T>, D>& recon, const Tensor<std::complex<T>, D>& reference) {
  TRUSTML_CHECK(recon.shape() == reference.shape(), "mri::nrmse", "recon has shape ", recon.shape(),
                " but the reference has shape ", reference.shape());
  const auto g = detail::host_double(recon), w = detail::host_double(reference);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < g.size(); ++i) num += std::norm(g[i] - w[i]), den += std::norm(w[i]);
  TRUSTML_CHECK(den > 0, "mri::nrmse", "the reference is zero (shape ", reference.shape(), ")");
  return std::sqrt(num / den);
}

// fastMRI NMSE of a magnitude volume: ||gt - pred||^2 / ||gt||^2 (np.linalg.norm over the volume).
template <std::floating_point T, class D>
double nmse(const Tensor<T, D>& gt, const Tensor<T, D>& pred) {
  const char* op = "mri::nmse";
  detail::image_dims(gt, pred, op, "gt", "pred");
  const std::vector<double> g = detail::host_double(gt), p = detail::host_double(pred);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    num += (g[i] - p[i]) * (g[i] - p[i]);
    den += g[i] * g[i];
  }
  TRUSTML_CHECK(den > 0, op, "gt ", gt.shape(), " is all zero: ||gt|| must be positive");
  return num / den;
}

// fastMRI PSNR of a magnitude volume: skimage peak_signal_noise_ratio(gt, pred, data_range=gt.max())
// = 10 log10(data_range^2 / MSE), MSE over the whole volume (not per slice). `data_range` overrides
// the volume maximum. +inf where pred equals gt.
template <std::floating_point T, class D>
double psnr_fastmri(const Tensor<T, D>& gt, const Tensor<T, D>& pred, std::optional<double> data_range = {}) {
  const char* op = "mri::psnr_fastmri";
  detail::image_dims(gt, pred, op, "gt", "pred");
  const std::vector<double> g = detail::host_double(gt), p = detail::host_double(pred);
  const double range = detail::data_range_or_max(data_range, g, gt.shape(), op);
  double se = 0;
  for (std::size_t i = 0; i < g.size(); ++i) se += (g[i] - p[i]) * (g[i] - p[i]);
  return 10 * std::log10(range * range / (se / static_cast<double>(g.size())));
}

// fastMRI SSIM of a magnitude volume: skimage structural_similarity(gt[s], pred[s], data_range=gt.max())
// for each slice s, averaged over slices. skimage's defaults: 7 x 7 uniform window, K1 = 0.01,
// K2 = 0.03, sample covariance (moments times N / (N - 1), N = 49), mean of the map over the
// pixels whose window lies inside the slice. `data_range` overrides the volume maximum (fastMRI's
// maxval). Slices smaller than 7 x 7 are rejected, as skimage does.
template <std::floating_point T, class D>
double ssim_fastmri(const Tensor<T, D>& gt, const Tensor<T, D>& pred, std::optional<double> data_range = {}) {
  const char* op = "mri::ssim_fastmri";
  const detail::ImageDims d = detail::image_dims(gt, pred, op, "gt", "pred");
  TRUSTML_CHECK(d.height >= 7 && d.width >= 7, op, "slices must be at least 7 x 7 (the window), got ", gt.shape());
  const std::vector<double> g = detail::host_double(gt), p = detail::host_double(pred);
  const double range = detail::data_range_or_max(data_range, g, gt.shape(), op);
  const std::vector<double> win(7, 1.0 / 7);
  const auto n = static_cast<std::ptrdiff_t>(d.pixels());
  double sum = 0;
  for (std::int64_t s = 0; s < d.batch; ++s) {
    const std::vector<double> x(g.begin() + s * n, g.begin() + (s + 1) * n),
        y(p.begin() + s * n, p.begin() + (s + 1) * n);
    sum += detail::ssim_mean(x, y, d.height, d.width, win, range, 49.0 / 48.0);
  }
  return sum / static_cast<double>(d.batch);
}

}  // namespace trustml::mri
