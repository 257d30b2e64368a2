// trustml/io/atomic_file.hpp: write_file_atomically, so that a save never leaves a half-written file.
//
// The contents go to a new temporary file in the target's directory (same file system, so the
// final rename is atomic), which is flushed to disk (fsync) and then renamed over the target.
// Readers therefore see the old file or the complete new one, never a mix, even if the process is
// killed or the disk fills up midway. On any error the temporary file is removed, the target is
// left as it was, and a trustml::Error names the target path. A save also removes the temporary
// files that earlier saves of the same target left when their process was killed.
//
// POSIX only (open, write, fsync, rename), like the rest of trustml's host code.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "trustml/core/config.hpp"

namespace trustml::io {

namespace detail {
inline std::string errno_text(int error) { return std::generic_category().message(error); }
class TemporaryFile;

// Where the temporary files of `target` go: its own directory, so that the final rename stays on
// one file system and is atomic.
inline std::filesystem::path directory_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : ".";
}

// ".<name>.tmp-": how every temporary file name of `target` starts; the saving process's id follows.
inline std::string temporary_prefix(const std::filesystem::path& target) {
  std::string prefix = ".";  // appended step by step: GCC 12 warns (-Wrestrict) on "." + std::string
  prefix += target.filename().string();
  return prefix += ".tmp-";
}

// A new temporary file name for `target`. Several threads or processes may save the same target at
// once: the pid, a process-wide counter and a random number make the name unique.
inline std::filesystem::path temporary_path(const std::filesystem::path& target) {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device entropy;
  return directory_of(target) / (temporary_prefix(target) + std::to_string(::getpid()) + "-" +
                                 std::to_string(counter++) + "-" + std::to_string(entropy()));
}

// Removes the temporary files of `target` whose saving process no longer exists (kill(pid, 0)
// fails with ESRCH): what saves killed midway left. A live process's file, whoever owns it, may be a
// save in progress and stays. Best effort: a directory that cannot be listed is left alone.
inline void remove_stale_temporaries(const std::filesystem::path& target) {
  const std::string prefix = temporary_prefix(target);
  std::error_code error;
  for (std::filesystem::directory_iterator it(directory_of(target), error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* digits = name.c_str() + prefix.size();
    pid_t pid = 0;
    const auto [rest, parsed] = std::from_chars(digits, name.c_str() + name.size(), pid);
    if (parsed != std::errc() || pid <= 0 || *rest != '-') continue;  // not a name temporary_path makes
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
  }
}
}  // namespace detail

// What write_file_atomically's callback writes through. Unbuffered: each call is written to the
// file at once (callers write a header and then whole tensors, so buffering would only copy).
class FileSink {
 public:
  void write(std::span<const std::byte> bytes) {
    const std::byte* data = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, data, left);
      if (n < 0 && errno == EINTR) continue;
      TRUSTML_CHECK(n > 0, op_, target_, ": writing failed after ", written_,
                    " bytes: ", detail::errno_text(n < 0 ? errno : EIO));
      data += n;
      left -= static_cast<std::size_t>(n);
      written_ += static_cast<std::uint64_t>(n);
    }
  }
  void write(const void* data, std::size_t size) { write({static_cast<const std::byte*>(data), size}); }

 private:
  friend class detail::TemporaryFile;
  FileSink(int fd, std::string target, const char* op) : fd_(fd), target_(std::move(target)), op_(op) {}

  int fd_;
  std::string target_;
  const char* op_;
  std::uint64_t written_ = 0;
};

namespace detail {
// A uniquely named file next to the target, removed on destruction unless commit() renamed it.
class TemporaryFile {
 public:
  TemporaryFile(const std::filesystem::path& target, const char* op) : target_(target), op_(op) {
    TRUSTML_CHECK(target.has_filename(), op, target.string(), ": the path has no file name");
    remove_stale_temporaries(target);
    // O_EXCL makes a collision of names an error, not a share.
    for (int attempt = 0; fd_ < 0; ++attempt) {
      path_ = temporary_path(target);
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      const int error = errno;
      TRUSTML_CHECK(fd_ >= 0 || (error == EEXIST && attempt < 100), op, target.string(),
                    ": cannot create a temporary file in ", directory_of(target).string(), ": ",
                    detail::errno_text(error));
    }
  }
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  FileSink sink() const { return FileSink(fd_, target_.string(), op_); }

  // Makes the contents durable and puts them in place of the target.
  void commit() {
    TRUSTML_CHECK(::fsync(fd_) == 0, op_, target_.string(), ": fsync failed: ", detail::errno_text(errno));
    const int fd = std::exchange(fd_, -1);
    // close() can report a deferred write error (network file systems); the file is then suspect.
    TRUSTML_CHECK(::close(fd) == 0, op_, target_.string(), ": close failed: ", detail::errno_text(errno));
    TRUSTML_CHECK(::rename(path_.c_str(), target_.c_str()) == 0, op_, target_.string(),
                  ": cannot rename the temporary file over it: ", detail::errno_text(errno));
    committed_ = true;
    // The rename itself is durable only once the directory is synced. The new file is already in
    // place, so a failure here (some file systems refuse fsync on directories) is not reported.
    const int dir_fd = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }

 private:
  std::filesystem::path target_;
  std::filesystem::path path_;
  const char* op_;
  int fd_ = -1;
  bool committed_ = false;
};
}  // namespace detail

// Writes `target` atomically with what `write_contents` writes to the sink. If the callback
// throws, its exception propagates and the target is untouched. Errors of the file system are
// trustml::Errors from `op` (the caller's operation, e.g. "save_safetensors") naming `target`.
inline void write_file_atomically(const std::filesystem::path& target,
                                  const std::function<void(FileSink&)>& write_contents,
                                  const char* op = "write_file_atomically") {
  detail::TemporaryFile temporary(target, op);
  FileSink sink = temporary.sink();
  write_contents(sink);
  temporary.commit();
}

inline void write_file_atomically(const std::filesystem::path& target, std::span<const std::byte> bytes,
                                  const char* op = "write_file_atomically") {
  write_file_atomically(
      target, [&](FileSink& sink) { sink.write(bytes); }, op);
}

}  // namespace trustml::io
