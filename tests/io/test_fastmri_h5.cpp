// Tests of trustml/io/fastmri_h5.hpp: round trips, the layouts other writers use, and errors that
// name the file and the dataset.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cmath>
#include <complex>
#include <filesystem>
#include <string>
#include <trustml/io/fastmri_h5.hpp>
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

// A file with one dataset `name` of `type` and `dims`, filled from `data` (memory type `memory`),
// written with HDF5 directly, as h5py or another tool would.
void write_h5(const fs::path& path, const char* name, hid_t type, hid_t memory, const std::vector<hsize_t>& dims,
              const void* data) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(H5Dwrite(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(dataset);
  H5Sclose(space);
  REQUIRE(H5Fclose(file) >= 0);
}

// {r, i} of `member`, as h5py writes complex64 (member float32) and complex128 (float64).
hid_t complex_type(hid_t member) {
  const hid_t type = H5Tcreate(H5T_COMPOUND, 2 * H5Tget_size(member));
  H5Tinsert(type, "r", 0, member);
  H5Tinsert(type, "i", H5Tget_size(member), member);
  return type;
}

void check_kspace_error(const fs::path& path, const std::string& fragment) {
  tests::check_load_error(
      "read_fastmri_kspace", [](const fs::path& p) { read_fastmri_kspace(p); }, path, fragment);
}

}  // namespace

TEST_CASE("write_fastmri_kspace and the readers round trip k-space and the RSS image") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "file1000001.h5";
  const auto kspace = Tensor<cf>::from_vector(tests::distinct_values(2 * 3 * 4 * 5), Shape{2, 3, 4, 5});
  std::vector<float> rss_values(2 * 4 * 4);
  for (std::size_t i = 0; i < rss_values.size(); ++i) rss_values[i] = 0.125f * static_cast<float>(i);
  const auto rss = Tensor<float>::from_vector(rss_values, Shape{2, 4, 4});
  write_fastmri_kspace(file, kspace, rss);
  const auto read = read_fastmri_kspace(file);
  CHECK(read.shape() == Shape{2, 3, 4, 5});
  CHECK(read.to_vector() == kspace.to_vector());
  const auto read_rss = read_fastmri_dataset_real(file, "reconstruction_rss");
  CHECK(read_rss.shape() == Shape{2, 4, 4});
  CHECK(read_rss.to_vector() == rss_values);
  CHECK(dir.entries() == std::vector<std::string>{"file1000001.h5"});  // no temporary file left

  // The stored type is h5py's complex64: a compound {r, i} of little-endian float32.
  const hid_t h5 = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(h5, "kspace", H5P_DEFAULT);
  const hid_t type = H5Dget_type(dataset);
  const hid_t expected = complex_type(H5T_IEEE_F32LE);
  CHECK(H5Tequal(type, expected) > 0);
  H5Tclose(expected);
  H5Tclose(type);
  H5Dclose(dataset);
  H5Fclose(h5);

  // Overwriting replaces the file; without rss there is no reconstruction_rss.
  write_fastmri_kspace(file, kspace.slice(0, 1, 2));
  CHECK(read_fastmri_kspace(file).shape() == Shape{1, 3, 4, 5});
  CHECK(dir.entries().size() == 1);
}

namespace {
// A scalar variable-length string (dataset or attribute), read as h5py reads it.
std::string read_text(hid_t object, bool attribute) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);  // HDF5 converts no strings between character sets
  char* text = nullptr;
  const herr_t status =
      attribute ? H5Aread(object, type, &text) : H5Dread(object, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text);
  std::string out = status >= 0 && text ? text : "<unreadable>";
  H5free_memory(text);
  H5Tclose(type);
  return out;
}
double read_double_attribute(hid_t file, const char* name) {
  const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  double value = -1;
  if (attr >= 0) H5Aread(attr, H5T_NATIVE_DOUBLE, &value);
  H5Aclose(attr);
  return value;
}
// The text of the first element <name> after position `from` of xml.
std::string element(const std::string& xml, const std::string& name, std::size_t from = 0) {
  const std::size_t open = xml.find("<" + name + ">", from);
  if (open == std::string::npos) return "<missing " + name + ">";
  const std::size_t start = open + name.size() + 2;
  return xml.substr(start, xml.find("</" + name + ">", start) - start);
}
}  // namespace

TEST_CASE("write_fastmri_kspace writes what fastMRI's SliceDataset reads: ismrmrd_header, max, norm, acquisition") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "file1000002.h5";
  // k-space 6 x 10 (readout x phase encoding), reconstruction 3 x 4.
  const auto kspace = Tensor<cf>::from_vector(tests::distinct_values(2 * 3 * 6 * 10), Shape{2, 3, 6, 10});
  const auto rss = Tensor<float>::from_vector({1, -2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9},
                                              Shape{2, 3, 4});
  write_fastmri_kspace(file, kspace, rss, {.acquisition = "AXT2"});

  const hid_t h5 = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(h5 >= 0);
  const hid_t header_set = H5Dopen2(h5, "ismrmrd_header", H5P_DEFAULT);
  REQUIRE(header_set >= 0);
  const std::string xml = read_text(header_set, false);
  H5Dclose(header_set);
  CHECK(xml.find("<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">") != std::string::npos);
  // SliceDataset: enc_size from encodedSpace, recon_size from reconSpace, and the padding from
  // kspace_encoding_step_1: padding_left = enc_y // 2 - center = 0, padding_right = maximum + 1 = W.
  const std::size_t encoded = xml.find("<encodedSpace>"), recon = xml.find("<reconSpace>");
  REQUIRE(encoded != std::string::npos);
  REQUIRE(recon != std::string::npos);
  CHECK(element(xml, "x", encoded) == "6");
  CHECK(element(xml, "y", encoded) == "10");
  CHECK(element(xml, "z", encoded) == "1");
  CHECK(element(xml, "x", recon) == "3");
  CHECK(element(xml, "y", recon) == "4");
  const std::size_t limits = xml.find("<kspace_encoding_step_1>");
  CHECK(element(xml, "center", limits) == "5");
  CHECK(element(xml, "maximum", limits) == "9");
  CHECK(xml.find("<trajectory>cartesian</trajectory>") != std::string::npos);

  CHECK(read_double_attribute(h5, "max") == 9.0);
  CHECK(read_double_attribute(h5, "norm") == doctest::Approx(std::sqrt(1.0 + 4 + 9 + 16 + 81)).epsilon(1e-12));
  const hid_t acquisition = H5Aopen(h5, "acquisition", H5P_DEFAULT);
  REQUIRE(acquisition >= 0);
  CHECK(read_text(acquisition, true) == "AXT2");
  H5Aclose(acquisition);
  H5Fclose(h5);

  // Without a reconstruction: the recon matrix is the k-space's, and there is no max or norm.
  write_fastmri_kspace(file, kspace);
  const hid_t plain = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t plain_header = H5Dopen2(plain, "ismrmrd_header", H5P_DEFAULT);
  const std::string plain_xml = read_text(plain_header, false);
  CHECK(element(plain_xml, "x", plain_xml.find("<reconSpace>")) == "6");
  CHECK(H5Aexists(plain, "max") == 0);
  CHECK(H5Aexists(plain, "acquisition") > 0);
  H5Dclose(plain_header);
  H5Fclose(plain);
}

TEST_CASE("the fastMRI readers allocate only what the file stores, whatever its header claims") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "k.h5", damaged = dir.path() / "damaged.h5";
  write_fastmri_kspace(file, Tensor<cf>::zeros(Shape{2, 3, 4, 5}), Tensor<float>::zeros(Shape{2, 4, 7}));
  const std::string bytes = tests::read_bytes(file);
  // The dataspace message holds the sizes as 8-byte little-endian numbers; W (5) becomes `width`.
  auto with_width = [&](std::uint64_t width) {
    std::string dims, patched = bytes;
    for (std::uint64_t d : {2, 3, 4, 5}) dims.append(reinterpret_cast<const char*>(&d), 8);
    const std::size_t at = patched.find(dims);
    REQUIRE(at != std::string::npos);
    patched.replace(at + 24, 8, reinterpret_cast<const char*>(&width), 8);
    tests::write_bytes(damaged, patched);
  };
  with_width(50);
  check_kspace_error(damaged,
                     "dataset 'kspace' of shape [2, 3, 4, 50] and 8-byte elements needs 9600 bytes, but the "
                     "file stores 960 for it (a damaged header?)");
  with_width(std::uint64_t{1} << 36);  // 13 TiB, which the reader once tried to allocate
  check_kspace_error(damaged,
                     "dataset 'kspace' of shape [2, 3, 4, 68719476736] needs 13194139533312 bytes, more than the limit "
                     "of 17179869184");
  with_width(std::uint64_t{1} << 62);
  check_kspace_error(damaged, "dataset 'kspace' of shape [2, 3, 4, 4611686018427387904] is too large");
  // An explicit maximum bounds what any dataset (a compressed one too) may need.
  CHECK(read_fastmri_kspace(file, 960).shape() == Shape{2, 3, 4, 5});
  tests::check_load_error(
      "read_fastmri_kspace", [](const fs::path& p) { read_fastmri_kspace(p, 959); }, file,
      "dataset 'kspace' of shape [2, 3, 4, 5] needs 960 bytes, more than the limit of 959");
  tests::check_load_error(
      "read_fastmri_dataset_real", [](const fs::path& p) { read_fastmri_dataset_real(p, "reconstruction_rss", 100); },
      file, "dataset 'reconstruction_rss' of shape [2, 4, 7] needs 224 bytes, more than the limit of 100");
}

TEST_CASE("read_fastmri_kspace reads single-coil, float64 and (..., 2) float layouts") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "k.h5";
  const std::vector<cf> values = tests::distinct_values(24);

  // Single-coil [slices, H, W] (fastMRI's knee single-coil files) gets coils = 1.
  const hid_t c64 = complex_type(H5T_IEEE_F32LE);
  write_h5(file, "kspace", c64, c64, {2, 3, 4}, values.data());
  H5Tclose(c64);
  auto read = read_fastmri_kspace(file);
  CHECK(read.shape() == Shape{2, 1, 3, 4});
  CHECK(read.to_vector() == values);

  // complex128, as h5py writes np.complex128: converted to complex64 by HDF5.
  std::vector<std::complex<double>> wide(values.begin(), values.end());
  const hid_t c128 = complex_type(H5T_IEEE_F64LE), c128_memory = complex_type(H5T_NATIVE_DOUBLE);
  write_h5(file, "kspace", c128, c128_memory, {1, 2, 3, 4}, wide.data());
  H5Tclose(c128);
  H5Tclose(c128_memory);
  read = read_fastmri_kspace(file);
  CHECK(read.shape() == Shape{1, 2, 3, 4});
  CHECK(read.to_vector() == values);

  // Real and imaginary parts in a last dimension of 2.
  write_h5(file, "kspace", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {1, 2, 2, 6, 2}, values.data());
  read = read_fastmri_kspace(file);
  CHECK(read.shape() == Shape{1, 2, 2, 6});
  CHECK(read.to_vector() == values);
}

TEST_CASE("read_fastmri_dataset_real reads floats and integers of any rank") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "m.h5";
  const std::vector<std::int32_t> mask = {0, 1, 1, 0, 1};
  write_h5(file, "mask", H5T_STD_I32LE, H5T_NATIVE_INT32, {5}, mask.data());
  const auto read = read_fastmri_dataset_real(file, "mask");
  CHECK(read.shape() == Shape{5});
  CHECK(read.to_vector() == std::vector<float>{0, 1, 1, 0, 1});
}

TEST_CASE("the fastMRI readers name the file and the dataset in every error") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "bad.h5";
  const std::vector<cf> values = tests::distinct_values(8);
  const hid_t c64 = complex_type(H5T_IEEE_F32LE);

  write_h5(file, "kspace", c64, c64, {2, 4}, values.data());
  check_kspace_error(file, "dataset 'kspace' has 2 complex dimensions [2, 4], expected 4 [slices, coils, H, W]");
  write_h5(file, "kspace", c64, c64, {1, 1, 1, 2, 2, 2}, values.data());
  check_kspace_error(file, "dataset 'kspace' has 6 complex dimensions");
  write_h5(file, "kspace", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2, 2, 1, 4}, values.data());
  check_kspace_error(file, "dataset 'kspace' holds floats of shape [2, 2, 1, 4], expected complex numbers");
  write_h5(file, "kspace", H5T_STD_I32LE, H5T_NATIVE_INT32, {2, 2, 2, 2}, values.data());
  check_kspace_error(file, "dataset 'kspace' holds integers");
  const hid_t triple = H5Tcreate(H5T_COMPOUND, 12);
  H5Tinsert(triple, "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(triple, "i", 4, H5T_NATIVE_FLOAT);
  H5Tinsert(triple, "w", 8, H5T_NATIVE_FLOAT);
  const std::vector<float> nine(12);
  write_h5(file, "kspace", triple, triple, {1}, nine.data());
  H5Tclose(triple);
  check_kspace_error(file, "dataset 'kspace' is a compound of 3 members, expected two floats (r, i)");

  write_h5(file, "image", c64, c64, {1, 1, 2, 4}, values.data());
  check_kspace_error(file, "no dataset 'kspace' (the file's root holds 'image')");
  tests::check_load_error(
      "read_fastmri_dataset_real", [](const fs::path& p) { read_fastmri_dataset_real(p, "reconstruction_rss"); }, file,
      "no dataset 'reconstruction_rss'");
  tests::check_load_error(
      "read_fastmri_dataset_real", [](const fs::path& p) { read_fastmri_dataset_real(p, "image"); }, file,
      "dataset 'image' holds a compound type, expected real numbers");
  std::vector<float> many(512);
  write_h5(file, "big", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, std::vector<hsize_t>(9, 2), many.data());
  tests::check_load_error(
      "read_fastmri_dataset_real", [](const fs::path& p) { read_fastmri_dataset_real(p, "big"); }, file,
      "dataset 'big' has rank 9");
  H5Tclose(c64);

  tests::write_bytes(file, "not HDF5 at all");
  check_kspace_error(file, "not an HDF5 file");
  check_kspace_error(dir.path() / "missing.h5", "no such file");
  check_kspace_error(dir.path(), "is a directory");
}

TEST_CASE("write_fastmri_kspace refuses wrong shapes and keeps the old file") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "keep.h5";
  tests::write_bytes(file, "old contents");
  const auto kspace = Tensor<cf>::from_vector(tests::distinct_values(8), Shape{2, 1, 2, 2});
  tests::check_error(
      [&] {
        write_fastmri_kspace(file, kspace.reshape(Shape{2, 4}));
      },
      "write_fastmri_kspace", file.string() + ": dataset 'kspace' must have rank 4");
  tests::check_error(
      [&] {
        write_fastmri_kspace(file, kspace, Tensor<float>::zeros(Shape{3, 2, 2}));
      },
      "write_fastmri_kspace", "dataset 'reconstruction_rss' must have shape [slices, h, w]");
  tests::check_error([&] { write_fastmri_kspace(dir.path() / "missing" / "x.h5", kspace); }, "write_fastmri_kspace",
                     "cannot create the temporary file");
  CHECK(tests::read_bytes(file) == "old contents");
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("write_fastmri_kspace removes the temporary files of killed saves of its target") {
  tests::TempDir dir;
  const fs::path file = dir.path() / "k.h5";
  const std::string stale = ".k.h5.tmp-" + std::to_string(tests::dead_pid()) + "-0-1",
                    live = ".k.h5.tmp-" + std::to_string(::getpid()) + "-0-1";
  tests::write_bytes(dir.path() / stale, "partial");
  tests::write_bytes(dir.path() / live, "partial");
  write_fastmri_kspace(file, Tensor<cf>::zeros(Shape{1, 1, 2, 2}));
  CHECK(!fs::exists(dir.path() / stale));
  CHECK(fs::exists(dir.path() / live));
  CHECK(dir.entries().size() == 2);
}
