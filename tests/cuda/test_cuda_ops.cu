// tests/cuda/test_cuda_ops.cu: elementwise, complex and reduction ops on Cuda against the CPU.
// Tolerances: see cuda_support.hpp.
// The comparisons below are a table, one a line: clang-format 14 would break every call that
// takes a lambda before its last argument.
// clang-format off
#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

namespace {
// Elementwise ops of real tensors, on broadcast and on non-contiguous operands.
template <class T>
void real_elementwise() {
  const double tol = default_rtol<T>();
  auto a = Tensor<T>::randn({3, 4, 5}, 1), b = Tensor<T>::randn({4, 1}, 2);
  auto at = Tensor<T>::randn({5, 4, 3}, 3).permute({2, 1, 0});  // [3, 4, 5], non-contiguous
  auto pos = add_scalar(abs(a), T(0.1));
  compare("add", [](auto x, auto y) { return add(x, y); }, tol, a, b);
  compare("sub", [](auto x, auto y) { return sub(x, y); }, tol, at, b);
  compare("mul", [](auto x, auto y) { return mul(x, y); }, tol, a, at);
  compare("div", [](auto x, auto y) { return div(x, y); }, tol, a, add_scalar(abs(b), T(0.5)));
  compare("neg", [](auto x) { return neg(x); }, tol, at);
  compare("scale", [](auto x) { return scale(x, T(-2.5)); }, tol, at);
  compare("add_scalar", [](auto x) { return add_scalar(x, T(0.75)); }, tol, a);
  compare("exp", [](auto x) { return exp(x); }, tol, a);
  compare("log", [](auto x) { return log(x); }, tol, pos);
  compare("sqrt", [](auto x) { return sqrt(x); }, tol, pos);
  compare("pow", [](auto x) { return pow(x, real_t<T>(1.7)); }, tol, pos);
  compare("abs", [](auto x) { return abs(x); }, tol, at);
  compare("sin", [](auto x) { return sin(x); }, tol, a);
  compare("cos", [](auto x) { return cos(x); }, tol, at);
  compare("tanh", [](auto x) { return tanh(x); }, tol, a);
  compare("sigmoid", [](auto x) { return sigmoid(x); }, tol, a);
  compare("erf", [](auto x) { return erf(x); }, tol, a);
  compare("relu", [](auto x) { return relu(x); }, tol, at);
  compare("leaky_relu", [](auto x) { return leaky_relu(x, T(0.2)); }, tol, a);
  compare("clamp", [](auto x) { return clamp(x, T(-0.5), T(0.7)); }, tol, a);
  compare("straight_through", [](auto x, auto y) { return straight_through(x, step(y)); }, tol, a, b);
  compare("maximum", [](auto x, auto y) { return maximum(x, y); }, tol, a, b);
  compare("minimum", [](auto x, auto y) { return minimum(x, y); }, tol, at, b);
  compare("where", [](auto c, auto x, auto y) { return where(c, x, y); }, tol, step(b), a, at);
  compare("step", [](auto x) { return step(x); }, tol, a);
  compare("in_range", [](auto x) { return in_range(x, T(-0.3), T(0.4)); }, tol, a);
  compare("max_mask", [](auto x, auto y) { return max_mask(x, y); }, tol, a, relu(a));
  compare("silu", [](auto x) { return silu(x); }, tol, a);
  compare("gelu", [](auto x) { return gelu(x); }, tol, at);
  compare("prelu", [](auto x, auto w) { return prelu(x, w); }, tol, a, Tensor<T>::rand({4, 1}, 4));
  compare("cast", [](auto x) { return cast<std::complex<T>>(x); }, tol, at);
  compare("operators", [](auto x, auto y) { return (x * T(2) - y) / (y * y + T(1)); }, tol, a, b);
}

template <class R>
void complex_elementwise() {
  using C = std::complex<R>;
  const double tol = default_rtol<C>();
  auto z = Tensor<C>::randn({4, 6}, 5), w = Tensor<C>::randn({6}, 6);
  auto zt = Tensor<C>::randn({6, 4}, 7).transpose(0, 1);
  compare("complex add", [](auto x, auto y) { return add(x, y); }, tol, z, w);
  compare("complex mul", [](auto x, auto y) { return mul(x, y); }, tol, zt, w);
  compare("complex div", [](auto x, auto y) { return div(x, y); }, tol, z, zt);
  compare("complex scale", [](auto x) { return scale(x, C(0.5, -2)); }, tol, z);
  compare("complex exp", [](auto x) { return exp(x); }, tol, z);
  compare("complex log", [](auto x) { return log(x); }, tol, zt);
  compare("complex sqrt", [](auto x) { return sqrt(x); }, tol, z);
  compare("complex pow", [](auto x) { return pow(x, R(2.5)); }, tol, z);
  compare("complex sin", [](auto x) { return sin(x); }, tol, z);
  compare("complex cos", [](auto x) { return cos(x); }, tol, zt);
  compare("complex tanh", [](auto x) { return tanh(x); }, tol, z);
  compare("complex sigmoid", [](auto x) { return sigmoid(x); }, tol, z);
  compare("complex where", [](auto c, auto x, auto y) { return where(c, x, y); }, tol,
          cast<C>(step(Tensor<R>::randn({4, 1}, 8))), z, zt);
  compare("conj", [](auto x) { return conj(x); }, tol, zt);
  compare("real", [](auto x) { return real(x); }, tol, zt);
  compare("imag", [](auto x) { return imag(x); }, tol, z);
  compare("complex abs", [](auto x) { return abs(x); }, tol, z);
  compare("complex angle", [](auto x) { return angle(x); }, tol, zt);
  compare("make_complex", [](auto x, auto y) { return make_complex(x, y); }, tol, Tensor<R>::randn({4, 6}, 9),
          Tensor<R>::randn({6}, 10));
  compare("cast complex", [](auto x) { return cast<std::complex<double>>(x); }, tol, z);
}

// Reductions over every kind of dimension set, and long ones that take the cooperative kernels.
template <class T>
void reductions() {
  const double tol = default_rtol<T>() * 10;
  auto a = Tensor<T>::randn({4, 5, 6}, 11);
  auto at = a.permute({2, 0, 1});  // [6, 4, 5], non-contiguous
  for (const std::vector<int>& dims : std::vector<std::vector<int>>{{}, {0}, {1}, {2}, {0, 2}, {-1, 0}}) {
    for (bool keep : {false, true}) {
      const std::string tag = " dims " + std::to_string(dims.size()) + (keep ? " keepdim" : "");
      compare("sum" + tag, [&](auto x) { return sum(x, dims, keep); }, tol, at);
      compare("mean" + tag, [&](auto x) { return mean(x, dims, keep); }, tol, a);
      compare("amax" + tag, [&](auto x) { return amax(x, dims, keep); }, tol, at);
      compare("amin" + tag, [&](auto x) { return amin(x, dims, keep); }, tol, a);
      compare("var" + tag, [&](auto x) { return var(x, dims, 1, keep); }, tol, at);
      compare("logsumexp" + tag, [&](auto x) { return logsumexp(x, dims, keep); }, tol, a);
      compare("norm" + tag, [&](auto x) { return norm(x, 2.0, dims, keep); }, tol, at);
    }
  }
  for (double p : {1.0, 3.0, std::numeric_limits<double>::infinity()})
    compare("norm p", [&](auto x) { return norm(x, p); }, tol, a);
  for (int d = 0; d < 3; ++d) {
    CHECK(argmax(at.template to<Cuda>(), d).to_vector() == argmax(at, d).to_vector());
  }
  auto ties = Tensor<T>::from_vector({1, 3, 3, 2, 0, 0}, {2, 3});
  CHECK(argmax(ties.template to<Cuda>(), 1).to_vector() == std::vector<std::int64_t>{1, 0});

  // Long reductions: a full sum (split over many blocks), rows (a block each), and columns of a
  // transposed view (strided reads). The GPU adds in another order: the tolerance scales with the
  // sum of magnitudes, against a double-precision reference.
  auto long_compare = [](const std::string& what, const Tensor<T>& x, const std::vector<int>& dims) {
    auto want = sum(cast<double>(x), dims), mags = sum(abs(cast<double>(x)), dims);
    auto got = cast<double>(sum(x.template to<Cuda>(), dims).template to<Cpu>());
    auto err = amax(div(abs(sub(got, want)), add_scalar(mags, 1.0))).item();
    INFO(what << ": largest error relative to the sum of magnitudes " << err);
    CHECK(err < (std::is_same_v<T, float> ? 1e-6 : 1e-14));
  };
  long_compare("full sum", Tensor<T>::randn({1 << 20}, 12), {});
  long_compare("full sum of a strided view", Tensor<T>::randn({1024, 600}, 13).slice(1, 0, 600, 3), {});
  long_compare("row sums", Tensor<T>::randn({64, 5000}, 14), {1});
  long_compare("column sums", Tensor<T>::randn({64, 5000}, 15).transpose(0, 1), {0});
  long_compare("a few long outputs", Tensor<T>::randn({3, 100000}, 16), {1});
  auto big = Tensor<T>::randn({7, 50000}, 17);
  compare("long amax", [](auto x) { return amax(x, {1}); }, 0, big);
  compare("long amin", [](auto x) { return amin(x); }, 0, big);
  std::vector<T> host(70000, T(1));
  host[12345] = std::numeric_limits<T>::quiet_NaN();
  CHECK(std::isnan(amax(Tensor<T, Cuda>::from_vector(host)).item()));  // NaN propagates through the merge
}
// The float exp, log, tanh, sigmoid, erf, gelu and silu of core/vmath.hpp are the same code on both
// devices, from operations IEEE 754 rounds exactly (explicit fma, no contraction): bit for bit equal.
void vmath_float_bit_identical() {
  auto wide = scale(Tensor<float>::randn({64, 1024}, 7), 30.0f);  // overflow, underflow, denormals
  auto pos = exp(scale(Tensor<float>::randn({64, 1024}, 8), 40.0f));
  compare("exp", [](auto x) { return exp(x); }, 0, wide);
  compare("log", [](auto x) { return log(x); }, 0, pos);
  compare("tanh", [](auto x) { return tanh(x); }, 0, wide);
  compare("sigmoid", [](auto x) { return sigmoid(x); }, 0, wide);
  compare("erf", [](auto x) { return erf(x); }, 0, wide);
  compare("gelu", [](auto x) { return gelu(x); }, 0, wide);
  compare("silu", [](auto x) { return silu(x); }, 0, wide);
  using V = std::vector<Tensor<float>>;
  auto x = scale(Tensor<float>::randn({4, 33}, 9), 4.0f);
  // The fused backward passes (the sum's reduction order differs between devices: not bitwise).
  compare_grad("gelu", [](const auto& v) { return gelu(v[0]); }, 1e-5, V{x});
  compare_grad("silu", [](const auto& v) { return silu(v[0]); }, 1e-5, V{x});
}
}  // namespace

TEST_CASE("cuda ops: real elementwise, float") {
  SKIP_WITHOUT_GPU();
  real_elementwise<float>();
}
TEST_CASE("cuda ops: vmath float functions are bit-identical to the CPU") {
  SKIP_WITHOUT_GPU();
  vmath_float_bit_identical();
}
TEST_CASE("cuda ops: real elementwise, double") {
  SKIP_WITHOUT_GPU();
  real_elementwise<double>();
}
TEST_CASE("cuda ops: complex elementwise") {
  SKIP_WITHOUT_GPU();
  complex_elementwise<float>();
  complex_elementwise<double>();
}
TEST_CASE("cuda ops: reductions, float") {
  SKIP_WITHOUT_GPU();
  reductions<float>();
}
TEST_CASE("cuda ops: reductions, double") {
  SKIP_WITHOUT_GPU();
  reductions<double>();
}
TEST_CASE("cuda ops: complex sums and norms") {
  SKIP_WITHOUT_GPU();
  using C = std::complex<double>;
  auto z = Tensor<C>::randn({8, 40}, 18);
  compare("complex sum", [](auto x) { return sum(x, {1}); }, 1e-12, z);
  compare("complex mean", [](auto x) { return mean(x); }, 1e-12, z);
  compare("complex norm", [](auto x) { return norm(x, 2.0, {0}); }, 1e-12, z);
  compare("complex long sum", [](auto x) { return sum(x); }, 1e-10, Tensor<C>::randn({300000}, 19));
  compare("mse", [](auto x, auto y) { return mse(x, y); }, 1e-12, z, Tensor<C>::randn({8, 40}, 20));
}

namespace {
// The fused row ops of ops/nn.hpp (kernels/rows.hpp): the GPU runs the per-row statistics and then
// one thread per element, the CPU one call per row; the sums add in the same order on both, so
// they differ only by the rounding of exp and log.
template <class T>
void fused_rows() {
  const double tol = default_rtol<T>();
  const T inf = std::numeric_limits<T>::infinity();
  auto scores = Tensor<T>::randn({2, 3, 17, 17}, 40);
  auto strided = Tensor<T>::randn({5, 7, 33}, 41).transpose(0, 2);  // non-contiguous [33, 7, 5]
  for (int dim : {-1, 1, 0}) {
    compare("softmax", [dim](auto x) { return softmax(x, dim); }, tol, scores);
    compare("log_softmax", [dim](auto x) { return log_softmax(x, dim); }, tol, scores);
    compare("softmax of a strided view", [dim](auto x) { return softmax(x, dim); }, tol, strided);
  }
  // Masked rows: -inf entries give 0 (log_softmax: -inf), a fully masked row NaN, on both devices.
  auto masked = Tensor<T>::from_vector({1, -inf, 2, -inf, -inf, -inf, -inf, -inf}, {2, 4});
  auto sg = softmax(masked.template to<Cuda>(), 1).to_vector();
  auto sc = softmax(masked, 1).to_vector();
  for (std::size_t i = 0; i < sc.size(); ++i) {
    CHECK(std::isnan(sg[i]) == std::isnan(sc[i]));
    if (!std::isnan(sc[i])) CHECK(std::abs(sg[i] - sc[i]) <= tol);
  }
  CHECK(log_softmax(masked.template to<Cuda>(), 1).to_vector()[1] == -inf);

  auto x = add_scalar(Tensor<T>::randn({6, 10, 96}, 42), T(3));
  auto w = Tensor<T>::randn({96}, 43), b = Tensor<T>::randn({96}, 44);
  compare("layer_norm", [](auto v, auto wt, auto bt) { return layer_norm(v, Shape{96}, wt, bt); }, tol, x, w, b);
  compare("layer_norm without affine", [](auto v) { return layer_norm(v, 2); }, tol, x);
  compare("layer_norm weight only", [](auto v, auto wt) { return layer_norm(v, Shape{96}, wt, decltype(wt){}, 1e-3); }, tol, x, w);
}
}  // namespace

TEST_CASE("cuda ops: fused softmax, log_softmax and layer_norm") {
  SKIP_WITHOUT_GPU();
  fused_rows<float>();
  fused_rows<double>();
  using V = std::vector<Tensor<double, Cpu>>;
  auto x = Tensor<double>::randn({4, 3, 8}, 45), w = Tensor<double>::randn({3, 8}, 46), b = Tensor<double>::randn({3, 8}, 47);
  auto y = Tensor<double>::randn({4, 3, 8}, 48);
  compare_grad("layer_norm", [](const auto& v) { return mul(layer_norm(v[0], Shape{3, 8}, v[1], v[2]), v[3]); }, 1e-10, V{x, w, b, y});
  compare_grad("log_softmax", [](const auto& v) { return mul(log_softmax(v[0], 1), v[1]); }, 1e-10, V{x, y});
}
// clang-format on
