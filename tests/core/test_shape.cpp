#include <doctest/doctest.h>

#include <trustml/trustml.hpp>

using trustml::Shape;

TEST_CASE("shape numel, strides and printing") {
  Shape s{2, 3, 4};
  CHECK(s.numel() == 24);
  CHECK(trustml::contiguous_strides(s) == Shape{12, 4, 1});
  CHECK(Shape{}.numel() == 1);
  CHECK(s.str() == "[2, 3, 4]");
}

TEST_CASE("broadcasting follows PyTorch") {
  CHECK(trustml::broadcast_shapes({3, 1, 5}, {4, 1}, "t") == Shape{3, 4, 5});
  CHECK(trustml::broadcast_shapes({}, {2, 2}, "t") == Shape{2, 2});
  CHECK_THROWS_WITH_AS(trustml::broadcast_shapes({3, 2}, {4, 2}, "add"),
                       "trustml::add: shapes [3, 2] and [4, 2] cannot be broadcast together", trustml::Error);
}

TEST_CASE("rank above 8 is an error") {
  CHECK_THROWS_AS((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), trustml::Error);
  auto t = trustml::Tensor<float>::zeros({1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(t.dim() == 8);
}
