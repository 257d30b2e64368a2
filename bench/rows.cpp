// bench/rows.cpp: the fused row ops of ops/nn.hpp against the composite formulas they replaced, in
// the shapes of a BERT-base-like encoder (hidden 384, 12 heads, sequence 48, batch 64), forward only
// (no tensor requires a gradient).
//
//   rows/softmax/{fused,composite}            softmax over the last dim of [64, 12, 48, 48] (scores)
//   rows/softmax_dim2/{fused,composite}       the same along dim 2 (strided rows)
//   rows/log_softmax/{fused,composite}        log_softmax over the last dim of [64, 12, 48, 48]
//   rows/layer_norm/{fused,composite}/<n>     layer_norm over the last dim of [64 * 48, n] with
//                                             weight and bias, n = 384 and 1536
// composite: the code of these ops before they became primitives (exp(x - max) / sum for softmax,
// x - logsumexp for log_softmax, mean / var / sub / div / mul / add for layer norm).
// Threads: OMP_NUM_THREADS. The counter GB/s counts the input read once and the output written
// once (8 bytes per float element).
#include <benchmark/benchmark.h>

#include <trustml/trustml.hpp>
#include <vector>

namespace {

using trustml::Shape;
using F = trustml::Tensor<float>;

F softmax_composite(const F& a, int dim) {
  auto e = exp(sub(a, amax(a, {dim}, true).detach()));
  return div(e, sum(e, {dim}, true));
}
F log_softmax_composite(const F& a, int dim) { return sub(a, logsumexp(a, {dim}, true)); }
F layer_norm_composite(const F& x, const F& w, const F& b, double eps) {
  const std::vector<int> dims{x.dim() - 1};
  auto mu = mean(x, dims, true);
  auto centered = sub(x, mu);
  auto variance = mean(mul(centered, centered), dims, true);
  return add(mul(div(centered, sqrt(add_scalar(variance, float(eps)))), w), b);
}

template <class Fn>
void run(benchmark::State& state, const F& x, Fn fn) {
  for (auto _ : state) {
    auto y = fn(x);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(8.0 * static_cast<double>(x.numel()) * state.iterations(),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

const F& scores() {
  static const F x = F::randn({64, 12, 48, 48}, 1);
  return x;
}

void BM_softmax_fused(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return trustml::softmax(x, -1); });
}
void BM_softmax_composite(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return softmax_composite(x, -1); });
}
void BM_softmax_dim2_fused(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return trustml::softmax(x, 2); });
}
void BM_softmax_dim2_composite(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return softmax_composite(x, 2); });
}
void BM_log_softmax_fused(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return trustml::log_softmax(x, -1); });
}
void BM_log_softmax_composite(benchmark::State& s) {
  run(s, scores(), [](const F& x) { return log_softmax_composite(x, -1); });
}
void BM_layer_norm_fused(benchmark::State& s) {
  const std::int64_t n = s.range(0);
  const F x = F::randn({64 * 48, n}, 2), w = F::randn({n}, 3), b = F::randn({n}, 4);
  run(s, x, [&](const F& v) { return trustml::layer_norm(v, Shape{n}, w, b); });
}
void BM_layer_norm_composite(benchmark::State& s) {
  const std::int64_t n = s.range(0);
  const F x = F::randn({64 * 48, n}, 2), w = F::randn({n}, 3), b = F::randn({n}, 4);
  run(s, x, [&](const F& v) { return layer_norm_composite(v, w, b, 1e-5); });
}

BENCHMARK(BM_softmax_fused)->Name("rows/softmax/fused")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_softmax_composite)->Name("rows/softmax/composite")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_softmax_dim2_fused)->Name("rows/softmax_dim2/fused")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_softmax_dim2_composite)->Name("rows/softmax_dim2/composite")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_log_softmax_fused)->Name("rows/log_softmax/fused")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_log_softmax_composite)->Name("rows/log_softmax/composite")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_layer_norm_fused)->Name("rows/layer_norm/fused")->Arg(384)->Arg(1536)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_layer_norm_composite)
    ->Name("rows/layer_norm/composite")
    ->Arg(384)
    ->Arg(1536)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
