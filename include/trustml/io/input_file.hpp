// trustml/io/input_file.hpp: opening a file for one of trustml's validating readers (safetensors,
// NPY): its stream and its size, so that every later read can be checked against the size first.
// Errors start with the reader's name and the path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "trustml/core/config.hpp"

namespace trustml::io {

struct InputFile {
  std::ifstream stream;  // positioned at the start
  std::uint64_t size;    // in bytes
  std::string name;      // the path, as errors show it
  const char* op;        // the reader, as errors show it

  // Reads exactly `count` bytes at `offset`; a short read (the file shrank meanwhile) is an error.
  void read_at(std::uint64_t offset, void* out, std::uint64_t count, std::string_view what) {
    stream.seekg(static_cast<std::streamoff>(offset));
    stream.read(static_cast<char*>(out), static_cast<std::streamsize>(count));
    TRUSTML_CHECK(stream && static_cast<std::uint64_t>(stream.gcount()) == count, op, name, ": cannot read ", what,
                  " (", count, " bytes at file offset ", offset, ")");
  }
};

inline InputFile open_input_file(const std::filesystem::path& path, const char* op) {
  InputFile file{std::ifstream(), 0, path.string(), op};
  std::error_code not_a_directory;
  TRUSTML_CHECK(!std::filesystem::is_directory(path, not_a_directory), op, file.name, ": is a directory");
  file.stream.open(path, std::ios::binary);
  TRUSTML_CHECK(file.stream.is_open(), op, file.name, ": cannot open for reading");
  file.stream.seekg(0, std::ios::end);
  const std::streamoff end_position = file.stream.tellg();
  TRUSTML_CHECK(end_position >= 0, op, file.name, ": cannot determine the file size");
  file.size = static_cast<std::uint64_t>(end_position);
  file.stream.seekg(0);
  return file;
}

}  // namespace trustml::io
