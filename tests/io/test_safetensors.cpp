// Tests of trustml/io: Array conversions, safetensors save/load, and write_file_atomically.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <trustml/io/array.hpp>
#include <trustml/io/atomic_file.hpp>
#include <trustml/io/safetensors.hpp>
#include <vector>

#include "io/io_test_support.hpp"
#include "support/op_registry.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::io;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// load_safetensors(path) fails naming the path and `fragment`.
void check_load_error(const fs::path& path, const std::string& fragment) {
  tests::check_load_error(
      "load_safetensors", [](const fs::path& p) { load_safetensors(p); }, path, fragment);
}

std::vector<Array> sample_arrays() {
  std::vector<float> weight(16 * 9);
  for (std::size_t i = 0; i < weight.size(); ++i) weight[i] = static_cast<float>(i) * 0.5f - 3.0f;
  return {
      tests::make_array("features.0.weight", DType::F32, {16, 1, 3, 3}, weight),
      tests::make_array("z.scalar", DType::F64, {}, std::vector<double>{3.25}),
      tests::make_array("a.empty", DType::I64, {2, 0}, std::vector<std::int64_t>{}),
      tests::make_array("counts", DType::I32, {3}, std::vector<std::int32_t>{-1, 0, 7}),
      tests::make_array("mask", DType::BOOL, {2, 2}, std::vector<std::uint8_t>{1, 0, 0, 1}),
      tests::make_array("pixels", DType::U8, {4}, std::vector<std::uint8_t>{0, 17, 128, 255}),
      tests::make_array("half", DType::F16, {2}, std::vector<std::uint16_t>{0x3c00, 0xc000}),
      tests::make_array("brain", DType::BF16, {1}, std::vector<std::uint16_t>{0x3f80}),
  };
}

}  // namespace

TEST_CASE("safetensors round trip keeps names in order, dtypes, shapes, bytes and metadata") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "model.safetensors";
  const auto arrays = sample_arrays();
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "ünïcode ✓"}, {"empty", ""}};
  save_safetensors(file, arrays, metadata);
  const SafetensorsFile loaded = load_safetensors(file);
  REQUIRE(loaded.arrays.size() == arrays.size());
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    CAPTURE(arrays[i].name);
    CHECK(loaded.arrays[i].name == arrays[i].name);
    CHECK(loaded.arrays[i].dtype == arrays[i].dtype);
    CHECK(loaded.arrays[i].shape == arrays[i].shape);
    CHECK(loaded.arrays[i].bytes == arrays[i].bytes);
  }
  CHECK(loaded.metadata == metadata);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

  save_safetensors(file, {});  // no arrays, no metadata: a valid file too
  CHECK(load_safetensors(file).arrays.empty());
  CHECK(load_safetensors(file).metadata.empty());
}

TEST_CASE("safetensors writes the Python library's layout byte for byte") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "a.safetensors";
  save_safetensors(file, {tests::make_array("a", DType::F32, {2}, std::vector<float>{1.0f, 2.0f})}, {{"k", "v"}});
  std::string header = R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const float values[] = {1.0f, 2.0f};
  CHECK(tests::read_bytes(file) ==
        le64(header.size()) + header + std::string(reinterpret_cast<const char*>(values), 8));
}

TEST_CASE("to_array and to_tensor convert tensors exactly and check dtypes") {
  auto weight = Tensor<float>::from_vector({1.5f, -2.f, 3.f, 4.25f, 5.f, 6.f}, {2, 3});
  auto back = to_tensor<float>(to_array("w", weight));
  CHECK(back.shape() == Shape{2, 3});
  CHECK(back.to_vector() == weight.to_vector());
  // A non-contiguous view is stored in its logical (row-major) order.
  CHECK(to_tensor<float>(to_array("wt", weight.transpose(0, 1))).to_vector() ==
        std::vector<float>{1.5f, 4.25f, -2.f, 5.f, 3.f, 6.f});
  CHECK(to_tensor<double>(to_array("s", Tensor<double>::scalar(0.1))).item() == 0.1);
  CHECK(to_tensor<double>(to_array("s", Tensor<double>::scalar(0.1))).dim() == 0);
  CHECK(to_tensor<std::int64_t>(to_array("e", Tensor<std::int64_t>::zeros({0, 4}))).shape() == Shape{0, 4});
  CHECK(to_array("i", Tensor<std::int64_t>::from_vector({-(std::int64_t{1} << 40)})).dtype == DType::I64);

  // F16 and BF16 widen exactly into float: 1, -2, 0.5, the smallest subnormal, infinity, NaN.
  auto half = to_tensor<float>(tests::make_array(
      "h", DType::F16, {6}, std::vector<std::uint16_t>{0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00, 0x7e00}));
  auto h = half.to_vector();
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 0.5f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(h[4]));
  CHECK(std::isnan(h[5]));
  CHECK(to_tensor<float>(tests::make_array("b", DType::BF16, {2}, std::vector<std::uint16_t>{0x3f80, 0xc040}))
            .to_vector() == std::vector<float>{1.0f, -3.0f});

  const Array f32 = to_array("layer.weight", weight);
  tests::check_error([&] { to_tensor<double>(f32); }, "to_tensor");
  try {
    to_tensor<double>(f32);
  } catch (const trustml::Error& e) {
    const std::string message = e.what();
    CHECK(message.find("'layer.weight'") != std::string::npos);
    CHECK(message.find("holds F32, expected F64") != std::string::npos);
  }
  tests::check_error(
      [&] { to_tensor<std::int64_t>(tests::make_array("h", DType::F16, {1}, std::vector<std::uint16_t>{0})); },
      "to_tensor");
  tests::check_error([&] { to_tensor<float>(tests::make_array("m", DType::BOOL, {1}, std::vector<std::uint8_t>{1})); },
                     "to_tensor");
  tests::check_error([&] { to_tensor<std::complex<float>>(f32); }, "to_tensor");
  tests::check_error([] { to_array("z", Tensor<std::complex<double>>::zeros({2})); }, "to_array");
  tests::check_error(
      [] {
        to_tensor<float>(tests::make_array("r", DType::F32, std::vector<std::int64_t>(9, 1), std::vector<float>{1}));
      },
      "to_tensor");
  tests::check_error(
      [] {
        to_tensor<float>(tests::make_array("short", DType::F32, {3}, std::vector<float>{1, 2}));
      },
      "to_tensor");
}

TEST_CASE("load_safetensors rejects a file cut at every byte") {
  tests::TempDir dir;
  const fs::path whole = dir.path() / "whole.safetensors";
  save_safetensors(whole,
                   {tests::make_array("w", DType::F32, {2, 2}, std::vector<float>{1, 2, 3, 4}),
                    tests::make_array("n", DType::I64, {1}, std::vector<std::int64_t>{9})},
                   {{"step", "3"}});
  const std::string bytes = tests::read_bytes(whole);
  const fs::path cut = dir.path() / "cut.safetensors";
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    tests::write_bytes(cut, bytes.substr(0, length));
    check_load_error(cut, "");
  }
  tests::write_bytes(cut, bytes + std::string(1, '\0'));  // one byte too many is as wrong as one too few
  check_load_error(cut, "the rest belongs to no tensor");
}

TEST_CASE("load_safetensors survives every single-byte corruption") {
  tests::TempDir dir;
  const fs::path whole = dir.path() / "whole.safetensors";
  save_safetensors(whole,
                   {tests::make_array("w", DType::F32, {3}, std::vector<float>{1, 2, 3}),
                    tests::make_array("m", DType::BOOL, {2}, std::vector<std::uint8_t>{0, 1})},
                   {{"k", "v"}});
  const std::string bytes = tests::read_bytes(whole);
  const fs::path mutated = dir.path() / "mutated.safetensors";
  tests::check_every_corruption(
      "load_safetensors", [](const fs::path& p) { load_safetensors(p); }, bytes, mutated);
}

TEST_CASE("load_safetensors names what is wrong with a corrupt header") {
  struct Case {
    std::string header;
    std::string data;
    std::string fragment;
  };
  const std::string a8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string zeros8(8, '\0');
  const std::vector<Case> cases = {
      {R"({"a":)", "", "the header is not valid JSON"},
      {"{} x", "", "the header is not valid JSON"},
      {"{\"\xff\":1}", "", "the header is not valid JSON"},
      {"[1,2]", "", "the header is a JSON array, not an object"},
      {R"("text")", "", "the header is a JSON string, not an object"},
      {"{" + a8 + "," + a8 + "}", zeros8, "the header has the key 'a' twice"},
      {R"({"a":5})", "", "tensor 'a': the entry is a JSON number, not an object"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", zeros8, "tensor 'a': missing field 'dtype'"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", zeros8, "tensor 'a': missing field 'shape'"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", zeros8, "tensor 'a': missing field 'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", zeros8, "unexpected field 'x'"},
      {R"({"a":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", zeros8, "dtype is 5, not a string"},
      {R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0'),
       "unsupported dtype \"F8_E4M3\""},
      {R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", zeros8, "shape is \"2\", not an array"},
      {R"({"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", zeros8,
       "dimension 1 of shape [2,-1] is negative"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", zeros8, "is not a non-negative integer"},
      {R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", zeros8,
       "is not a non-negative integer"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", zeros8,
       "shape [4294967296, 4294967296, 4] of F32 is too large: its byte count or a stride overflows int64"},
      {R"({"a":{"dtype":"F64","shape":[9223372036854775807,2],"data_offsets":[0,8]}})", zeros8,
       "is too large: its byte count or a stride overflows int64"},
      {R"({"a":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]}})", zeros8,
       "shape [1152921504606846976] of F64 is too large"},
      // No elements, but a stride of 2^64: such a shape must not reach Shape and its strides.
      {R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", "",
       "shape [0, 4294967296, 4294967296] of F32 is too large"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", zeros8, "data_offsets is [0], not [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", zeros8, "not [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}})", zeros8, "not [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", zeros8,
       "data_offsets [8, 0] end before they begin"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", zeros8,
       "data_offsets [0, 16] reach beyond the data section, which has 8 bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0'),
       "data_offsets [0, 4] hold 4 bytes, but shape [2] of F32 needs 8"},
      {"{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0'),
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a', which ends at byte 8"},
      {"{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", std::string(20, '\0'),
       "tensor 'b': data_offsets [12, 20] leave bytes [8, 12) after tensor 'a' unused"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0'),
       "the first 4 bytes of the data section belong to no tensor"},
      {"{" + a8 + "}", std::string(12, '\0'), "the tensors cover 8 of the 12 bytes"},
      {"{}", "abcd", "the tensors cover 0 of the 4 bytes"},
      {R"({"__metadata__":[1]})", "", "__metadata__ is a JSON array, not an object of strings"},
      {R"({"__metadata__":{"k":1}})", "", "__metadata__ entry 'k' is 1, not a string"},
      {R"({"__metadata__":{"k":"a","k":"b"}})", "", "the header has the key 'k' twice"},
      {R"({"a":[[[[[[[[[[1]]]]]]]]]]})", "", "the header nests deeper than 8 levels"},
      {R"({"m":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "\x02", "has byte value 2"},
  };
  tests::TempDir dir;
  const fs::path file = dir.path() / "bad.safetensors";
  for (const Case& c : cases) {
    CAPTURE(c.header);
    tests::write_bytes(file, le64(c.header.size()) + c.header + c.data);
    check_load_error(file, c.fragment);
  }

  tests::write_bytes(file, le64(1000) + "{}");
  check_load_error(file, "the header length 1000 exceeds the 2 bytes that follow it");
  tests::write_bytes(file, le64(std::uint64_t{1} << 63) + "{}");
  check_load_error(file, "exceeds the limit of 100000000 bytes");
  tests::write_bytes(file, std::string("\x02\0\0\0\0", 5));
  check_load_error(file, "the file has 5 bytes, fewer than the 8 of the header length");
  check_load_error(dir.path() / "missing.safetensors", "cannot open for reading");
  check_load_error(dir.path(), "is a directory");
}

TEST_CASE("save_safetensors refuses invalid arrays and leaves no file behind") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "out.safetensors";
  const Array a = tests::make_array("a", DType::F32, {1}, std::vector<float>{1});
  tests::check_error([&] { save_safetensors(file, {a, a}); }, "save_safetensors");
  tests::check_error(
      [&] { save_safetensors(file, {tests::make_array("__metadata__", DType::F32, {1}, std::vector<float>{1})}); },
      "save_safetensors");
  tests::check_error([&] { save_safetensors(file, {tests::make_array("a", DType::F32, {3}, std::vector<float>{1})}); },
                     "save_safetensors");
  tests::check_error([&] { save_safetensors(file, {tests::make_array("a", DType::F32, {-1}, std::vector<float>{})}); },
                     "save_safetensors");
  tests::check_error(
      [&] { save_safetensors(file, {tests::make_array("m", DType::BOOL, {1}, std::vector<std::uint8_t>{3})}); },
      "save_safetensors");
  tests::check_error(
      [&] { save_safetensors(file, {tests::make_array("\xff", DType::F32, {1}, std::vector<float>{1})}); },
      "save_safetensors");
  tests::check_error([&] { save_safetensors(file, {a}, {{"bad", "\xc3"}}); }, "save_safetensors");
  tests::check_error([&] { save_safetensors(dir.path() / "no" / "such" / "dir.safetensors", {a}); },
                     "save_safetensors");
  CHECK(dir.entries().empty());
}

TEST_CASE("write_file_atomically replaces the target whole or not at all") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "checkpoint.bin";
  tests::write_bytes(file, "old contents");

  SUBCASE("a callback that throws midway leaves the old file and no temporary file") {
    CHECK_THROWS_WITH_AS(write_file_atomically(file,
                                               [](FileSink& sink) {
                                                 sink.write("new", 3);
                                                 throw std::runtime_error("interrupted");
                                               }),
                         "interrupted", std::runtime_error);
    CHECK(tests::read_bytes(file) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"checkpoint.bin"});
  }
  SUBCASE("a save that fails validation leaves the old file") {
    tests::check_error(
        [&] { save_safetensors(file, {tests::make_array("a", DType::F32, {2}, std::vector<float>{1})}); },
        "save_safetensors");
    CHECK(tests::read_bytes(file) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"checkpoint.bin"});
  }
  SUBCASE("a write error (the file size limit, like a full disk) leaves the old file") {
    // Past RLIMIT_FSIZE, write() fails with EFBIG once SIGXFSZ (which would end the process) is ignored.
    struct rlimit saved;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    struct rlimit small = saved;
    small.rlim_cur = 1024;
    auto* previous = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string message;
    try {
      write_file_atomically(file, std::vector<std::byte>(4096));
    } catch (const trustml::Error& e) {
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, previous);
    INFO(message);
    CHECK(message.rfind("trustml::write_file_atomically: " + file.string() + ": writing failed", 0) == 0);
    CHECK(tests::read_bytes(file) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"checkpoint.bin"});
  }
  SUBCASE("a successful write replaces the contents and leaves only the target") {
    const std::string text = "new contents, longer than the old";
    write_file_atomically(file, std::as_bytes(std::span(text)));
    CHECK(tests::read_bytes(file) == text);
    CHECK(dir.entries() == std::vector<std::string>{"checkpoint.bin"});
  }
  SUBCASE("the next save removes the temporary files of killed saves, and only those") {
    const std::string dead = std::to_string(tests::dead_pid()), alive = std::to_string(::getpid());
    const std::vector<std::string> stale = {".checkpoint.bin.tmp-" + dead + "-0-123"};
    const std::vector<std::string> kept = {
        ".checkpoint.bin.tmp-" + alive + "-0-123",  // a save in progress (in this process)
        ".other.bin.tmp-" + dead + "-0-123",        // another target's
        ".checkpoint.bin.tmp-x" + dead + "-0-123",  // not a name a save makes
        ".checkpoint.bin.tmp-" + dead,
    };
    for (const auto& names : {stale, kept})
      for (const std::string& name : names) tests::write_bytes(dir.path() / name, "partial");
    write_file_atomically(file, std::vector<std::byte>(3));
    for (const std::string& name : stale) CHECK_MESSAGE(!fs::exists(dir.path() / name), name);
    for (const std::string& name : kept) CHECK_MESSAGE(fs::exists(dir.path() / name), name);
    CHECK(dir.entries().size() == kept.size() + 1);
  }
  SUBCASE("a missing directory is an error naming the target") {
    const fs::path nowhere = dir.path() / "missing" / "file.bin";
    tests::check_error([&] { write_file_atomically(nowhere, std::vector<std::byte>(3)); }, "write_file_atomically");
    try {
      write_file_atomically(nowhere, std::vector<std::byte>(3));
    } catch (const trustml::Error& e) {
      CHECK(std::string(e.what()).find(nowhere.string()) != std::string::npos);
    }
  }
}
