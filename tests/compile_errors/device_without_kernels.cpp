// A device whose kernels are not compiled in fails with trustml's message, not a silent fallback.
#include <trustml/trustml.hpp>

struct Unplugged {
  static constexpr const char* name = "unplugged";
  template <class T>
  using value_t = T;
  template <class T>
  static T* allocate(std::size_t n) { return new T[n]; }
  template <class T>
  static void deallocate(T* p, std::size_t) noexcept { delete[] p; }
  static void synchronize() {}
};

int main() { return static_cast<int>(trustml::Tensor<float, Unplugged>::zeros({2}).numel()); }
