#include <doctest/doctest.h>

#include <cstdint>
#include <sstream>
#include <trustml/trustml.hpp>

using namespace trustml;

TEST_CASE("factories and host access") {
  auto t = Tensor<float>::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.is_contiguous());
  CHECK(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(Tensor<double>::full({2}, 2.5).to_vector() == std::vector<double>{2.5, 2.5});
  CHECK(Tensor<double>::arange(4).to_vector() == std::vector<double>{0, 1, 2, 3});
  CHECK(Tensor<double>::scalar(3).item() == 3);
  CHECK_THROWS_AS(Tensor<float>::from_vector({1, 2, 3}, {2, 2}), Error);
  CHECK_THROWS_AS(t.item(), Error);
  CHECK_THROWS_AS(Tensor<float>().shape(), Error);
}

TEST_CASE("views share storage") {
  auto t = Tensor<double>::arange(24).reshape({2, 3, 4});
  auto p = t.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.storage() == t.storage());
  CHECK(!p.is_contiguous());
  CHECK(p.contiguous().to_vector()[1] == 4);  // p[0][0][1] = t[0][1][0]
  auto s = t.slice(2, 1, 4, 2);               // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.to_vector() == std::vector<double>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  CHECK(t.slice(0, -1, 2).to_vector().front() == 12);
  auto e = Tensor<double>::from_vector({1, 2}, {2, 1}).expand({2, 3});
  CHECK(e.strides()[1] == 0);
  CHECK(e.to_vector() == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(t.unsqueeze(0).shape() == Shape{1, 2, 3, 4});
  CHECK(t.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(t.unsqueeze(0).squeeze(0).shape() == Shape{2, 3, 4});
  CHECK(t.transpose(0, 2).shape() == Shape{4, 3, 2});
  CHECK(t.reshape({-1, 4}).shape() == Shape{6, 4});
  CHECK(t.reshape({-1, 4}).storage() == t.storage());
  // Reshaping a non-contiguous view copies.
  CHECK(p.reshape({24}).storage() != t.storage());
  CHECK_THROWS_AS(t.reshape({5, 5}), Error);
  CHECK_THROWS_AS(t.permute({0, 0, 1}), Error);
  CHECK_THROWS_AS(t.expand({3, 3, 4}), Error);
}

TEST_CASE("tensors whose size overflows are refused, naming the shape") {
  CHECK_THROWS_WITH_AS(Tensor<float>::zeros({std::int64_t{1} << 62, 4}),
                       "trustml::empty: shape [4611686018427387904, 4] is too large: its element count or a stride "
                       "overflows int64",
                       Error);
  CHECK_THROWS_WITH_AS(Tensor<float>::empty({0, std::int64_t{1} << 32, std::int64_t{1} << 32}),
                       "trustml::empty: shape [0, 4294967296, 4294967296] is too large: its element count or a stride "
                       "overflows int64",
                       Error);
  // 2^62 elements can be counted, but not their 2^65 bytes.
  CHECK_THROWS_WITH_AS(Tensor<double>::empty({std::int64_t{1} << 60, 4}),
                       "trustml::empty: shape [1152921504606846976, 4] of float64 needs 4611686018427387904 elements "
                       "of 8 bytes, more bytes than a pointer difference can count",
                       Error);
  auto t = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.reshape({-1, std::int64_t{1} << 62, 4}),
                       "trustml::reshape: shape [1, 4611686018427387904, 4] is too large: its element count or a "
                       "stride overflows int64",
                       Error);
  CHECK_THROWS_AS(t.expand({std::int64_t{1} << 62, 2, 3}), Error);
}

TEST_CASE("restride makes only views that lie inside the storage") {
  auto t = Tensor<float>::from_vector({0, 1, 2, 3, 4});
  CHECK(t.restride(Shape{3}, Strides{2}, 0).to_vector() == std::vector<float>{0, 2, 4});
  CHECK(t.restride(Shape{2, 2}, Strides{0, 1}, 3).to_vector() == std::vector<float>{3, 4, 3, 4});
  CHECK(t.restride(Shape{0, 7}, Strides{100, 1}, 5).numel() == 0);  // empty: addresses nothing
  CHECK_THROWS_WITH_AS(
      t.restride(Shape{4}, Strides{1}, 3),
      "trustml::restride: a view of shape [4] with strides [1] at offset 3 reaches outside its storage "
      "of 5 elements",
      Error);
  CHECK_THROWS_WITH_AS(t.restride(Shape{2, 3}, Strides{3, 1}, 0),
                       "trustml::restride: a view of shape [2, 3] with strides [3, 1] at offset 0 reaches outside its "
                       "storage of 5 elements",
                       Error);
  CHECK_THROWS_AS(t.restride(Shape{1}, Strides{1}, -1), Error);
  CHECK_THROWS_AS(t.restride(Shape{2}, Strides{std::int64_t{1} << 62}, 0), Error);        // (2 - 1) * 2^62 > 5
  CHECK_THROWS_AS(t.restride(Shape{3, 2}, Strides{std::int64_t{1} << 62, 1}, 0), Error);  // the reach overflows
  CHECK_THROWS_WITH_AS(t.restride(Shape{2}, Strides{-1}, 1),
                       "trustml::restride: shape [2] and strides [-1] must not be negative", Error);
  CHECK_THROWS_AS(t.restride(Shape{2}, Strides{1, 1}, 0), Error);
}

TEST_CASE("cast and to") {
  auto t = Tensor<double>::from_vector({1.5, -2});
  auto f = t.cast<float>();
  CHECK(f.to_vector() == std::vector<float>{1.5f, -2.f});
  auto z = t.cast<std::complex<double>>();
  CHECK(z.to_vector()[1] == std::complex<double>(-2, 0));
  CHECK(t.to<Cpu>().same(t));
}

TEST_CASE("printing") {
  std::ostringstream os;
  os << Tensor<double>::from_vector({1, 2, 3, 4}, {2, 2});
  CHECK(os.str() == "tensor([[1, 2], [3, 4]], shape=[2, 2], dtype=float64, device=cpu)");
  std::ostringstream big;
  big << Tensor<float>::arange(10);
  CHECK(big.str() == "tensor([0, 1, 2, ..., 7, 8, 9], shape=[10], dtype=float32, device=cpu)");
  std::ostringstream zs;
  zs << Tensor<std::complex<float>>::from_vector({{1, -2}});
  CHECK(zs.str() == "tensor([1-2j], shape=[1], dtype=complex64, device=cpu)");
  auto a = Tensor<double>::ones({1}).set_requires_grad();
  std::ostringstream g;
  g << mul(a, a);
  CHECK(g.str() == "tensor([1], shape=[1], dtype=float64, device=cpu, grad_fn=<mul>)");
}

// Skipped under AddressSanitizer, where the cache passes through (test_block_cache_sanitize.cpp).
TEST_CASE("cpu: large blocks are cached and reused; small ones are not counted" *
          doctest::skip(trustml::BlockCache<trustml::CpuHeapBackend>::pass_through)) {
  using trustml::Cpu;
  const auto before = Cpu::memory_stats();
  const void* first;
  {
    auto t = Tensor<float>::empty({1 << 18});  // 1 MiB
    first = t.data();
    CHECK(Cpu::memory_stats().bytes_in_use >= before.bytes_in_use + (1u << 20));
  }
  CHECK(Cpu::memory_stats().bytes_cached >= (1u << 20));
  {
    auto t = Tensor<float>::empty({(1 << 18) - 100});  // another size of the same bucket
    CHECK(static_cast<const void*>(t.data()) == first);
  }
  auto small = Tensor<float>::empty({100});
  const auto after = Cpu::memory_stats();
  CHECK(after.cache_hits >= before.cache_hits + 1);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  Cpu::empty_cache();
  CHECK(Cpu::memory_stats().bytes_cached == 0);
}
