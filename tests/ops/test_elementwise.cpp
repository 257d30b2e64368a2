// Elementwise ops: values against std:: math, gradcheck in double and complex<double>.
#include <cmath>

#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_grad;
using tests::Td;
using tests::Tz;

namespace {
Td x23() { return Td::randn({2, 3}, 11); }
Td pos23() { return add_scalar(abs(Td::randn({2, 3}, 12)), 0.5); }
Tz z23() { return Tz::randn({2, 3}, 13); }

template <class Op, class Ref>
void check_unary_values(Op op, Ref ref, const Td& x) {
  auto y = op(x).to_vector();
  auto xv = x.to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) CHECK(y[i] == doctest::Approx(ref(xv[i])).epsilon(1e-12));
}
// Float ops (the vectorized kernels, core/vmath.hpp) on 4096 points of [-12, 12] against a double
// reference: within 2 ulp (2^-22 relative) or 1e-30 absolute (outputs that underflow).
template <class Op, class Ref>
void check_float_values(Op op, Ref ref) {
  auto x = scale(Tensor<float>::rand({4096}, 21), 24.0f) - 12.0f;
  auto y = op(x).to_vector();
  auto xv = x.to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const double r = ref(double(xv[i]));
    CHECK(std::abs(y[i] - r) <= std::max(std::abs(r) * 2.4e-7, 1e-30));
  }
}
}  // namespace

OP_TEST(add) {
  auto a = Td::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}), b = Td::from_vector({10, 20, 30});
  CHECK(add(a, b).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK((a + b).to_vector() == add(a, b).to_vector());
  check_grad([](auto& v) { return add(v[0], v[1]); }, std::vector{x23(), Td::randn({3}, 1)}, true);
  check_grad([](auto& v) { return add(v[0], v[1]); }, std::vector{z23(), Tz::randn({2, 1}, 2)});
}
OP_TEST(sub) {
  check_grad([](auto& v) { return sub(v[0], v[1]); }, std::vector{x23(), Td::randn({2, 1}, 1)});
  check_grad([](auto& v) { return v[0] - v[1]; }, std::vector{z23(), Tz::randn({3}, 2)});
}
OP_TEST(mul) {
  check_grad([](auto& v) { return mul(v[0], v[1]); }, std::vector{x23(), Td::randn({3}, 1)}, true);
  check_grad([](auto& v) { return v[0] * v[1]; }, std::vector{z23(), Tz::randn({2, 3}, 2)}, true);
}
OP_TEST(div) {
  check_grad([](auto& v) { return div(v[0], v[1]); }, std::vector{x23(), pos23()}, true);
  check_grad([](auto& v) { return v[0] / v[1]; }, std::vector{z23(), add_scalar(Tz::randn({2, 3}, 2), {2, 0})});
}
OP_TEST(neg) {
  CHECK((-Td::from_vector({1, -2})).to_vector() == std::vector<double>{-1, 2});
  check_grad([](auto& v) { return neg(v[0]); }, std::vector{z23()});
}
OP_TEST(scale) {
  check_grad([](auto& v) { return v[0] * 2.5; }, std::vector{x23()});
  check_grad([](auto& v) { return scale(v[0], std::complex<double>(1, -2)); }, std::vector{z23()});
}
OP_TEST(add_scalar) {
  CHECK((Td::from_vector({1}) + 2.0).item() == 3);
  check_grad([](auto& v) { return v[0] - 1.0; }, std::vector{x23()});
  check_grad([](auto& v) { return add_scalar(v[0], std::complex<double>(0, 1)); }, std::vector{z23()});
}
OP_TEST(exp) {
  check_float_values([](auto& x) { return exp(x); }, [](double v) { return std::exp(v); });
  check_unary_values([](auto& x) { return exp(x); }, [](double v) { return std::exp(v); }, x23());
  check_grad([](auto& v) { return exp(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return exp(v[0]); }, std::vector{z23()}, true);
}
OP_TEST(log) {
  check_unary_values([](auto& x) { return log(x); }, [](double v) { return std::log(v); }, pos23());
  check_grad([](auto& v) { return log(v[0]); }, std::vector{pos23()}, true);
  check_grad([](auto& v) { return log(v[0]); }, std::vector{add_scalar(z23(), {3, 0})});
}
OP_TEST(sqrt) {
  check_unary_values([](auto& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); }, pos23());
  check_grad([](auto& v) { return sqrt(v[0]); }, std::vector{pos23()}, true);
  check_grad([](auto& v) { return sqrt(v[0]); }, std::vector{add_scalar(z23(), {3, 0})});
}
OP_TEST(pow) {
  check_unary_values([](auto& x) { return pow(x, 2.5); }, [](double v) { return std::pow(v, 2.5); }, pos23());
  check_grad([](auto& v) { return pow(v[0], 2.5); }, std::vector{pos23()}, true);
  check_grad([](auto& v) { return pow(v[0], 3.0); }, std::vector{z23()});
}
OP_TEST(abs) {
  check_unary_values([](auto& x) { return abs(x); }, [](double v) { return std::abs(v); }, x23());
  check_grad([](auto& v) { return abs(v[0]); }, std::vector{x23()});
  check_grad([](auto& v) { return abs(v[0]); }, std::vector{z23()});
  CHECK(abs(Tz::from_vector({{3, 4}})).item() == 5);
}
OP_TEST(sin) {
  check_unary_values([](auto& x) { return sin(x); }, [](double v) { return std::sin(v); }, x23());
  check_grad([](auto& v) { return sin(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return sin(v[0]); }, std::vector{z23()});
}
OP_TEST(cos) {
  check_unary_values([](auto& x) { return cos(x); }, [](double v) { return std::cos(v); }, x23());
  check_grad([](auto& v) { return cos(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return cos(v[0]); }, std::vector{z23()});
}
OP_TEST(tanh) {
  check_float_values([](auto& x) { return tanh(x); }, [](double v) { return std::tanh(v); });
  check_unary_values([](auto& x) { return tanh(x); }, [](double v) { return std::tanh(v); }, x23());
  check_grad([](auto& v) { return tanh(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return tanh(v[0]); }, std::vector{z23()});
}
OP_TEST(sigmoid) {
  check_float_values([](auto& x) { return sigmoid(x); }, [](double v) { return 1 / (1 + std::exp(-v)); });
  check_unary_values([](auto& x) { return sigmoid(x); }, [](double v) { return 1 / (1 + std::exp(-v)); }, x23());
  check_grad([](auto& v) { return sigmoid(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return sigmoid(v[0]); }, std::vector{z23()});
}
OP_TEST(relu) {
  CHECK(relu(Td::from_vector({-1, 0, 2})).to_vector() == std::vector<double>{0, 0, 2});
  check_grad([](auto& v) { return relu(v[0]); }, std::vector{x23()});
}
OP_TEST(leaky_relu) {
  CHECK(leaky_relu(Td::from_vector({-1, 2}), 0.1).to_vector() == std::vector<double>{-0.1, 2});
  check_grad([](auto& v) { return leaky_relu(v[0], 0.2); }, std::vector{x23()});
}
OP_TEST(prelu) {
  auto w = Td::from_vector({0.1, 0.3}, {2, 1});
  CHECK(prelu(Td::from_vector({-1, 1, -1, 1}, {2, 2}), w).to_vector() == std::vector<double>{-0.1, 1, -0.3, 1});
  check_grad([](auto& v) { return prelu(v[0], v[1]); }, std::vector{x23(), Td::from_vector({0.1, 0.3}, {2, 1})});
}
OP_TEST(silu) {
  check_unary_values([](auto& x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); }, x23());
  check_unary_values([](auto& x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); },
                     scale(Td::randn({50}, 5), 8.0));
  check_grad([](auto& v) { return silu(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return silu(v[0]); }, std::vector{scale(Td::randn({20}, 6), 4.0)});
  check_float_values([](auto& x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); });
}
OP_TEST(erf) {
  check_float_values([](auto& x) { return erf(x); }, [](double v) { return std::erf(v); });
  check_unary_values([](auto& x) { return erf(x); }, [](double v) { return std::erf(v); }, x23());
  check_grad([](auto& v) { return erf(v[0]); }, std::vector{x23()}, true);
}
OP_TEST(gelu) {
  check_unary_values([](auto& x) { return gelu(x); },
                     [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, x23());
  // Wide range, against erfc (which does not cancel for negative x as 1 + erf does).
  check_unary_values([](auto& x) { return gelu(x); }, [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); },
                     scale(Td::randn({50}, 5), 8.0));
  check_grad([](auto& v) { return gelu(v[0]); }, std::vector{x23()}, true);
  check_grad([](auto& v) { return gelu(v[0]); }, std::vector{scale(Td::randn({20}, 6), 4.0)});
  check_float_values([](auto& x) { return gelu(x); },
                     [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); });
}
OP_TEST(clamp) {
  CHECK(clamp(Td::from_vector({-2, 0.5, 3}), -1.0, 1.0).to_vector() == std::vector<double>{-1, 0.5, 1});
  check_grad([](auto& v) { return clamp(v[0], -0.5, 0.5); }, std::vector{x23()});
  CHECK_THROWS_AS(clamp(x23(), 1.0, -1.0), Error);
}
OP_TEST(straight_through) {
  // Forward: the hard values; backward: the upstream gradient clipped to [-1, 1], into soft only.
  auto soft = Td::from_vector({0.2, 0.9, 0.5, 0.1}).set_requires_grad();
  auto hard = Td::from_vector({0, 1, 1, 0}).set_requires_grad();
  auto out = straight_through(soft, hard);
  CHECK(out.to_vector() == hard.to_vector());
  sum(mul(out, Td::from_vector({-3, 0.25, 1.5, -0.75}))).backward();
  CHECK(soft.grad().to_vector() == std::vector<double>{-1, 0.25, 1, -0.75});
  CHECK(!hard.grad().defined());
  CHECK_THROWS_WITH_AS(straight_through(soft, Td::zeros({2, 2})), doctest::Contains("straight_through"), Error);
}
OP_TEST(where) {
  auto c = Td::from_vector({1, 0, 1});
  CHECK(where(c, Td::from_vector({1, 2, 3}), Td::from_vector({-1, -2, -3})).to_vector() ==
        std::vector<double>{1, -2, 3});
  check_grad([c](auto& v) { return where(c, v[0], v[1]); }, std::vector{Td::randn({2, 3}, 1), Td::randn({3}, 2)});
  auto cz = Tz::from_vector({{1, 0}, {0, 0}});
  check_grad([cz](auto& v) { return where(cz, v[0], v[1]); }, std::vector{Tz::randn({2}, 1), Tz::randn({2}, 2)});
}
OP_TEST(maximum) {
  CHECK(maximum(Td::from_vector({1, 5}), Td::from_vector({3, 2})).to_vector() == std::vector<double>{3, 5});
  check_grad([](auto& v) { return maximum(v[0], v[1]); }, std::vector{x23(), Td::randn({3}, 3)});
  // A tie shares the gradient equally, as PyTorch.
  auto a = Td::from_vector({1}).set_requires_grad(), b = Td::from_vector({1}).set_requires_grad();
  maximum(a, b).backward();
  CHECK(a.grad().item() == 0.5);
}
OP_TEST(minimum) {
  CHECK(minimum(Td::from_vector({1, 5}), Td::from_vector({3, 2})).to_vector() == std::vector<double>{1, 2});
  check_grad([](auto& v) { return minimum(v[0], v[1]); }, std::vector{x23(), Td::randn({3}, 3)});
}
OP_TEST(step) { CHECK(step(Td::from_vector({-1, 0, 2})).to_vector() == std::vector<double>{0, 0, 1}); }
OP_TEST(in_range) {
  CHECK(in_range(Td::from_vector({-1, 0, 2}), 0.0, 2.0).to_vector() == std::vector<double>{0, 1, 1});
}
OP_TEST(max_mask) {
  CHECK(max_mask(Td::from_vector({1, 2, 3}), Td::from_vector({2, 2, 2})).to_vector() == std::vector<double>{0, 0.5, 1});
}

// ---- complex parts ----
OP_TEST(conj) {
  CHECK(conj(Tz::from_vector({{1, 2}})).item() == std::complex<double>(1, -2));
  check_grad([](auto& v) { return conj(v[0]); }, std::vector{z23()}, true);
}
OP_TEST(real) {
  CHECK(real(Tz::from_vector({{1, 2}})).item() == 1);
  check_grad([](auto& v) { return real(v[0]); }, std::vector{z23()});
}
OP_TEST(imag) {
  CHECK(imag(Tz::from_vector({{1, 2}})).item() == 2);
  check_grad([](auto& v) { return imag(v[0]); }, std::vector{z23()});
}
OP_TEST(angle) {
  CHECK(angle(Tz::from_vector({{0, 2}})).item() == doctest::Approx(M_PI / 2));
  check_grad([](auto& v) { return angle(v[0]); }, std::vector{z23()});
  CHECK(angle(Td::from_vector({-2, 3})).to_vector() == std::vector<double>{M_PI, 0});
  check_grad([](auto& v) { return angle(v[0]); }, std::vector{x23()});
}
OP_TEST(make_complex) {
  CHECK(make_complex(Td::from_vector({1}), Td::from_vector({2})).item() == std::complex<double>(1, 2));
  check_grad([](auto& v) { return make_complex(v[0], v[1]); }, std::vector{x23(), Td::randn({3}, 4)}, true);
}
