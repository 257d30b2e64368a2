// im2col, col2im, conv2d, conv_transpose2d: values against direct loops, adjoint identities,
// gradcheck in double and complex<double>, gradgradcheck, and the errors bad shapes raise.
#include <complex>
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

// One convolution's geometry; `c` is the input channels of conv2d and im2col, `co` the output ones.
struct Cfg {
  std::int64_t n, c, h, w, co, kh, kw, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  std::int64_t oph = 0, opw = 0;  // output padding (conv_transpose2d only)
  std::int64_t lh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  std::int64_t lw() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  // conv_transpose2d's output size, reading h, w as its input size.
  std::int64_t th() const { return (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1; }
  std::int64_t tw() const { return (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1; }
  Size2 k() const { return {kh, kw}; }
  Size2 s() const { return {sh, sw}; }
  Size2 p() const { return {ph, pw}; }
  Size2 d() const { return {dh, dw}; }
  Size2 op() const { return {oph, opw}; }
};

const std::vector<Cfg> kConvCfgs = {
    {.n = 2, .c = 3, .h = 7, .w = 6, .co = 4, .kh = 3, .kw = 3},
    {.n = 1, .c = 2, .h = 8, .w = 7, .co = 3, .kh = 3, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
    {.n = 2, .c = 2, .h = 9, .w = 8, .co = 2, .kh = 3, .kw = 3, .ph = 2, .pw = 2, .dh = 2, .dw = 2},
    {.n = 2, .c = 4, .h = 6, .w = 5, .co = 6, .kh = 2, .kw = 3, .sw = 2, .pw = 1, .groups = 2},
    {.n = 1, .c = 4, .h = 10, .w = 7, .co = 4, .kh = 3, .kw = 2, .sh = 2, .ph = 1, .dh = 2, .groups = 2},
    {.n = 2, .c = 3, .h = 5, .w = 6, .co = 3, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .ph = 1, .pw = 1, .groups = 3},
    {.n = 2, .c = 4, .h = 3, .w = 5, .co = 6, .kh = 1, .kw = 1, .groups = 2},  // pointwise: im2col skipped
};

// Direct-loop references, indexing NCHW host vectors.
template <class T>
std::vector<T> ref_im2col(const std::vector<T>& x, const Cfg& g, T pad) {
  const std::int64_t lh = g.lh(), lw = g.lw(), rows = g.c * g.kh * g.kw;
  std::vector<T> out(g.n * rows * lh * lw);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t c = 0; c < g.c; ++c)
      for (std::int64_t ki = 0; ki < g.kh; ++ki)
        for (std::int64_t kj = 0; kj < g.kw; ++kj)
          for (std::int64_t oh = 0; oh < lh; ++oh)
            for (std::int64_t ow = 0; ow < lw; ++ow) {
              const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
              const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
              const std::int64_t row = (c * g.kh + ki) * g.kw + kj;
              out[(n * rows + row) * lh * lw + oh * lw + ow] = inside ? x[((n * g.c + c) * g.h + ih) * g.w + iw] : pad;
            }
  return out;
}

template <class T>
std::vector<T> ref_conv2d(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& b, const Cfg& g) {
  const std::int64_t lh = g.lh(), lw = g.lw(), cig = g.c / g.groups, cog = g.co / g.groups;
  std::vector<T> out(g.n * g.co * lh * lw);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t co = 0; co < g.co; ++co)
      for (std::int64_t oh = 0; oh < lh; ++oh)
        for (std::int64_t ow = 0; ow < lw; ++ow) {
          T acc = b.empty() ? T(0) : b[co];
          for (std::int64_t ci = 0; ci < cig; ++ci)
            for (std::int64_t ki = 0; ki < g.kh; ++ki)
              for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const std::int64_t c = co / cog * cig + ci;
                acc += x[((n * g.c + c) * g.h + ih) * g.w + iw] * w[((co * cig + ci) * g.kh + ki) * g.kw + kj];
              }
          out[((n * g.co + co) * lh + oh) * lw + ow] = acc;
        }
  return out;
}

// conv_transpose2d scatters every input pixel times the kernel into the output.
template <class T>
std::vector<T> ref_conv_transpose2d(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& b,
                                    const Cfg& g) {
  const std::int64_t oh_n = g.th(), ow_n = g.tw(), cig = g.c / g.groups, cog = g.co / g.groups;
  std::vector<T> out(g.n * g.co * oh_n * ow_n, T(0));
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t co = 0; co < g.co; ++co)
      for (std::int64_t i = 0; i < oh_n * ow_n; ++i) out[(n * g.co + co) * oh_n * ow_n + i] = b.empty() ? T(0) : b[co];
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t ci = 0; ci < g.c; ++ci)
      for (std::int64_t ih = 0; ih < g.h; ++ih)
        for (std::int64_t iw = 0; iw < g.w; ++iw)
          for (std::int64_t cl = 0; cl < cog; ++cl)
            for (std::int64_t ki = 0; ki < g.kh; ++ki)
              for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                const std::int64_t oh = ih * g.sh - g.ph + ki * g.dh, ow = iw * g.sw - g.pw + kj * g.dw;
                if (oh < 0 || oh >= oh_n || ow < 0 || ow >= ow_n) continue;
                const std::int64_t co = ci / cig * cog + cl;
                out[((n * g.co + co) * oh_n + oh) * ow_n + ow] +=
                    x[((n * g.c + ci) * g.h + ih) * g.w + iw] * w[((ci * cog + cl) * g.kh + ki) * g.kw + kj];
              }
  return out;
}

// Re sum(conj(a) * b) of two tensors of the same shape.
template <class T>
double dot(const Tensor<T>& a, const Tensor<T>& b) {
  auto av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  double s = 0;
  for (std::size_t i = 0; i < av.size(); ++i) s += std::real(std::conj(av[i]) * bv[i]);
  return s;
}

}  // namespace

OP_TEST(im2col) {
  for (const Cfg& g : kConvCfgs) {
    INFO("config c=" << g.c << " h=" << g.h << " w=" << g.w << " k=" << g.k() << " s=" << g.s() << " p=" << g.p()
                     << " d=" << g.d());
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 1);
    auto cols = im2col(x, g.k(), g.s(), g.p(), g.d());
    CHECK(cols.shape() == Shape{g.n, g.c * g.kh * g.kw, g.lh() * g.lw()});
    check_close(cols, ref_im2col(x.to_vector(), g, 0.0), 0);
    check_close(im2col(x, g.k(), g.s(), g.p(), g.d(), -2.5), ref_im2col(x.to_vector(), g, -2.5), 0);
  }
  // A non-contiguous input is read through its strides.
  auto x = Td::randn({1, 5, 4, 2}, 2);
  const Cfg g{.n = 1, .c = 2, .h = 5, .w = 4, .co = 1, .kh = 2, .kw = 2, .ph = 1};
  auto xt = permute(x, {0, 3, 1, 2});
  check_close(im2col(xt, g.k(), g.s(), g.p()), ref_im2col(xt.to_vector(), g, 0.0), 0);

  check_grad(
      [](auto& v) {
        return im2col(v[0], {2, 3}, {2, 1}, {1, 1}, {1, 2});
      },
      std::vector{Td::randn({1, 2, 4, 5}, 3)}, true);
  check_grad([](auto& v) { return im2col(v[0], 2, 1, 1); }, std::vector{Tz::randn({1, 2, 3, 3}, 4)});
}

OP_TEST(col2im) {
  // <im2col(x), y> = <x, col2im(y)> for every geometry, real and complex.
  for (const Cfg& g : kConvCfgs) {
    INFO("config k=" << g.k() << " s=" << g.s() << " p=" << g.p() << " d=" << g.d());
    const Shape cols_shape{g.n, g.c * g.kh * g.kw, g.lh() * g.lw()};
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 5), y = Td::randn(cols_shape, 6);
    auto back = col2im(y, {g.h, g.w}, g.k(), g.s(), g.p(), g.d());
    CHECK(back.shape() == x.shape());
    CHECK(dot(im2col(x, g.k(), g.s(), g.p(), g.d()), y) == doctest::Approx(dot(x, back)).epsilon(1e-12));
    auto xz = Tz::randn({g.n, g.c, g.h, g.w}, 7), yz = Tz::randn(cols_shape, 8);
    CHECK(dot(im2col(xz, g.k(), g.s(), g.p(), g.d()), yz) ==
          doctest::Approx(dot(xz, col2im(yz, {g.h, g.w}, g.k(), g.s(), g.p(), g.d()))).epsilon(1e-12));
  }
  // Overlapping blocks sum: col2im(im2col(ones)) counts how many blocks cover each pixel.
  auto counts = col2im(im2col(Td::ones({1, 1, 3, 3}), 2), {3, 3}, 2);
  CHECK(counts.to_vector() == std::vector<double>{1, 2, 1, 2, 4, 2, 1, 2, 1});

  check_grad(
      [](auto& v) {
        return col2im(v[0], {4, 5}, {2, 3}, {2, 1}, {1, 1}, {1, 2});
      },
      std::vector{Td::randn({1, 12, 3 * 3}, 9)}, true);
  check_grad([](auto& v) { return col2im(v[0], {3, 3}, 2, 1, 1); }, std::vector{Tz::randn({1, 8, 16}, 10)});
}

OP_TEST(conv2d) {
  for (const Cfg& g : kConvCfgs) {
    INFO("config c=" << g.c << " co=" << g.co << " k=" << g.k() << " s=" << g.s() << " p=" << g.p() << " d=" << g.d()
                     << " groups=" << g.groups);
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 11), w = Td::randn({g.co, g.c / g.groups, g.kh, g.kw}, 12);
    auto b = Td::randn({g.co}, 13);
    auto y = conv2d(x, w, b, g.s(), g.p(), g.d(), g.groups);
    CHECK(y.shape() == Shape{g.n, g.co, g.lh(), g.lw()});
    check_close(y, ref_conv2d(x.to_vector(), w.to_vector(), b.to_vector(), g));
    check_close(conv2d(x, w, {}, g.s(), g.p(), g.d(), g.groups), ref_conv2d(x.to_vector(), w.to_vector(), {}, g));
  }
  // float, and complex values (no conjugation of either operand).
  const Cfg g = kConvCfgs[4];
  auto xf = Tensor<float>::randn({g.n, g.c, g.h, g.w}, 14), wf = Tensor<float>::randn({g.co, 2, g.kh, g.kw}, 15);
  auto yf = conv2d(xf, wf, {}, g.s(), g.p(), g.d(), g.groups).to_vector();
  auto want_f = ref_conv2d(xf.to_vector(), wf.to_vector(), {}, g);
  for (std::size_t i = 0; i < want_f.size(); ++i) CHECK(yf[i] == doctest::Approx(want_f[i]).epsilon(1e-4));
  auto xz = Tz::randn({g.n, g.c, g.h, g.w}, 16), wz = Tz::randn({g.co, 2, g.kh, g.kw}, 17);
  check_close(conv2d(xz, wz, {}, g.s(), g.p(), g.d(), g.groups), ref_conv2d(xz.to_vector(), wz.to_vector(), {}, g));

  // Gradients of input, weight and bias; small sizes, since gradcheck is quadratic in them.
  check_grad(
      [](auto& v) {
        return conv2d(v[0], v[1], v[2], {2, 1}, {1, 0}, {1, 2});
      },
      std::vector{Td::randn({2, 2, 5, 5}, 18), Td::randn({3, 2, 2, 2}, 19), Td::randn({3}, 20)}, true);
  check_grad([](auto& v) { return conv2d(v[0], v[1], v[2], 1, 1, 1, 2); },
             std::vector{Td::randn({1, 4, 4, 3}, 21), Td::randn({2, 2, 3, 2}, 22), Td::randn({2}, 23)}, true);
  check_grad([](auto& v) { return conv2d(v[0], v[1], {}, 1, 0, 1, 2); },
             std::vector{Td::randn({2, 4, 2, 3}, 24), Td::randn({4, 2, 1, 1}, 25)}, true);
  check_grad([](auto& v) { return conv2d(v[0], v[1], v[2], 2, 1, 1, 2); },
             std::vector{Tz::randn({1, 2, 4, 4}, 26), Tz::randn({2, 1, 3, 3}, 27), Tz::randn({2}, 28)});
  check_grad(
      [](auto& v) {
        return conv2d(v[0], v[1], {}, 1, {0, 1}, 2);
      },
      std::vector{Tz::randn({1, 2, 5, 3}, 29), Tz::randn({2, 2, 2, 2}, 30)});
}

OP_TEST(conv_transpose2d) {
  std::vector<Cfg> cfgs = kConvCfgs;
  // Output padding, including one not below the stride (allowed because it is below the dilation).
  cfgs.push_back(
      {.n = 2, .c = 2, .h = 4, .w = 3, .co = 3, .kh = 3, .kw = 2, .sh = 2, .sw = 3, .ph = 1, .oph = 1, .opw = 2});
  cfgs.push_back({.n = 1,
                  .c = 4,
                  .h = 3,
                  .w = 4,
                  .co = 2,
                  .kh = 2,
                  .kw = 3,
                  .sh = 1,
                  .sw = 2,
                  .pw = 1,
                  .dh = 3,
                  .dw = 2,
                  .groups = 2,
                  .oph = 2,
                  .opw = 1});
  cfgs.push_back({.n = 1, .c = 2, .h = 3, .w = 3, .co = 2, .kh = 1, .kw = 1, .dh = 2, .oph = 1});
  for (const Cfg& g : cfgs) {
    INFO("config c=" << g.c << " co=" << g.co << " k=" << g.k() << " s=" << g.s() << " p=" << g.p() << " d=" << g.d()
                     << " groups=" << g.groups << " output padding=" << g.op());
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 31), w = Td::randn({g.c, g.co / g.groups, g.kh, g.kw}, 32);
    auto b = Td::randn({g.co}, 33);
    auto y = conv_transpose2d(x, w, b, g.s(), g.p(), g.op(), g.groups, g.d());
    CHECK(y.shape() == Shape{g.n, g.co, g.th(), g.tw()});
    check_close(y, ref_conv_transpose2d(x.to_vector(), w.to_vector(), b.to_vector(), g));
  }
  // conv_transpose2d is the adjoint of conv2d in its input: <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>,
  // with the output padding that restores x's size.
  for (const Cfg& g : kConvCfgs) {
    auto x = Td::randn({g.n, g.c, g.h, g.w}, 34), w = Td::randn({g.co, g.c / g.groups, g.kh, g.kw}, 35);
    auto y = Td::randn({g.n, g.co, g.lh(), g.lw()}, 36);
    const Size2 op{(g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) % g.sh, (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) % g.sw};
    auto xt = conv_transpose2d(y, w, {}, g.s(), g.p(), op, g.groups, g.d());
    REQUIRE(xt.shape() == x.shape());
    CHECK(dot(conv2d(x, w, {}, g.s(), g.p(), g.d(), g.groups), y) == doctest::Approx(dot(x, xt)).epsilon(1e-12));
  }

  check_grad([](auto& v) { return conv_transpose2d(v[0], v[1], v[2], 2, 1, 1); },
             std::vector{Td::randn({1, 2, 3, 3}, 37), Td::randn({2, 2, 3, 3}, 38), Td::randn({2}, 39)}, true);
  check_grad(
      [](auto& v) {
        return conv_transpose2d(v[0], v[1], {}, {1, 2}, 0, {0, 1}, 2, {2, 1});
      },
      std::vector{Td::randn({2, 2, 3, 2}, 40), Td::randn({2, 2, 2, 2}, 41)});
  check_grad([](auto& v) { return conv_transpose2d(v[0], v[1], v[2], 2, 1, 1); },
             std::vector{Tz::randn({1, 2, 2, 3}, 42), Tz::randn({2, 1, 3, 2}, 43), Tz::randn({1}, 44)});
}

TEST_CASE("conv2d's chunked kernels equal im2col + matmul, forward and backward") {
  // 16 channels of 28 x 28 with a 3 x 3 kernel make chunks of 2 images: 5 images end in a partial chunk.
  struct Case {
    Shape x, w;
    Size2 stride, padding, dilation;
  };
  for (const Case& c : {Case{{5, 16, 28, 28}, {8, 16, 3, 3}, 1, 1, 1}, Case{{3, 4, 9, 7}, {5, 4, 1, 1}, 1, 0, 1},
                        Case{{4, 3, 11, 10}, {2, 3, 3, 2}, {2, 1}, {1, 0}, {1, 2}}}) {
    INFO("input " << c.x << " weight " << c.w);
    auto x = Td::randn(c.x, 31).set_requires_grad(), w = Td::randn(c.w, 32).set_requires_grad();
    auto b = Td::randn({c.w[0]}, 33).set_requires_grad();
    for (bool with_bias : {true, false}) {
      const Td bias = with_bias ? b : Td();
      auto y = conv2d(x, w, bias, c.stride, c.padding, c.dilation);
      // The same function from the composite ops: im2col, one matmul per image, the bias added.
      auto cols = im2col(x.detach(), {c.w[2], c.w[3]}, c.stride, c.padding, c.dilation);
      auto composed = matmul(reshape(w.detach(), {c.w[0], c.w[1] * c.w[2] * c.w[3]}), cols);
      if (with_bias) composed = add(composed, reshape(b.detach(), {c.w[0], 1}));
      check_close(y, reshape(composed, y.shape()).to_vector(), 1e-12);
      // Gradients from the chunked kernels (no create_graph) and from the recorded products (create_graph).
      const auto r = Td::randn(y.shape(), 34);
      const std::vector<Td> wrt = with_bias ? std::vector<Td>{x, w, b} : std::vector<Td>{x, w};
      auto fast = autograd::grad(std::vector<Td>{y}, wrt, std::vector<Td>{r}, true);
      auto taped = autograd::grad(std::vector<Td>{y}, wrt, std::vector<Td>{r}, false, true);
      for (std::size_t i = 0; i < wrt.size(); ++i) {
        CAPTURE(i);
        CHECK(taped[i].requires_grad() == (i < 2));  // the bias gradient sums r, a constant
        check_close(fast[i], taped[i].detach().to_vector(), 1e-12);
      }
    }
  }
  // One image with a 1 x 1 output: the expanded bias is contiguous, and must still be copied.
  NoGradGuard no_grad;
  auto b = Td::from_vector({1, 2, 3, 4});
  const auto x = Td::ones({1, 2, 3, 3}), w = Td::ones({4, 2, 3, 3});
  CHECK(conv2d(x, w, b).to_vector() == std::vector<double>{19, 20, 21, 22});
  CHECK(conv2d(x, w, b).to_vector() == std::vector<double>{19, 20, 21, 22});
  CHECK(b.to_vector() == std::vector<double>{1, 2, 3, 4});
}

TEST_CASE("conv errors name the op and the shapes") {
  auto x = Td::randn({1, 4, 5, 5}, 1), w = Td::randn({6, 2, 3, 3}, 2);
  check_error([&] { return conv2d(reshape(x, {4, 5, 5}), w); }, "conv2d");  // rank 3 input
  check_error([&] { return conv2d(x, reshape(w, {6, 2, 9})); }, "conv2d");  // rank 3 weight
  check_error([&] { return conv2d(x, w); }, "conv2d");                      // 4 channels, weight wants 2
  check_error([&] { return conv2d(x, w, {}, 1, 0, 1, 3); }, "conv2d");      // 4 channels, 3 groups
  check_error([&] { return conv2d(x, Td::randn({5, 2, 3, 3}, 3), {}, 1, 0, 1, 2); }, "conv2d");  // Cout 5, 2 groups
  check_error([&] { return conv2d(x, w, {}, 1, 0, 1, 0); }, "conv2d");                           // 0 groups
  check_error([&] { return conv2d(x, w, Td::randn({5}, 4), 1, 0, 1, 2); }, "conv2d");            // bias size
  check_error([&] { return conv2d(x, Td::randn({6, 2, 6, 3}, 5), {}, 1, 0, 1, 2); }, "conv2d");  // kernel > image
  check_error([&] { return conv2d(x, w, {}, 1, 0, 3, 2); }, "conv2d");       // dilated kernel spans 7
  check_error([&] { return conv2d(x, w, {}, {1, 0}, 0, 1, 2); }, "conv2d");  // zero stride
  check_error([&] { return conv2d(x, w, {}, -1, 0, 1, 2); }, "conv2d");      // negative stride
  check_error([&] { return conv2d(x, w, {}, 1, -1, 1, 2); }, "conv2d");      // negative padding
  CHECK_NOTHROW(conv2d(x, Td::randn({6, 2, 6, 3}, 5), {}, 1, 1, 1, 2));      // fits once padded
  try {
    conv2d(x, w);
  } catch (const trustml::Error& e) {
    CHECK(std::string(e.what()).find("[1, 4, 5, 5]") != std::string::npos);
    CHECK(std::string(e.what()).find("[6, 2, 3, 3]") != std::string::npos);
  }

  auto wt = Td::randn({4, 3, 3, 3}, 6);
  check_error([&] { return conv_transpose2d(x, Td::randn({3, 3, 3, 3}, 7)); }, "conv_transpose2d");  // Cin
  check_error([&] { return conv_transpose2d(x, wt, {}, 1, 0, 0, 3); }, "conv_transpose2d");          // groups
  check_error([&] { return conv_transpose2d(x, wt, {}, 2, 0, 2); }, "conv_transpose2d");  // output padding >= stride
  check_error([&] { return conv_transpose2d(x, wt, {}, 0); }, "conv_transpose2d");        // zero stride
  check_error([&] { return conv_transpose2d(x, wt, Td::randn({4}, 8)); }, "conv_transpose2d");  // bias
  check_error([&] { return conv_transpose2d(x, wt, {}, 1, 4); }, "conv_transpose2d");           // empty output

  check_error([&] { return im2col(reshape(x, {4, 5, 5}), 2); }, "im2col");
  check_error([&] { return im2col(x, 6); }, "im2col");
  check_error([&] { return im2col(x, 0); }, "im2col");
  check_error([&] { return im2col(x, 2, 0); }, "im2col");
  check_error([&] { return im2col(x, 2, 1, 0, 0); }, "im2col");
  check_error([&] { return col2im(Td::randn({1, 8, 15}, 9), {5, 5}, 2); }, "col2im");  // 16 blocks, not 15
  check_error([&] { return col2im(Td::randn({1, 7, 16}, 9), {5, 5}, 2); }, "col2im");  // 7 rows, kernel of 4
  check_error([&] { return col2im(Td::randn({8, 16}, 9), {5, 5}, 2); }, "col2im");
}
