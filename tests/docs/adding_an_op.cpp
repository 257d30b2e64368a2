// docs/adding_an_op.md's fragments, each where the page says it goes, adding its ops without editing
// the library: the op list through TRUSTML_EXTRA_OPS (ops/op_list.hpp; argmin, the page's
// non_differentiable example, stays a name there), then the functor, softplus, softsign and the
// rule, then the page's test and its CUDA comparison, which runs here on the CPU alone.
#include <cmath>
#include <string>
#include <string_view>

#define TRUSTML_EXTRA_OPS(X) X(softplus, primitive) X(softsign, composite) X(argmin, non_differentiable)
#include <trustml/ops/elementwise.hpp>

namespace trustml::fn {
#include "adding_an_op/functor.inc"
}
namespace trustml {
#include "adding_an_op/composite.inc"
#include "adding_an_op/primitive.inc"
}  // namespace trustml
namespace trustml::autograd {
#include "adding_an_op/rule.inc"
}
// After the rule: trustml.hpp asserts that every primitive, softplus included, has one.
#include <trustml/trustml.hpp>

#include "support/op_registry.hpp"

// A macro's body cannot come from a file, so TRUSTML_EXTRA_OPS above spells the page's op list
// out; this checks that it is the page's list, op for op.
#define DOC_OP(name, kind) #name " " #kind ";"
static_assert(std::string_view(
#define X DOC_OP
#include "adding_an_op/op_list.inc"
#undef X
                  ) == TRUSTML_EXTRA_OPS(DOC_OP),
              "the op list of docs/adding_an_op.md differs from TRUSTML_EXTRA_OPS above");

using namespace trustml;
using tests::check_grad;
using tests::Td;

namespace {
// The helpers of tests/ops/test_elementwise.cpp that the page's test uses.
Td x23() { return Td::randn({2, 3}, 11); }
template <class F, class Ref>
void check_unary_values(F f, Ref ref, const Td& x) {
  auto y = f(x).to_vector();
  auto xv = x.to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) CHECK(y[i] == doctest::Approx(ref(xv[i])).epsilon(1e-12));
}
// tests/cuda's compare without a GPU: f runs on the CPU and must give finite values.
template <class F, class... In>
void compare(const std::string& what, F f, double, const In&... cpu) {
  INFO(what);
  for (auto v : f(cpu...).to_vector()) CHECK(std::isfinite(v));
}
}  // namespace

#include "adding_an_op/test.inc"

TEST_CASE("the page's composite softsign and its CUDA comparison") {
  check_unary_values([](auto& x) { return softsign(x); }, [](double v) { return v / (1 + std::abs(v)); }, x23());
  check_grad([](auto& v) { return softsign(v[0]); }, std::vector{x23()}, /*second_order=*/true);
#include "adding_an_op/cuda_compare.inc"
}
