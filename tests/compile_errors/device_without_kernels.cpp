// A device whose kernels are not compiled in fails with trustml's message, not a silent fallback.
#include <algorithm>
#include <trustml/trustml.hpp>

// A complete device policy (it models trustml::Device), but no Kernels<Unplugged> exists.
struct Unplugged {
  static constexpr const char* name = "unplugged";
  static constexpr bool host_memory = true;
  template <class T>
  using value_t = T;
  template <class T>
  static T* allocate(std::size_t n) {
    return new T[n];
  }
  template <class T>
  static void deallocate(T* p, std::size_t) noexcept {
    delete[] p;
  }
  template <class T>
  static void copy_to_host(T* host, const T* dev, std::size_t n) {
    std::copy(dev, dev + n, host);
  }
  template <class T>
  static void copy_from_host(T* dev, const T* host, std::size_t n) {
    std::copy(host, host + n, dev);
  }
  static void synchronize() {}
};

int main() { return static_cast<int>(trustml::Tensor<float, Unplugged>::zeros({2}).numel()); }
