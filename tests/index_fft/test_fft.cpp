// fft2c and ifft2c: values against a naive DFT with explicit shifts (odd and even sizes), closed
// forms, unitarity, the adjoint identity, gradients, thread safety of the plan cache, and errors.
#include <cmath>
#include <complex>
#include <thread>

#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_grad;
using tests::Tz;
using C = std::complex<double>;

namespace {
constexpr double kPi = 3.14159265358979323846;

// np.roll along one axis of a [batch, n0, n1] array: out[i] = a[(i - s) mod n].
std::vector<C> roll(const std::vector<C>& a, std::int64_t n0, std::int64_t n1, int axis, std::int64_t s) {
  std::vector<C> out(a.size());
  const std::int64_t n = axis == 0 ? n0 : n1;
  for (std::size_t b = 0; b < a.size() / (n0 * n1); ++b)
    for (std::int64_t i = 0; i < n0; ++i)
      for (std::int64_t j = 0; j < n1; ++j) {
        std::int64_t si = i, sj = j;
        (axis == 0 ? si : sj) = (((axis == 0 ? i : j) - s) % n + n) % n;
        out[b * n0 * n1 + i * n1 + j] = a[b * n0 * n1 + si * n1 + sj];
      }
  return out;
}
// fftshift(dft2(ifftshift(x)) / sqrt(n0 n1)), each step written out as in NumPy.
std::vector<C> naive_fft2c(const std::vector<C>& x, std::int64_t n0, std::int64_t n1, bool inverse) {
  auto y = roll(roll(x, n0, n1, 0, -(n0 / 2)), n0, n1, 1, -(n1 / 2));  // ifftshift
  std::vector<C> f(y.size());
  const double sign = inverse ? 1 : -1;
  for (std::size_t b = 0; b < y.size() / (n0 * n1); ++b)
    for (std::int64_t k0 = 0; k0 < n0; ++k0)
      for (std::int64_t k1 = 0; k1 < n1; ++k1) {
        C acc = 0;
        for (std::int64_t m0 = 0; m0 < n0; ++m0)
          for (std::int64_t m1 = 0; m1 < n1; ++m1) {
            const double phase = sign * 2 * kPi * (double(k0 * m0) / n0 + double(k1 * m1) / n1);
            acc += y[b * n0 * n1 + m0 * n1 + m1] * std::polar(1.0, phase);
          }
        f[b * n0 * n1 + k0 * n1 + k1] = acc / std::sqrt(double(n0 * n1));
      }
  return roll(roll(f, n0, n1, 0, n0 / 2), n0, n1, 1, n1 / 2);  // fftshift
}

double max_diff(const std::vector<C>& a, const std::vector<C>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}
C inner(const Tz& a, const Tz& b) {  // <a, b> = sum conj(a) b
  auto av = a.to_vector(), bv = b.to_vector();
  C s = 0;
  for (std::size_t i = 0; i < av.size(); ++i) s += std::conj(av[i]) * bv[i];
  return s;
}

template <class X>
concept HasFft2c = requires(X x) {
  fft2c(x);
};
template <class X>
concept HasIfft2c = requires(X x) {
  ifft2c(x);
};
}  // namespace

// Real input has no centered complex FFT: a compile error, not a silent cast.
static_assert(HasFft2c<Tz> && HasIfft2c<Tensor<std::complex<float>>>);
static_assert(!HasFft2c<tests::Td> && !HasIfft2c<Tensor<float>> && !HasFft2c<Tensor<std::int64_t>>);

OP_TEST(fft2c) {
  SUBCASE("matches the naive DFT with explicit shifts, odd and even sizes, batched") {
    for (auto [n0, n1] : {std::pair<std::int64_t, std::int64_t>{4, 6}, {5, 3}, {3, 4}, {1, 7}, {8, 8}}) {
      CAPTURE(n0);
      CAPTURE(n1);
      auto x = Tz::randn({2, 3, n0, n1}, 7);
      CHECK(max_diff(fft2c(x).to_vector(), naive_fft2c(x.to_vector(), n0, n1, false)) < 1e-12);
      CHECK(max_diff(ifft2c(x).to_vector(), naive_fft2c(x.to_vector(), n0, n1, true)) < 1e-12);
    }
  }
  SUBCASE("closed forms: a centered delta is flat, a constant is a centered delta") {
    for (std::int64_t n : {4, 5}) {
      auto delta = Tz::zeros({n, n + 1});
      delta.data()[(n / 2) * (n + 1) + (n + 1) / 2] = 1;
      const double flat = 1 / std::sqrt(double(n * (n + 1)));
      tests::check_close(fft2c(delta), std::vector<C>(n * (n + 1), C(flat)), 1e-14);
      auto ones_spectrum = std::vector<C>(n * (n + 1), C(0));
      ones_spectrum[(n / 2) * (n + 1) + (n + 1) / 2] = std::sqrt(double(n * (n + 1)));
      tests::check_close(fft2c(Tz::ones({n, n + 1})), ones_spectrum, 1e-14);
    }
  }
  SUBCASE("strided input: a transposed view gives the transform of its values") {
    auto base = Tz::randn({2, 5, 4}, 8);
    auto view = base.transpose(-1, -2);  // [2, 4, 5], not contiguous
    REQUIRE(!view.is_contiguous());
    CHECK(max_diff(fft2c(view).to_vector(), naive_fft2c(view.contiguous().to_vector(), 4, 5, false)) < 1e-12);
    auto batch_view = Tz::randn({3, 2, 5, 3}, 8).permute({1, 0, 2, 3});  // permuted batch dims
    CHECK(max_diff(ifft2c(batch_view).to_vector(), naive_fft2c(batch_view.contiguous().to_vector(), 5, 3, true)) <
          1e-12);
  }
  SUBCASE("complex<float> agrees with the double reference, including odd slices on unaligned plans") {
    for (auto [n0, n1] : {std::pair<std::int64_t, std::int64_t>{3, 5}, {4, 4}}) {
      auto x = Tz::randn({3, n0, n1}, 9);
      auto got = fft2c(x.cast<std::complex<float>>()).cast<C>().to_vector();
      CHECK(max_diff(got, naive_fft2c(x.to_vector(), n0, n1, false)) < 1e-5);
    }
  }
  SUBCASE("deterministic and independent of the batch position") {
    auto x = Tz::randn({3, 5, 3}, 10);
    auto a = fft2c(x).to_vector(), b = fft2c(x).to_vector();
    CHECK(a == b);
    // complex<float> slices of odd size start at alternating SIMD alignments within a batch.
    auto x32 = x.cast<std::complex<float>>();
    auto batched = fft2c(x32).to_vector();
    auto single = fft2c(x32.slice(0, 1, 2)).to_vector();
    CHECK(std::equal(single.begin(), single.end(), batched.begin() + 15));
  }
  SUBCASE("unitary: norm preserved, and ifft2c inverts it") {
    auto x = Tz::randn({2, 5, 6}, 11);
    auto y = fft2c(x);
    CHECK(std::abs(inner(y, y) - inner(x, x)) < 1e-10);
    CHECK(max_diff(ifft2c(y).to_vector(), x.to_vector()) < 1e-13);
    CHECK(max_diff(fft2c(ifft2c(x)).to_vector(), x.to_vector()) < 1e-13);
  }
  SUBCASE("adjoint: <F x, y> = <x, F^H y>") {
    auto x = Tz::randn({3, 7, 4}, 12), y = Tz::randn({3, 7, 4}, 13);
    CHECK(std::abs(inner(fft2c(x), y) - inner(x, ifft2c(y))) < 1e-12);
    CHECK(std::abs(inner(ifft2c(x), y) - inner(x, fft2c(y))) < 1e-12);
  }
  SUBCASE("gradients") {
    check_grad([](auto& v) { return fft2c(v[0]); }, std::vector{Tz::randn({2, 3, 4}, 14)}, true);
    check_grad([](auto& v) { return mul(fft2c(v[0]), v[0]); }, std::vector{Tz::randn({3, 3}, 15)}, true);
  }
  SUBCASE("empty tensors pass through") {
    CHECK(fft2c(Tz::zeros({0, 4, 4})).shape() == Shape{0, 4, 4});
    CHECK(fft2c(Tz::zeros({2, 0, 3})).shape() == Shape{2, 0, 3});
  }
  SUBCASE("rank < 2 is an error naming the op and the shape") {
    CHECK_THROWS_AS(fft2c(Tz::zeros({4})), trustml::Error);
    CHECK_THROWS_WITH(fft2c(Tz::zeros({4})), doctest::Contains("fft2c"));
    CHECK_THROWS_WITH(ifft2c(Tz::scalar(1)), doctest::Contains("[]"));
  }
}

OP_TEST(ifft2c) {
  auto x = Tz::randn({4, 5}, 16);
  CHECK(max_diff(ifft2c(x).to_vector(), naive_fft2c(x.to_vector(), 4, 5, true)) < 1e-12);
  check_grad([](auto& v) { return ifft2c(v[0]); }, std::vector{Tz::randn({2, 5, 3}, 17)}, true);
  // A k-space data-consistency term, as in MRI reconstruction: |mask * fft2c(x) - y|^2.
  auto mask = Tz::from_vector({1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1}, {3, 4});
  auto y = Tz::randn({3, 4}, 18);
  check_grad([&](auto& v) { return abs(sub(mul(mask, fft2c(ifft2c(fft2c(v[0])))), y)); },
             std::vector{Tz::randn({3, 4}, 19)}, true);
  CHECK_THROWS_AS(ifft2c(Tz::zeros({3})), trustml::Error);
}

TEST_CASE("fft2c plans are made safely from many threads at once") {
  std::vector<std::pair<std::int64_t, std::int64_t>> sizes{{9, 10}, {11, 13}, {12, 7}, {16, 15}};
  std::vector<Tz> inputs, expected;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    inputs.push_back(Tz::randn({2, sizes[i].first, sizes[i].second}, 20 + i));
  std::vector<std::vector<std::vector<C>>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          auto x = inputs[(i + t) % sizes.size()];
          got[t].push_back(rep % 2 ? ifft2c(x).to_vector() : fft2c(x).to_vector());
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t)
    for (int rep = 0; rep < 5; ++rep)
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const auto& x = inputs[(i + t) % sizes.size()];
        const auto& s = sizes[(i + t) % sizes.size()];
        const auto ref = naive_fft2c(x.to_vector(), s.first, s.second, rep % 2 == 1);
        CHECK(max_diff(got[t][rep * sizes.size() + i], ref) < 1e-11);
      }
}
