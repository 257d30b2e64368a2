// The per-element functors that GPUs run (Kernels<D>::per_element_threads) for im2col, col2im,
// max-pooling and its gradient, and staged CGE's perturbed channel, run here on the CPU against the
// row- and plane-wise functors the CPU runs: bit for bit, over strides, padding, dilation and both
// column layouts. This way CI checks the GPU's index arithmetic without a GPU; tests/cuda compares
// the devices themselves.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/trustml.hpp>
#include <vector>

using namespace trustml;

namespace {

struct Geometry {
  std::int64_t n, c, h, w, kh, kw, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  ops::Window2d window(bool batch_in_columns) const {
    ops::Window2d k{h, w, kh, kw, sh, sw, ph, pw, dh, dw};
    k.batch_in_columns = batch_in_columns, k.batch = n, k.channels = c;
    return k;
  }
};

// Values on a coarse grid, so that windows hold ties (the first maximum matters) and sums are exact
// in no order: bit equality then tests the indexing, and the summation order separately below.
std::vector<double> grid_values(std::int64_t count, std::uint64_t seed) {
  std::vector<double> v = Tensor<double>::rand({count}, seed).to_vector();
  for (double& x : v) x = std::floor(x * 5);
  return v;
}

template <class F>
void run(std::int64_t n, F f) {
  kernels::Kernels<Cpu>::for_each(n, f, 1);
}

}  // namespace

TEST_CASE("element-wise im2col and col2im equal the CPU's row-wise ones") {
  const std::vector<Geometry> shapes = {
      {.n = 2, .c = 3, .h = 7, .w = 6, .kh = 3, .kw = 3, .ph = 1, .pw = 1},
      {.n = 1, .c = 2, .h = 8, .w = 7, .kh = 3, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
      {.n = 2, .c = 2, .h = 9, .w = 8, .kh = 3, .kw = 3, .ph = 2, .pw = 2, .dh = 2, .dw = 2},
      {.n = 3, .c = 1, .h = 5, .w = 9, .kh = 2, .kw = 4, .sh = 3, .sw = 2, .pw = 3},
      {.n = 2, .c = 4, .h = 6, .w = 6, .kh = 5, .kw = 5, .ph = 2, .pw = 2},
  };
  for (const auto& g : shapes)
    for (bool batch_in_columns : {false, true}) {
      CAPTURE(g.h);
      CAPTURE(g.kh);
      CAPTURE(batch_in_columns);
      const auto k = g.window(batch_in_columns);
      const std::int64_t taps = g.kh * g.kw, cols = g.n * g.c * taps * k.lh() * k.lw();
      const auto x = grid_values(g.n * g.c * g.h * g.w, 1);
      std::vector<double> rows(cols, -1), elements(cols, -2);
      run(g.n * g.c * taps, ops::Im2colTap<double>{x.data(), rows.data(), k, 0.5});
      run(cols, ops::Im2colElement<double>{x.data(), elements.data(), k, 0.5});
      CHECK(elements == rows);

      // col2im sums up to kh * kw entries per pixel: random values, so the order shows in the bits.
      const auto c = Tensor<double>::randn({cols}, 2).to_vector();
      std::vector<double> planes(x.size(), -1), pixels(x.size(), -2);
      run(g.n * g.c, ops::Col2imPlane<double>{c.data(), planes.data(), k});
      run(static_cast<std::int64_t>(x.size()), ops::Col2imPixel<double>{c.data(), pixels.data(), k});
      CHECK(pixels == planes);
      // conv2d's input gradient adds whole taps on columns it owns (padding entries zeroed first):
      // the same sums, in the same order.
      auto scratch = c;
      std::vector<double> long_adds(x.size(), -3);
      run(g.n * g.c, ops::Col2imPlaneScratch<double>{scratch.data(), long_adds.data(), k});
      CHECK(long_adds == planes);
    }
}

TEST_CASE("element-wise max-pooling and its gradient equal the CPU's row- and plane-wise ones") {
  const std::vector<Geometry> shapes = {
      {.n = 2, .c = 3, .h = 8, .w = 6, .kh = 2, .kw = 2, .sh = 2, .sw = 2},  // the 2x2 kernels
      {.n = 2, .c = 3, .h = 9, .w = 7, .kh = 2, .kw = 2, .sh = 2, .sw = 2},  // odd: a row and column left out
      {.n = 1, .c = 2, .h = 9, .w = 8, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1},  // overlapping
      {.n = 2, .c = 2, .h = 7, .w = 9, .kh = 3, .kw = 2, .sh = 1, .sw = 2, .ph = 1, .dh = 2},
  };
  for (const auto& g : shapes) {
    CAPTURE(g.h);
    CAPTURE(g.kh);
    const auto k = g.window(false);
    const std::int64_t planes = g.n * g.c, outputs = planes * k.lh() * k.lw();
    const auto x = grid_values(planes * g.h * g.w, 3);  // ties in most windows
    std::vector<double> expected(outputs, -1), got(outputs, -2);
    if (ops::is_2x2_stride_2(k)) run(planes, ops::MaxPool2x2Plane<double>{x.data(), expected.data(), g.h, g.w});
    else run(planes * k.lh(), ops::MaxPoolRow<double>{x.data(), expected.data(), k});
    run(outputs, ops::MaxPoolElement<double>{x.data(), got.data(), k});
    CHECK(got == expected);

    const auto dy = Tensor<double>::randn({outputs}, 4).to_vector();
    std::vector<double> dx_planes(x.size(), -1), dx_pixels(x.size(), -2);
    run(planes, ops::MaxPoolGradPlane<double>{x.data(), expected.data(), dy.data(), dx_planes.data(), k});
    run(static_cast<std::int64_t>(x.size()),
        ops::MaxPoolGradPixel<double>{x.data(), expected.data(), dy.data(), dx_pixels.data(), k});
    CHECK(dx_pixels == dx_planes);
  }
}

TEST_CASE("staged CGE's element-wise perturbed channel equals the CPU's plane-wise one") {
  // Conv2d 3 -> ? channels, 3x2 kernel, stride (2, 1), padding (1, 0), dilation (1, 2), 9 x 8 input.
  estimators::detail::PerturbedChannel<double> f{};
  f.in_channels = 3, f.in_h = 9, f.in_w = 8, f.kernel_h = 3, f.kernel_w = 2;
  f.stride_h = 2, f.stride_w = 1, f.pad_h = 1, f.pad_w = 0, f.dilation_h = 1, f.dilation_w = 2;
  f.out_h = (9 + 2 - 2 - 1) / 2 + 1, f.out_w = (8 - 2 - 1) / 1 + 1;
  const std::int64_t batch = 3, plane = f.out_h * f.out_w;
  const auto input = Tensor<double>::randn({batch * 3 * 9 * 8}, 5).to_vector();
  const auto kept = Tensor<double>::randn({batch * plane}, 6).to_vector();
  f.input = input.data(), f.kept = kept.data(), f.step = 0.25;
  for (std::int64_t tap : {std::int64_t{-1}, std::int64_t{0}, std::int64_t{7}, std::int64_t{17}}) {
    CAPTURE(tap);
    f.tap = tap;
    std::vector<double> planes(batch * plane, -1), elements(batch * plane, -2);
    f.out = planes.data();
    run(batch, f);
    estimators::detail::PerturbedElement<double> e{f};
    e.out = elements.data();
    run(batch * plane, e);
    CHECK(elements == planes);
  }
}
