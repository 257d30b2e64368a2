// Tests of trustml/io/npy.hpp: round trips, numpy's exact header layout, and hostile files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <trustml/io/npy.hpp>
#include <vector>

#include "io/io_test_support.hpp"
#include "support/op_registry.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::io;
namespace fs = std::filesystem;

namespace {

// An NPY file of the given version around a header dict (padded as numpy pads) and data.
std::string npy_file(int major, const std::string& dict, const std::string& data) {
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  header.append(64 - (8 + length_bytes + dict.size() + 1) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (std::size_t i = 0; i < length_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

// load_npy(path) fails naming the path and `fragment`.
void check_load_error(const fs::path& path, const std::string& fragment) {
  tests::check_load_error(
      "load_npy", [](const fs::path& p) { load_npy(p); }, path, fragment);
}

}  // namespace

TEST_CASE("NPY round trip of every dtype and of 0-d and empty shapes") {
  tests::TempDir dir;
  const std::vector<Array> arrays = {
      tests::make_array("f32", DType::F32, {2, 3}, std::vector<float>{0.5f, -1, 2, 3, 4, 1e-30f}),
      tests::make_array("f64", DType::F64, {}, std::vector<double>{0.1}),
      tests::make_array("i64", DType::I64, {3}, std::vector<std::int64_t>{-1, std::int64_t{1} << 50, 0}),
      tests::make_array("i32", DType::I32, {1, 1, 2}, std::vector<std::int32_t>{-7, 7}),
      tests::make_array("u8", DType::U8, {0}, std::vector<std::uint8_t>{}),
      tests::make_array("b1", DType::BOOL, {2, 2}, std::vector<std::uint8_t>{1, 0, 0, 1}),
      tests::make_array("f16", DType::F16, {3, 0, 2}, std::vector<std::uint16_t>{}),
  };
  for (const Array& array : arrays) {
    CAPTURE(array.name);
    const fs::path file = dir.path() / (array.name + ".npy");
    save_npy(file, array);
    const std::string bytes = tests::read_bytes(file);
    CHECK(bytes.size() % 64 == array.bytes.size() % 64);  // the data starts 64-byte aligned, as numpy's
    const Array loaded = load_npy(file);
    CHECK(loaded.name == array.name);
    CHECK(loaded.dtype == array.dtype);
    CHECK(loaded.shape == array.shape);
    CHECK(loaded.bytes == array.bytes);
  }
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == std::ssize(arrays));
}

TEST_CASE("save_npy writes numpy.save's bytes") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "x.npy";
  save_npy(file, tests::make_array("x", DType::F32, {2, 3}, std::vector<float>(6, 1.0f)));
  // numpy.save(np.ones((2, 3), np.float32)): the dict, 20 spare spaces for the first dimension to
  // grow, padding to 64 bytes and '\n'.
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + std::string(20, ' ');
  std::string expected =
      npy_file(1, dict, std::string(reinterpret_cast<const char*>(std::vector<float>(6, 1).data()), 24));
  CHECK(tests::read_bytes(file) == expected);
  CHECK(expected.size() == 128 + 24);

  save_npy(file, tests::make_array("x", DType::F64, {}, std::vector<double>{2.0}));
  CHECK(tests::read_bytes(file).substr(10, 55) == "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
  save_npy(file, tests::make_array("x", DType::I64, {7}, std::vector<std::int64_t>(7)));
  CHECK(tests::read_bytes(file).substr(10, 57) == "{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }");
}

TEST_CASE("load_npy reads versions 2.0 and 3.0 and writes 2.0 when 1.0's header is too small") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "v.npy";
  const std::string data(8, '\x01');
  for (int major : {2, 3}) {
    tests::write_bytes(file, npy_file(major, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4), }", data));
    const Array a = load_npy(file);
    CHECK(a.dtype == DType::U8);
    CHECK(a.shape == std::vector<std::int64_t>{2, 4});
  }
  // Different spacing and quotes, key order and no trailing comma are all valid Python.
  tests::write_bytes(file, npy_file(1, "{\"shape\":(8,),\"fortran_order\" :False,'descr':'|b1'}", data));
  CHECK(load_npy(file).dtype == DType::BOOL);

  const Array wide =
      tests::make_array("wide", DType::U8, std::vector<std::int64_t>(25000, 1), std::vector<std::uint8_t>{3});
  save_npy(file, wide);
  CHECK(tests::read_bytes(file)[6] == 2);
  CHECK(load_npy(file).shape == wide.shape);
}

TEST_CASE("load_npy names what is wrong with a corrupt header") {
  struct Case {
    std::string dict;
    std::string data;
    std::string fragment;
  };
  const std::string f4 = "'descr': '<f4', 'fortran_order': False";
  const std::string two_floats(8, '\0');
  const std::vector<Case> cases = {
      {"{" + f4 + ", 'shape': (2,), 'extra': 1, }", two_floats, "unexpected or repeated key 'extra'"},
      {"{" + f4 + ", 'shape': (2,), 'descr': '<f4', }", two_floats, "unexpected or repeated key 'descr'"},
      {"{" + f4 + "}", two_floats, "the dict lacks one of descr, fortran_order, shape"},
      {"{" + f4 + ", 'shape': (2), }", two_floats, "one-element shape without its comma"},
      {"{" + f4 + ", 'shape': (-2,), }", two_floats, "has a negative dimension"},
      {"{" + f4 + ", 'shape': (2.5,), }", two_floats, "a shape that is not a tuple of non-negative integers"},
      {"{" + f4 + ", 'shape': [2], }", two_floats, "expected '('"},
      {"{" + f4 + ", 'shape': (99999999999999999999,), }", two_floats, "has a dimension beyond 2^63"},
      {"{" + f4 + ", 'shape': (4611686018427387904, 4), }", two_floats,
       "is too large: its byte count or a stride overflows int64"},
      {"{" + f4 + ", 'shape': (0, 4294967296, 4294967296), }", "",
       "shape [0, 4294967296, 4294967296] of <f4 is too large"},
      {"{" + f4 + ", 'shape': (3,), }", two_floats, "shape [3] of <f4 needs 12 bytes of data, but the file has 8"},
      {"{" + f4 + ", 'shape': (1,), }", two_floats, "needs 4 bytes of data, but the file has 8"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", two_floats, "unsupported descr '>f4'"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", two_floats, "unsupported descr '<c8'"},
      // Bytes of the file reach the message escaped (a control character, a byte that is not UTF-8).
      {"{'descr': '<f\x01\xff', 'fortran_order': False, 'shape': (1,), }", two_floats,
       "unsupported descr '<f\\x01\\xff'"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", two_floats,
       "structured dtypes are not supported"},
      {"{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,), }", two_floats, "expected True or False"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", two_floats, "stored in Fortran order"},
      {"{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }", two_floats, "expected ':'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", two_floats, "expected '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x", two_floats, "unterminated string"},
      {"{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,), }", two_floats, "escape sequence"},
      {"[1]", two_floats, "expected '{'"},
      {"{" + f4 + ", 'shape': (2,), } x", two_floats, "unexpected text after the dict"},
      {"{" + f4 + ", 'shape': (2,), ", two_floats, "expected a quoted string"},
      {"{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", "\x01\x07", "has byte value 7"},
  };
  tests::TempDir dir;
  const fs::path file = dir.path() / "bad.npy";
  for (const Case& c : cases) {
    CAPTURE(c.dict);
    tests::write_bytes(file, npy_file(1, c.dict, c.data));
    check_load_error(file, c.fragment);
  }

  const std::string good = npy_file(1, "{" + f4 + ", 'shape': (2,), }", two_floats);
  tests::write_bytes(file, "PK\x03\x04" + good.substr(4));
  check_load_error(file, "not an NPY file");
  for (const auto& [major, minor] : std::vector<std::pair<int, int>>{{4, 0}, {1, 1}, {0, 0}}) {
    std::string other = good;
    other[6] = static_cast<char>(major);
    other[7] = static_cast<char>(minor);
    tests::write_bytes(file, other);
    check_load_error(file, "NPY version " + std::to_string(major) + "." + std::to_string(minor) + " is not supported");
  }
  std::string long_header = good;
  long_header[8] = '\xff';
  long_header[9] = '\xff';
  tests::write_bytes(file, long_header);
  check_load_error(file, "the header length 65535 exceeds the");
  std::string huge_header = npy_file(2, "{" + f4 + ", 'shape': (2,), }", two_floats);
  huge_header[11] = '\x7f';
  tests::write_bytes(file, huge_header);
  check_load_error(file, "exceeds the limit of 1048576 bytes");
  check_load_error(dir.path() / "missing.npy", "cannot open for reading");
  check_load_error(dir.path(), "is a directory");
}

TEST_CASE("load_npy rejects a file cut at every byte and survives single-byte corruption") {
  tests::TempDir dir;
  const fs::path whole = dir.path() / "whole.npy";
  save_npy(whole, tests::make_array("whole", DType::I32, {2, 2}, std::vector<std::int32_t>{1, 2, 3, 4}));
  const std::string bytes = tests::read_bytes(whole);
  const fs::path other = dir.path() / "other.npy";
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    tests::write_bytes(other, bytes.substr(0, length));
    check_load_error(other, "");
  }
  tests::write_bytes(other, bytes + "x");
  check_load_error(other, "needs 16 bytes of data, but the file has 17");

  tests::check_every_corruption(
      "load_npy", [](const fs::path& p) { load_npy(p); }, bytes, other);
}

TEST_CASE("save_npy refuses what NPY cannot hold and keeps the old file") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "keep.npy";
  tests::write_bytes(file, "old contents");
  tests::check_error(
      [&] { save_npy(file, tests::make_array("b", DType::BF16, {1}, std::vector<std::uint16_t>{0x3f80})); },
      "save_npy");
  tests::check_error([&] { save_npy(file, tests::make_array("f", DType::F32, {2}, std::vector<float>{1})); },
                     "save_npy");
  tests::check_error(
      [&] {
        save_npy(dir.path() / "missing" / "x.npy", tests::make_array("f", DType::F32, {1}, std::vector<float>{1}));
      },
      "save_npy");
  CHECK(tests::read_bytes(file) == "old contents");
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

  // Tensors go through Array: a float tensor saved as NPY loads back into the same tensor.
  auto t = Tensor<float>::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  save_npy(file, to_array("t", t));
  auto back = to_tensor<float>(load_npy(file));
  CHECK(back.shape() == Shape{3, 2});
  CHECK(back.to_vector() == t.to_vector());
}
