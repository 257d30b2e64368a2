// cg_solve: solutions against a direct solve, the stopping rule, per-system independence, warm
// starts, implicit gradients against finite differences (first and second order, real and complex),
// a tape of one node whatever the iteration count, and errors.
#include <complex>

#include "support/dense_solve.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_error;
using tests::check_grad;
using tests::Td;
using tests::Tz;

namespace {
// A random Hermitian positive semi-definite n x n matrix M = Q^H Q (rank min(m, n)).
template <class T>
Tensor<T> gram(std::int64_t m, std::int64_t n, std::uint64_t seed) {
  auto q = Tensor<T>::randn({m, n}, seed);
  return matmul(conj(q.transpose(0, 1)), q).contiguous();
}
// The map p -> M p applied to every row of a [B, n] batch: (M p)^T = p^T M^T.
template <class T>
LinearMap<T, Cpu> rows_times(const Tensor<T>& m) {
  return [mt = m.transpose(0, 1)](const Tensor<T>& p) { return matmul(p, mt); };
}
// (M + lambda I) x = b, directly.
template <class T>
std::vector<T> direct_solve(const Tensor<T>& m, double lambda, const std::vector<T>& b) {
  auto a = m.to_vector();
  for (std::size_t i = 0; i < b.size(); ++i) a[i * b.size() + i] += T(lambda);
  return tests::dense_solve(a, b);
}
template <class T>
double max_diff(const std::vector<T>& a, const std::vector<T>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}
const CgOptions kConverge{200, 1e-13, 0};
}  // namespace

OP_TEST(cg_solve) {
  const auto mz = gram<std::complex<double>>(5, 6, 1);  // rank 5 of 6: singular without lambda
  const auto md = gram<double>(8, 6, 2);
  const auto nz = rows_times(mz);
  const auto nd = rows_times(md);

  SUBCASE("solves (M + lambda I) x = b like a direct solve, per system") {
    auto b = Tz::randn({3, 6}, 3);
    auto x = cg_solve(nz, b, Td::from_vector({0.1, 1.0, 10.0}), kConverge);
    for (std::int64_t i = 0; i < 3; ++i) {
      auto bi = b.slice(0, i, i + 1, 1).to_vector();
      CHECK(max_diff(x.slice(0, i, i + 1, 1).to_vector(), direct_solve(mz, std::vector{0.1, 1.0, 10.0}[i], bi)) <
            1e-10);
    }
    auto bd = Td::randn({2, 6}, 4);
    auto xd = cg_solve(nd, bd, Td::from_vector({0.5}), kConverge);
    CHECK(max_diff(xd.slice(0, 1, 2, 1).to_vector(), direct_solve(md, 0.5, bd.slice(0, 1, 2, 1).to_vector())) < 1e-10);
  }
  SUBCASE("exactly max_iter iterations without a tolerance; each system stops on its own with one") {
    CgStats stats;
    auto b = Tz::randn({2, 6}, 5);
    cg_solve(nz, b, Td::from_vector({1.0}), CgOptions{3, 0, 0}, {}, &stats);
    CHECK(stats.iterations == 3);
    CHECK(stats.system_iterations == std::vector<int>{3, 3});
    // A zero right-hand side is solved before the first iteration; the other system converges.
    auto b0 = concat(std::vector{Tz::zeros({1, 6}), Tz::randn({1, 6}, 6)}, 0);
    auto x = cg_solve(nz, b0, Td::from_vector({1.0}), CgOptions{100, 1e-9, 0}, {}, &stats);
    CHECK(stats.system_iterations[0] == 0);
    CHECK(stats.system_iterations[1] > 0);
    CHECK(stats.system_iterations[1] <= 12);
    CHECK(stats.residual_norms[1] <= 1e-9);
    // The residual CG tracks is the true one.
    auto r = sub(b0, add(nz(x), x));
    CHECK(norm(r.slice(0, 1, 2, 1)).item() < 1e-8);
    CHECK(norm(x.slice(0, 0, 1, 1)).item() == 0);
    // rtol: relative to ||b||.
    auto big = scale(b, std::complex<double>(1e6));
    cg_solve(nz, big, Td::from_vector({1.0}), CgOptions{100, 0, 1e-6}, {}, &stats);
    CHECK(stats.residual_norms[0] <= 1e-6 * norm(big.slice(0, 0, 1, 1)).item());
  }
  SUBCASE("a system's iterates do not depend on the rest of the batch") {
    auto b = Tz::randn({3, 6}, 7);
    auto together = cg_solve(nz, b, Td::from_vector({0.3}), CgOptions{4, 0, 0});
    auto alone = cg_solve(nz, b.slice(0, 2, 3, 1).contiguous(), Td::from_vector({0.3}), CgOptions{4, 0, 0});
    CHECK(max_diff(together.slice(0, 2, 3, 1).to_vector(), alone.to_vector()) < 1e-14);
  }
  SUBCASE("a warm start at the solution needs no iteration") {
    auto b = Tz::randn({1, 6}, 8);
    auto x = cg_solve(nz, b, Td::from_vector({1.0}), kConverge);
    CgStats stats;
    auto again = cg_solve(nz, b, Td::from_vector({1.0}), CgOptions{50, 1e-9, 0}, x, &stats);
    CHECK(stats.iterations == 0);
    CHECK(max_diff(again.to_vector(), x.to_vector()) == 0);
  }
  SUBCASE("gradients by implicit differentiation match finite differences") {
    const Td lam = Td::from_vector({0.7});
    check_grad([&](auto& v) { return cg_solve(nz, v[0], lam, kConverge); }, std::vector{Tz::randn({2, 6}, 9)});
    check_grad([&](auto& v) { return cg_solve(nd, v[0], lam, kConverge); }, std::vector{Td::randn({2, 6}, 10)});
    // lambda, shared and per system, with a complex solution.
    const Tz bz = Tz::randn({2, 6}, 11);
    check_grad([&](auto& v) { return cg_solve(nz, bz, v[0], kConverge); }, std::vector{Td::from_vector({0.7})});
    check_grad([&](auto& v) { return cg_solve(nz, bz, v[0], kConverge); }, std::vector{Td::from_vector({0.7, 2.0})});
    // Both at once, and second order (the rule solves again, so the tape records it).
    const auto s = Td::from_vector({0.4});
    check_grad([&](auto& v) { return cg_solve(nd, v[0], mul(s, reshape(sum(v[1]), Shape{1})), kConverge); },
               std::vector{Td::randn({2, 6}, 12), Td::from_vector({1.5})}, true);
  }
  SUBCASE("the tape holds one node whatever the iteration count") {
    auto b = Tz::randn({1, 6}, 13);
    b.set_requires_grad(true);
    for (int iters : {2, 50}) {
      auto x = cg_solve(nz, b, Td::from_vector({1.0}), CgOptions{iters, 0, 0});
      REQUIRE(x.impl()->node);
      CHECK(std::string(x.impl()->node->name()) == "cg_solve");
      CHECK(x.impl()->node->edges().size() == 2);
      CHECK(x.impl()->node->edges()[0].node == b.impl()->node);
    }
  }
  SUBCASE("errors name cg_solve and the shapes") {
    auto b = Tz::randn({2, 6}, 14);
    check_error([&] { cg_solve(nz, b, Td::from_vector({1.0, 2.0, 3.0})); }, "cg_solve", "[3]");
    check_error([&] { cg_solve(nz, b, Td::from_vector({-1.0})); }, "cg_solve", "lambda >= 0");
    check_error([&] { cg_solve(nz, b, Td::from_vector({1.0}), {}, Tz::zeros({1, 6})); }, "cg_solve", "initial guess");
    check_error([&] { cg_solve(nz, b, Td::from_vector({1.0}), CgOptions{-1, 0, 0}); }, "cg_solve", "max_iter");
    LinearMap<std::complex<double>, Cpu> shrink = [](const Tz& p) { return p.slice(1, 0, 3, 1); };
    check_error([&] { cg_solve(shrink, b, Td::from_vector({1.0})); }, "cg_solve", "changed the shape");
    check_error([&] { cg_solve(LinearMap<std::complex<double>, Cpu>{}, b, Td::from_vector({1.0})); }, "cg_solve",
                "empty");
  }
}
