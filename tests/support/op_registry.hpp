// tests/support/op_registry.hpp: which ops the tests cover, so that an op added to
// ops/op_list.hpp without a test fails the "every op is tested" case of its executable.
//
//   OP_TEST(exp) { ...gradcheck in double and complex<double>... }
// defines a doctest case named "op exp" and records that `exp` is covered.
#pragma once

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <trustml/trustml.hpp>
#include <vector>

namespace tests {

inline std::set<std::string>& covered_ops() {
  static std::set<std::string> names;
  return names;
}
inline bool cover(const char* name) { return covered_ops().insert(name).second; }

// Ops from the op list that no OP_TEST covers in this executable.
inline std::vector<std::string> uncovered_ops() {
  std::vector<std::string> missing;
  for (const auto& op : trustml::kOps)
    if (!covered_ops().count(op.name)) missing.push_back(op.name);
  return missing;
}

// Asserts that gradcheck (and optionally gradgradcheck) pass, printing the mismatches otherwise.
template <class F, class T, class D>
void check_grad(F&& f, const std::vector<trustml::Tensor<T, D>>& inputs, bool second_order = false,
                trustml::GradcheckOptions opt = {}) {
  auto r = trustml::gradcheck(f, inputs, opt);
  INFO(r.message);
  CHECK(r.ok);
  if (second_order) {
    auto r2 = trustml::gradgradcheck(f, inputs, opt);
    INFO(r2.message);
    CHECK(r2.ok);
  }
}

// Elementwise closeness with a tolerance relative to the larger magnitude.
template <class T, class D>
void check_close(const trustml::Tensor<T, D>& got, const std::vector<T>& want, double tol = 1e-9) {
  REQUIRE(got.numel() == static_cast<std::int64_t>(want.size()));
  auto g = got.to_vector();
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(std::abs(g[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

// Calls f, which must throw trustml::Error whose message names `op` (and contains `detail`).
template <class F>
void check_error(F f, const std::string& op, const std::string& detail = "") {
  CHECK_THROWS_AS(f(), trustml::Error);
  try {
    f();
  } catch (const trustml::Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("trustml::" + op + ":") == 0);
    CHECK(std::string(e.what()).find(detail) != std::string::npos);
  }
}

using Td = trustml::Tensor<double>;
using Tz = trustml::Tensor<std::complex<double>>;

}  // namespace tests

#define TRUSTML_CAT2(a, b) a##b
#define TRUSTML_CAT(a, b) TRUSTML_CAT2(a, b)
#define OP_TEST(name)                                                        \
  static const bool TRUSTML_CAT(covered_, __LINE__) = ::tests::cover(#name); \
  TEST_CASE("op " #name)
// For a case that covers several ops: COVERS(a) COVERS(b) TEST_CASE("...")
#define COVERS(name) static const bool TRUSTML_CAT(covered_, __COUNTER__) = ::tests::cover(#name);
