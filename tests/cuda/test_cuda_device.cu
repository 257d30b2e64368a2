// tests/cuda/test_cuda_device.cu: the Cuda device policy (allocator, copies, errors, Philox) and the
// index arithmetic of Kernels<Cuda>.
//
// The functors that Kernels<Cuda> launches are __host__ __device__, and the GEMM argument mapping
// is plain host code, so the "host" cases below run them on the CPU against Kernels<Cpu>: they
// check the coalescing, unravelling and row-major -> column-major logic on machines without a GPU.
#include <limits>

#include "cuda_support.hpp"

using namespace cuda_tests;
namespace gpu = trustml::kernels::gpu;
using trustml::kernels::GemmArgs;
using trustml::kernels::Kernels;
using trustml::kernels::Strided;

namespace {
template <class T>
Strided<T> strided(const Tensor<T, Cpu>& t, const Shape& target) {
  return {t.data(), trustml::broadcast_strides(t.shape(), t.strides(), target)};
}

// Runs the functor Kernels<Cuda>::map would launch, on the host.
template <class F, class... In>
std::vector<double> host_map(const Shape& shape, F f, const Strided<In>&... in) {
  std::vector<double> out(static_cast<std::size_t>(shape.numel()));
  const auto fn = gpu::make_map(shape, out.data(), f, in...);
  for (std::int64_t i = 0; i < shape.numel(); ++i) fn(i);
  return out;
}

// A column-major GEMM written from the BLAS definition, to check the mapping Kernels<Cuda> hands cuBLAS.
template <class T>
void blas_reference(const gpu::ColumnMajorGemm<T>& g, T alpha, T beta) {
  for (std::int64_t b = 0; b < g.batch; ++b)
    for (std::int64_t i = 0; i < g.m; ++i)
      for (std::int64_t j = 0; j < g.n; ++j) {
        T acc = 0;
        for (std::int64_t l = 0; l < g.k; ++l) {
          const T x = g.trans_x ? g.x[b * g.stride_x + l + i * g.ldx] : g.x[b * g.stride_x + i + l * g.ldx];
          const T y = g.trans_y ? g.y[b * g.stride_y + j + l * g.ldy] : g.y[b * g.stride_y + l + j * g.ldy];
          acc += x * y;
        }
        T& c = g.c[b * g.stride_c + i + j * g.ldc];
        c = alpha * acc + beta * c;
      }
}
}  // namespace

TEST_CASE("cuda host: value_t maps std::complex to cuda::std::complex") {
  static_assert(std::is_same_v<Cuda::value_t<float>, float>);
  static_assert(std::is_same_v<Cuda::value_t<std::int64_t>, std::int64_t>);
  static_assert(std::is_same_v<Cuda::value_t<std::complex<double>>, cuda::std::complex<double>>);
  static_assert(sizeof(Cuda::value_t<std::complex<float>>) == sizeof(std::complex<float>));
  CHECK(std::string(Cuda::name) == "cuda");
  CHECK(Cuda::allocate<float>(0) == nullptr);  // empty tensors never touch the device
}

TEST_CASE("cuda host: allocator buckets") {
  using A = trustml::CudaCachingAllocator;
  CHECK(A::bucket(1) == 512);
  CHECK(A::bucket(512) == 512);
  CHECK(A::bucket(513) == 1024);
  CHECK(A::bucket(8192) == 8192);
  CHECK(A::bucket(8193) == 10240);
  CHECK(A::bucket(16384) == 16384);
  CHECK(A::bucket((1 << 20) + 1) == (1 << 20) + (1 << 18));
  for (std::size_t n : {100ul, 5000ul, 123457ul, 99999999ul}) {
    CHECK(A::bucket(n) >= n);
    CHECK(A::bucket(n) <= n + n / 4 + 512);
  }
}

TEST_CASE("cuda host: map functor coalesces and unravels like the CPU loop") {
  auto a = Tensor<double>::randn({3, 4, 5}, 1), b = Tensor<double>::randn({4, 1}, 2);
  const auto check = [](const std::vector<double>& got, const Tensor<double>& want) {
    check_close(got, want.to_vector(), 0, "map");
  };
  const Shape s{3, 4, 5};
  // contiguous + broadcast
  check(host_map(s, trustml::fn::Add{}, strided(a, s), strided(b, s)), trustml::add(a, b));
  // a permuted view and a sliced one
  auto p = a.permute({2, 0, 1});
  check(host_map(p.shape(), trustml::fn::Identity{}, strided(p, p.shape())), p.contiguous());
  auto q = a.slice(2, 1, 5, 2);
  check(host_map(q.shape(), trustml::fn::Exp{}, strided(q, q.shape())), trustml::exp(q));
  // an expanded scalar and no inputs at all
  auto one = Tensor<double>::scalar(2.5);
  check(host_map(s, trustml::fn::Mul{}, strided(a, s), strided(one, s)), trustml::scale(a, 2.5));
  struct Seven {
    TRUSTML_HD double operator()() const { return 7; }
  };
  check(host_map(s, Seven{}), Tensor<double>::full(s, 7));
}

TEST_CASE("cuda host: coalesce merges only dimensions every operand walks as one") {
  Shape s{2, 3, 4};
  Shape st[2] = {Shape{12, 4, 1}, Shape{0, 4, 1}};  // the second operand is broadcast over dim 0
  gpu::coalesce(s, st);
  CHECK(s == Shape{2, 12});
  CHECK(st[0] == Shape{12, 1});
  CHECK(st[1] == Shape{0, 1});
  Shape t{1, 5, 1};
  Shape tt[1] = {Shape{7, 3, 9}};
  gpu::coalesce(t, tt);
  CHECK(t == Shape{5});
  CHECK(tt[0] == Shape{3});
}

TEST_CASE("cuda host: reduce functor matches the CPU reduction") {
  auto a = Tensor<double>::randn({4, 6, 5}, 3).permute({1, 0, 2});  // [6, 4, 5], non-contiguous
  for (int out_rank = 0; out_rank <= 3; ++out_rank) {
    Shape out_shape;
    for (int d = 0; d < out_rank; ++d) out_shape.push_back(a.shape()[d]);
    std::vector<double> want(static_cast<std::size_t>(out_shape.numel())), got(want.size());
    const Strided<double> in{a.data(), a.strides()};
    Kernels<Cpu>::reduce(a.shape(), out_rank, want.data(), in, trustml::ops::SumRed<double>{});
    const gpu::ReduceShape g = gpu::split_reduce(a.shape(), out_rank, a.strides());
    const gpu::ReduceFn<double, double, trustml::ops::SumRed<double>> fn{got.data(), a.data(), g, {}};
    for (std::int64_t o = 0; o < g.n_out; ++o) fn(o);
    check_close(got, want, 1e-12, "reduce to rank " + std::to_string(out_rank));
    // argmax depends on the order of the fold: it must see j in row-major order
    std::vector<std::int64_t> want_i(want.size()), got_i(want.size());
    Kernels<Cpu>::reduce(a.shape(), out_rank, want_i.data(), in, trustml::ops::ArgmaxRed<double>{});
    const gpu::ReduceFn<std::int64_t, double, trustml::ops::ArgmaxRed<double>> arg{got_i.data(), a.data(), g, {}};
    for (std::int64_t o = 0; o < g.n_out; ++o) arg(o);
    CHECK(got_i == want_i);
  }
  static_assert(gpu::Combinable<trustml::ops::SumRed<float>>);
  static_assert(gpu::Combinable<trustml::ops::ExtremumRed<double, true>>);
  static_assert(!gpu::Combinable<trustml::ops::ArgmaxRed<float>>);  // order-dependent: never split
}

TEST_CASE("cuda host: the cuBLAS argument mapping computes the row-major product") {
  const std::int64_t m = 3, n = 4, k = 5, batch = 2;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool broadcast_b : {false, true}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(broadcast_b);
        // Padded leading dimensions, as views of wider matrices give.
        const std::int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
        const std::int64_t sa = (ta ? k : m) * lda, sb = broadcast_b ? 0 : (tb ? n : k) * ldb, sc = m * ldc;
        auto a = Tensor<double>::randn({batch * sa}, 4), b = Tensor<double>::randn({batch * (tb ? n : k) * ldb}, 5);
        auto c0 = Tensor<double>::randn({batch * sc}, 6);
        GemmArgs<double> g;
        g.trans_a = ta, g.trans_b = tb, g.m = m, g.n = n, g.k = k, g.batch = batch, g.alpha = 0.5, g.beta = -1.5;
        g.a = a.data(), g.lda = lda, g.stride_a = sa;
        g.b = b.data(), g.ldb = ldb, g.stride_b = sb;
        auto want = Tensor<double>::from_vector(c0.to_vector());
        g.c = want.data(), g.ldc = ldc, g.stride_c = sc;
        Kernels<Cpu>::gemm(g);
        auto got = Tensor<double>::from_vector(c0.to_vector());
        g.c = got.data();
        blas_reference(gpu::column_major(g), g.alpha, g.beta);
        check_close(got.to_vector(), want.to_vector(), 1e-12, "gemm mapping");
      }
}

TEST_CASE("cuda: availability and the stream") {
  CHECK_NOTHROW(Cuda::available());
  SKIP_WITHOUT_GPU();
  CHECK(Cuda::stream() == Cuda::stream());
  CHECK_NOTHROW(Cuda::synchronize());
}

TEST_CASE("cuda: copies round-trip, also for complex and int64") {
  SKIP_WITHOUT_GPU();
  std::vector<std::complex<float>> z = {{1, 2}, {-3, 4.5f}, {0, -1}};
  CHECK(Tensor<std::complex<float>, Cuda>::from_vector(z).to_vector() == z);
  std::vector<std::int64_t> ids = {5, -1, 1LL << 40};
  CHECK(Tensor<std::int64_t, Cuda>::from_vector(ids).to_vector() == ids);
  auto x = Tensor<double>::randn({7, 3}, 9);
  CHECK(x.to<Cuda>().to<Cpu>().to_vector() == x.to_vector());
  CHECK(Tensor<float, Cuda>::full({2, 2}, 3.5f).to_vector() == std::vector<float>(4, 3.5f));
  CHECK(Tensor<double, Cuda>::arange(5).to_vector() == std::vector<double>{0, 1, 2, 3, 4});
}

TEST_CASE("cuda: the caching allocator reuses freed blocks") {
  SKIP_WITHOUT_GPU();
  Cuda::synchronize();
  Cuda::empty_cache();
  CHECK(Cuda::memory_stats().bytes_cached == 0);
  const auto before = Cuda::memory_stats();
  void* first;
  {
    auto t = Tensor<float, Cuda>::empty({1000});
    first = t.data();
    CHECK(Cuda::memory_stats().bytes_in_use == before.bytes_in_use + 4096);
  }
  CHECK(Cuda::memory_stats().bytes_cached == 4096);
  {
    auto t = Tensor<float, Cuda>::empty({1000});
    CHECK(static_cast<void*>(t.data()) == first);
  }
  {
    auto t = Tensor<float, Cuda>::empty({990});  // a different size in the same bucket
    CHECK(static_cast<void*>(t.data()) == first);
  }
  const auto after = Cuda::memory_stats();
  CHECK(after.cache_hits == before.cache_hits + 2);
  CHECK(after.backend_allocations == before.backend_allocations + 1);
  CHECK(after.peak_bytes_in_use >= before.bytes_in_use + 4096);
  // a loop of same-sized temporaries reaches a steady state without new device allocations
  auto x = Tensor<float, Cuda>::randn({256, 256}, 1);
  for (int i = 0; i < 3; ++i) x = trustml::tanh(trustml::add(x, x));
  const auto warm = Cuda::memory_stats().backend_allocations;
  for (int i = 0; i < 10; ++i) x = trustml::tanh(trustml::add(x, x));
  CHECK(Cuda::memory_stats().backend_allocations == warm);
  Cuda::empty_cache();
  CHECK(Cuda::memory_stats().bytes_cached == 0);
}

TEST_CASE("cuda: errors name the CUDA call") {
  SKIP_WITHOUT_GPU();
  try {
    (void)Cuda::allocate<char>(std::size_t(1) << 60);
    FAIL("an exabyte allocation succeeded");
  } catch (const trustml::Error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("cudaMalloc") != std::string::npos);
  }
  CHECK_NOTHROW(Cuda::synchronize());  // the failure left no error behind
}

TEST_CASE("cuda: Philox rand and randn match the CPU for the same seed and offset") {
  SKIP_WITHOUT_GPU();
  const Shape s{1001};  // odd: the last Philox block is partly used
  for (std::uint64_t offset : {0ull, 3ull, 1ull << 33}) {
    CAPTURE(offset);
    // Uniforms are integer arithmetic and one exact scaling: bit-identical.
    CHECK(Tensor<float, Cuda>::rand(s, 42, offset).to_vector() == Tensor<float>::rand(s, 42, offset).to_vector());
    CHECK(Tensor<double, Cuda>::rand(s, 42, offset).to_vector() == Tensor<double>::rand(s, 42, offset).to_vector());
    CHECK(Tensor<std::complex<float>, Cuda>::rand(s, 7, offset).to_vector() ==
          Tensor<std::complex<float>>::rand(s, 7, offset).to_vector());
    // Normals use trustml's own log, sin and cos, built from exactly rounded operations: bit-identical.
    CHECK(Tensor<double, Cuda>::randn(s, 42, offset).to_vector() == Tensor<double>::randn(s, 42, offset).to_vector());
    CHECK(Tensor<float, Cuda>::randn(s, 42, offset).to_vector() == Tensor<float>::randn(s, 42, offset).to_vector());
    CHECK(Tensor<std::complex<double>, Cuda>::randn(s, 5, offset).to_vector() ==
          Tensor<std::complex<double>>::randn(s, 5, offset).to_vector());
  }
}
