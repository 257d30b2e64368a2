// The fused row ops of ops/nn.hpp: softmax and log_softmax along any dim, layer_norm over trailing
// dims. Values against float64 references, masked (-inf) rows as PyTorch, gradients to second order,
// the per-element launch (a GPU's) against the per-row one (the CPU's) bit for bit, bad arguments.
#include <cmath>
#include <limits>
#include <vector>

#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_error;
using tests::check_grad;
using tests::Td;

namespace {
using Tf = Tensor<float>;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Softmax (or log_softmax) of `x` along `dim` in double, element by element.
std::vector<double> softmax_reference(const Td& x, int dim, bool log) {
  const auto v = x.contiguous_data().to_vector();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= x.size(i);
  for (int i = dim + 1; i < x.dim(); ++i) inner *= x.size(i);
  const std::int64_t n = x.size(dim);
  std::vector<double> out(v.size());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < inner; ++k) {
      auto idx = [&](std::int64_t j) { return static_cast<std::size_t>((o * n + j) * inner + k); };
      double m = -kInf, s = 0;
      for (std::int64_t j = 0; j < n; ++j) m = std::max(m, v[idx(j)]);
      for (std::int64_t j = 0; j < n; ++j) s += std::exp(v[idx(j)] - m);
      for (std::int64_t j = 0; j < n; ++j)
        out[idx(j)] = log ? v[idx(j)] - m - std::log(s) : std::exp(v[idx(j)] - m) / s;
    }
  return out;
}

// layer_norm over rows of n in double; w, b empty for none.
std::vector<double> layer_norm_reference(const std::vector<double>& x, std::int64_t n, const std::vector<double>& w,
                                         const std::vector<double>& b, double eps) {
  std::vector<double> out(x.size());
  for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(n); ++r) {
    const double* p = x.data() + r * n;
    double mean = 0, var = 0;
    for (std::int64_t j = 0; j < n; ++j) mean += p[j];
    mean /= static_cast<double>(n);
    for (std::int64_t j = 0; j < n; ++j) var += (p[j] - mean) * (p[j] - mean);
    var /= static_cast<double>(n);
    for (std::int64_t j = 0; j < n; ++j) {
      double y = (p[j] - mean) / std::sqrt(var + eps);
      if (!w.empty()) y *= w[static_cast<std::size_t>(j)];
      if (!b.empty()) y += b[static_cast<std::size_t>(j)];
      out[r * n + j] = y;
    }
  }
  return out;
}

template <class T>
std::vector<double> as_double(const Tensor<T>& t) {
  std::vector<double> out;
  for (auto v : t.contiguous_data().to_vector()) out.push_back(static_cast<double>(v));
  return out;
}

// Largest |got - want| / (1 + |want|).
double max_error(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double e = 0;
  for (std::size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  return e;
}

template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}
}  // namespace

COVERS(softmax)
COVERS(log_softmax)
TEST_CASE("softmax, log_softmax: values along every dim against float64") {
  for (const Shape& shape : {Shape{5, 37}, Shape{3, 4, 20}, Shape{2, 3, 48, 48}}) {
    const auto xd = Td::randn(shape, 7);
    const auto xf = cast<float>(xd);  // the float input, and its exact value in double
    const auto x64 = cast<double>(xf);
    for (int dim = 0; dim < shape.rank; ++dim)
      for (bool log : {false, true}) {
        INFO("shape " << shape << " dim " << dim << (log ? " log_softmax" : " softmax"));
        const auto want = softmax_reference(x64, dim, log);
        CHECK(max_error(as_double(log ? log_softmax(xf, dim) : softmax(xf, dim)), want) < 2e-6);
        CHECK(max_error(as_double(log ? log_softmax(xd, dim - shape.rank) : softmax(xd, dim - shape.rank)),
                        softmax_reference(xd, dim, log)) < 1e-14);
      }
  }
  // A non-contiguous input, and large logits (computed around the maximum).
  const auto t = Td::randn({6, 5}, 3).transpose(0, 1);
  CHECK(max_error(softmax(t, 1).to_vector(), softmax_reference(t.contiguous_data(), 1, false)) < 1e-14);
  CHECK(softmax(Td::from_vector({1000, 1000}), 0).to_vector() == std::vector<double>{0.5, 0.5});
  CHECK(log_softmax(Tf::from_vector({1000, 1000}), 0).to_vector() ==
        std::vector<float>{-std::log(2.0f), -std::log(2.0f)});
}

TEST_CASE("softmax, log_softmax: masked entries as PyTorch") {
  // Row 0: two entries -inf (0 there, the rest a softmax of the others); row 1: all -inf (NaN).
  const auto x = Td::from_vector({1, -kInf, 2, -kInf, -kInf, -kInf, -kInf, -kInf}, {2, 4});
  for (auto& input : {x, x.transpose(0, 1).contiguous_data().transpose(0, 1)}) {
    const auto s = softmax(input, 1).to_vector();
    const double z = std::exp(1.0) + std::exp(2.0);
    CHECK(s[0] == doctest::Approx(std::exp(1.0) / z));
    CHECK(s[1] == 0);
    CHECK(s[2] == doctest::Approx(std::exp(2.0) / z));
    CHECK(s[3] == 0);
    for (int j = 4; j < 8; ++j) CHECK(std::isnan(s[j]));
    const auto l = log_softmax(input, 1).to_vector();
    CHECK(l[0] == doctest::Approx(1 - std::log(z)));
    CHECK(l[1] == -kInf);
    for (int j = 4; j < 8; ++j) CHECK(std::isnan(l[j]));
  }
  // Along dim 0 (strided rows): columns 0 and 2 have one finite entry, columns 1 and 3 none.
  const auto c = softmax(x, 0).to_vector();
  CHECK(c[0] == 1);
  CHECK(c[4] == 0);
  CHECK(c[2] == 1);
  CHECK(c[6] == 0);
  for (int j : {1, 3, 5, 7}) CHECK(std::isnan(c[j]));
}

TEST_CASE("softmax, log_softmax: gradients to second order, along the last dim and others") {
  const auto x = Td::randn({2, 3, 5}, 21);
  for (int dim : {-1, 0, 1}) {
    INFO("dim " << dim);
    check_grad([dim](auto& v) { return softmax(v[0], dim); }, std::vector{x}, true);
    check_grad([dim](auto& v) { return log_softmax(v[0], dim); }, std::vector{x}, true);
  }
  // Masked entries: no gradient flows to them, the others are those of the unmasked softmax.
  auto masked = Td::from_vector({0.3, -kInf, -1.2, 0.7, 0.1, -kInf}, {2, 3}).set_requires_grad();
  auto w = Td::randn({2, 3}, 4);
  sum(mul(softmax(masked, 1), w)).backward();
  const auto g = masked.grad().to_vector();
  CHECK(g[1] == 0);
  CHECK(g[5] == 0);
  auto plain = Td::from_vector({0.3, -1.2}).set_requires_grad();
  sum(mul(softmax(plain, 0), Td::from_vector({w.to_vector()[0], w.to_vector()[2]}))).backward();
  CHECK(g[0] == doctest::Approx(plain.grad().to_vector()[0]));
  CHECK(g[2] == doctest::Approx(plain.grad().to_vector()[1]));
}

TEST_CASE("softmax, log_softmax: the per-element launch gives the bits of the per-row one") {
  for (const Shape& shape : {Shape{7, 45}, Shape{4, 33, 6}}) {
    const auto x = Tf::randn(shape, 9);
    for (int dim = 0; dim < shape.rank; ++dim) {
      INFO("shape " << shape << " dim " << dim);
      CHECK(same_bits(ops::softmax_forward<false, true>(x, dim), ops::softmax_forward<false, false>(x, dim)));
      CHECK(same_bits(ops::softmax_forward<true, true>(x, dim), ops::softmax_forward<true, false>(x, dim)));
    }
  }
  const auto w = Tf::randn({50}, 2), b = Tf::randn({50}, 3), x = Tf::randn({9, 50}, 4);
  for (auto& [wt, bt] : std::vector<std::pair<Tf, Tf>>{{w, b}, {w, Tf{}}, {Tf{}, b}, {Tf{}, Tf{}}})
    CHECK(same_bits(ops::layer_norm_forward<true>(x, Shape{50}, wt, bt, 1e-5),
                    ops::layer_norm_forward<false>(x, Shape{50}, wt, bt, 1e-5)));
}

TEST_CASE("softmax, log_softmax: a dim out of range names the op and the rank") {
  const auto x = Td::randn({2, 3}, 1);
  check_error([&] { return softmax(x, 2); }, "softmax", "out of range for a tensor of rank 2");
  check_error([&] { return log_softmax(x, -3); }, "log_softmax", "out of range for a tensor of rank 2");
}

OP_TEST(layer_norm) {
  // Float rows of BERT's widths, with a mean far from zero: against float64 on the same inputs.
  for (std::int64_t n : {384, 1536}) {
    INFO("row length " << n);
    const auto x = add_scalar(scale(Tf::randn({48, n}, 5), 2.0f), 30.0f);
    const auto w = Tf::randn({n}, 6), b = Tf::randn({n}, 7);
    const auto want = layer_norm_reference(as_double(x), n, as_double(w), as_double(b), 1e-5);
    CHECK(max_error(as_double(layer_norm(x, Shape{n}, w, b)), want) < 2e-5);
    CHECK(max_error(as_double(layer_norm(x, 1)), layer_norm_reference(as_double(x), n, {}, {}, 1e-5)) < 2e-5);
    const auto xd = cast<double>(x);
    CHECK(max_error(layer_norm(xd, Shape{n}, cast<double>(w), cast<double>(b)).to_vector(), want) < 1e-12);
  }
  // Two normalized dims; a non-contiguous input; a large eps.
  const auto x = Td::randn({4, 3, 5}, 8).transpose(0, 1);  // [3, 4, 5]
  const auto w = Td::randn({4, 5}, 9), b = Td::randn({4, 5}, 10);
  CHECK(max_error(layer_norm(x, Shape{4, 5}, w, b, 0.5).to_vector(),
                  layer_norm_reference(x.contiguous_data().to_vector(), 20, w.to_vector(), b.to_vector(), 0.5)) <
        1e-13);
  CHECK(layer_norm(x, 2, w, b, 0.5).to_vector() == layer_norm(x, Shape{4, 5}, w, b, 0.5).to_vector());

  // Gradients to second order: 1 and 2 normalized dims, with and without weight and bias.
  const auto xg = Td::randn({3, 2, 4}, 11);
  const auto wg1 = Td::randn({4}, 12), bg1 = Td::randn({4}, 13), wg2 = Td::randn({2, 4}, 14),
             bg2 = Td::randn({2, 4}, 15);
  check_grad([](auto& v) { return layer_norm(v[0], Shape{4}, v[1], v[2], 1e-3); }, std::vector{xg, wg1, bg1}, true);
  check_grad([](auto& v) { return layer_norm(v[0], Shape{2, 4}, v[1], v[2], 1e-3); }, std::vector{xg, wg2, bg2}, true);
  check_grad([](auto& v) { return layer_norm(v[0], 1, Td{}, Td{}, 1e-3); }, std::vector{xg}, true);
  check_grad([](auto& v) { return layer_norm(v[0], 2, Td{}, Td{}, 1e-3); }, std::vector{xg}, true);
  check_grad([](auto& v) { return layer_norm(v[0], Shape{4}, v[1], Td{}, 1e-3); }, std::vector{xg, wg1}, true);
  check_grad([](auto& v) { return layer_norm(v[0], Shape{2, 4}, Td{}, v[1], 1e-3); }, std::vector{xg, bg2}, true);
  // Only the weight and bias need a gradient (x a constant).
  check_grad([xg](auto& v) { return layer_norm(xg, Shape{4}, v[0], v[1]); }, std::vector{wg1, bg1}, true);

  // Bad arguments: the op, and the shapes.
  check_error([&] { return layer_norm(xg, Shape{3}, wg1, bg1); }, "layer_norm",
              "input of shape [3, 2, 4] does not end in the normalized shape [3]");
  check_error([&] { return layer_norm(xg, Shape{4}, wg2, bg1); }, "layer_norm",
              "weight of shape [2, 4] does not match the normalized shape [4]");
  check_error(
      [&] {
        return layer_norm(xg, Shape{2, 4}, wg2, bg1);
      },
      "layer_norm", "bias of shape [4] does not match the normalized shape [2, 4]");
  check_error([&] { return layer_norm(xg, 4); }, "layer_norm", "cannot normalize over the last 4 dims");
  check_error([&] { return layer_norm(xg, Shape{4}, Td{}, Td{}, -1.0); }, "layer_norm", "eps must not be negative");
}

TEST_CASE("softmax, log_softmax, layer_norm: the fused first-order backward agrees with the recorded one") {
  // create_graph = false runs the one-pass row kernels on the CPU; true the rules' tensor ops.
  auto both = [](auto f, const std::vector<Td>& inputs, const Td& v) {
    std::vector<Td> leaves;
    for (const auto& x : inputs) leaves.push_back(x.detach().set_requires_grad());
    auto y = f(leaves);
    auto fused = grad(std::vector{y}, leaves, std::vector{v}, true, false, true);
    auto recorded = grad(std::vector{y}, leaves, std::vector{v}, true, true, true);
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      INFO("input " << i);
      REQUIRE(fused[i].defined());
      CHECK(max_error(fused[i].to_vector(), recorded[i].to_vector()) < 1e-13);
    }
  };
  const auto x = Td::randn({3, 5, 70}, 31), v = Td::randn({3, 5, 70}, 32);
  for (int dim : {2, 1, 0}) {
    INFO("dim " << dim);
    both([dim](auto& t) { return softmax(t[0], dim); }, {x}, v);
    both([dim](auto& t) { return log_softmax(t[0], dim); }, {x}, v);
  }
  const auto w = Td::randn({70}, 33), b = Td::randn({70}, 34), w2 = Td::randn({5, 70}, 35);
  both([](auto& t) { return layer_norm(t[0], Shape{70}, t[1], t[2]); }, {x, w, b}, v);
  both([](auto& t) { return layer_norm(t[0], Shape{5, 70}, t[1]); }, {x, w2}, v);
  both([](auto& t) { return layer_norm(t[0], Shape{70}, Td{}, t[1]); }, {x, b}, v);
  both([](auto& t) { return layer_norm(t[0], 1); }, {x}, v);
  // An expanded (stride-0) output gradient, as sum's backward gives.
  auto leaf = x.detach().set_requires_grad();
  sum(layer_norm(leaf, Shape{70}, w, b)).backward();
  auto ref = x.detach().set_requires_grad();
  auto g = grad(std::vector{layer_norm(ref, Shape{70}, w, b)}, std::vector{ref}, std::vector{Td::ones({3, 5, 70})},
                false, true)[0];
  CHECK(max_error(leaf.grad().to_vector(), g.to_vector()) < 1e-13);
}
