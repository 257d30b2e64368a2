// Helpers of the io tests: arrays from typed values, and the error that loading a file throws.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <complex>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <trustml/io/array.hpp>
#include <utility>
#include <vector>

#include "support/temp_dir.hpp"

namespace tests {

// Distinct complex values (no two equal), so that any transposition of a layout shows.
inline std::vector<std::complex<float>> distinct_values(std::int64_t n) {
  std::vector<std::complex<float>> v;
  for (std::int64_t i = 0; i < n; ++i) v.emplace_back(0.5f * static_cast<float>(i) + 1, -static_cast<float>(i) * 0.25f);
  return v;
}

// The id of a process that no longer exists: a child that exits at once, reaped (the stale
// temporary files of a killed save carry such an id).
inline pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return pid;
}

template <class T>
trustml::io::Array make_array(std::string name, trustml::io::DType dtype, std::vector<std::int64_t> shape,
                              const std::vector<T>& values) {
  trustml::io::Array a{std::move(name), dtype, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

// The message of the trustml::Error that load(path) throws; "" when it loads. Any other exception
// fails the test: a corrupt file must never surface as anything but trustml::Error.
template <class Load>
std::string load_error(Load load, const std::filesystem::path& path) {
  try {
    load(path);
  } catch (const trustml::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("the loader threw a non-trustml exception: " << e.what());
  }
  return "";
}

// Loading `path` fails with an error of `op` that names the path and contains `fragment`.
template <class Load>
void check_load_error(const char* op, Load load, const std::filesystem::path& path, const std::string& fragment) {
  const std::string message = load_error(load, path);
  INFO(message);
  CHECK(message.rfind(std::string("trustml::") + op + ": " + path.string() + ": ", 0) == 0);
  CHECK(message.find(fragment) != std::string::npos);
}

// Every single-byte corruption of `bytes` (four bit masks at each offset), written to `path`,
// either loads or fails with an error of `op` naming the path: never a crash or another exception.
template <class Load>
void check_every_corruption(const char* op, Load load, const std::string& bytes, const std::filesystem::path& path) {
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (unsigned char mask : {0x01, 0x20, 0x80, 0xff}) {
      CAPTURE(at);
      CAPTURE(int(mask));
      std::string copy = bytes;
      copy[at] = static_cast<char>(copy[at] ^ mask);
      write_bytes(path, copy);
      const std::string message = load_error(load, path);
      if (!message.empty()) CHECK(message.rfind(std::string("trustml::") + op + ": " + path.string(), 0) == 0);
    }
  }
}

}  // namespace tests
