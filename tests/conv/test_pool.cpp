// max_pool2d, avg_pool2d, adaptive_avg_pool2d, upsample_nearest2d, pixel_shuffle, pixel_unshuffle:
// values against direct loops, gradcheck in double (and complex<double> where defined), errors.
#include <algorithm>
#include <array>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_close;
using tests::check_error;
using tests::check_grad;
using tests::Td;
using tests::Tz;

namespace {

struct Pool {
  std::int64_t n, c, h, w, kh, kw, sh, sw, ph = 0, pw = 0, dh = 1, dw = 1;
  std::int64_t lh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  std::int64_t lw() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  Size2 k() const { return {kh, kw}; }
  Size2 s() const { return {sh, sw}; }
  Size2 p() const { return {ph, pw}; }
  Size2 d() const { return {dh, dw}; }
};

const std::vector<Pool> kPools = {
    {.n = 2, .c = 3, .h = 6, .w = 6, .kh = 2, .kw = 2, .sh = 2, .sw = 2},
    {.n = 1, .c = 2, .h = 7, .w = 5, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
    {.n = 2, .c = 2, .h = 8, .w = 7, .kh = 3, .kw = 2, .sh = 1, .sw = 2, .ph = 1, .pw = 1},
    {.n = 1, .c = 3, .h = 9, .w = 8, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .ph = 1, .pw = 0, .dh = 2, .dw = 2},
};

// Folds `f(acc, value)` over the in-image taps of every window; returns the results and tap counts.
template <class F>
std::pair<std::vector<double>, std::vector<double>> ref_windows(const std::vector<double>& x, const Pool& g,
                                                                double init, F f) {
  std::vector<double> out, count;
  for (std::int64_t nc = 0; nc < g.n * g.c; ++nc)
    for (std::int64_t oh = 0; oh < g.lh(); ++oh)
      for (std::int64_t ow = 0; ow < g.lw(); ++ow) {
        double acc = init, k = 0;
        for (std::int64_t ki = 0; ki < g.kh; ++ki)
          for (std::int64_t kj = 0; kj < g.kw; ++kj) {
            const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            acc = f(acc, x[(nc * g.h + ih) * g.w + iw]);
            ++k;
          }
        out.push_back(acc);
        count.push_back(k);
      }
  return {out, count};
}

template <class T>
std::vector<T> ref_adaptive(const std::vector<T>& x, std::int64_t nc, std::int64_t h, std::int64_t w, std::int64_t oh,
                            std::int64_t ow) {
  std::vector<T> out;
  for (std::int64_t p = 0; p < nc; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
        const std::int64_t w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
        T acc(0);
        for (std::int64_t a = h0; a < h1; ++a)
          for (std::int64_t b = w0; b < w1; ++b) acc += x[(p * h + a) * w + b];
        out.push_back(acc / T(double((h1 - h0) * (w1 - w0))));
      }
  return out;
}

}  // namespace

OP_TEST(max_pool2d) {
  for (const Pool& g : kPools) {
    INFO("pool k=" << g.k() << " s=" << g.s() << " p=" << g.p() << " d=" << g.d());
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 1);
    auto y = max_pool2d(x, g.k(), g.s(), g.p(), g.d());
    CHECK(y.shape() == Shape{g.n, g.c, g.lh(), g.lw()});
    const double lowest = -std::numeric_limits<double>::infinity();
    check_close(y, ref_windows(x.to_vector(), g, lowest, [](double a, double b) { return std::max(a, b); }).first, 0);
  }
  // The default stride is the kernel; the gradient reaches the maximum of each window only.
  auto x = Td::from_vector({1, 5, 2, 0, 3, 4, -1, 7, 6, 0, 2, 2, 8, 1, 9, 3}, {1, 1, 4, 4}).set_requires_grad();
  auto y = max_pool2d(x, 2);
  CHECK(y.to_vector() == std::vector<double>{5, 7, 8, 9});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0});
  // The first maximum of a tie takes the gradient, as in PyTorch; overlapping windows add up.
  auto t = Td::from_vector({3, 3, 1, 0}, {1, 1, 2, 2}).set_requires_grad();
  sum(max_pool2d(t, 2)).backward();
  CHECK(t.grad().to_vector() == std::vector<double>{1, 0, 0, 0});
  auto overlap = Td::from_vector({0, 9, 0, 1, 2, 3}, {1, 1, 2, 3}).set_requires_grad();
  sum(max_pool2d(overlap, {2, 2}, 1)).backward();
  CHECK(overlap.grad().to_vector() == std::vector<double>{0, 2, 0, 0, 0, 0});
  // A NaN in a window is its maximum.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(max_pool2d(Td::from_vector({1, nan, 3, 2}, {1, 1, 2, 2}), 2).item()));

  check_grad([](auto& v) { return max_pool2d(v[0], 3, 2, 1); }, std::vector{Td::randn({1, 2, 5, 4}, 2)}, true);
  // The 2x2 stride-2 kernels, odd sizes included (the last row and column belong to no window).
  check_grad([](auto& v) { return max_pool2d(v[0], 2); }, std::vector{Td::randn({2, 2, 5, 7}, 4)}, true);
  auto odd = Td::randn({1, 1, 5, 5}, 5);
  check_close(max_pool2d(odd, 2),
              ref_windows(odd.to_vector(), Pool{1, 1, 5, 5, 2, 2, 2, 2}, -INFINITY,
                          [](double a, double b) { return std::max(a, b); })
                  .first,
              0);
  check_grad(
      [](auto& v) {
        return max_pool2d(v[0], {2, 3}, 1, {1, 0}, {2, 1});
      },
      std::vector{Td::randn({2, 1, 4, 4}, 3)});
}

OP_TEST(avg_pool2d) {
  for (const Pool& g : kPools) {
    if (g.dh != 1 || g.dw != 1) continue;  // avg_pool2d has no dilation
    INFO("pool k=" << g.k() << " s=" << g.s() << " p=" << g.p());
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 4);
    auto [sums, counts] = ref_windows(x.to_vector(), g, 0.0, [](double a, double b) { return a + b; });
    std::vector<double> with_pad(sums.size()), without_pad(sums.size());
    for (std::size_t i = 0; i < sums.size(); ++i) {
      with_pad[i] = sums[i] / double(g.kh * g.kw);
      without_pad[i] = sums[i] / counts[i];
    }
    check_close(avg_pool2d(x, g.k(), g.s(), g.p()), with_pad);
    check_close(avg_pool2d(x, g.k(), g.s(), g.p(), false), without_pad);
  }
  CHECK(avg_pool2d(Td::arange(16).reshape({1, 1, 4, 4}), 2).to_vector() == std::vector<double>{2.5, 4.5, 10.5, 12.5});

  check_grad([](auto& v) { return avg_pool2d(v[0], 3, 2, 1); }, std::vector{Td::randn({1, 2, 5, 4}, 5)}, true);
  check_grad(
      [](auto& v) {
        return avg_pool2d(v[0], {2, 3}, 1, {1, 1}, false);
      },
      std::vector{Td::randn({2, 1, 3, 4}, 6)});
  check_grad([](auto& v) { return avg_pool2d(v[0], 2, 1, 1, false); }, std::vector{Tz::randn({1, 2, 3, 3}, 7)});
}

OP_TEST(adaptive_avg_pool2d) {
  // Divisible, overlapping (7 -> 3), growing (3 -> 5), non-square and global windows.
  const std::vector<std::array<std::int64_t, 4>> sizes = {{6, 6, 3, 2}, {7, 5, 3, 2}, {3, 4, 5, 7},
                                                          {5, 6, 1, 1}, {4, 9, 4, 1}, {5, 5, 5, 5}};
  for (auto [h, w, oh, ow] : sizes) {
    INFO("input " << h << "x" << w << ", output " << oh << "x" << ow);
    auto x = Td::randn({2, 3, h, w}, 8);
    auto y = adaptive_avg_pool2d(x, {oh, ow});
    CHECK(y.shape() == Shape{2, 3, oh, ow});
    check_close(y, ref_adaptive(x.to_vector(), 6, h, w, oh, ow));
  }
  auto z = Tz::randn({1, 2, 5, 4}, 9);
  check_close(adaptive_avg_pool2d(z, {3, 3}), ref_adaptive(z.to_vector(), 2, 5, 4, 3, 3));

  check_grad([](auto& v) { return adaptive_avg_pool2d(v[0], {3, 2}); }, std::vector{Td::randn({1, 2, 5, 4}, 10)}, true);
  check_grad([](auto& v) { return adaptive_avg_pool2d(v[0], 1); }, std::vector{Td::randn({2, 2, 3, 3}, 11)});
  check_grad([](auto& v) { return adaptive_avg_pool2d(v[0], {2, 4}); }, std::vector{Tz::randn({1, 1, 3, 3}, 12)});
}

OP_TEST(upsample_nearest2d) {
  auto x = Td::randn({2, 3, 3, 4}, 13);
  auto y = upsample_nearest2d(x, {2, 3});
  REQUIRE(y.shape() == Shape{2, 3, 6, 12});
  auto xv = x.to_vector();
  std::vector<double> want;
  for (std::int64_t p = 0; p < 6; ++p)
    for (std::int64_t i = 0; i < 6; ++i)
      for (std::int64_t j = 0; j < 12; ++j) want.push_back(xv[(p * 3 + i / 2) * 4 + j / 3]);
  check_close(y, want, 0);
  CHECK(upsample_nearest2d(x, 1).to_vector() == xv);

  check_grad([](auto& v) { return upsample_nearest2d(v[0], {2, 3}); }, std::vector{Td::randn({1, 2, 2, 3}, 14)}, true);
  check_grad([](auto& v) { return upsample_nearest2d(v[0], 2); }, std::vector{Tz::randn({1, 1, 2, 2}, 15)});
}

OP_TEST(pixel_shuffle) {
  const std::int64_t r = 2, c = 3, h = 2, w = 3;
  auto x = Td::randn({2, c * r * r, h, w}, 16);
  auto y = pixel_shuffle(x, r);
  REQUIRE(y.shape() == Shape{2, c, h * r, w * r});
  auto xv = x.to_vector(), yv = y.to_vector();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t i = 0; i < h * r; ++i)
        for (std::int64_t j = 0; j < w * r; ++j) {
          const std::int64_t in_c = ch * r * r + (i % r) * r + j % r;
          CHECK(yv[((n * c + ch) * h * r + i) * w * r + j] == xv[((n * c * r * r + in_c) * h + i / r) * w + j / r]);
        }
  check_grad([](auto& v) { return pixel_shuffle(v[0], 2); }, std::vector{Td::randn({1, 8, 2, 2}, 17)}, true);
  check_grad([](auto& v) { return pixel_shuffle(v[0], 3); }, std::vector{Tz::randn({1, 9, 1, 2}, 18)});
}

OP_TEST(pixel_unshuffle) {
  auto x = Td::randn({2, 12, 2, 3}, 19);
  CHECK(pixel_unshuffle(pixel_shuffle(x, 2), 2).to_vector() == x.to_vector());
  auto img = Td::randn({1, 2, 6, 3}, 20);
  CHECK(pixel_shuffle(pixel_unshuffle(img, 3), 3).to_vector() == img.to_vector());
  check_grad([](auto& v) { return pixel_unshuffle(v[0], 2); }, std::vector{Td::randn({1, 2, 4, 2}, 21)}, true);
  check_grad([](auto& v) { return pixel_unshuffle(v[0], 2); }, std::vector{Tz::randn({1, 1, 2, 4}, 22)});
}

TEST_CASE("pool and resample errors name the op and the shapes") {
  auto x = Td::randn({1, 2, 5, 5}, 1);
  check_error([&] { return max_pool2d(reshape(x, {2, 5, 5}), 2); }, "max_pool2d");
  check_error([&] { return max_pool2d(x, 6); }, "max_pool2d");           // kernel larger than the image
  check_error([&] { return max_pool2d(x, 2, 0); }, "max_pool2d");        // zero stride
  check_error([&] { return max_pool2d(x, 2, 2, 2); }, "max_pool2d");     // padding above half the kernel
  check_error([&] { return max_pool2d(x, 2, 1, 0, 5); }, "max_pool2d");  // dilated kernel spans 6
  check_error([&] { return avg_pool2d(x, 3, -1); }, "avg_pool2d");
  check_error([&] { return avg_pool2d(x, {2, 0}); }, "avg_pool2d");
  check_error([&] { return avg_pool2d(x, 3, 1, 2); }, "avg_pool2d");
  check_error([&] { return adaptive_avg_pool2d(x, {0, 2}); }, "adaptive_avg_pool2d");
  check_error([&] { return adaptive_avg_pool2d(reshape(x, {50}), 2); }, "adaptive_avg_pool2d");
  check_error([&] { return upsample_nearest2d(x, 0); }, "upsample_nearest2d");
  check_error([&] { return upsample_nearest2d(reshape(x, {2, 5, 5}), 2); }, "upsample_nearest2d");
  check_error([&] { return pixel_shuffle(x, 2); }, "pixel_shuffle");  // 2 channels, not a multiple of 4
  check_error([&] { return pixel_shuffle(x, 0); }, "pixel_shuffle");
  check_error([&] { return pixel_unshuffle(x, 2); }, "pixel_unshuffle");  // 5 is not a multiple of 2
  try {
    max_pool2d(x, 2, 2, 2);
  } catch (const trustml::Error& e) {
    CHECK(std::string(e.what()).find("[1, 2, 5, 5]") != std::string::npos);
  }
}
