// trustml/device/device.hpp: the Device concept, what a device policy (Cpu, Cuda) provides.
//
// A device policy is a small struct of static members (Eigen's DefaultDevice is the model): it
// allocates, frees and copies memory and names itself. It holds no kernels: those are
// Kernels<Device> in kernels/, so a device without compiled kernels is a compile-time error with
// trustml's message (kernels/api.hpp), and a type that is no device at all fails this concept
// wherever a Tensor<T, D> is named.
//
//   struct MyDevice {
//     static constexpr const char* name;          // "cpu", "cuda": used in messages
//     static constexpr bool host_memory;          // whether the host may dereference its pointers
//     template <class T> using value_t = ...;     // the element type kernels see (complex differs on CUDA)
//     template <class T> static T* allocate(std::size_t n);
//     template <class T> static void deallocate(T* p, std::size_t n) noexcept;
//     template <class T> static void copy_to_host(T* host, const T* dev, std::size_t n);
//     template <class T> static void copy_from_host(T* dev, const T* host, std::size_t n);
//     static void synchronize();
//   };
#pragma once

#include <concepts>
#include <cstddef>

namespace trustml {

template <class D>
concept Device = requires(float* p, const float* q, std::size_t n) {
  { D::name } -> std::convertible_to<const char*>;
  { D::host_memory } -> std::convertible_to<bool>;
  typename D::template value_t<float>;
  { D::template allocate<float>(n) } -> std::same_as<float*>;
  D::template deallocate<float>(p, n);
  D::template copy_to_host<float>(p, q, n);
  D::template copy_from_host<float>(p, q, n);
  D::synchronize();
};

}  // namespace trustml
