// trustml/tensor/tensor.hpp: Tensor<T, Device>, a cheap handle to a strided view of shared storage.
//
// A Tensor is a shared pointer to a TensorImpl: storage (refcounted, with a version counter that
// in-place writes bump), shape, strides, offset, and the autograd slot (the node that produced it,
// or for a leaf the node that accumulates its gradient). Element type and device are template
// parameters, so there is no runtime dtype dispatch on the hot path; conversions are explicit
// (to<Device>(), cast<T>()). Views (reshape, permute, slice, expand, ...) share storage.
//
// Ops are free functions (ops/*.hpp); the members below that are ops forward to them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/random.hpp"
#include "trustml/core/scalar.hpp"
#include "trustml/core/shape.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/kernels/cpu/loops.hpp"

namespace trustml {

// The tape lives above the tensor (autograd/node.hpp): a tensor only holds a pointer to its node,
// and the members that look inside one are instantiated where the tape is known.
namespace autograd {
class Node;
}

template <class T, class D>
struct Storage {
  T* data;
  std::size_t size;
  std::uint64_t version = 0;  // bumped by in-place writes; checked when saved tensors are used

  // Small host tensors (scalars, the zeroth-order and per-op-overhead regime) live inside the
  // Storage object: one allocation per tensor instead of two.
  static constexpr std::size_t kInlineBytes = 64;
  static constexpr bool kHost = D::host_memory;

  explicit Storage(std::size_t n)
      : data(kHost && n * sizeof(T) <= kInlineBytes ? reinterpret_cast<T*>(inline_) : D::template allocate<T>(n)),
        size(n) {}
  ~Storage() {
    if (data != reinterpret_cast<T*>(inline_)) D::template deallocate<T>(data, size);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  // 16 bytes (what any element type needs) keeps Storage an ordinarily aligned type: over-aligned
  // types go through glibc's slow aligned allocation, which doubled the per-op overhead.
  alignas(16) unsigned char inline_[kHost ? kInlineBytes : 1];
};

template <class T, class D>
struct TensorImpl {
  std::shared_ptr<Storage<T, D>> storage;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;
  // Autograd slot: grad_fn of a non-leaf, or the accumulator of a leaf (created on first use).
  std::shared_ptr<autograd::Node> node;
  bool requires_grad = false;  // set on leaves by the user; non-leaves require grad iff node is set
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;
};

template <Scalar T, Device D>
class Tensor;

// Ops that Tensor members forward to (defined in ops/*.hpp).
template <Scalar T, class D>
Tensor<T, D> reshape(const Tensor<T, D>&, const Shape&);
template <Scalar T, class D>
Tensor<T, D> permute(const Tensor<T, D>&, const std::vector<int>&);
template <Scalar T, class D>
Tensor<T, D> transpose(const Tensor<T, D>&, int, int);
template <Scalar T, class D>
Tensor<T, D> slice(const Tensor<T, D>&, int, std::int64_t, std::int64_t, std::int64_t step = 1);
template <Scalar T, class D>
Tensor<T, D> expand(const Tensor<T, D>&, const Shape&);
template <Scalar T, class D>
Tensor<T, D> squeeze(const Tensor<T, D>&, int);
template <Scalar T, class D>
Tensor<T, D> unsqueeze(const Tensor<T, D>&, int);
template <Scalar T, class D>
Tensor<T, D> contiguous(const Tensor<T, D>&);
template <class D2, Scalar T, class D>
Tensor<T, D2> to(const Tensor<T, D>&);
template <Scalar T2, Scalar T, class D>
Tensor<T2, D> cast(const Tensor<T, D>&);

template <Scalar T, Device D = Cpu>
class Tensor {
 public:
  using value_type = T;
  using device_type = D;
  using Impl = TensorImpl<T, D>;
  using Hook = std::function<Tensor(const Tensor&)>;

  Tensor() = default;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape) {
    for (int i = 0; i < shape.rank; ++i) TRUSTML_CHECK(shape.dims[i] >= 0, "empty", "negative size in shape ", shape);
    const std::int64_t n = shape.numel("empty");
    // Byte offsets into the storage are pointer differences, so its size in bytes must be one.
    TRUSTML_CHECK(n <= std::numeric_limits<std::ptrdiff_t>::max() / static_cast<std::int64_t>(sizeof(T)), "empty",
                  "shape ", shape, " of ", dtype_name<T>(), " needs ", n, " elements of ", sizeof(T),
                  " bytes, more bytes than a pointer difference can count");
    auto impl = std::make_shared<Impl>();
    impl->storage = std::make_shared<Storage<T, D>>(static_cast<std::size_t>(n));
    impl->shape = shape;
    impl->strides = contiguous_strides(shape, "empty");
    return Tensor(std::move(impl));
  }
  static Tensor full(const Shape& shape, T value) {
    Tensor t = empty(shape);
    t.fill_(value);
    return t;
  }
  static Tensor zeros(const Shape& shape) { return full(shape, T(0)); }
  static Tensor ones(const Shape& shape) { return full(shape, T(1)); }
  static Tensor scalar(T value) { return full(Shape{}, value); }
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
    const std::int64_t n = shape.numel("from_vector");
    TRUSTML_CHECK(static_cast<std::int64_t>(values.size()) == n, "from_vector", values.size(),
                  " values do not fill shape ", shape, " (", n, " elements)");
    Tensor t = empty(shape);
    D::copy_from_host(t.data(), values.data(), values.size());
    return t;
  }
  static Tensor from_vector(const std::vector<T>& values) {
    return from_vector(values, Shape{static_cast<std::int64_t>(values.size())});
  }
  // 0, 1, ..., n-1.
  static Tensor arange(std::int64_t n) {
    Tensor t = empty(Shape{n});
    auto* out = reinterpret_cast<typename D::template value_t<T>*>(t.data());
    kernels::Kernels<D>::for_each(n, ArangeFn<typename D::template value_t<T>>{out});
    return t;
  }
  // Uniform in (0, 1] (real part only for complex T): element i is Philox draw offset + i of `seed`.
  static Tensor rand(const Shape& shape, std::uint64_t seed, std::uint64_t offset = 0) {
    Tensor t = empty(shape);
    auto* out = reinterpret_cast<typename D::template value_t<T>*>(t.data());
    kernels::Kernels<D>::for_each(shape.numel(), RandomFn<typename D::template value_t<T>, false>{out, seed, offset});
    return t;
  }
  // Standard normal; for complex T, real and imaginary parts are independent N(0, 1/2).
  static Tensor randn(const Shape& shape, std::uint64_t seed, std::uint64_t offset = 0) {
    Tensor t = empty(shape);
    auto* out = reinterpret_cast<typename D::template value_t<T>*>(t.data());
    const std::int64_t n = shape.numel();
    if constexpr (is_complex_v<T>) {
      kernels::Kernels<D>::for_each(n, RandomFn<typename D::template value_t<T>, true>{out, seed, offset});
    } else if (n > 0) {
      // One Box-Muller transform gives two consecutive elements of the stream.
      const std::uint64_t first = offset >> 1, last = (offset + static_cast<std::uint64_t>(n) - 1) >> 1;
      constexpr int group = kernels::Kernels<D>::per_element_threads ? 1 : 64;
      const auto blocks = static_cast<std::int64_t>(last - first + 1);
      kernels::Kernels<D>::for_each((blocks + group - 1) / group,
                                    NormalPairFn<typename D::template value_t<T>, group>{out, seed, offset, n},
                                    32 * group);
    }
    return t;
  }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  const Strides& strides() const { return checked().strides; }
  int dim() const { return shape().rank; }
  std::int64_t size(int d) const { return shape().dims[normalize_dim(d, dim(), "size")]; }
  std::int64_t numel() const { return shape().numel(); }
  std::int64_t offset() const { return checked().offset; }
  bool is_contiguous() const { return trustml::is_contiguous(shape(), strides()); }
  T* data() const { return checked().storage->data + checked().offset; }
  const std::shared_ptr<Storage<T, D>>& storage() const { return checked().storage; }
  Impl* impl() const { return impl_.get(); }
  const std::shared_ptr<Impl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // ---- host access ----
  std::vector<T> to_vector() const {
    Tensor c = contiguous_data();
    std::vector<T> out(static_cast<std::size_t>(c.numel()));
    D::copy_to_host(out.data(), c.data(), out.size());
    return out;
  }
  T item() const {
    TRUSTML_CHECK(numel() == 1, "item", "needs a tensor with one element, got shape ", shape());
    T v;
    D::copy_to_host(&v, data(), 1);
    return v;
  }

  // ---- in-place (not recorded: use under NoGradGuard on tensors that require grad) ----
  Tensor& fill_(T value) {
    using V = typename D::template value_t<T>;
    Tensor target = *this;
    TRUSTML_CHECK(is_contiguous(), "fill_", "needs a contiguous tensor, got strides ", strides());
    kernels::Kernels<D>::map(shape(), reinterpret_cast<V*>(data()), ConstFn<V>{to_value(value)});
    bump_version();
    return *this;
  }
  void bump_version() const { ++checked().storage->version; }

  // ---- autograd ----
  bool requires_grad() const { return impl_ && (impl_->requires_grad || impl_->node); }
  Tensor& set_requires_grad(bool on = true) {
    TRUSTML_CHECK(is_leaf(), "set_requires_grad", "only leaves can be made to require grad (shape ", shape(), ")");
    TRUSTML_CHECK(!on || FloatingScalar<T>, "set_requires_grad", "only floating tensors carry gradients, got ",
                  dtype_name<T>());
    checked().requires_grad = on;
    if (!on) checked().node.reset();
    return *this;
  }
  bool is_leaf() const { return !impl_ || !impl_->node || impl_->node->is_accumulator(); }
  Tensor grad() const { return checked().grad ? Tensor(checked().grad) : Tensor(); }
  void set_grad(const Tensor& g) { checked().grad = g.impl_; }
  void zero_grad() { checked().grad.reset(); }
  const char* grad_fn_name() const { return impl_ && impl_->node && !is_leaf() ? impl_->node->name() : ""; }
  // A tensor sharing this one's data but cut from the tape.
  Tensor detach() const {
    auto impl = std::make_shared<Impl>();
    impl->storage = checked().storage;
    impl->shape = checked().shape;
    impl->strides = checked().strides;
    impl->offset = checked().offset;
    return Tensor(std::move(impl));
  }
  // Defined in autograd/engine.hpp.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  void register_hook(Hook hook) const;
  void retain_grad() const;

  // ---- views and conversions (ops) ----
  Tensor reshape(const Shape& s) const { return trustml::reshape(*this, s); }
  Tensor view(const Shape& s) const { return trustml::reshape(*this, s); }
  Tensor flatten() const { return trustml::reshape(*this, Shape{numel()}); }
  Tensor permute(const std::vector<int>& p) const { return trustml::permute(*this, p); }
  Tensor transpose(int a, int b) const { return trustml::transpose(*this, a, b); }
  Tensor slice(int d, std::int64_t start, std::int64_t end, std::int64_t step = 1) const {
    return trustml::slice(*this, d, start, end, step);
  }
  Tensor expand(const Shape& s) const { return trustml::expand(*this, s); }
  Tensor squeeze(int d) const { return trustml::squeeze(*this, d); }
  Tensor unsqueeze(int d) const { return trustml::unsqueeze(*this, d); }
  Tensor contiguous() const { return trustml::contiguous(*this); }
  template <class D2>
  Tensor<T, D2> to() const {
    return trustml::to<D2>(*this);
  }
  template <Scalar T2>
  Tensor<T2, D> cast() const {
    return trustml::cast<T2>(*this);
  }

  // A view of the same storage with other geometry, without autograd (ops build on this). Every
  // element of the view must lie in the storage (an empty view addresses none, as in PyTorch).
  Tensor restride(const Shape& s, const Strides& st, std::int64_t off) const {
    check_view(s, st, off);
    auto impl = std::make_shared<Impl>();
    impl->storage = checked().storage;
    impl->shape = s;
    impl->strides = st;
    impl->offset = off;
    return Tensor(std::move(impl));
  }
  // A contiguous copy of the data in new storage, without autograd.
  Tensor clone() const {
    using V = typename D::template value_t<T>;
    Tensor out = empty(shape());
    kernels::Kernels<D>::map(shape(), reinterpret_cast<V*>(out.data()), IdentityFn{},
                             kernels::Strided<V>{reinterpret_cast<const V*>(data()), strides()});
    return out;
  }
  // Contiguous copy of the data (or this tensor when already contiguous), without autograd.
  Tensor contiguous_data() const { return is_contiguous() ? *this : clone(); }

 private:
  Impl& checked() const {
    TRUSTML_CHECK(impl_ != nullptr, "Tensor", "operation on an undefined tensor");
    return *impl_;
  }
  // Throws unless sizes and strides are non-negative (no trustml view steps backwards) and the
  // view's last element, offset + sum of (size - 1) * stride, is inside the storage.
  void check_view(const Shape& s, const Strides& st, std::int64_t off) const {
    TRUSTML_CHECK(s.rank == st.rank, "restride", "shape ", s, " and strides ", st, " differ in rank");
    for (int i = 0; i < s.rank; ++i)
      TRUSTML_CHECK(s.dims[i] >= 0 && st.dims[i] >= 0, "restride", "shape ", s, " and strides ", st,
                    " must not be negative");
    if (s.numel("restride") == 0) return;
    const std::size_t size = checked().storage->size;
    std::int64_t last = off;
    bool inside = off >= 0;
    for (int i = 0; inside && i < s.rank; ++i) {
      std::int64_t reach;
      inside =
          !__builtin_mul_overflow(s.dims[i] - 1, st.dims[i], &reach) && !__builtin_add_overflow(last, reach, &last);
    }
    TRUSTML_CHECK(inside && static_cast<std::uint64_t>(last) < size, "restride", "a view of shape ", s,
                  " with strides ", st, " at offset ", off, " reaches outside its storage of ", size, " elements");
  }
  static auto to_value(T v) {
    using V = typename D::template value_t<T>;
    if constexpr (is_complex_v<T>) return V(v.real(), v.imag());
    else return V(v);
  }

  // The element functors of the factories above. Public because nvcc rejects private or protected
  // types in the template arguments of a __global__ function (here Kernels<Cuda>'s launches).
 public:
  template <class V>
  struct ConstFn {
    V value;
    TRUSTML_HD V operator()() const { return value; }
  };
  struct IdentityFn {
    template <class V>
    TRUSTML_HD V operator()(V v) const {
      return v;
    }
  };
  template <class V>
  struct ArangeFn {
    V* out;
    TRUSTML_HD void operator()(std::int64_t i) const { out[i] = V(static_cast<real_t<T>>(i)); }
  };
  // Blocks [b * Group, (b + 1) * Group) (counted from the one holding element `offset`) of the
  // normal stream into the elements of `out` they cover. A GPU thread takes one block; a CPU call
  // takes a group, drawn by one branch-free loop that the compiler turns into SIMD code.
  template <class V, int Group>
  struct NormalPairFn {
    V* out;
    std::uint64_t seed, offset;
    std::int64_t n;
    TRUSTML_HD void operator()(std::int64_t b) const {
      const std::uint64_t first = (offset >> 1) + static_cast<std::uint64_t>(b) * Group;
      double even[Group], odd[Group];
      for (int j = 0; j < Group; ++j) random::normal_pair(seed, 0, first + j, even[j], odd[j]);
      for (int j = 0; j < Group; ++j) {
        const std::int64_t i = static_cast<std::int64_t>(2 * (first + j) - offset);  // < 0 for the odd start
        if (i >= 0 && i < n) out[i] = V(even[j]);
        if (i + 1 >= 0 && i + 1 < n) out[i + 1] = V(odd[j]);
      }
    }
  };
  // Uniform draws (real part only for complex T), or complex normals: element i is one
  // Box-Muller pair, its parts scaled to N(0, 1/2) each.
  template <class V, bool Normal>
  struct RandomFn {
    V* out;
    std::uint64_t seed, offset;
    TRUSTML_HD void operator()(std::int64_t i) const {
      const std::uint64_t k = offset + static_cast<std::uint64_t>(i);
      if constexpr (Normal) {
        static_assert(is_complex_v<T>, "real normals are drawn in pairs by NormalPairFn");
        using R = real_t<T>;
        const double s = 0.70710678118654752440;  // E|z|^2 = 1
        double re, im;
        random::normal_pair(seed, 0, k, re, im);
        out[i] = V(R(s * re), R(s * im));
      } else if constexpr (is_complex_v<T>) {
        out[i] = V(real_t<T>(random::uniform(seed, 0, k)), real_t<T>(0));
      } else {
        out[i] = V(random::uniform(seed, 0, k));
      }
    }
  };

 private:
  std::shared_ptr<Impl> impl_;
};

// The row-major index of the first NaN or infinite element of t (either part of a complex one), or
// -1 when every element is finite; integer tensors have none. It reads the elements on the host:
// for checks of inputs and of the NaN-check mode, not for hot loops.
template <class T, class D>
std::int64_t first_nonfinite(const Tensor<T, D>& t) {
  if constexpr (FloatingScalar<T>) {
    const std::vector<T> values = t.to_vector();
    for (std::size_t i = 0; i < values.size(); ++i) {
      bool finite;
      if constexpr (is_complex_v<T>) finite = std::isfinite(values[i].real()) && std::isfinite(values[i].imag());
      else finite = std::isfinite(values[i]);
      if (!finite) return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}

}  // namespace trustml
