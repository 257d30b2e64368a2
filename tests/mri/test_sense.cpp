// SenseOp: the adjoint identity (float and double, shared and per-image maps and masks, weighted
// masks), A^H A = I when fully sampled with normalized maps, gradients through A and A^H, CG-SENSE
// against a dense solve and its implicit gradients, the fused normal operator cg_solve runs on the
// CPU against normal(), and shape errors.
#include <doctest/doctest.h>

#include <complex>
#include <trustml/mri/sense.hpp>
#include <trustml/trustml.hpp>

#include "support/dense_solve.hpp"

using namespace trustml;
using Zf = std::complex<float>;
using Zd = std::complex<double>;

namespace {
template <class T>
Zd inner(const Tensor<T>& a, const Tensor<T>& b) {  // <a, b> = sum conj(a) b
  auto av = a.to_vector(), bv = b.to_vector();
  Zd s = 0;
  for (std::size_t i = 0; i < av.size(); ++i) s += std::conj(Zd(av[i])) * Zd(bv[i]);
  return s;
}
template <class T>
double l2(const Tensor<T>& a) {
  return std::sqrt(inner(a, a).real());
}
// A 0/1 mask with about half of the entries set.
template <class R>
Tensor<R> random_mask(const Shape& shape, std::uint64_t seed) {
  return step(add_scalar(Tensor<R>::rand(shape, seed), R(-0.5)));
}
// Maps scaled so that sum_c |S_c|^2 = 1 at every pixel (BART's `normalize 8`).
template <class T>
Tensor<T> normalized(const Tensor<T>& maps) {
  auto energy = sum(real(mul(conj(maps), maps)), {0}, true);
  return div(maps, cast<T>(sqrt(energy)));
}
template <class T>
double adjoint_mismatch(const mri::SenseOp<T>& a, const Tensor<T>& x, const Tensor<T>& y) {
  auto ax = a.forward(x);
  return std::abs(inner(ax, y) - inner(x, a.adjoint(y))) / (l2(ax) * l2(y));
}
}  // namespace

TEST_CASE("SenseOp: <A x, y> = <x, A^H y>") {
  SUBCASE("float, shared maps and mask") {
    mri::SenseOp<Zf> a(Tensor<Zf>::randn({4, 16, 12}, 1), random_mask<float>({16, 12}, 2));
    CHECK(adjoint_mismatch(a, Tensor<Zf>::randn({3, 16, 12}, 3), Tensor<Zf>::randn({3, 4, 16, 12}, 4)) < 1e-5);
  }
  SUBCASE("double, per-image maps and masks, odd sizes") {
    mri::SenseOp<Zd> a(Tensor<Zd>::randn({2, 3, 9, 7}, 5), random_mask<double>({2, 9, 7}, 6));
    CHECK(adjoint_mismatch(a, Tensor<Zd>::randn({2, 9, 7}, 7), Tensor<Zd>::randn({2, 3, 9, 7}, 8)) < 1e-13);
  }
  SUBCASE("a weighted (non-binary, complex) mask per coil") {
    mri::SenseOp<Zd> a(Tensor<Zd>::randn({3, 8, 8}, 9), Tensor<Zd>::randn({1, 3, 8, 8}, 10));
    CHECK(adjoint_mismatch(a, Tensor<Zd>::randn({2, 8, 8}, 11), Tensor<Zd>::randn({2, 3, 8, 8}, 12)) < 1e-13);
  }
}

TEST_CASE("SenseOp: normal is A^H A, the identity when fully sampled with normalized maps") {
  const auto maps = normalized(Tensor<Zd>::randn({4, 8, 6}, 13));
  const auto x = Tensor<Zd>::randn({2, 8, 6}, 14);
  mri::SenseOp<Zd> full(maps, Tensor<double>::ones({8, 6}));
  CHECK(l2(sub(full.normal(x), x)) < 1e-12 * l2(x));
  mri::SenseOp<Zd> under(maps, random_mask<double>({8, 6}, 15));
  CHECK(l2(sub(under.normal(x), under.adjoint(under.forward(x)))) == 0);
  CHECK(l2(under.forward(x)) < l2(x));  // ||A|| <= 1: a mask drops energy
  // Every unsampled k-space entry is zero.
  auto y = under.forward(x).to_vector();
  auto m = mul(under.mask(), Tensor<Zd>::ones({2, 4, 8, 6})).to_vector();
  bool zero_outside = true;
  for (std::size_t i = 0; i < y.size(); ++i) zero_outside = zero_outside && (m[i] != 0.0 || y[i] == 0.0);
  CHECK(zero_outside);
}

TEST_CASE("SenseOp: gradients of forward and adjoint, including the maps") {
  const auto mask = random_mask<double>({6, 5}, 16);
  const auto maps = Tensor<Zd>::randn({2, 6, 5}, 17);
  mri::SenseOp<Zd> a(maps, mask);
  auto r1 = gradcheck([&](auto& v) { return a.forward(v[0]); }, std::vector{Tensor<Zd>::randn({2, 6, 5}, 18)});
  INFO(r1.message);
  CHECK(r1.ok);
  auto r2 = gradcheck([&](auto& v) { return a.adjoint(v[0]); }, std::vector{Tensor<Zd>::randn({1, 2, 6, 5}, 19)});
  INFO(r2.message);
  CHECK(r2.ok);
  const auto x = Tensor<Zd>::randn({1, 6, 5}, 20);
  auto r3 = gradcheck([&](auto& v) { return mri::SenseOp<Zd>(v[0], mask).normal(x); }, std::vector{maps});
  INFO(r3.message);
  CHECK(r3.ok);
}

TEST_CASE("CG-SENSE: (A^H A + lambda I) x = A^H y against a dense solve, and implicit gradients") {
  // 8 x 8 image, 2 coils, every other column sampled.
  const std::int64_t n = 8;
  std::vector<double> columns(n * n);
  for (std::int64_t i = 0; i < n * n; ++i) columns[i] = (i % n) % 2 == 0 || (i % n) == n / 2 ? 1.0 : 0.0;
  const auto mask = Tensor<double>::from_vector(columns, {n, n});
  const auto maps = normalized(Tensor<Zd>::randn({2, n, n}, 21));
  mri::SenseOp<Zd> a(maps, mask);
  const auto y = a.forward(Tensor<Zd>::randn({1, n, n}, 22));
  const auto rhs = a.adjoint(y);
  const double lambda = 0.05;

  // Dense (A^H A + lambda I), column by column, solved directly.
  const auto nn = static_cast<std::size_t>(n * n);
  std::vector<Zd> dense(nn * nn);
  for (std::size_t j = 0; j < nn; ++j) {
    std::vector<Zd> e(nn, 0.0);
    e[j] = 1.0;
    auto col = a.normal(Tensor<Zd>::from_vector(e, {1, n, n})).to_vector();
    for (std::size_t i = 0; i < nn; ++i) dense[i * nn + j] = col[i] + (i == j ? lambda : 0.0);
  }
  const auto b = tests::dense_solve(dense, rhs.to_vector());
  const auto direct = Tensor<Zd>::from_vector(b, {1, n, n});

  SUBCASE("float CG converges to the dense solution") {
    mri::SenseOp<Zf> af(maps.template cast<Zf>(), mask.template cast<float>());
    auto x = cg_solve(af.normal_map(), rhs.template cast<Zf>(), Tensor<float>::from_vector({float(lambda)}),
                      CgOptions{100, 1e-7, 0});
    CHECK(l2(sub(x.template cast<Zd>(), direct)) < 1e-4 * l2(direct));
  }
  SUBCASE("double: gradients reach the denoiser output z and A^H y, as finite differences say") {
    // MoDL's data consistency: x = (A^H A + lambda I)^{-1} (A^H y + lambda z).
    const auto lam = Tensor<double>::from_vector({lambda});
    auto dc = [&](const Tensor<Zd>& ahy, const Tensor<Zd>& z) {
      return cg_solve(a.normal_map(), add(ahy, scale(z, Zd(lambda))), lam, CgOptions{300, 1e-14, 0});
    };
    auto x = dc(rhs, Tensor<Zd>::zeros({1, n, n}));
    CHECK(l2(sub(x, direct)) < 1e-10 * l2(direct));
    auto rz = gradcheck([&](auto& v) { return dc(rhs, v[0]); }, std::vector{Tensor<Zd>::randn({1, n, n}, 23)});
    INFO(rz.message);
    CHECK(rz.ok);
    // Through y itself: the attack's path, y -> A^H y -> CG.
    auto ry = gradcheck([&](auto& v) { return dc(a.adjoint(v[0]), Tensor<Zd>::zeros({1, n, n})); }, std::vector{y});
    INFO(ry.message);
    CHECK(ry.ok);
  }
}

TEST_CASE("SenseOp: shape errors name the operation and the shapes") {
  auto maps = Tensor<Zf>::randn({4, 8, 8}, 24);
  CHECK_THROWS_WITH_AS(mri::SenseOp<Zf>(Tensor<Zf>::randn({8, 8}, 1), Tensor<float>::ones({8, 8})),
                       doctest::Contains("[8, 8]"), Error);
  CHECK_THROWS_WITH_AS(mri::SenseOp<Zf>(maps, Tensor<float>::ones({8, 6})), doctest::Contains("[8, 6]"), Error);
  CHECK_THROWS_WITH_AS(mri::SenseOp<Zf>(maps, Tensor<float>::ones({1, 3, 8, 8})), doctest::Contains("coil"), Error);
  mri::SenseOp<Zf> a(maps, Tensor<float>::ones({8, 8}));
  CHECK_THROWS_WITH_AS(a.forward(Tensor<Zf>::zeros({1, 8, 6})), doctest::Contains("SenseOp::forward"), Error);
  CHECK_THROWS_WITH_AS(a.adjoint(Tensor<Zf>::zeros({1, 3, 8, 8})), doctest::Contains("3 coils"), Error);
  mri::SenseOp<Zf> per_image(Tensor<Zf>::randn({2, 4, 8, 8}, 25), Tensor<float>::ones({8, 8}));
  CHECK_THROWS_WITH_AS(per_image.forward(Tensor<Zf>::zeros({3, 8, 8})), doctest::Contains("batch of 3"), Error);
}

TEST_CASE("SenseOp: normal_map's fused CPU path equals normal(), and records when a gradient is needed") {
  // A mask with whole unsampled columns (the skipped column transforms) and one with none.
  std::vector<double> lines(12 * 10);
  for (std::size_t i = 0; i < lines.size(); ++i) lines[i] = (i % 10) % 3 == 0 ? 1.0 : 0.0;
  const auto column_mask = Tensor<double>::from_vector(lines, {12, 10});
  const auto x = Tensor<Zd>::randn({2, 12, 10}, 31);
  auto check_same = [&](const mri::SenseOp<Zd>& a, const Tensor<Zd>& v) {
    NoGradGuard no_tape;
    const auto fused = a.normal_map()(v), composed = a.normal(v);
    REQUIRE(fused.shape() == composed.shape());
    CHECK(l2(sub(fused, composed)) <= 1e-13 * l2(composed));
  };
  SUBCASE("shared maps, column mask") {
    check_same(mri::SenseOp<Zd>(Tensor<Zd>::randn({3, 12, 10}, 32), column_mask), x);
  }
  SUBCASE("shared maps, random 2-D mask") {
    check_same(mri::SenseOp<Zd>(Tensor<Zd>::randn({3, 12, 10}, 33), random_mask<double>({12, 10}, 34)), x);
  }
  SUBCASE("per-image maps, complex weighted mask per image and coil") {
    check_same(mri::SenseOp<Zd>(Tensor<Zd>::randn({2, 3, 12, 10}, 35), Tensor<Zd>::randn({2, 3, 12, 10}, 36)), x);
  }
  SUBCASE("an all-zero mask") {
    check_same(mri::SenseOp<Zd>(Tensor<Zd>::randn({3, 12, 10}, 37), Tensor<double>::zeros({12, 10})), x);
  }
  SUBCASE("odd sizes take the composed path") {
    const auto xo = Tensor<Zd>::randn({1, 9, 7}, 38);
    check_same(mri::SenseOp<Zd>(Tensor<Zd>::randn({2, 9, 7}, 39), random_mask<double>({9, 7}, 40)), xo);
  }
  SUBCASE("float, 256 x 256, 8 coils") {
    mri::SenseOp<Zf> a(Tensor<Zf>::randn({8, 256, 256}, 41), random_mask<float>({256, 256}, 42));
    const auto v = Tensor<Zf>::randn({1, 256, 256}, 43);
    NoGradGuard no_tape;
    const auto fused = a.normal_map()(v), composed = a.normal(v);
    CHECK(l2(sub(fused, composed)) < 1e-5 * l2(composed));
  }
  SUBCASE("with a gradient to compute it is normal() on the tape") {
    mri::SenseOp<Zd> a(Tensor<Zd>::randn({3, 12, 10}, 44), column_mask);
    const auto v = Tensor<Zd>::randn({1, 12, 10}, 45);
    auto r = gradcheck([&](auto& in) { return a.normal_map()(in[0]); }, std::vector{v});
    INFO(r.message);
    CHECK(r.ok);
  }
}
