// trustml/device/cpu.hpp: the Cpu device policy.
//
// A device policy is a small struct (Eigen's DefaultDevice is the model): it allocates, frees and
// copies memory and names itself. Kernels are free functions in trustml::kernels overloaded on the
// device tag (kernels/api.hpp), so a kernel missing for a device is a compile-time error.
//
//   concept Device {
//     static constexpr const char* name;
//     template <class T> using value_t;          // the element type kernels see (complex differs on CUDA)
//     template <class T> static T* allocate(std::size_t n);
//     template <class T> static void deallocate(T* p, std::size_t n) noexcept;
//     template <class T> static void copy_to_host(T* host, const T* dev, std::size_t n);
//     template <class T> static void copy_from_host(T* dev, const T* host, std::size_t n);
//     static void synchronize();
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <new>

namespace trustml {

struct Cpu {
  static constexpr const char* name = "cpu";
  template <class T>
  using value_t = T;

  // 64-byte alignment: a cache line, and what AVX-512 loads like.
  static constexpr std::size_t alignment = 64;

  template <class T>
  static T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignment}));
  }
  template <class T>
  static void deallocate(T* p, std::size_t) noexcept {
    if (p) ::operator delete(p, std::align_val_t{alignment});
  }
  template <class T>
  static void copy_to_host(T* host, const T* dev, std::size_t n) {
    if (n) std::memcpy(host, dev, n * sizeof(T));
  }
  template <class T>
  static void copy_from_host(T* dev, const T* host, std::size_t n) {
    if (n) std::memcpy(dev, host, n * sizeof(T));
  }
  static void synchronize() {}
};

template <class D>
concept Device = requires {
  { D::name } -> std::convertible_to<const char*>;
  D::synchronize();
};

}  // namespace trustml
