// What the per-family tests share: doctest and a comparison of a tensor's values with a list. It
// includes no trustml header, so each test's own first include is the only op family it sees.
#pragma once

#include <doctest/doctest.h>

#include <vector>

namespace family_test {

template <class TensorT>
void check_values(const TensorT& t, const std::vector<double>& expected) {
  const auto values = t.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    CHECK(double(values[i]) == doctest::Approx(expected[i]).epsilon(1e-12));
}

}  // namespace family_test
