#include "support/op_registry.hpp"

TEST_CASE("every op in ops/op_list.hpp has a test") {
  const auto missing = tests::uncovered_ops();
  std::string names;
  for (const auto& m : missing) names += m + " ";
  INFO("ops without an OP_TEST: " << names);
  CHECK(missing.empty());
}
