// io_interop_tool: the C++ half of the Python interop test (tests/io/interop.py).
//
//   io_interop_tool write <dir>   writes cpp.safetensors and cpp_*.npy with known contents
//   io_interop_tool check <dir>   loads py.safetensors and py_*.npy, written by Python, and checks
//                                 every name, dtype, shape and value; exits 1 on any mismatch
//
// The contents on both sides are defined by the same formulas (see interop.py), and every value
// is exactly representable or computed by one correctly rounded operation, so checks are exact.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <trustml/io/array.hpp>
#include <trustml/io/npy.hpp>
#include <trustml/io/safetensors.hpp>
#include <trustml/tensor/tensor.hpp>
#include <vector>

using namespace trustml;
using namespace trustml::io;
namespace fs = std::filesystem;

namespace {

// Values i * step + start, i = 0..n-1, computed in T as NumPy computes them.
template <class T>
std::vector<T> ramp(std::int64_t n, T step, T start) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<T>(i) * step + start;
  return v;
}

template <class T>
Array raw_array(std::string name, DType dtype, std::vector<std::int64_t> shape, const std::vector<T>& values) {
  Array a{std::move(name), dtype, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

void write_files(const fs::path& dir) {
  const std::vector<Array> arrays = {
      to_array("features.0.weight", Tensor<float>::from_vector(ramp<float>(144, 0.5f, -3.0f), {16, 1, 3, 3})),
      to_array("features.0.bias", Tensor<float>::from_vector(ramp<float>(16, 0.25f, 0.0f), {16})),
      to_array("head.scale", Tensor<double>::from_vector({0.0, 1.0 / 3, 2.0 / 3, 1.0, 4.0 / 3, 5.0 / 3}, {2, 3})),
      to_array("labels",
               Tensor<std::int64_t>::from_vector({-2, 0, 1, std::int64_t{1} << 40, -(std::int64_t{1} << 50)})),
      raw_array("mask", DType::BOOL, {3}, std::vector<std::uint8_t>{1, 0, 1}),
      raw_array("counts", DType::I32, {2, 2}, std::vector<std::int32_t>{-1, 0, 1, 2147483647}),
      to_array("scalar", Tensor<double>::scalar(2.5)),
      to_array("empty", Tensor<float>::zeros({0, 3})),
  };
  save_safetensors(dir / "cpp.safetensors", arrays, {{"format", "pt"}, {"producer", "trustml"}});
  for (const char* name : {"features.0.weight", "labels", "mask", "counts", "scalar"}) {
    for (const Array& a : arrays)
      if (a.name == name) save_npy(dir / ("cpp_" + std::string(name) + ".npy"), a);
  }
}

// Collects mismatches, printing each, so that one run reports all of them.
struct Checker {
  int failures = 0;

  void expect(bool ok, const std::string& what) {
    if (ok) return;
    std::cerr << "io_interop_tool: " << what << "\n";
    ++failures;
  }
  template <class T>
  void expect_tensor(const Array* array, const std::string& name, const std::vector<std::int64_t>& shape,
                     const std::vector<T>& values) {
    expect(array != nullptr, name + ": missing");
    if (!array) return;
    expect(array->shape == shape, name + ": wrong shape");
    try {
      expect(to_tensor<T>(*array).to_vector() == values, name + ": wrong values");
    } catch (const trustml::Error& e) {
      expect(false, e.what());
    }
  }
  void expect_bytes(const Array* array, const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
                    const Array& want) {
    expect(array != nullptr, name + ": missing");
    if (!array) return;
    expect(array->dtype == dtype && array->shape == shape && array->bytes == want.bytes,
           name + ": wrong dtype, shape or bytes");
  }
};

const Array* find(const std::vector<Array>& arrays, const std::string& name) {
  for (const Array& a : arrays)
    if (a.name == name) return &a;
  return nullptr;
}

int check_files(const fs::path& dir) {
  Checker check;
  const std::vector<float> weight = ramp<float>(12, 0.5f, -3.0f);
  const std::vector<std::int64_t> index = {-1, std::int64_t{1} << 40, 3, -4};
  const std::vector<float> half = {1.0f, -2.0f, 0.5f};
  const Array mask = raw_array("", DType::BOOL, {3}, std::vector<std::uint8_t>{1, 0, 1});

  const SafetensorsFile file = load_safetensors(dir / "py.safetensors");
  check.expect(file.arrays.size() == 9,
               "py.safetensors: expected 9 arrays, found " + std::to_string(file.arrays.size()));
  check.expect(file.metadata == std::map<std::string, std::string>{{"source", "python"}}, "py.safetensors: metadata");
  const auto& arrays = file.arrays;
  check.expect_tensor<float>(find(arrays, "py.weight"), "py.weight", {4, 3}, weight);
  check.expect_tensor<double>(find(arrays, "py.bias"), "py.bias", {3}, ramp<double>(3, 0.1, 0.0));
  check.expect_tensor<std::int64_t>(find(arrays, "py.index"), "py.index", {2, 2}, index);
  check.expect_tensor<float>(find(arrays, "py.half"), "py.half", {3}, half);
  check.expect_tensor<double>(find(arrays, "py.scalar"), "py.scalar", {}, {2.5});
  check.expect_tensor<float>(find(arrays, "py.empty"), "py.empty", {0, 3}, {});
  check.expect_bytes(find(arrays, "py.mask"), "py.mask", DType::BOOL, {3}, mask);
  check.expect_bytes(find(arrays, "py.pixels"), "py.pixels", DType::U8, {2},
                     raw_array("", DType::U8, {2}, std::vector<std::uint8_t>{0, 255}));
  check.expect_bytes(find(arrays, "py.counts"), "py.counts", DType::I32, {2},
                     raw_array("", DType::I32, {2}, std::vector<std::int32_t>{-7, 7}));

  const auto npy = [&](const std::string& name) { return load_npy(dir / (name + ".npy")); };
  const Array py_weight = npy("py_weight"), py_index = npy("py_index"), py_scalar = npy("py_scalar");
  const Array py_mask = npy("py_mask"), py_half = npy("py_half");
  check.expect_tensor<float>(&py_weight, "py_weight.npy", {4, 3}, weight);
  check.expect_tensor<std::int64_t>(&py_index, "py_index.npy", {2, 2}, index);
  check.expect_tensor<double>(&py_scalar, "py_scalar.npy", {}, {2.5});
  check.expect_tensor<float>(&py_half, "py_half.npy", {3}, half);
  check.expect_bytes(&py_mask, "py_mask.npy", DType::BOOL, {3}, mask);
  try {
    npy("py_fortran");
    check.expect(false, "py_fortran.npy: a Fortran-order file loaded");
  } catch (const trustml::Error& e) {
    check.expect(std::string(e.what()).find("Fortran order") != std::string::npos,
                 std::string("py_fortran.npy: wrong error: ") + e.what());
  }
  return check.failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "write" && mode != "check") {
    std::cerr << "usage: io_interop_tool write|check <dir>\n";
    return 2;
  }
  try {
    if (mode == "write") {
      write_files(argv[2]);
      return 0;
    }
    return check_files(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "io_interop_tool: " << e.what() << "\n";
    return 1;
  }
}
