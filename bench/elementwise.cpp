// bench/elementwise.cpp: elementwise throughput of trustml in GB/s, against memcpy in the same run.
//
// The counter GB (printed per second: GB/s, 1 GB = 1e9 bytes) counts the bytes each op must move once: the bytes of its distinct inputs read plus the
// bytes of its output written (add/mul of n floats: 12 n; exp: 8 n; broadcast add of an n-element
// tensor and a row/column: 8 n + the small operand). memcpy of the n floats counts 8 n (read +
// written), so its GB/s is the ceiling an out-of-place op can reach.
//
//   ew/<op>/contig/<n>        trustml::add/mul/exp/tanh/sigmoid/gelu/silu on contiguous float
//                             tensors of n elements (the unary ones count 8 n bytes)
//                             (a new output tensor per call, as the API does)
//   ew/add/bcast_row/<n>      [n/1024, 1024] + [1024]
//   ew/add/bcast_col/<n>      [n/1024, 1024] + [n/1024, 1]
//   ew/<op>_into/contig/<n>   the same kernel (Kernels<Cpu>::map) into a preallocated output:
//                             the op minus the output allocation (diagnostic)
//   ew/memcpy/1thread/<n>     std::memcpy of 4 n bytes into a preallocated buffer
//   ew/memcpy/omp/<n>         the same split over the OpenMP threads (as trustml's loops are)
// n = 1M (working set 12 MB: in L3) and 16M (192 MB: DRAM). Threads: OMP_NUM_THREADS (default all).
// A summary with each op's share of memcpy's GB/s is printed at the end.
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <trustml/trustml.hpp>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using trustml::Shape;
using F = trustml::Tensor<float>;
using trustml::kernels::Kernels;
using trustml::kernels::Strided;

void set_gbs(benchmark::State& state, double bytes) {
  state.counters["GB"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

enum class Op { add, mul, exp, tanh, sigmoid, gelu, silu };
bool is_unary(Op op) { return op != Op::add && op != Op::mul; }

F run_op(Op op, const F& a, const F& b) {
  switch (op) {
    case Op::add: return trustml::add(a, b);
    case Op::mul: return trustml::mul(a, b);
    case Op::exp: return trustml::exp(a);
    case Op::tanh: return trustml::tanh(a);
    case Op::sigmoid: return trustml::sigmoid(a);
    case Op::gelu: return trustml::gelu(a);
    case Op::silu: return trustml::silu(a);
  }
  return a;
}

void BM_Contig(benchmark::State& state, Op op) {
  const std::int64_t n = state.range(0);
  F a = F::rand(Shape{n}, 1), b = F::rand(Shape{n}, 2);
  trustml::NoGradGuard guard;
  for (auto _ : state) {
    F c = run_op(op, a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gbs(state, double(n) * sizeof(float) * (is_unary(op) ? 2 : 3));
}

void BM_Into(benchmark::State& state, Op op) {
  const std::int64_t n = state.range(0);
  F a = F::rand(Shape{n}, 1), b = F::rand(Shape{n}, 2), c = F::zeros(Shape{n});
  const Strided<float> sa{a.data(), a.strides()}, sb{b.data(), b.strides()};
  for (auto _ : state) {
    switch (op) {
      case Op::add: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Add{}, sa, sb); break;
      case Op::mul: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Mul{}, sa, sb); break;
      case Op::exp: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Exp{}, sa); break;
      case Op::tanh: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Tanh{}, sa); break;
      case Op::sigmoid: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Sigmoid{}, sa); break;
      case Op::gelu: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Gelu{}, sa); break;
      case Op::silu: Kernels<trustml::Cpu>::map(c.shape(), c.data(), trustml::fn::Silu{}, sa); break;
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gbs(state, double(n) * sizeof(float) * (is_unary(op) ? 2 : 3));
}

void BM_Broadcast(benchmark::State& state, bool row) {
  const std::int64_t n = state.range(0), cols = 1024, rows = n / cols;
  F a = F::rand(Shape{rows, cols}, 1);
  F b = row ? F::rand(Shape{cols}, 2) : F::rand(Shape{rows, 1}, 2);
  trustml::NoGradGuard guard;
  for (auto _ : state) {
    F c = trustml::add(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gbs(state, (2.0 * double(n) + double(b.numel())) * sizeof(float));
}

void BM_Memcpy(benchmark::State& state, bool parallel) {
  const std::int64_t n = state.range(0);
  F a = F::rand(Shape{n}, 1), c = F::zeros(Shape{n});
  const std::size_t bytes = std::size_t(n) * sizeof(float);
  char* dst = reinterpret_cast<char*>(c.data());
  const char* src = reinterpret_cast<const char*>(a.data());
  for (auto _ : state) {
    if (!parallel) {
      std::memcpy(dst, src, bytes);
    } else {
#if defined(_OPENMP)
#pragma omp parallel
      {
        const std::size_t t = std::size_t(omp_get_thread_num()), nt = std::size_t(omp_get_num_threads());
        const std::size_t lo = (bytes * t / nt) & ~std::size_t(63),
                          hi = t + 1 == nt ? bytes : (bytes * (t + 1) / nt) & ~std::size_t(63);
        std::memcpy(dst + lo, src + lo, hi - lo);
      }
#else
      std::memcpy(dst, src, bytes);
#endif
    }
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  set_gbs(state, 2.0 * double(bytes));
}

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  // Colors only on a terminal (a custom reporter does not follow --benchmark_color).
  SummaryReporter() : ConsoleReporter(isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  std::map<std::string, double> best;  // "family/arg" -> best GB/s over repetitions
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto it = r.counters.find("GB");
      if (it == r.counters.end()) continue;
      const std::string name = r.run_name.function_name + "/" + r.run_name.args;
      best[name] = std::max(best[name], it->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::int64_t> sizes = {1 << 20, 1 << 24};
  auto reg = [&](const std::string& name, auto fn, auto arg) {
    auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, arg);
    for (auto n : sizes) b->Arg(n);
    b->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  reg("ew/memcpy/1thread", BM_Memcpy, false);
  reg("ew/memcpy/omp", BM_Memcpy, true);
  reg("ew/add/contig", BM_Contig, Op::add);
  reg("ew/mul/contig", BM_Contig, Op::mul);
  reg("ew/exp/contig", BM_Contig, Op::exp);
  reg("ew/tanh/contig", BM_Contig, Op::tanh);
  reg("ew/sigmoid/contig", BM_Contig, Op::sigmoid);
  reg("ew/gelu/contig", BM_Contig, Op::gelu);
  reg("ew/silu/contig", BM_Contig, Op::silu);
  reg("ew/add/bcast_row", BM_Broadcast, true);
  reg("ew/add/bcast_col", BM_Broadcast, false);
  reg("ew/add_into/contig", BM_Into, Op::add);
  reg("ew/mul_into/contig", BM_Into, Op::mul);
  reg("ew/exp_into/contig", BM_Into, Op::exp);
  reg("ew/tanh_into/contig", BM_Into, Op::tanh);
  reg("ew/gelu_into/contig", BM_Into, Op::gelu);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  benchmark::AddCustomContext("omp_threads", std::to_string(threads));
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf("\nsummary (best GB/s; %d OpenMP thread(s)); %% of memcpy 1 thread / %% of memcpy on %d thread(s)\n",
              threads, threads);
  const char* names[] = {"ew/add/contig",       "ew/mul/contig",      "ew/exp/contig",      "ew/tanh/contig",
                         "ew/sigmoid/contig",   "ew/gelu/contig",     "ew/silu/contig",     "ew/add/bcast_row",
                         "ew/add/bcast_col",    "ew/add_into/contig", "ew/mul_into/contig", "ew/exp_into/contig",
                         "ew/tanh_into/contig", "ew/gelu_into/contig"};
  auto get = [&](const std::string& key) {
    auto it = reporter.best.find(key);
    return it == reporter.best.end() ? 0.0 : it->second;
  };
  auto pct = [](double x, double ref) {
    return ref > 0 ? std::to_string(int(100 * x / ref + 0.5)) + "%" : std::string("-");
  };
  for (auto n : sizes) {
    const std::string arg = "/" + std::to_string(n);
    bool any = false;
    for (const auto& [key, value] : reporter.best) any = any || key.ends_with(arg);
    if (!any) continue;
    const double m1 = get("ew/memcpy/1thread" + arg), mp = get("ew/memcpy/omp" + arg);
    std::printf("n=%lld: memcpy 1 thread %.1f GB/s, memcpy %d thread(s) %.1f GB/s (0 = not run)\n", (long long)n, m1,
                threads, mp);
    for (const char* name : names) {
      const double v = get(name + arg);
      if (v == 0) continue;
      std::printf("  %-20s %7.1f GB/s  %6s  %6s\n", name, v, pct(v, m1).c_str(), pct(v, mp).c_str());
    }
  }
  benchmark::Shutdown();
  return 0;
}
