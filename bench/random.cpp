// bench/random.cpp: the normal generator behind Tensor::randn (Philox4x32-10 + Box-Muller on the
// library's portable log, sqrt, sin and cos), in normals per second.
//
//   randn/float/<n>, randn/double/<n>   Tensor<T>::randn of n elements: CPU calls draw 64 Box-Muller
//                                       pairs each in one branch-free loop, which compiles to SIMD
//   normal_pair/scalar/<n>              the same n normals from random::normal_pair called once per
//                                       pair through an opaque function pointer, so that the
//                                       compiler cannot vectorize across pairs: what each GPU
//                                       thread runs, and what the CPU ran before
// The counter "normals" is per second. Both draw the same numbers (checked once at start-up); run
// with OMP_NUM_THREADS=1 to compare the two on one core.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <trustml/trustml.hpp>
#include <vector>

namespace {

using trustml::Shape;

void set_rate(benchmark::State& state, std::int64_t n) {
  state.counters["normals"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
}

template <class T>
void BM_Randn(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::uint64_t offset = 0;
  for (auto _ : state) {
    auto t = trustml::Tensor<T>::randn(Shape{n}, 7, offset);
    benchmark::DoNotOptimize(t.data());
    offset += static_cast<std::uint64_t>(n);
  }
  set_rate(state, n);
}

using PairFn = void (*)(std::uint64_t, std::uint64_t, std::uint64_t, double&, double&);
PairFn volatile opaque_pair = &trustml::random::normal_pair;  // volatile: not inlined, not vectorized

void BM_ScalarPairs(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<float> out(n);
  std::uint64_t block = 0;
  for (auto _ : state) {
    const PairFn pair = opaque_pair;
    for (std::int64_t i = 0; i + 1 < n; i += 2, ++block) {
      double even, odd;
      pair(7, 0, block, even, odd);
      out[i] = static_cast<float>(even);
      out[i + 1] = static_cast<float>(odd);
    }
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(state, n);
}

// The vectorized and the scalar path must draw the same stream, or the comparison means nothing.
bool same_stream() {
  const std::int64_t n = 4096;
  const auto drawn = trustml::Tensor<double>::randn(Shape{n}, 11, 3).to_vector();
  for (std::int64_t i = 0; i < n; ++i)
    if (drawn[i] != trustml::random::normal(11, 0, 3 + static_cast<std::uint64_t>(i))) return false;
  return true;
}

}  // namespace

BENCHMARK(BM_Randn<float>)->Name("randn/float")->Arg(1 << 16)->Arg(313600)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Randn<double>)->Name("randn/double")->Arg(1 << 16)->Arg(313600)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ScalarPairs)->Name("normal_pair/scalar")->Arg(1 << 16)->Arg(313600)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  if (!same_stream()) {
    std::fprintf(stderr, "bench_random: Tensor::randn and random::normal disagree\n");
    return EXIT_FAILURE;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return EXIT_FAILURE;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
