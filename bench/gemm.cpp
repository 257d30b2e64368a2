// bench/gemm.cpp: fp32 square GEMM, trustml::matmul against OpenBLAS's cblas_sgemm in one binary.
//
//   gemm/<lib>/t<threads>/<n>   C = A * B with A, B n x n row-major float (randn). Counter GFLOP
//                               (printed per second, i.e. GFLOP/s) = 2 n^3 / time. <lib> is
//                               trustml (Eigen, or CBLAS in a build with -DTRUSTML_USE_BLAS=ON) or
//                               openblas (cblas_sgemm called directly, into a preallocated C);
//                               trustml::matmul allocates its output on each call, as a user pays it.
// Threads: 2 (OpenMP + Eigen::setNbThreads for Eigen, openblas_set_num_threads(2)), then 1.
// After the runs the program prints, per thread count and size, the ratio trustml / OpenBLAS of the
// best GFLOP/s over the repetitions (target >= 85%). Use --benchmark_repetitions=5
// --benchmark_enable_random_interleaving=true so that both libraries see the same conditions.
//
// Both libraries leave their worker threads spinning for a while after a call; on a 2-core machine
// that would take a core from the other library, so each benchmark sleeps 0.3 s before its untimed
// warm-up call.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <trustml/trustml.hpp>
#include <tuple>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

extern "C" {
// Declared by OpenBLAS's cblas.h; repeated here so that another CBLAS header cannot hide them.
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace {

using trustml::Shape;
using F = trustml::Tensor<float>;

void set_threads(int t) {
#if defined(_OPENMP)
  omp_set_num_threads(t);
#endif
  Eigen::setNbThreads(t);
  openblas_set_num_threads(t);
}

void quiesce() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

void set_gflops(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP"] =
      benchmark::Counter(2.0 * double(n) * double(n) * double(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Trustml(benchmark::State& state, int threads) {
  const std::int64_t n = state.range(0);
  set_threads(threads);
  F a = F::randn(Shape{n, n}, 1), b = F::randn(Shape{n, n}, 2);
  trustml::NoGradGuard guard;
  quiesce();
  { F warm = trustml::matmul(a, b); }
  for (auto _ : state) {
    F c = trustml::matmul(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

void BM_OpenBlas(benchmark::State& state, int threads) {
  const int n = static_cast<int>(state.range(0));
  set_threads(threads);
  F a = F::randn(Shape{n, n}, 1), b = F::randn(Shape{n, n}, 2), c = F::zeros(Shape{n, n});
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  };
  quiesce();
  run();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

// Checks once that both paths compute the same product (so the timed code is the right code).
bool same_result(std::int64_t n) {
  set_threads(2);
  F a = F::randn(Shape{n, n}, 3), b = F::randn(Shape{n, n}, 4), c = F::zeros(Shape{n, n});
  F t = trustml::matmul(a, b);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, a.data(), int(n), b.data(),
              int(n), 0.0f, c.data(), int(n));
  auto x = t.to_vector(), y = c.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  std::printf("check: max |trustml - openblas| over a %lldx%lld product = %.3g\n", (long long)n, (long long)n, worst);
  return worst < 1e-2;
}

// Console output as usual, plus the best GFLOP/s of each benchmark, kept for the ratio lines.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Colors only on a terminal (a custom reporter does not follow --benchmark_color).
  RatioReporter() : ConsoleReporter(isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  std::map<std::string, double> best;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto it = r.counters.find("GFLOP");
      if (it == r.counters.end()) continue;
      const std::string name = r.run_name.function_name + "/" + r.run_name.args;  // no "/real_time"
      best[name] = std::max(best[name], it->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> thread_counts = {2, 1};
  const std::vector<int> sizes = {1024, 2048};
#if defined(TRUSTML_USE_BLAS)
  const char* backend = "CBLAS (TRUSTML_USE_BLAS)";
#else
  const char* backend = "Eigen " EIGEN_MAKESTRING(EIGEN_WORLD_VERSION) "." EIGEN_MAKESTRING(
      EIGEN_MAJOR_VERSION) "." EIGEN_MAKESTRING(EIGEN_MINOR_VERSION);
#endif
  for (int t : thread_counts) {
    for (int n : sizes) {
      const std::string suffix = "/t" + std::to_string(t);
      benchmark::RegisterBenchmark(("gemm/trustml" + suffix).c_str(), BM_Trustml, t)
          ->Arg(n)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(1.0);
      benchmark::RegisterBenchmark(("gemm/openblas" + suffix).c_str(), BM_OpenBlas, t)
          ->Arg(n)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(1.0);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("trustml_gemm_backend", backend);
  benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  if (!same_result(512)) {
    std::fprintf(stderr, "trustml::matmul and cblas_sgemm disagree\n");
    return 1;
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\ntrustml GEMM backend: %s; OpenBLAS core: %s\n", backend, openblas_get_corename());
  for (int t : thread_counts) {
    for (int n : sizes) {
      const std::string suffix = "/t" + std::to_string(t) + "/" + std::to_string(n);
      auto a = reporter.best.find("gemm/trustml" + suffix), b = reporter.best.find("gemm/openblas" + suffix);
      if (a == reporter.best.end() || b == reporter.best.end()) continue;
      const double ratio = a->second / b->second;
      std::printf("ratio trustml/openblas threads=%d n=%d: %.1f / %.1f GFLOP/s = %.1f%% (target >= 85%%: %s)\n", t, n,
                  a->second, b->second, 100.0 * ratio, ratio >= 0.85 ? "pass" : "FAIL");
    }
  }
  benchmark::Shutdown();
  return 0;
}
