#include <doctest/doctest.h>

#include <pthread.h>
#include <cmath>
#include <trustml/trustml.hpp>

using namespace trustml;
using Td = Tensor<double>;

static Td leaf(std::vector<double> v) { return Td::from_vector(v).set_requires_grad(); }

TEST_CASE("backward accumulates into leaves across calls") {
  auto x = leaf({1, 2, 3});
  sum(mul(x, x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
  sum(x).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3, 5, 7});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("a tensor used twice gets both contributions") {
  auto x = leaf({2});
  auto y = add(mul(x, x), exp(x));  // dy/dx = 2x + e^x
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(4 + std::exp(2.0)));
}

TEST_CASE("a second backward needs retain_graph") {
  auto x = leaf({1, 2});
  auto y = sum(exp(x));
  y.backward(Td(), true);
  y.backward();
  CHECK(x.grad().to_vector()[0] == doctest::Approx(2 * std::exp(1.0)));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), Error);
}

TEST_CASE("no-grad and enable-grad guards") {
  auto x = leaf({1});
  {
    NoGradGuard off;
    CHECK(!mul(x, x).requires_grad());
    EnableGradGuard on;
    CHECK(mul(x, x).requires_grad());
  }
  CHECK(mul(x, x).requires_grad());
  CHECK_THROWS_WITH_AS(sum(Td::ones({2})).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("grad() returns gradients without touching .grad") {
  auto x = leaf({1, 2}), w = leaf({3, 4});
  auto y = sum(mul(x, w));
  auto g = grad(std::vector{y}, std::vector{x});
  CHECK(g[0].to_vector() == std::vector<double>{3, 4});
  CHECK(!x.grad().defined());
  CHECK(!w.grad().defined());
  auto z = sum(x);
  CHECK_THROWS_WITH_AS(grad(std::vector{z}, std::vector{w}), doctest::Contains("allow_unused"), Error);
}

TEST_CASE("Hessian-vector product through create_graph") {
  // f(x) = sum(x^3) / 3 + x0 * x1: H = diag(2x) + [[0,1],[1,0]].
  auto x = leaf({1.5, -2});
  auto f = add(scale(sum(mul(mul(x, x), x)), 1.0 / 3), sum(mul(slice(x, 0, 0, 1), slice(x, 0, 1, 2))));
  auto g = grad(std::vector{f}, std::vector{x}, {}, true, true)[0];
  auto v = Td::from_vector({1, 2});
  auto hv = grad(std::vector{sum(mul(g, v))}, std::vector{x})[0].to_vector();
  CHECK(hv[0] == doctest::Approx(2 * 1.5 * 1 + 2));
  CHECK(hv[1] == doctest::Approx(2 * -2 * 2 + 1));
}

TEST_CASE("second-order gradients of mul, tanh and exp chains match finite differences") {
  auto x = Td::randn({3}, 5);
  auto y = Td::randn({3}, 6);
  for (auto f : {+[](const std::vector<Td>& v) { return tanh(mul(exp(v[0]), v[1])); },
                 +[](const std::vector<Td>& v) { return exp(tanh(mul(v[0], mul(v[0], v[1])))); }}) {
    auto r = gradgradcheck(f, std::vector{x, y}, {1e-6, 1e-7, 1e-4});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("hooks see and may replace the gradient") {
  auto x = leaf({1, 2});
  auto h = mul(x, Td::full({2}, 3));
  std::vector<double> seen;
  h.register_hook([&](const Td& g) {
    seen = g.to_vector();
    return scale(g, 10.0);
  });
  h.retain_grad();
  sum(h).backward();
  CHECK(seen == std::vector<double>{1, 1});
  CHECK(h.grad().to_vector() == std::vector<double>{10, 10});
  CHECK(x.grad().to_vector() == std::vector<double>{30, 30});
  x.register_hook([](const Td& g) { return neg(g); });
  x.zero_grad();
  sum(x).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{-1, -1});
}

TEST_CASE("complex gradient of |z|^2 is 2z (conjugate Wirtinger)") {
  using Tz = Tensor<std::complex<double>>;
  auto z = Tz::from_vector({{1, 2}, {-3, 0.5}}).set_requires_grad();
  sum(real(mul(z, conj(z)))).backward();
  auto g = z.grad().to_vector();
  CHECK(g[0] == std::complex<double>(2, 4));
  CHECK(g[1] == std::complex<double>(-6, 1));
}

// Runs f on a thread whose stack is exactly 8 MB, so that recursion per node would overflow it.
template <class F>
static void on_8mb_stack(F f) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 8u << 20);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<F*>(arg))();
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, trampoline, &f) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST_CASE("a chain of 1,000,000 ops runs backward and is freed under an 8 MB stack") {
  double grad_value = 0;
  on_8mb_stack([&] {
    auto x = leaf({1});
    {
      Td y = x;
      for (int i = 0; i < 1000000; ++i) y = add_scalar(y, 1e-6);
      y.backward(Td(), true);  // keep the graph so that its destruction below is exercised too
    }                          // the whole chain is destroyed here
    grad_value = x.grad().item();
  });
  CHECK(grad_value == 1);
}

TEST_CASE("in-place change of a saved tensor is detected") {
  auto x = leaf({1, 2});
  auto w = Td::from_vector({3, 4});
  auto y = sum(mul(x, w));
  w.fill_(0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified in place"), Error);
}

TEST_CASE("NaN-check mode names the first op that produced a NaN or an infinity") {
  set_nan_check(true);
  auto x = Td::from_vector({-1, 4});
  CHECK_THROWS_WITH_AS(exp(log(x)), doctest::Contains("trustml::log: produced a NaN in its output at element 0"),
                       Error);
  // Infinities too: log(0) overflows, and so does a gradient through sqrt at 0.
  CHECK_THROWS_WITH_AS(
      log(Td::from_vector({1, 0})),
      "trustml::log: produced an infinity in its output at element 1 (shape [2]; NaN-check mode is on)", Error);
  set_nan_check(false);
  auto z = Td::from_vector({0, 4}).set_requires_grad();
  auto root = sum(sqrt(z));
  set_nan_check(true);
  // The first infinite tensor of the backward pass is the output of the division in sqrt's rule.
  CHECK_THROWS_WITH_AS(root.backward(),
                       doctest::Contains("trustml::div: produced an infinity in its output at element 0"), Error);
  set_nan_check(false);
  CHECK(std::isnan(log(x).to_vector()[0]));
}

TEST_CASE("errors name the op and the shapes") {
  auto a = Td::ones({2, 3}), b = Td::ones({4, 5});
  CHECK_THROWS_WITH_AS(add(a, b), "trustml::add: shapes [2, 3] and [4, 5] cannot be broadcast together", Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), "trustml::matmul: inner dimensions differ: [2, 3] @ [4, 5]", Error);
  CHECK_THROWS_WITH_AS(sum(a, {2}), "trustml::sum: dimension 2 is out of range for a tensor of rank 2", Error);
}

TEST_CASE("gradients of different leaves never share storage") {
  auto a = leaf({1}), b = leaf({2});
  add(a, b).backward();  // both receive the same incoming gradient tensor
  CHECK(a.grad().storage() != b.grad().storage());
  add(a, b).backward();  // accumulated in place into each leaf's own .grad
  CHECK(a.grad().item() == 2);
  CHECK(b.grad().item() == 2);
}
