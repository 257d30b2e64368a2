// Tests of trustml/io/cfl.hpp: round trips, BART's exact layout, files of the bart tool, and hostile headers.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <trustml/io/cfl.hpp>
#include <trustml/ops/movement.hpp>
#include <vector>

#include "io/io_test_support.hpp"
#include "support/op_registry.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::io;
namespace fs = std::filesystem;
using cf = std::complex<float>;

namespace {

std::array<std::int64_t, 16> bart_dims(std::initializer_list<std::int64_t> leading) {
  std::array<std::int64_t, 16> dims;
  dims.fill(1);
  std::copy(leading.begin(), leading.end(), dims.begin());
  return dims;
}

std::string floats_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// read_cfl(path) fails naming `path` (the .hdr or the .cfl) and `fragment`.
void check_read_error(const fs::path& path, const std::string& fragment) {
  tests::check_load_error(
      "read_cfl", [](const fs::path& p) { read_cfl(p); }, path, fragment);
}

bool bart_available() { return std::system("command -v bart > /dev/null 2>&1") == 0; }

// What a shell command prints, or "" when it fails.
std::string command_output(const std::string& command, const fs::path& scratch) {
  if (std::system((command + " > '" + scratch.string() + "' 2>&1").c_str()) != 0) return "";
  return tests::read_bytes(scratch);
}

}  // namespace

TEST_CASE("write_cfl and read_cfl round trip ranks 1 to 5 bit for bit") {
  tests::TempDir dir;
  const std::vector<Shape> shapes = {Shape{7}, Shape{3, 4}, Shape{2, 3, 4}, Shape{2, 1, 3, 5}, Shape{2, 3, 1, 2, 4}};
  for (const Shape& shape : shapes) {
    CAPTURE(shape);
    const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(shape.numel()), shape);
    fs::path base = dir.path() / "rank";
    base += std::to_string(shape.rank);
    write_cfl(base, tensor);
    const CflArray read = read_cfl(base);
    CHECK(read.data.shape() == shape);
    CHECK(read.data.to_vector() == tensor.to_vector());
    for (int i = 0; i < 16; ++i) CHECK(read.dims[i] == (i < shape.rank ? shape.dims[shape.rank - 1 - i] : 1));
  }
  // Two files per array and no temporary file left behind.
  CHECK(dir.entries().size() == 2 * shapes.size());
}

TEST_CASE("write_cfl narrows complex<double> and gives real tensors an imaginary part 0") {
  tests::TempDir dir;
  const auto z = Tensor<std::complex<double>>::from_vector({{0.1, -0.2}, {1e300, 3}, {-4, 1.0 / 3}}, Shape{3});
  write_cfl(dir.path() / "z", z);
  const std::vector<cf> zr = read_cfl(dir.path() / "z").data.to_vector();
  REQUIRE(zr.size() == 3);
  CHECK(zr[0] == cf(0.1f, -0.2f));
  CHECK(std::isinf(zr[1].real()));  // beyond float's range, as a cast gives
  CHECK(zr[2] == cf(-4.0f, static_cast<float>(1.0 / 3)));

  write_cfl(dir.path() / "f", Tensor<float>::from_vector({1.5f, -2, 0}, Shape{1, 3}));
  CHECK(read_cfl(dir.path() / "f").data.to_vector() == std::vector<cf>{{1.5f, 0}, {-2, 0}, {0, 0}});
  write_cfl(dir.path() / "d", Tensor<double>::from_vector({0.25, 7}, Shape{2}));
  CHECK(read_cfl(dir.path() / "d").data.to_vector() == std::vector<cf>{{0.25f, 0}, {7, 0}});
}

TEST_CASE("write_cfl writes a strided view in its logical order") {
  tests::TempDir dir;
  const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(24), Shape{2, 3, 4});
  const auto view = tensor.permute({2, 0, 1});  // [4, 2, 3], not contiguous
  REQUIRE_FALSE(view.is_contiguous());
  write_cfl(dir.path() / "v", view);
  const CflArray read = read_cfl(dir.path() / "v");
  CHECK(read.data.shape() == Shape{4, 2, 3});
  CHECK(read.data.to_vector() == view.contiguous().to_vector());
  CHECK(read.data.to_vector() != tensor.to_vector());
}

TEST_CASE("write_cfl writes BART's bytes: column-major data and a 16-size header") {
  tests::TempDir dir;
  // Row-major [2, 3] is BART [3, 2]: BART's dimension 0 (the tensor's last) varies fastest, so the
  // bytes are the row-major values in order, (re, im) interleaved.
  std::vector<cf> values;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) values.emplace_back(static_cast<float>(10 * i + j), static_cast<float>(-j));
  write_cfl(dir.path() / "a", Tensor<cf>::from_vector(values, Shape{2, 3}));
  CHECK(tests::read_bytes(dir.path() / "a.hdr") == "# Dimensions\n3 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 \n");
  CHECK(tests::read_bytes(dir.path() / "a.cfl") == floats_bytes({0, 0, 1, -1, 2, -2, 10, 0, 11, -1, 12, -2}));

  // A BART array of size 2 x 3 with element (x, y) = x + 2 y at offset x + 2 y is the tensor
  // [3, 2] with t[y][x] = x + 2 y.
  tests::write_bytes(dir.path() / "b.hdr", "# Dimensions\n2 3\n");
  tests::write_bytes(dir.path() / "b.cfl", floats_bytes({0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0}));
  const CflArray b = read_cfl(dir.path() / "b");
  CHECK(b.dims == bart_dims({2, 3}));
  CHECK(b.data.shape() == Shape{3, 2});
  CHECK(b.data.to_vector() == std::vector<cf>{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x) CHECK(b.data.slice(0, y, y + 1).slice(1, x, x + 1).item() == cf(x + 2.0f * y, 0));
}

TEST_CASE("explicit BART dimensions keep meaningful singletons through a round trip") {
  tests::TempDir dir;
  const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(6), Shape{2, 3});
  // x = 3, one coil at dimension 3, two maps at dimension 4.
  write_cfl(dir.path() / "m", tensor, {3, 1, 1, 1, 2});
  CHECK(tests::read_bytes(dir.path() / "m.hdr") == "# Dimensions\n3 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 \n");
  const CflArray read = read_cfl(dir.path() / "m");
  CHECK(read.dims == bart_dims({3, 1, 1, 1, 2}));
  CHECK(read.data.shape() == Shape{2, 1, 1, 1, 3});
  CHECK(read.data.to_vector() == tensor.to_vector());
  write_cfl(dir.path() / "m2", read);
  CHECK(tests::read_bytes(dir.path() / "m2.hdr") == tests::read_bytes(dir.path() / "m.hdr"));
  const std::vector<std::int64_t> all16(16, 1);
  write_cfl(dir.path() / "one", Tensor<cf>::from_vector({{2, 3}}, Shape{1, 1}), all16);
  const CflArray one = read_cfl(dir.path() / "one");
  CHECK(one.data.shape() == Shape{1});  // rank >= 1
  CHECK(one.data.item() == cf(2, 3));

  // Trailing BART singletons are dropped from the shape; BART's batch dimension 15 would give rank
  // 16, so then every singleton goes.
  write_cfl(dir.path() / "lead", Tensor<cf>::from_vector(tests::distinct_values(4), Shape{1, 4}));
  CHECK(read_cfl(dir.path() / "lead").data.shape() == Shape{4});
  std::vector<std::int64_t> batch(16, 1);
  batch[0] = 2;
  batch[3] = 3;
  batch[15] = 4;
  write_cfl(dir.path() / "batch", Tensor<cf>::from_vector(tests::distinct_values(24), Shape{24}), batch);
  const CflArray b = read_cfl(dir.path() / "batch");
  CHECK(b.data.shape() == Shape{4, 3, 2});
  CHECK(b.dims[15] == 4);
  CHECK(b.data.to_vector() == tests::distinct_values(24));
}

TEST_CASE("read_cfl and write_cfl take the base name or either file's name") {
  tests::TempDir dir;
  const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(3), Shape{3});
  write_cfl(dir.path() / "scan.v1.cfl", tensor);
  CHECK(fs::exists(dir.path() / "scan.v1.hdr"));
  CHECK(fs::exists(dir.path() / "scan.v1.cfl"));
  for (const char* name : {"scan.v1", "scan.v1.cfl", "scan.v1.hdr"})
    CHECK(read_cfl(dir.path() / name).data.to_vector() == tensor.to_vector());
  CHECK(dir.entries().size() == 2);
}

TEST_CASE("read_cfl tolerates BART's other header sections, blanks and CRLF") {
  tests::TempDir dir;
  const std::string data = floats_bytes({1, 2, 3, 4});
  for (const std::string header :
       {"# Dimensions\n2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 \n# Command\nphantom -x 8 ph \n# Files\n >ph\n# Creator\nBART "
        "v0.8.00\n",
        "# Command\nfoo\n#Dimensions \n\t2   1\n", "# Dimensions\r\n2\r\n", "# Dimensions\n2"}) {
    CAPTURE(header);
    tests::write_bytes(dir.path() / "h.hdr", header);
    tests::write_bytes(dir.path() / "h.cfl", data);
    const CflArray read = read_cfl(dir.path() / "h");
    CHECK(read.dims == bart_dims({2}));
    CHECK(read.data.to_vector() == std::vector<cf>{{1, 2}, {3, 4}});
  }
}

TEST_CASE("read_cfl names the file and what is wrong") {
  tests::TempDir dir;
  const fs::path hdr = dir.path() / "bad.hdr", cfl = dir.path() / "bad.cfl";
  const std::string eight = floats_bytes({1, 2});
  tests::write_bytes(cfl, eight);
  struct Case {
    std::string header;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"", "no '# Dimensions' line"},
      {"# Command\n1 1\n", "no '# Dimensions' line"},
      {"# Dimension\n1\n", "no '# Dimensions' line"},
      {"# Dimensions\n", "no line of sizes after '# Dimensions' (line 1)"},
      {"# Dimensions\n\n", "line 2 after '# Dimensions' holds no sizes"},
      {"# Dimensions\n1 x 1\n", "line 2: 'x' is not a dimension size"},
      {"# Dimensions\n1.5\n", "'1.5' is not a dimension size"},
      {"# Dimensions\n1 -2\n", "'-2' is not a dimension size (a positive integer): it is negative"},
      {"# Dimensions\n1 0 1\n", "line 2: dimension 1 has size 0"},
      {"# Dimensions\n99999999999999999999\n", "dimension size 99999999999999999999 exceeds 2^63"},
      {"# Dimensions\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n", "line 2 has more than BART's 16 dimensions"},
      {"# Dimensions\n1\n# Dimensions\n1\n", "a second '# Dimensions' section at line 3 (the first is at line 1)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    tests::write_bytes(hdr, c.header);
    check_read_error(hdr, c.fragment);
  }
  tests::write_bytes(hdr, "# Dimensions\n4294967296 4294967296\n");
  check_read_error(hdr, "hold more bytes than a 64-bit size can count");
  tests::write_bytes(hdr, std::string(2 << 20, '#'));
  check_read_error(hdr, "is too long for a header");

  // The data's size must match the header exactly: a truncated file, a longer one, an empty one.
  tests::write_bytes(hdr, "# Dimensions\n2 3\n");
  for (const std::size_t bytes : {40, 56, 0}) {
    CAPTURE(bytes);
    tests::write_bytes(cfl, std::string(bytes, '\0'));
    check_read_error(cfl,
                     "dimensions [2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] of complex64 need 48 bytes, "
                     "but the file has " +
                         std::to_string(bytes));
  }
  fs::remove(cfl);
  check_read_error(cfl, "cannot open for reading");
  tests::write_bytes(cfl, eight);
  fs::remove(hdr);
  check_read_error(hdr, "cannot open for reading");
  fs::create_directory(hdr);
  check_read_error(hdr, "is a directory");
}

TEST_CASE("read_cfl survives every single-byte corruption of a header") {
  tests::TempDir dir;
  write_cfl(dir.path() / "good", Tensor<cf>::from_vector(tests::distinct_values(2), Shape{2}));
  const std::string header = tests::read_bytes(dir.path() / "good.hdr");
  fs::copy_file(dir.path() / "good.cfl", dir.path() / "bad.cfl");
  // Errors name bad.hdr or bad.cfl (a size that no longer matches the data), both "<dir>/bad.".
  const std::string prefix = "trustml::read_cfl: " + (dir.path() / "bad.").string();
  for (std::size_t at = 0; at < header.size(); ++at) {
    for (const unsigned char mask : {0x01, 0x20, 0x80, 0xff}) {
      CAPTURE(at);
      CAPTURE(int(mask));
      std::string copy = header;
      copy[at] = static_cast<char>(copy[at] ^ mask);
      tests::write_bytes(dir.path() / "bad.hdr", copy);
      const std::string message = tests::load_error([](const fs::path& p) { read_cfl(p); }, dir.path() / "bad");
      if (!message.empty()) CHECK(message.rfind(prefix, 0) == 0);
    }
  }
}

TEST_CASE("write_cfl refuses what a .cfl cannot hold and keeps the old files") {
  tests::TempDir dir;
  const fs::path base = dir.path() / "keep";
  const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(6), Shape{2, 3});
  write_cfl(base, tensor);
  const std::string old_hdr = tests::read_bytes(dir.path() / "keep.hdr");
  tests::check_error(
      [&] {
        write_cfl(base, tensor, {4, 2});
      },
      "write_cfl", base.string() + ": BART dimensions [4, 2] hold 8 elements, but the tensor of shape [2, 3] has 6");
  tests::check_error([&] { write_cfl(base, tensor, std::vector<std::int64_t>(17, 1)); }, "write_cfl",
                     "17 BART dimensions");
  tests::check_error([&] { write_cfl(base, tensor, {6, 0}); }, "write_cfl", "must be positive");
  tests::check_error([&] { write_cfl(base, Tensor<cf>::zeros(Shape{0, 3})); }, "write_cfl", "must be positive");
  tests::check_error([&] { write_cfl(dir.path() / "missing" / "x", tensor); }, "write_cfl", "missing");
  CHECK(tests::read_bytes(dir.path() / "keep.hdr") == old_hdr);
  CHECK(read_cfl(base).data.to_vector() == tensor.to_vector());
  CHECK(dir.entries().size() == 2);
}

TEST_CASE("BART reads what write_cfl writes and write_cfl's reader reads BART's files") {
  if (!bart_available()) {
    MESSAGE("bart is not on PATH (apt-get install bart): the BART interoperability test is skipped");
    return;
  }
  tests::TempDir dir;
  const std::string d = dir.path().string();
  const fs::path scratch = dir.path() / "out.txt";

  // Eight by eight Shepp-Logan times two simulated coils: BART [8, 8, 1, 2].
  REQUIRE(std::system(("bart phantom -x 8 -s 2 '" + d + "/ph' > /dev/null 2>&1").c_str()) == 0);
  const CflArray ph = read_cfl(dir.path() / "ph");
  CHECK(ph.dims == bart_dims({8, 8, 1, 2}));
  CHECK(ph.data.shape() == Shape{2, 1, 8, 8});
  int nonzero = 0;
  for (const cf& v : ph.data.to_vector()) {
    CHECK(std::isfinite(v.real()));
    CHECK(std::isfinite(v.imag()));
    nonzero += std::abs(v) > 0;
  }
  CHECK(nonzero > 16);

  // Written back with its BART dims, BART finds it identical (nrmse -t 0 fails above 0) ...
  write_cfl(dir.path() / "copy", ph);
  CHECK(std::system(("bart nrmse -t 0 '" + d + "/ph' '" + d + "/copy' > /dev/null 2>&1").c_str()) == 0);
  CHECK(command_output("bart show -m '" + d + "/copy'", scratch).find("8\t8\t1\t2\t1\t1") != std::string::npos);
  // ... and a changed element shows.
  std::vector<cf> changed = ph.data.to_vector();
  changed[37] += cf(1000, 0);
  write_cfl(dir.path() / "changed", Tensor<cf>::from_vector(changed, ph.data.shape()), ph.dims);
  CHECK(std::system(("bart nrmse -t 0 '" + d + "/ph' '" + d + "/changed' > /dev/null 2>&1").c_str()) != 0);

  // A tensor [3, 4, 5] is BART [5, 4, 3]; BART doubles it and trustml reads the result.
  const auto tensor = Tensor<cf>::from_vector(tests::distinct_values(60), Shape{3, 4, 5});
  write_cfl(dir.path() / "t", tensor);
  CHECK(command_output("bart show -d 0 '" + d + "/t'", scratch) == "5\n");
  CHECK(command_output("bart show -d 2 '" + d + "/t'", scratch) == "3\n");
  REQUIRE(std::system(("bart scale 2 '" + d + "/t' '" + d + "/t2' > /dev/null 2>&1").c_str()) == 0);
  const CflArray doubled = read_cfl(dir.path() / "t2");
  CHECK(doubled.data.shape() == Shape{3, 4, 5});
  std::vector<cf> expected = tensor.to_vector();
  for (cf& v : expected) v *= 2.0f;
  CHECK(doubled.data.to_vector() == expected);
}
