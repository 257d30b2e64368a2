// tests/fuzz/fuzz_common.hpp: what every libFuzzer harness of trustml's readers shares.
//
// The readers take paths, so a harness writes the fuzzer's bytes to files in a directory of its
// own process (/dev/shm/trustml-fuzz-<pid>/, see scratch_dir) and calls the reader on them.
// Inputs of several files (a .cfl/.hdr pair, a model directory) are split into parts by
// `split_parts`: each part but the last is a 4-byte little-endian length and that many bytes (a
// length beyond the input takes what is left), the last part is the rest. make_seeds.cpp joins the seed files the
// same way, so libFuzzer mutates every file of a valid seed.
//
// The contract under test: a reader either succeeds or throws trustml::Error. `guard` returns
// quietly on trustml::Error; any other exception escapes to libFuzzer (an uncaught exception is
// a crash, so a finding), as do crashes, sanitizer reports, timeouts and huge allocations.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "trustml/core/config.hpp"

namespace trustml_fuzz {

// This process's scratch directory: $TRUSTML_FUZZ_TMPDIR, else /dev/shm (tmpfs: on ext4, rewriting
// a truncated file in /tmp flushes it to disk at close, which made the harnesses ten times slower),
// else /tmp. Created on first use and removed at exit; libFuzzer ends many processes without
// running atexit handlers (crashes, timeouts, -runs), so directories of processes that are gone
// are removed here too.
inline const std::filesystem::path& scratch_dir() {
  // Never destroyed: the atexit handler below runs after the statics constructed before it are
  // destroyed, and read a freed path when this was a plain static (fork mode's jobs, which end
  // through exit(), reported that as a heap-use-after-free with an empty input).
  static const std::filesystem::path& dir = *new std::filesystem::path([] {
    std::error_code ignored;
    const char* env = std::getenv("TRUSTML_FUZZ_TMPDIR");
    std::filesystem::path base = "/tmp";
    if (env && *env) base = env;
    else if (std::filesystem::is_directory("/dev/shm", ignored)) base = "/dev/shm";
    const std::string prefix = "trustml-fuzz-";
    for (const auto& entry : std::filesystem::directory_iterator(base, ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0 && !std::filesystem::exists("/proc/" + name.substr(prefix.size()), ignored))
        std::filesystem::remove_all(entry.path(), ignored);
    }
    std::filesystem::path d = base / (prefix + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }());
  return dir;
}

// Writes `bytes` to scratch_dir()/name and returns the path.
inline std::filesystem::path write_file(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the harness's own failure, never the reader's
  return path;
}

inline void remove_file(const std::string& name) {
  std::error_code ignored;
  std::filesystem::remove(scratch_dir() / name, ignored);
}

// Splits the input into `count` parts (see the top of this file).
inline std::vector<std::string_view> split_parts(const std::uint8_t* data, std::size_t size, std::size_t count) {
  std::vector<std::string_view> parts;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (std::size_t i = 0; i + 1 < count; ++i) {
    std::uint32_t length = 0;
    for (std::size_t b = 0; b < 4 && b < rest.size(); ++b)
      length |= static_cast<std::uint32_t>(static_cast<unsigned char>(rest[b])) << (8 * b);
    rest.remove_prefix(std::min<std::size_t>(4, rest.size()));
    const std::size_t take = std::min<std::size_t>(length, rest.size());
    parts.push_back(rest.substr(0, take));
    rest.remove_prefix(take);
  }
  parts.push_back(rest);
  return parts;
}

// The inverse of split_parts, for make_seeds.
inline std::string join_parts(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 < parts.size()) {
      const auto length = static_cast<std::uint32_t>(parts[i].size());
      for (int b = 0; b < 4; ++b) out += static_cast<char>((length >> (8 * b)) & 0xff);
    }
    out += parts[i];
  }
  return out;
}

// Runs `f`; a trustml::Error is the reader's documented refusal and ends the input quietly.
// With TRUSTML_FUZZ_VERBOSE set, the error is printed (to see why a seed or input is refused).
template <class F>
void guard(F&& f) {
  try {
    f();
  } catch (const trustml::Error& e) {
    static const bool verbose = std::getenv("TRUSTML_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "trustml::Error: %s\n", e.what());
  }
}

}  // namespace trustml_fuzz
