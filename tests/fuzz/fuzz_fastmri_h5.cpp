// libFuzzer harness: io::read_fastmri_kspace and io::read_fastmri_dataset_real on arbitrary bytes
// as an HDF5 file. The readers' size bound is lowered to 64 MiB (the default, 16 GiB, is for real
// volumes: a chunked dataset left to its fill value may legitimately be that large).
//
// HDF5's own library is not instrumented: a crash inside libhdf5 is reported like any other, and
// its stack says whether it is trustml's or HDF5's. HDF5 allocates what a damaged object header
// claims (H5Fopen -> H5C_protect mallocs the header's stated length before reading it): in a
// normal process an impossible size makes malloc return null and HDF5 fail cleanly, a merely
// large one is never touched beyond the file's real bytes. So this harness lets malloc return null
// (allocator_may_return_null) and raises libFuzzer's per-malloc limit to 1 TiB; memory really used
// is still bounded by -rss_limit_mb, and trustml's own allocations by the readers' checks.
#include <cstring>
#include <string>

#include "fuzz_common.hpp"
#include "trustml/io/fastmri_h5.hpp"

extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i)
    if (std::strncmp((*argv)[i], "-malloc_limit_mb=", 17) == 0) return 0;  // the caller's choice
  static std::vector<char*> args(*argv, *argv + *argc);
  static std::string limit = "-malloc_limit_mb=1048576";
  args.insert(args.begin() + 1, limit.data());
  args.push_back(nullptr);
  *argc += 1;
  *argv = args.data();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kMaxBytes = std::uint64_t{64} << 20;
  const auto path = trustml_fuzz::write_file("input.h5", {reinterpret_cast<const char*>(data), size});
  trustml_fuzz::guard([&] { (void)trustml::io::read_fastmri_kspace(path, kMaxBytes); });
  trustml_fuzz::guard([&] { (void)trustml::io::read_fastmri_dataset_real(path, "reconstruction_rss", kMaxBytes); });
  return 0;
}
