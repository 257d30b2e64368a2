// tests/cuda/test_cuda_nn.cu: matmul, movement, nn, convolution, indexing and FFT ops on Cuda
// against the CPU, gradients through them, and a small MLP trained one step on both devices.
// Tolerances: see cuda_support.hpp; products over k terms use rtol * k.
// The comparisons below are a table, one a line: clang-format 14 would break every call that
// takes a lambda before its last argument.
// clang-format off
#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

namespace {
template <class T>
void matmuls() {
  const double tol = default_rtol<T>() * 20;
  auto mm = [](auto x, auto y) { return matmul(x, y); };
  auto a = Tensor<T>::randn({5, 7}, 1), b = Tensor<T>::randn({7, 3}, 2);
  compare("matmul", mm, tol, a, b);
  compare("matmul a^T", mm, tol, Tensor<T>::randn({7, 5}, 3).transpose(0, 1), b);
  compare("matmul b^T", mm, tol, a, Tensor<T>::randn({3, 7}, 4).transpose(0, 1));
  compare("matmul a^T b^T", mm, tol, Tensor<T>::randn({7, 5}, 5).transpose(0, 1),
          Tensor<T>::randn({3, 7}, 6).transpose(0, 1));
  compare("matmul batched", mm, tol, Tensor<T>::randn({4, 5, 7}, 7), Tensor<T>::randn({4, 7, 3}, 8));
  compare("matmul broadcast batch", mm, tol, Tensor<T>::randn({2, 1, 5, 7}, 9), Tensor<T>::randn({3, 7, 4}, 10));
  compare("matmul shared weight", mm, tol, Tensor<T>::randn({6, 5, 7}, 11), b);  // stride 0 for b
  compare("matmul batched transposed", mm, tol, Tensor<T>::randn({4, 7, 5}, 12).transpose(1, 2),
          Tensor<T>::randn({4, 3, 7}, 13).transpose(-1, -2));
  compare("matmul sliced rows", mm, tol, Tensor<T>::randn({5, 20}, 14).slice(1, 3, 10), b);  // lda > k
  compare("matmul vector", mm, tol, Tensor<T>::randn({7}, 15), b);
  compare("matmul matrix-vector", mm, tol, a, Tensor<T>::randn({7}, 16));
  compare("matmul empty k", mm, tol, Tensor<T>::randn({5, 0}, 17), Tensor<T>::randn({0, 3}, 18));
  compare("matmul large", mm, default_rtol<T>() * 300, Tensor<T>::randn({130, 257}, 19),
          Tensor<T>::randn({257, 65}, 20));
}

template <class T>
void movement() {
  auto a = Tensor<T>::randn({2, 3, 4}, 21);
  auto at = a.permute({2, 0, 1});
  compare("contiguous", [](auto x) { return contiguous(x); }, 0, at);
  compare("permute", [](auto x) { return contiguous(permute(x, {1, 2, 0})); }, 0, a);
  compare("transpose", [](auto x) { return contiguous(transpose(x, 0, 2)); }, 0, at);
  compare("slice_backward", [](auto x) { return slice_backward(x, {2, 3, 9}, 2, 1, 2); }, 0, a);
  compare("to_device", [](auto x) { return x.template to<Cpu>().template to<typename decltype(x)::device_type>(); }, 0, at);
  compare("reshape of a view", [](auto x) { return reshape(x, {4, 6}); }, 0, at);
  compare("slice", [](auto x) { return contiguous(slice(x, 2, 1, 4, 2)); }, 0, a);
  compare("pad", [](auto x) { return pad(x, {1, 2, 0, 1}); }, 0, at);
  compare("expand", [](auto x) { return contiguous(expand(x, {5, 3, 4})); }, 0, Tensor<T>::randn({1, 3, 4}, 22));
  compare("squeeze unsqueeze", [](auto x) { return squeeze(unsqueeze(x, 1), 1); }, 0, at);
  compare("cast", [](auto x) { return cast<double>(x); }, 0, at);
  compare("concat", [](auto x, auto y) { return concat(std::vector{x, y}, 1); }, 0, a, Tensor<T>::randn({2, 5, 4}, 23));
  compare("stack", [](auto x, auto y) { return stack(std::vector{x, y}, 0); }, 0, at, at);
}
}  // namespace

TEST_CASE("cuda nn: matmul") {
  SKIP_WITHOUT_GPU();
  matmuls<float>();
  matmuls<double>();
  matmuls<std::complex<float>>();
  matmuls<std::complex<double>>();
}

TEST_CASE("cuda nn: movement and joining") {
  SKIP_WITHOUT_GPU();
  movement<float>();
  movement<double>();
}

TEST_CASE("cuda nn: indexing") {
  SKIP_WITHOUT_GPU();
  auto x = Tensor<double>::randn({5, 6}, 24);
  auto idx = Tensor<std::int64_t>::from_vector({4, 0, 0, 2});
  auto gidx = Tensor<std::int64_t>::from_vector({1, 0, 5, 5, 2, 3, 0, 0}, {2, 4});
  auto on_gpu = [](const Tensor<std::int64_t>& i) { return i.to<Cuda>(); };
  auto check = [](const std::string& what, const auto& got, const Tensor<double>& want) {
    check_close<double>(got, want, 1e-12, what);
  };
  // Integer output, so an exact comparison instead of compare().
  CHECK_MESSAGE(argmax(x.to<Cuda>(), 1).to_vector() == argmax(x, 1).to_vector(), "argmax");
  check("index_select", index_select(x.to<Cuda>(), 0, on_gpu(idx)), index_select(x, 0, idx));
  check("gather", gather(x.to<Cuda>(), 1, on_gpu(gidx)), gather(x, 1, gidx));
  auto src = Tensor<double>::randn({2, 4}, 25);
  // repeated indices: the sums must match, in the same order
  check("scatter_add", scatter_add(x.to<Cuda>(), 1, on_gpu(gidx), src.to<Cuda>()), scatter_add(x, 1, gidx, src));
  check("embedding", embedding(x.to<Cuda>(), on_gpu(idx)), embedding(x, idx));
}

TEST_CASE("cuda nn: softmax, losses") {
  SKIP_WITHOUT_GPU();
  auto logits = Tensor<float>::randn({8, 10}, 26);
  auto labels = Tensor<std::int64_t>::from_vector({0, 9, 3, 3, 7, 1, 2, 5});
  compare("softmax", [](auto x) { return softmax(x, 1); }, 1e-5, logits);
  compare("log_softmax", [](auto x) { return log_softmax(x, 0); }, 1e-5, logits);
  check_close<float>(cross_entropy(logits.to<Cuda>(), labels.to<Cuda>(), 0.1f), cross_entropy(logits, labels, 0.1f),
                     1e-5, "cross_entropy");  // compare() takes no integer operand
  compare("mse", [](auto x, auto y) { return mse(x, y); }, 1e-5, logits, Tensor<float>::randn({8, 10}, 27));
}

TEST_CASE("cuda nn: convolution and pooling") {
  SKIP_WITHOUT_GPU();
  const double tol = 1e-10;
  auto x = Tensor<double>::randn({2, 4, 9, 8}, 28);
  auto w = Tensor<double>::randn({6, 2, 3, 3}, 29), bias = Tensor<double>::randn({6}, 30);
  compare("im2col", [](auto v) { return im2col(v, 3, 2, 1, 1); }, tol, x);
  compare("col2im", [](auto v) { return col2im(v, Size2{9, 8}, 3, 2, 1, 1); }, tol, Tensor<double>::randn({2, 36, 20}, 31));
  compare("conv2d", [](auto v, auto k, auto b) { return conv2d(v, k, b, 2, 1, 1, 2); }, tol, x, w, bias);
  compare("conv_transpose2d", [](auto v, auto k) { return conv_transpose2d(v, k, {}, 2, 1, 1); }, tol, x,
          Tensor<double>::randn({4, 3, 3, 3}, 32));
  compare("max_pool2d", [](auto v) { return max_pool2d(v, 3, 2, 1); }, tol, x);
  compare("avg_pool2d", [](auto v) { return avg_pool2d(v, 2, 2, 1, false); }, tol, x);
  compare("adaptive_avg_pool2d", [](auto v) { return adaptive_avg_pool2d(v, Size2{4, 3}); }, tol, x);
  compare("upsample_nearest2d", [](auto v) { return upsample_nearest2d(v, Size2{2, 3}); }, 0, x);
  compare("pixel_shuffle", [](auto v) { return pixel_shuffle(v, 2); }, 0, x);
  compare("pixel_unshuffle", [](auto v) { return pixel_unshuffle(v, 2); }, 0, Tensor<double>::randn({1, 2, 6, 4}, 33));
}

TEST_CASE("cuda nn: centered FFT (cuFFT)") {
  SKIP_WITHOUT_GPU();
  auto zd = Tensor<std::complex<double>>::randn({3, 2, 8, 7}, 34);  // odd size: the shifts differ
  compare("fft2c double", [](auto v) { return fft2c(v); }, 1e-12, zd);
  compare("ifft2c double", [](auto v) { return ifft2c(v); }, 1e-12, zd.transpose(2, 3));
  auto zf = Tensor<std::complex<float>>::randn({4, 16, 16}, 35);
  compare("fft2c float", [](auto v) { return fft2c(v); }, 1e-5, zf);
  compare("round trip", [](auto v) { return ifft2c(fft2c(v)); }, 1e-5, zf);
}

TEST_CASE("cuda nn: gradients match the CPU") {
  SKIP_WITHOUT_GPU();
  using V = std::vector<Tensor<double, Cpu>>;
  const double tol = 1e-10;
  auto x = Tensor<double>::randn({4, 6}, 36), y = Tensor<double>::randn({6}, 37);
  compare_grad("elementwise", [](const auto& v) { return mul(tanh(v[0]), exp(scale(v[1], 0.3))); }, tol, V{x, y});
  compare_grad("softmax", [](const auto& v) { return mul(softmax(v[0], 1), v[1]); }, tol, V{x, y});
  compare_grad("reductions", [](const auto& v) {
    return add(add(var(v[0], {0}), logsumexp(v[0], {0})), add(amax(v[0], {0}), norm(v[0], 3.0, {0})));
  }, tol, V{x});
  compare_grad("movement", [](const auto& v) {
    return pad(slice(permute(v[0], {1, 0}), 0, 1, 6, 2), {1, 1});
  }, tol, V{x});
  compare_grad("matmul", [](const auto& v) { return matmul(v[0], transpose(v[1], 0, 1)); }, tol,
               V{x, Tensor<double>::randn({3, 6}, 38)});
  compare_grad("conv2d", [](const auto& v) { return max_pool2d(conv2d(v[0], v[1], {}, 1, 1), 2); }, tol,
               V{Tensor<double>::randn({2, 3, 6, 6}, 39), Tensor<double>::randn({4, 3, 3, 3}, 40)});
  using Z = std::vector<Tensor<std::complex<double>, Cpu>>;
  compare_grad("complex", [](const auto& v) { return cast<std::complex<double>>(abs(fft2c(mul(v[0], v[0])))); },
               tol, Z{Tensor<std::complex<double>>::randn({2, 4, 4}, 41)});
}

namespace {
// A three-layer perceptron with weight decay; params: W1 [16, 32], b1, W2 [32, 32], b2, W3 [32, 10], b3.
template <class T, class D>
Tensor<T, D> mlp_loss(const std::vector<Tensor<T, D>>& p, const Tensor<T, D>& x, const Tensor<std::int64_t, D>& y) {
  auto h1 = relu(add(matmul(x, p[0]), p[1]));
  auto h2 = tanh(add(matmul(h1, p[2]), p[3]));
  auto logits = add(matmul(h2, p[4]), p[5]);
  return add(cross_entropy(logits, y, T(0.05)), scale(sum(mul(p[0], p[0])), T(1e-3)));
}

template <class T>
void mlp(double tol) {
  const std::vector<Shape> shapes = {{16, 32}, {32}, {32, 32}, {32}, {32, 10}, {10}};
  std::vector<Tensor<T, Cpu>> pc;
  std::vector<Tensor<T, Cuda>> pg;
  std::uint64_t seed = 100;
  for (const auto& s : shapes) {
    auto w = scale(Tensor<T>::randn(s, seed++), T(0.3));
    pc.push_back(w.detach().set_requires_grad());
    pg.push_back(w.template to<Cuda>().detach().set_requires_grad());
  }
  auto x = Tensor<T>::randn({64, 16}, 1);
  std::vector<std::int64_t> labels(64);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>((i * 7) % 10);
  auto y = Tensor<std::int64_t>::from_vector(labels);
  auto lc = mlp_loss(pc, x, y);
  auto lg = mlp_loss(pg, x.template to<Cuda>(), y.template to<Cuda>());
  check_close<T>(lg, lc, tol, "mlp loss");
  lc.backward();
  lg.backward();
  for (std::size_t i = 0; i < pc.size(); ++i)
    check_close<T>(pg[i].grad(), pc[i].grad(), tol, "mlp gradient of parameter " + std::to_string(i));
}
}  // namespace

TEST_CASE("cuda nn: MLP forward and backward") {
  SKIP_WITHOUT_GPU();
  mlp<double>(1e-10);
  mlp<float>(1e-4);
}
// clang-format on
