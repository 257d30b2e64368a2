// bench/overhead.cpp: per-op host overhead of trustml on one-element tensors.
//
// What the numbers mean (all single-threaded; run with OMP_NUM_THREADS=1, the program also sets it):
//   overhead/<op>/no_grad     the op under NoGradGuard on inputs that require grad: allocation of the
//                             output, shape/broadcast checks, the kernel call; nothing recorded.
//   overhead/<op>/record      the same op while recording: plus the OpNode (edges, saved tensors);
//                             the output and its node are freed each iteration.
//   overhead/add/fwd_bwd      two leaves requiring grad, y = add(a, b), y.backward(), then
//                             a.zero_grad(), b.zero_grad(): the PyTorch-style training step of one op.
//                             Target <= 0.5 us (set against LibTorch 1.13's C++ API, quoted at 3-8 us;
//                             LibTorch is not measured here).
//   overhead/add/fwd_bwd_accumulate   the same without zero_grad: .grad accumulates across iterations.
//   overhead/chain10k/fwd_bwd a chain of 10,000 ops (alternately mul and add by a constant tensor)
//                             on a one-element leaf, forward then backward; counter per_op = time / 10,000.
//   overhead/empty            Tensor<float>::empty({1}): the allocations every op output pays.
// Ops: add, mul, exp, scale (by a host scalar), sum (a reduction), matmul ([1, 1] @ [1, 1]).
// Counter allocs: heap allocations per iteration (per op for the chain).
//
// Build: cmake -DTRUSTML_BUILD_BENCH=ON ...; run: OMP_NUM_THREADS=1 ./bench/trustml_bench_overhead
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <trustml/trustml.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

// Heap allocations per iteration (counter allocs): the global operator new is replaced by the same
// malloc / aligned_alloc that libstdc++'s uses, plus a relaxed counter (a plain load and store, no
// locked instruction), so the timings are those of the default allocator within a nanosecond.
namespace {
std::atomic<std::uint64_t> g_allocs{0};
void* counted_alloc(std::size_t size, std::size_t align) {
  g_allocs.store(g_allocs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align)
                                              : std::malloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace
void* operator new(std::size_t size) { return counted_alloc(size, 0); }
void* operator new[](std::size_t size) { return counted_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return counted_alloc(size, std::size_t(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return counted_alloc(size, std::size_t(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// Sets the counter allocs = heap allocations per iteration of the timed loop that just ran.
struct AllocCount {
  std::uint64_t start = g_allocs.load(std::memory_order_relaxed);
  void report(benchmark::State& state, double per = 1) const {
    const double n = double(g_allocs.load(std::memory_order_relaxed) - start);
    state.counters["allocs"] = benchmark::Counter(n / double(std::max<std::int64_t>(state.iterations(), 1)) / per);
  }
};

using trustml::Shape;
using F = trustml::Tensor<float>;

F leaf(float v, bool requires_grad, const Shape& shape = Shape{1}) {
  F t = F::full(shape, v);
  if (requires_grad) t.set_requires_grad();
  return t;
}

enum class Kind { add, mul, exp, scale, sum, matmul };

F apply(Kind k, const F& a, const F& b) {
  switch (k) {
    case Kind::add: return trustml::add(a, b);
    case Kind::mul: return trustml::mul(a, b);
    case Kind::exp: return trustml::exp(a);
    case Kind::scale: return trustml::scale(a, 0.5f);
    case Kind::sum: return trustml::sum(a);
    case Kind::matmul: return trustml::matmul(a, b);
  }
  return F();
}

// One element: [1], or [1, 1] for matmul.
Shape shape_of(Kind k) { return k == Kind::matmul ? Shape{1, 1} : Shape{1}; }

void BM_NoGrad(benchmark::State& state, Kind k) {
  F a = leaf(1.25f, true, shape_of(k)), b = leaf(0.5f, true, shape_of(k));
  trustml::NoGradGuard guard;
  AllocCount count;
  for (auto _ : state) {
    F y = apply(k, a, b);
    benchmark::DoNotOptimize(y.impl());
  }
  count.report(state);
  if (apply(k, a, b).requires_grad()) state.SkipWithError("recorded under NoGradGuard");
}

void BM_Record(benchmark::State& state, Kind k) {
  F a = leaf(1.25f, true, shape_of(k)), b = leaf(0.5f, true, shape_of(k));
  AllocCount count;
  for (auto _ : state) {
    F y = apply(k, a, b);
    benchmark::DoNotOptimize(y.impl());
  }
  count.report(state);
  if (!apply(k, a, b).requires_grad()) state.SkipWithError("did not record");
}

void BM_AddFwdBwd(benchmark::State& state) {
  F a = leaf(1.25f, true), b = leaf(0.5f, true);
  AllocCount count;
  for (auto _ : state) {
    F y = trustml::add(a, b);
    y.backward();
    a.zero_grad();
    b.zero_grad();
  }
  count.report(state);
  // Correctness of what was timed: d(a + b)/da = d(a + b)/db = 1.
  F y = trustml::add(a, b);
  y.backward();
  if (a.grad().item() != 1.0f || b.grad().item() != 1.0f) state.SkipWithError("wrong gradient");
}

void BM_AddFwdBwdAccumulate(benchmark::State& state) {
  F a = leaf(1.25f, true), b = leaf(0.5f, true);
  AllocCount count;
  for (auto _ : state) {
    F y = trustml::add(a, b);
    y.backward();
  }
  count.report(state);
  if (a.grad().item() != static_cast<float>(state.iterations())) state.SkipWithError("wrong accumulated gradient");
}

constexpr int kChain = 10000;

void BM_Chain(benchmark::State& state) {
  F x = leaf(1.0f, true);
  F c = leaf(1.0f, false);  // constant, no grad: y stays at 1, d y / d x = 1
  AllocCount count;
  for (auto _ : state) {
    F y = x;
    for (int i = 0; i < kChain; ++i) y = (i & 1) ? trustml::add(y, c) : trustml::mul(y, c);
    y.backward();
    x.zero_grad();
  }
  count.report(state, kChain);  // per op
  // kIsIterationInvariantRate gives kChain * iterations / seconds (ops per second); kInvert turns it
  // into seconds per op, which the console prints with an SI prefix (e.g. "450ns").
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(kChain), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  F y = x;
  for (int i = 0; i < kChain; ++i) y = (i & 1) ? trustml::add(y, c) : trustml::mul(y, c);
  y.backward();
  if (x.grad().item() != 1.0f) state.SkipWithError("wrong chain gradient");
}

void BM_Empty(benchmark::State& state) {
  AllocCount count;
  for (auto _ : state) {
    F t = F::empty(Shape{1});
    benchmark::DoNotOptimize(t.impl());
  }
  count.report(state);
}

}  // namespace

int main(int argc, char** argv) {
  // One thread, as the brief of this benchmark says; one-element tensors never reach the parallel
  // loops anyway, but this keeps the OpenMP runtime out of the picture.
  setenv("OMP_NUM_THREADS", "1", 0);
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
  const std::pair<const char*, Kind> ops[] = {{"add", Kind::add},     {"mul", Kind::mul}, {"exp", Kind::exp},
                                              {"scale", Kind::scale}, {"sum", Kind::sum}, {"matmul", Kind::matmul}};
  benchmark::RegisterBenchmark("overhead/empty", BM_Empty);
  for (auto& [name, k] : ops)
    benchmark::RegisterBenchmark((std::string("overhead/") + name + "/no_grad").c_str(), BM_NoGrad, k);
  for (auto& [name, k] : ops)
    benchmark::RegisterBenchmark((std::string("overhead/") + name + "/record").c_str(), BM_Record, k);
  benchmark::RegisterBenchmark("overhead/add/fwd_bwd", BM_AddFwdBwd);
  benchmark::RegisterBenchmark("overhead/add/fwd_bwd_accumulate", BM_AddFwdBwdAccumulate);
  benchmark::RegisterBenchmark("overhead/chain10k/fwd_bwd", BM_Chain)->Unit(benchmark::kMillisecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("omp_threads", "1");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
