// NaN and infinity through the ops with a kink or a choice (relu, leaky_relu, maximum, minimum,
// clamp, amax, amin, max_pool2d) and the norms' gradient at zero, against the values and gradients
// PyTorch gives (tests/ops/nan_semantics_torch.hpp, made by nan_semantics_reference.py). Both
// backward paths run: the fused first-order kernels and the recorded ops of create_graph.
#include <cmath>
#include <complex>
#include <functional>
#include <string>
#include <vector>

#include "ops/nan_semantics_torch.hpp"
#include "support/op_registry.hpp"

using namespace trustml;
using tests::Td;
using tests::Tz;

namespace {
// Equal as PyTorch's values: NaN where it has NaN, the same infinities, else within 1e-12.
template <class V>
void check_same(const std::vector<V>& actual, const std::vector<V>& expected, const std::string& what) {
  INFO(what);
  REQUIRE(actual.size() == expected.size());
  auto same = [](double a, double e) {
    if (std::isnan(e)) return std::isnan(a);
    if (std::isinf(e)) return a == e;
    return std::abs(a - e) <= 1e-12 * (1 + std::abs(e));
  };
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << ": " << actual[i] << " against torch's " << expected[i]);
    if constexpr (is_complex_v<V>) {
      CHECK((same(actual[i].real(), expected[i].real()) && same(actual[i].imag(), expected[i].imag())));
    } else {
      CHECK(same(actual[i], expected[i]));
    }
  }
}

// A table case of k = shapes.size() inputs: builds the leaves, runs f, and checks its value and the
// gradients of sum(w * f) against torch's, through both backward paths.
using Fn = std::function<Td(const std::vector<Td>&)>;
void check_case(const std::vector<std::vector<double>>& torch, const std::vector<Shape>& shapes, const Fn& f) {
  const std::size_t k = shapes.size();
  REQUIRE(torch.size() == 2 * k + 2);
  for (const bool create_graph : {false, true}) {
    INFO("create_graph = " << create_graph);
    std::vector<Td> leaves;
    for (std::size_t i = 0; i < k; ++i) leaves.push_back(Td::from_vector(torch[i], shapes[i]).set_requires_grad());
    const Td y = f(leaves);
    check_same(y.to_vector(), torch[k + 1], "value");
    const Td w = Td::from_vector(torch[k], y.shape());
    const auto g = grad(std::vector{y}, leaves, std::vector{w}, false, create_graph);
    for (std::size_t i = 0; i < k; ++i) check_same(g[i].to_vector(), torch[k + 2 + i], "gradient");
  }
}
const Shape kRow{6};
}  // namespace

TEST_CASE("relu and leaky_relu pass NaN on, and their gradient at NaN is torch's") {
  namespace ref = nan_semantics_torch;
  check_case(ref::relu, {kRow}, [](const auto& x) { return relu(x[0]); });
  check_case(ref::leaky_relu, {kRow}, [](const auto& x) { return leaky_relu(x[0], 0.1); });
}

TEST_CASE("maximum, minimum and clamp propagate NaN from either side") {
  namespace ref = nan_semantics_torch;
  const Shape s{7};
  check_case(ref::maximum, {s, s}, [](const auto& x) { return maximum(x[0], x[1]); });
  check_case(ref::minimum, {s, s}, [](const auto& x) { return minimum(x[0], x[1]); });
  check_case(ref::clamp, {Shape{6}}, [](const auto& x) { return clamp(x[0], -1.0, 1.0); });
}

TEST_CASE("amax and amin: a NaN row is NaN, a row of infinities shares its gradient") {
  namespace ref = nan_semantics_torch;
  check_case(ref::amax, {Shape{4, 3}}, [](const auto& x) { return amax(x[0], {1}); });
  check_case(ref::amin, {Shape{4, 3}}, [](const auto& x) { return amin(x[0], {1}); });
}

TEST_CASE("max_pool2d: a window with a NaN is NaN and its gradient goes to the last NaN") {
  namespace ref = nan_semantics_torch;
  const Shape image{1, 1, 4, 4};
  // The 2x2 stride-2 kernel has its own branch-free path; 3x3 stride 1 takes the general one.
  check_case(ref::max_pool2d, {image}, [](const auto& x) { return max_pool2d(x[0], 2, 2); });
  check_case(ref::max_pool2d_3x3, {image}, [](const auto& x) { return max_pool2d(x[0], 3, 1); });
}

TEST_CASE("norm: the gradient at a zero vector or an all-zero slice is 0 for every p") {
  namespace ref = nan_semantics_torch;
  const Shape slices{2, 3};
  check_case(ref::norm_p1_zero_slice, {slices}, [](const auto& x) { return norm(x[0], 1, {1}); });
  check_case(ref::norm_p2_zero_slice, {slices}, [](const auto& x) { return norm(x[0], 2, {1}); });
  check_case(ref::norm_p3_zero_slice, {slices}, [](const auto& x) { return norm(x[0], 3, {1}); });
  check_case(ref::norm_pinf_zero_slice, {slices},
             [](const auto& x) { return norm(x[0], std::numeric_limits<double>::infinity(), {1}); });
  check_case(ref::norm_p2_zero_vector, {Shape{4}}, [](const auto& x) { return norm(x[0]); });

  // Complex input: the table holds the inputs (complex), w, the value and the gradient.
  const auto& z = ref::norm_p2_complex_zero_slice;
  for (const bool create_graph : {false, true}) {
    INFO("create_graph = " << create_graph);
    auto x = Tz::from_vector(z[0], {2, 2}).set_requires_grad();
    const Td y = norm(x, 2, {1});
    std::vector<double> expected_y;
    for (const auto& v : z[2]) expected_y.push_back(v.real());
    check_same(y.to_vector(), expected_y, "value");
    const auto g = grad(std::vector{y}, std::vector{x}, std::vector{Td::ones(y.shape())}, false, create_graph);
    check_same(g[0].to_vector(), z[3], "gradient");
  }
}
