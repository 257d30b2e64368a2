// trustml/io/fastmri_h5.hpp: fastMRI's HDF5 volumes (k-space and RSS reconstructions), read and
// written through the HDF5 C API. Needs the CMake target trustml::hdf5 (libhdf5-dev).
//
// A fastMRI file holds "kspace" [slices, coils, H, W] of complex64 ([slices, H, W] for single-coil
// data) and "reconstruction_rss" [slices, 320, 320] of float32. h5py stores complex64 as a compound
// {r: float32, i: float32}; files converted by other tools use floats with a last dimension of 2;
// both are read. HDF5 converts the stored element type (float64, big-endian) to the tensor's.
//
// HDF5 prints its error stack to stderr by default; every call here runs with that printing off
// and turns a failure into a trustml::Error "trustml::<op>: <file>: ... dataset '<name>' ...".
//
// A damaged header can claim any shape, so the readers allocate only what the file backs: a
// contiguous or compact dataset (what h5py and write_fastmri_kspace write) must store exactly the
// bytes its shape needs, and no dataset may be larger than `max_bytes` (chunked data can be
// compressed or left to its fill value, so its storage size bounds nothing).
#pragma once

#if !__has_include(<hdf5.h>)
#error "trustml/io/fastmri_h5.hpp needs HDF5: install libhdf5-dev and link the CMake target trustml::hdf5"
#endif

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/shape.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/io/array.hpp"
#include "trustml/io/atomic_file.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::io {

// The readers' default bound on a dataset's size in the file; the largest fastMRI volumes have
// about 2 GiB of k-space.
inline constexpr std::uint64_t kFastmriMaxBytes = std::uint64_t{16} << 30;

namespace detail {
// Turns HDF5's automatic error printing off for the scope and restores what it was.
class H5QuietErrors {
 public:
  H5QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~H5QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  H5QuietErrors(const H5QuietErrors&) = delete;
  H5QuietErrors& operator=(const H5QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message of HDF5's error stack (where the failure was detected), then cleared.
inline std::string h5_error_text() {
  std::string text;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
        auto& s = *static_cast<std::string*>(out);
        if (s.empty() && error->desc) s = error->desc;
        return 0;
      },
      &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? std::string() : " (HDF5: " + text + ")";
}

// An HDF5 identifier closed by its close function at scope exit.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(H5Id&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  H5Id& operator=(H5Id&& other) noexcept {
    if (this != &other) {
      if (id_ >= 0) close_(id_);
      id_ = std::exchange(other.id_, -1);
      close_ = other.close_;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  // Closes now, reporting the status (a file's close is where its buffered writes can fail).
  herr_t close() { return id_ >= 0 ? close_(std::exchange(id_, -1)) : 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

inline const char* h5_class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floats";
    case H5T_STRING: return "strings";
    case H5T_COMPOUND: return "a compound type";
    case H5T_ENUM: return "an enum";
    case H5T_ARRAY: return "an array type";
    default: return "an unsupported type class";
  }
}

// The root group's first names, to say what a file holds when a dataset is missing.
inline std::string h5_root_names(hid_t file) {
  std::vector<std::string> names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        auto& list = *static_cast<std::vector<std::string>*>(out);
        list.emplace_back(name);
        return list.size() < 20 ? 0 : 1;  // 1 stops the iteration
      },
      &names);
  H5Eclear2(H5E_DEFAULT);
  std::string text;
  for (const std::string& n : names) text += (text.empty() ? "'" : ", '") + n + "'";
  return text.empty() ? "nothing" : text;
}

// A dataset of an open file: its identifiers and its dimensions. Errors name file and dataset.
struct H5Dataset {
  H5Id file{-1, H5Fclose}, dataset{-1, H5Dclose}, type{-1, H5Tclose};
  std::vector<std::int64_t> dims;
  std::string where;  // "<file>: dataset '<name>'"
};

inline void open_h5_dataset(H5Dataset& d, const std::filesystem::path& path, const std::string& name, const char* op,
                            std::uint64_t max_bytes) {
  const std::string file = path.string();
  std::error_code error;
  TRUSTML_CHECK(!std::filesystem::is_directory(path, error), op, file, ": is a directory");
  TRUSTML_CHECK(std::filesystem::exists(path, error), op, file, ": no such file");
  TRUSTML_CHECK(H5Fis_hdf5(file.c_str()) > 0, op, file, ": not an HDF5 file", h5_error_text());
  d.file = H5Id(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  TRUSTML_CHECK(d.file.ok(), op, file, ": cannot open the HDF5 file", h5_error_text());
  d.where = file + ": dataset '" + name + "'";
  TRUSTML_CHECK(H5Lexists(d.file.get(), name.c_str(), H5P_DEFAULT) > 0, op, file, ": no dataset '", name,
                "' (the file's root holds ", h5_root_names(d.file.get()), ")");
  d.dataset = H5Id(H5Dopen2(d.file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  TRUSTML_CHECK(d.dataset.ok(), op, d.where, " cannot be opened as a dataset", h5_error_text());
  d.type = H5Id(H5Dget_type(d.dataset.get()), H5Tclose);
  H5Id space(H5Dget_space(d.dataset.get()), H5Sclose);
  TRUSTML_CHECK(d.type.ok() && space.ok(), op, d.where, ": cannot read its type and shape", h5_error_text());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  TRUSTML_CHECK(rank >= 0 && H5Sget_simple_extent_type(space.get()) != H5S_NULL, op, d.where,
                " has no dataspace (an empty or null dataset)");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  for (const hsize_t n : dims) {
    TRUSTML_CHECK(n <= static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max()), op, d.where, " has a size ", n,
                  " beyond 2^63");
    d.dims.push_back(static_cast<std::int64_t>(n));
  }
  // The checks of the header comment, before anything is allocated.
  const std::optional<std::int64_t> numel = ::trustml::detail::checked_product(d.dims.begin(), d.dims.end());
  const auto element = static_cast<std::int64_t>(H5Tget_size(d.type.get()));
  std::int64_t bytes = 0;
  TRUSTML_CHECK(numel && element > 0 && !__builtin_mul_overflow(*numel, element, &bytes), op, d.where, " of shape ",
                ShapeText{d.dims}, kTooLarge);
  TRUSTML_CHECK(static_cast<std::uint64_t>(bytes) <= max_bytes, op, d.where, " of shape ", ShapeText{d.dims}, " needs ",
                bytes, " bytes, more than the limit of ", max_bytes);
  H5Id create_plist(H5Dget_create_plist(d.dataset.get()), H5Pclose);
  const H5D_layout_t layout = create_plist.ok() ? H5Pget_layout(create_plist.get()) : H5D_LAYOUT_ERROR;
  TRUSTML_CHECK(layout != H5D_LAYOUT_ERROR, op, d.where, ": cannot read its storage layout", h5_error_text());
  if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) {
    const hsize_t stored = H5Dget_storage_size(d.dataset.get());
    TRUSTML_CHECK(stored == static_cast<hsize_t>(bytes), op, d.where, " of shape ", ShapeText{d.dims}, " and ", element,
                  "-byte elements needs ", bytes, " bytes, but the file stores ", stored,
                  " for it (a damaged header?)");
  }
}

// {r, i} of `member` (a float type), as h5py stores complex numbers.
inline H5Id h5_complex_type(hid_t member, const char* real = "r", const char* imag = "i") {
  H5Id type(H5Tcreate(H5T_COMPOUND, 2 * H5Tget_size(member)), H5Tclose);
  if (type.ok() && (!real || !imag || H5Tinsert(type.get(), real, 0, member) < 0 ||
                    H5Tinsert(type.get(), imag, H5Tget_size(member), member) < 0))
    type.close();  // an invalid id, which callers check
  return type;
}
}  // namespace detail

// Reads dataset "kspace" as [slices, coils, H, W]; single-coil files ([slices, H, W]) get coils = 1.
inline Tensor<std::complex<float>, Cpu> read_fastmri_kspace(const std::filesystem::path& path,
                                                            std::uint64_t max_bytes = kFastmriMaxBytes) {
  constexpr const char* op = "read_fastmri_kspace";
  detail::H5QuietErrors quiet;
  detail::H5Dataset d;
  detail::open_h5_dataset(d, path, "kspace", op, max_bytes);
  std::vector<std::int64_t> dims = d.dims;
  const H5T_class_t type_class = H5Tget_class(d.type.get());
  detail::H5Id memory_type(-1, H5Tclose);
  if (type_class == H5T_COMPOUND) {
    const int members = H5Tget_nmembers(d.type.get());
    bool floats = members == 2;
    for (int m = 0; floats && m < 2; ++m)
      floats = H5Tget_member_class(d.type.get(), static_cast<unsigned>(m)) == H5T_FLOAT;
    TRUSTML_CHECK(floats, op, d.where, " is a compound of ", members,
                  " members, expected two floats (r, i) as h5py writes complex numbers");
    // HDF5 1.10 takes the members' offsets from the file unchecked: one past the compound's size (a
    // damaged header) made H5Dread read freed memory (tests/fuzz/fuzz_fastmri_h5 found it).
    const std::size_t compound_size = H5Tget_size(d.type.get());
    for (unsigned m = 0; m < 2; ++m) {
      const std::size_t offset = H5Tget_member_offset(d.type.get(), m);
      const detail::H5Id member(H5Tget_member_type(d.type.get(), m), H5Tclose);
      const std::size_t member_size = member.ok() ? H5Tget_size(member.get()) : 0;
      TRUSTML_CHECK(member_size > 0 && offset <= compound_size && member_size <= compound_size - offset, op, d.where,
                    ": compound member ", m, " (", member_size, " bytes at offset ", offset, ") lies outside the ",
                    compound_size, "-byte element (a damaged header?)");
    }
    // HDF5 converts compounds member by member by name, so the memory type takes the file's names.
    char* real = H5Tget_member_name(d.type.get(), 0);
    char* imag = H5Tget_member_name(d.type.get(), 1);
    memory_type = detail::h5_complex_type(H5T_NATIVE_FLOAT, real, imag);
    H5free_memory(real);
    H5free_memory(imag);
  } else {
    TRUSTML_CHECK(type_class == H5T_FLOAT && !dims.empty() && dims.back() == 2, op, d.where, " holds ",
                  detail::h5_class_name(type_class), " of shape ", ShapeText{dims},
                  ", expected complex numbers: a compound {r, i} of floats, or floats with a last dimension of 2");
    memory_type = detail::H5Id(H5Tcopy(H5T_NATIVE_FLOAT), H5Tclose);
    dims.pop_back();  // (re, im) pairs are complex<float>'s layout
  }
  TRUSTML_CHECK(dims.size() == 3 || dims.size() == 4, op, d.where, " has ", dims.size(), " complex dimensions ",
                ShapeText{dims}, ", expected 4 [slices, coils, H, W] (or 3 [slices, H, W] for single-coil data)");
  if (dims.size() == 3) dims.insert(dims.begin() + 1, 1);
  TRUSTML_CHECK(memory_type.ok(), op, d.where, ": cannot build the memory type", detail::h5_error_text());
  auto kspace = Tensor<std::complex<float>, Cpu>::empty(Shape::from(dims.begin(), dims.end()));
  if (kspace.numel() > 0)
    TRUSTML_CHECK(H5Dread(d.dataset.get(), memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, kspace.data()) >= 0, op,
                  d.where, ": reading failed", detail::h5_error_text());
  return kspace;
}

// Reads a real dataset (floats or integers, rank <= 8) as float32, e.g. "reconstruction_rss"
// [slices, 320, 320] or a test file's "mask".
inline Tensor<float, Cpu> read_fastmri_dataset_real(const std::filesystem::path& path, const std::string& name,
                                                    std::uint64_t max_bytes = kFastmriMaxBytes) {
  constexpr const char* op = "read_fastmri_dataset_real";
  detail::H5QuietErrors quiet;
  detail::H5Dataset d;
  detail::open_h5_dataset(d, path, name, op, max_bytes);
  const H5T_class_t type_class = H5Tget_class(d.type.get());
  TRUSTML_CHECK(type_class == H5T_FLOAT || type_class == H5T_INTEGER, op, d.where, " holds ",
                detail::h5_class_name(type_class), ", expected real numbers (floats or integers)");
  TRUSTML_CHECK(d.dims.size() <= static_cast<std::size_t>(kMaxRank), op, d.where, " has rank ", d.dims.size(),
                " (shape ", ShapeText{d.dims}, "), more than trustml's ", kMaxRank);
  auto values = Tensor<float, Cpu>::empty(Shape::from(d.dims.begin(), d.dims.end()));
  if (values.numel() > 0)
    TRUSTML_CHECK(H5Dread(d.dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0, op,
                  d.where, ": reading failed", detail::h5_error_text());
  return values;
}

// What a fastMRI file says about its scan beyond the arrays: the "acquisition" attribute and the
// voxel size that gives the ISMRMRD header its fields of view.
struct FastmriScanInfo {
  std::string acquisition = "CORPD_FBK";  // fastMRI's protocol names: CORPD_FBK, CORPDFS_FBK, AXT2, ...
  double voxel_mm = 0.5;                  // in-plane pixel size (fastMRI knee: about 0.5 mm)
  double slice_mm = 3.0;                  // slice thickness (fastMRI knee: 3 mm)
};

namespace detail {
// A minimal ISMRMRD header (http://www.ismrm.org/ISMRMRD; the elements its schema requires) for
// k-space [.., H, W] and a reconstruction of h x w: fastMRI's SliceDataset reads the encoded and
// recon matrix sizes and kspace_encoding_step_1's center and maximum from it, and pads with them.
inline std::string ismrmrd_header(std::int64_t H, std::int64_t W, std::int64_t h, std::int64_t w,
                                  const FastmriScanInfo& scan) {
  auto space = [&](const char* name, std::int64_t x, std::int64_t y) {
    return std::string("    <") + name + "><matrixSize><x>" + std::to_string(x) + "</x><y>" + std::to_string(y) +
           "</y><z>1</z></matrixSize><fieldOfView_mm><x>" + std::to_string(scan.voxel_mm * double(x)) + "</x><y>" +
           std::to_string(scan.voxel_mm * double(y)) + "</y><z>" + std::to_string(scan.slice_mm) +
           "</z></fieldOfView_mm></" + name + ">\n";
  };
  // The phase-encoding lines are the k-space columns, all acquired: 0 .. W - 1, centred at W / 2.
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">\n"
         "  <experimentalConditions><H1resonanceFrequency_Hz>127728000</H1resonanceFrequency_Hz>"
         "</experimentalConditions>\n"
         "  <encoding>\n" +
         space("encodedSpace", H, W) + space("reconSpace", h, w) +
         "    <encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>" + std::to_string(W - 1) +
         "</maximum><center>" + std::to_string(W / 2) +
         "</center></kspace_encoding_step_1></encodingLimits>\n"
         "    <trajectory>cartesian</trajectory>\n"
         "  </encoding>\n"
         "</ismrmrdHeader>\n";
}
}  // namespace detail

// Writes `kspace` [slices, coils, H, W] as dataset "kspace" (complex64 as h5py writes it), and what
// fastMRI's SliceDataset reads beside it: dataset "ismrmrd_header" (detail::ismrmrd_header) and the
// attribute "acquisition". When `rss` is defined it also writes [slices, h, w] as
// "reconstruction_rss" (float32) with the attributes "max" and "norm" (its largest value and its
// l2 norm, which fastMRI's transforms and metrics use); the recon matrix is then h x w, else H x W.
// Atomic like write_file_atomically: HDF5 writes a temporary file in the same directory, which is
// synced and renamed over `path` only when complete, and removed on any error.
template <class D>
void write_fastmri_kspace(const std::filesystem::path& path, const Tensor<std::complex<float>, D>& kspace,
                          const Tensor<float, D>& rss = Tensor<float, D>(), const FastmriScanInfo& scan = {}) {
  constexpr const char* op = "write_fastmri_kspace";
  const std::string file = path.string();
  TRUSTML_CHECK(kspace.dim() == 4, op, file, ": dataset 'kspace' must have rank 4 [slices, coils, H, W], got shape ",
                kspace.shape());
  TRUSTML_CHECK(!rss.defined() || (rss.dim() == 3 && rss.size(0) == kspace.size(0)), op, file,
                ": dataset 'reconstruction_rss' must have shape [slices, h, w] with the k-space's ", kspace.size(0),
                " slices, got ", rss.shape());
  TRUSTML_CHECK(path.has_filename(), op, file, ": the path has no file name");
  detail::H5QuietErrors quiet;

  // Named and cleaned up as write_file_atomically's temporary files.
  detail::remove_stale_temporaries(path);
  const std::filesystem::path temporary = detail::temporary_path(path);
  // Declared before the file so that it runs after the file is closed; armed only once the file is
  // ours (H5F_ACC_EXCL fails on an existing name, which must not be removed).
  struct RemoveOnError {
    const std::filesystem::path& path;
    bool armed = false;
    ~RemoveOnError() {
      if (armed) ::unlink(path.c_str());
    }
  } guard{temporary};
  detail::H5Id h5(H5Fcreate(temporary.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  TRUSTML_CHECK(h5.ok(), op, file, ": cannot create the temporary file ", temporary.string(), detail::h5_error_text());
  guard.armed = true;

  auto write = [&](const char* name, hid_t file_type, hid_t memory_type, const Shape& shape, const void* data) {
    std::vector<hsize_t> dims(shape.dims.begin(), shape.dims.begin() + shape.rank);
    detail::H5Id space(H5Screate_simple(shape.rank, dims.data(), nullptr), H5Sclose);
    detail::H5Id dataset(
        space.ok() ? H5Dcreate2(h5.get(), name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1,
        H5Dclose);
    TRUSTML_CHECK(dataset.ok() && (shape.numel() == 0 ||
                                   H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0),
                  op, file, ": writing dataset '", name, "' failed", detail::h5_error_text());
  };
  {
    // to_vector: a host copy in row-major order whatever the strides or device.
    const std::vector<std::complex<float>> values = kspace.to_vector();
    detail::H5Id file_type = detail::h5_complex_type(H5T_IEEE_F32LE),
                 memory_type = detail::h5_complex_type(H5T_NATIVE_FLOAT);
    write("kspace", file_type.get(), memory_type.get(), kspace.shape(), values.data());
  }
  // A scalar attribute of the file; strings are variable-length UTF-8, as h5py writes a str.
  auto attribute = [&](const char* name, hid_t type, const void* value) {
    detail::H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
    detail::H5Id attr(space.ok() ? H5Acreate2(h5.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT) : -1,
                      H5Aclose);
    TRUSTML_CHECK(attr.ok() && H5Awrite(attr.get(), type, value) >= 0, op, file, ": writing attribute '", name,
                  "' failed", detail::h5_error_text());
  };
  detail::H5Id text(H5Tcopy(H5T_C_S1), H5Tclose);
  TRUSTML_CHECK(text.ok() && H5Tset_size(text.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(text.get(), H5T_CSET_UTF8) >= 0,
                op, file, ": cannot make the HDF5 string type", detail::h5_error_text());
  const char* acquisition = scan.acquisition.c_str();
  attribute("acquisition", text.get(), &acquisition);
  const std::int64_t H = kspace.size(2), W = kspace.size(3);
  if (rss.defined()) {
    const std::vector<float> values = rss.to_vector();
    write("reconstruction_rss", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rss.shape(), values.data());
    double max = values.empty() ? 0.0 : double(values[0]), squares = 0;
    for (const float v : values) {
      max = std::max(max, double(v));
      squares += double(v) * double(v);
    }
    const double norm = std::sqrt(squares);
    attribute("max", H5T_NATIVE_DOUBLE, &max);
    attribute("norm", H5T_NATIVE_DOUBLE, &norm);
  }
  {
    const std::string header =
        detail::ismrmrd_header(H, W, rss.defined() ? rss.size(1) : H, rss.defined() ? rss.size(2) : W, scan);
    const char* data = header.c_str();
    detail::H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
    detail::H5Id dataset(space.ok() ? H5Dcreate2(h5.get(), "ismrmrd_header", text.get(), space.get(), H5P_DEFAULT,
                                                 H5P_DEFAULT, H5P_DEFAULT)
                                    : -1,
                         H5Dclose);
    TRUSTML_CHECK(dataset.ok() && H5Dwrite(dataset.get(), text.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &data) >= 0, op,
                  file, ": writing dataset 'ismrmrd_header' failed", detail::h5_error_text());
  }
  TRUSTML_CHECK(h5.close() >= 0, op, file, ": closing the temporary file failed", detail::h5_error_text());

  // H5Fclose leaves the data in the page cache; fsync before the rename, as write_file_atomically.
  const int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
  const int synced = fd >= 0 ? ::fsync(fd) : -1;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  TRUSTML_CHECK(synced == 0, op, file, ": fsync of the temporary file failed: ", detail::errno_text(error));
  TRUSTML_CHECK(::rename(temporary.c_str(), path.c_str()) == 0, op, file,
                ": cannot rename the temporary file over it: ", detail::errno_text(errno));
  guard.armed = false;
  // As in write_file_atomically: the rename is durable once the directory is synced; the file is
  // already in place, so a directory that refuses fsync is not an error.
  const int dir_fd = ::open(temporary.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace trustml::io
