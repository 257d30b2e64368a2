#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <trustml/trustml.hpp>

using trustml::Shape;

TEST_CASE("shape numel, strides and printing") {
  Shape s{2, 3, 4};
  CHECK(s.numel() == 24);
  CHECK(trustml::contiguous_strides(s) == Shape{12, 4, 1});
  CHECK(Shape{}.numel() == 1);
  CHECK(s.str() == "[2, 3, 4]");
}

TEST_CASE("numel and contiguous_strides refuse shapes whose count or strides overflow int64") {
  const std::int64_t big = std::int64_t{1} << 32;
  CHECK_THROWS_WITH_AS((Shape{std::int64_t{1} << 62, 4}).numel(),
                       "trustml::Shape::numel: shape [4611686018427387904, 4] is too large: its element count or a "
                       "stride overflows int64",
                       trustml::Error);
  // No elements, but the stride of dimension 0 would be 2^64.
  CHECK_THROWS_WITH_AS(trustml::contiguous_strides(Shape{0, big, big}),
                       "trustml::contiguous_strides: shape [0, 4294967296, 4294967296] is too large: its element count "
                       "or a stride overflows int64",
                       trustml::Error);
  CHECK_THROWS_AS((Shape{0, big, big}).numel(), trustml::Error);
  // A 0 after the large sizes makes every stride 0: nothing overflows.
  CHECK((Shape{big, big, 0}).numel() == 0);
  CHECK(trustml::contiguous_strides(Shape{big, big, 0}) == Shape{0, 0, 1});
  const std::int64_t most = std::numeric_limits<std::int64_t>::max();
  CHECK((Shape{1, most}).numel() == most);
  CHECK_THROWS_AS((Shape{2, most / 2 + 1}).numel(), trustml::Error);
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

TEST_CASE("error messages escape control characters and malformed UTF-8, and keep well-formed UTF-8") {
  auto message = [](const std::string& part) {
    try {
      TRUSTML_CHECK(false, "op", "name '", part, "'");
    } catch (const trustml::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // Control characters (C0, DEL, C1 as its two bytes), then well-formed UTF-8: e acute, a CJK
  // character, an emoji.
  CHECK(message(std::string("a\tb\nc\x7f") + "\xc2\x85" + "d") == "trustml::op: name 'a\\x09b\\x0ac\\x7f\\xc2\\x85d'");
  CHECK(message("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80") == "trustml::op: name 'caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80'");
  // Malformed: a stray continuation byte, an overlong '/', a surrogate, a code point past
  // U+10FFFF, a sequence cut by the end, 0xff.
  CHECK(message("\x80") == "trustml::op: name '\\x80'");
  CHECK(message("\xc0\xaf") == "trustml::op: name '\\xc0\\xaf'");
  CHECK(message("\xed\xa0\x80") == "trustml::op: name '\\xed\\xa0\\x80'");
  CHECK(message("\xf4\x90\x80\x80") == "trustml::op: name '\\xf4\\x90\\x80\\x80'");
  CHECK(message(std::string("\xe4\xb8")) == "trustml::op: name '\\xe4\\xb8'");
  CHECK(message("\xff" "z") == "trustml::op: name '\\xffz'");
  CHECK(message(std::string(1, '\0')) == "trustml::op: name '\\x00'");
}
