// IDX reading (well-formed, truncated and damaged files) and Fashion-MNIST loading.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <trustml/data/fashion_mnist.hpp>
#include <trustml/data/idx.hpp>
#include <vector>

#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::data;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes idx_file(std::uint8_t type_code, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes out{0, 0, type_code, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes iota_bytes(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(7 * i + 3);
  return b;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

void write_plain(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string error_of(const std::string& path) {
  try {
    read_idx(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("read_idx reads gzipped and plain unsigned-byte IDX files") {
  tests::TempDir dir;
  const Bytes data = iota_bytes(2 * 3 * 4);
  const Bytes file = idx_file(0x08, {2, 3, 4}, data);
  write_gz(dir.file("a.gz"), file);
  write_plain(dir.file("a"), file);
  for (const char* name : {"a.gz", "a"}) {
    const IdxArray array = read_idx(dir.file(name));
    CHECK(array.type_code == 0x08);
    CHECK(array.dims == std::vector<std::int64_t>{2, 3, 4});
    CHECK(array.numel() == 24);
    CHECK(array.dims_string() == "[2, 3, 4]");
    CHECK(array.bytes == data);
  }
  write_gz(dir.file("empty.gz"), idx_file(0x08, {0, 28}, {}));
  CHECK(read_idx(dir.file("empty.gz")).bytes.empty());
}

TEST_CASE("read_idx rejects a file cut at every byte offset, naming where it ends") {
  tests::TempDir dir;
  const Bytes file = idx_file(0x08, {2, 3, 4}, iota_bytes(24));  // 16 header bytes + 24 data bytes
  for (std::size_t length = 0; length < file.size(); ++length) {
    const std::string path = dir.file("cut" + std::to_string(length) + ".gz");
    write_gz(path, Bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(length)));
    const std::string message = error_of(path);
    INFO("length ", length, ": ", message);
    CHECK(message.find("trustml::read_idx: " + path + ": ") == 0);
    if (length < 4) CHECK(message.find("magic number ends at byte " + std::to_string(length)) != std::string::npos);
    else if (length < 16) CHECK(message.find("is cut off at byte " + std::to_string(length)) != std::string::npos);
    else
      CHECK(message.find("ending at byte 40, but the file ends at byte " + std::to_string(length)) !=
            std::string::npos);
  }
}

TEST_CASE("read_idx rejects a gzip stream cut at every byte, and never crashes on damaged bytes") {
  tests::TempDir dir;
  const Bytes file = idx_file(0x08, {5, 6}, iota_bytes(30));
  write_gz(dir.file("full.gz"), file);
  const Bytes compressed = read_plain(dir.file("full.gz"));
  REQUIRE(compressed.size() > 20);
  for (std::size_t length = 0; length < compressed.size(); ++length) {
    const std::string path = dir.file(std::to_string(length) + ".z");
    write_plain(path, Bytes(compressed.begin(), compressed.begin() + static_cast<std::ptrdiff_t>(length)));
    INFO("compressed length ", length);
    CHECK_THROWS_AS(read_idx(path), Error);
  }
  // A flipped byte either leaves the data intact (gzip header fields such as the time stamp) or is
  // an error; it never yields other data or crashes.
  int errors = 0;
  for (std::size_t at = 0; at < compressed.size(); ++at) {
    Bytes damaged = compressed;
    damaged[at] ^= 0x5A;
    const std::string path = dir.file("flip" + std::to_string(at));
    write_plain(path, damaged);
    const std::string message = error_of(path);
    if (message.empty()) {
      CHECK(read_idx(path).bytes == iota_bytes(30));
    } else {
      ++errors;
      CHECK(message.find("trustml::read_idx: " + path + ": ") == 0);
    }
  }
  CHECK(errors > static_cast<int>(compressed.size()) / 2);
}

TEST_CASE("read_idx names what is wrong with a malformed header") {
  tests::TempDir dir;
  auto error_for = [&](const std::string& name, const Bytes& bytes) {
    write_gz(dir.file(name), bytes);
    return error_of(dir.file(name));
  };
  CHECK(error_for("magic", Bytes{1, 0, 8, 1, 0, 0, 0, 1, 9}).find("bad magic number at byte 0: 0x01 0x00") !=
        std::string::npos);
  const std::string float_type = error_for("float", idx_file(0x0D, {1}, Bytes(4)));
  CHECK(float_type.find("element type 0x0D (float32) at byte 2 is not supported") != std::string::npos);
  CHECK(error_for("rank0", Bytes{0, 0, 8, 0}).find("rank 0 at byte 3") != std::string::npos);
  CHECK(error_for("rank9", idx_file(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, Bytes(1))).find("rank 9") != std::string::npos);
  CHECK(error_for("trailing",
                  [] {
                    Bytes b = idx_file(0x08, {3}, Bytes(3));
                    b.push_back(0);
                    return b;
                  }())
            .find("unexpected bytes after the data, from byte 11") != std::string::npos);
  // A header that claims far more data than the file holds fails fast, without allocating it.
  CHECK(error_for("huge", idx_file(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu}, Bytes(8))).find("larger than 2^40") !=
        std::string::npos);
  CHECK(error_for("long", idx_file(0x08, {0xFFFFFFFFu}, Bytes(8))).find("the file ends at byte 16") !=
        std::string::npos);
}

TEST_CASE("read_idx checks the size of the header's dimensions before it multiplies them") {
  tests::TempDir dir;
  // 16 bytes whose dimensions multiply to 2^64, which wraps to 0 elements: no data, and no bytes after it.
  const std::string wraps = dir.file("wraps.idx");
  write_plain(wraps, idx_file(0x08, {1u << 20, 1u << 20, 1u << 24}, {}));
  REQUIRE(read_plain(wraps).size() == 16);
  CHECK(error_of(wraps) == "trustml::read_idx: " + wraps +
                               ": dimension 2 (16777216) at byte 12 makes the array (dimensions [1048576, 1048576, "
                               "16777216] so far) larger than 2^40 elements; the header is damaged");
  // An empty array too: its strides are products of the other dimensions.
  const std::string empty = dir.file("empty.idx");
  write_plain(empty, idx_file(0x08, {0, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
  CHECK(error_of(empty).find(": dimension 2 (4294967295) at byte 12 makes the array") != std::string::npos);
  write_plain(empty, idx_file(0x08, {3, 0, 1u << 20}, {}));
  const IdxArray read = read_idx(empty);
  CHECK(read.dims == std::vector<std::int64_t>{3, 0, 1 << 20});
  CHECK(read.bytes.empty());
}

TEST_CASE("read_idx reports missing files and directories") {
  tests::TempDir dir;
  CHECK(error_of(dir.file("nothing.gz")) == "trustml::read_idx: " + dir.file("nothing.gz") + ": no such file");
  CHECK(error_of(dir.path().string()).find("not a regular file") != std::string::npos);
}

TEST_CASE("Fashion-MNIST class names and the default directory") {
  CHECK(kFashionMnistClassNames.size() == 10);
  CHECK(fashion_mnist_class_name(0) == "T-shirt/top");
  CHECK(fashion_mnist_class_name(7) == "Sneaker");
  CHECK(fashion_mnist_class_name(9) == "Ankle boot");
  CHECK_THROWS_AS(fashion_mnist_class_name(10), Error);

  const char* saved = std::getenv("TRUSTML_FASHION_MNIST_DIR");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("TRUSTML_FASHION_MNIST_DIR");
  CHECK(fashion_mnist_default_dir() == "/usr/share/datasets/fashion-mnist");
  ::setenv("TRUSTML_FASHION_MNIST_DIR", "/somewhere/else", 1);
  CHECK(fashion_mnist_default_dir() == "/somewhere/else");
  if (saved) ::setenv("TRUSTML_FASHION_MNIST_DIR", saved_value.c_str(), 1);
  else ::unsetenv("TRUSTML_FASHION_MNIST_DIR");
}

TEST_CASE("load_fashion_mnist names the Debian package when the files are missing") {
  tests::TempDir dir;
  try {
    load_fashion_mnist(Split::train, dir.path().string());
    FAIL("no error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find("trustml::load_fashion_mnist: " + dir.file("train-images-idx3-ubyte.gz") + " not found") == 0);
    CHECK(message.find("install the Debian package dataset-fashion-mnist") != std::string::npos);
  }
}

TEST_CASE("load_fashion_mnist checks counts and labels of a small data set in the same format") {
  tests::TempDir dir;
  const Bytes pixels = iota_bytes(3 * 28 * 28);
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_file(0x08, {3, 28, 28}, pixels));
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_file(0x08, {3}, Bytes{9, 0, 4}));
  const LabeledImages data = load_fashion_mnist(Split::test, dir.path().string());
  CHECK(data.images.shape() == Shape{3, 1, 28, 28});
  CHECK(data.labels.to_vector() == std::vector<std::int64_t>{9, 0, 4});
  const auto x = data.images.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == static_cast<float>(pixels[i]) / 255.0f);

  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_file(0x08, {3}, Bytes{9, 10, 4}));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(Split::test, dir.path().string()),
                       doctest::Contains("label 10 of sample 1 (byte 9) is not a class id"), Error);
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_file(0x08, {2}, Bytes{9, 1}));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(Split::test, dir.path().string()), doctest::Contains("has 2 labels"), Error);
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_file(0x08, {2, 28, 27}, Bytes(2 * 28 * 27)));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(Split::test, dir.path().string()),
                       doctest::Contains("expected images [N, 28, 28], got [2, 28, 27]"), Error);
}

TEST_CASE("load_fashion_mnist loads the installed data set") {
  const std::string dir = fashion_mnist_default_dir();
  if (!std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: no Fashion-MNIST in ", dir, " (install the Debian package dataset-fashion-mnist)");
    return;
  }
  for (const Split split : {Split::train, Split::test}) {
    const std::int64_t n = split == Split::train ? 60000 : 10000;
    const LabeledImages data = load_fashion_mnist(split, dir);
    CHECK(data.images.shape() == Shape{n, 1, 28, 28});
    CHECK(data.labels.shape() == Shape{n});
    CHECK(data.class_counts() == std::vector<std::int64_t>(10, n / 10));
    float lo = 1, hi = 0;
    for (float v : data.images.to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
  }
}
