// zo_cge: one dense CGE step on a small CNN, plain (a full forward per query) against feature reuse,
// the delta forward, batched queries and all combined, in one run.
//
//   zo_cge [--model small|a] [--batch B] [--every K] [--group P] [--threads N]
//
// --model small: the reference SmallCnn (20,490 parameters); a: its half-width version, DeepZero's
// model A (9,098). --every K estimates every K-th coordinate of each parameter (1: dense CGE).
// Checks that every variant gives the plain gradient (to float rounding; feature reuse alone to the
// bit) and ends with one JSON line: plain_ms, reuse_ms, delta_ms, batched_ms, all_ms, speedups,
// max_rel_grad_diff (largest |g - g_plain| over largest |g_plain|, over all variants).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/nn.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"Dense CGE on a small CNN: plain, feature reuse, delta forward, batched queries"};
  std::string model = "small";
  std::int64_t batch = 64, every = 1, group = 64;
  int threads = 1;
  app.add_option("--model", model, "small (SmallCnn, 20,490 parameters) or a (model A, 9,098)")
      ->check(CLI::IsMember({"small", "a"}));
  app.add_option("--batch", batch, "images per query")->check(CLI::PositiveNumber);
  app.add_option("--every", every, "estimate every K-th coordinate (1: dense)")->check(CLI::PositiveNumber);
  app.add_option("--group", group, "queries per batched forward")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);

  auto net = nn::zoo::SmallCnn<float>(1, 10, 1, model == "small" ? 16 : 8);
  auto x = Tensor<float>::rand({batch, 1, 28, 28}, 2);
  std::vector<std::int64_t> labels(batch);
  for (std::int64_t i = 0; i < batch; ++i) labels[i] = i % 10;
  auto loss = estimators::cross_entropy_per_group<float, Cpu>(Tensor<std::int64_t>::from_vector(labels, {batch}));
  std::vector<Tensor<float>> masks;
  for (auto& p : net->parameters()) {
    std::vector<float> m(p.numel(), 0.0f);
    for (std::size_t i = 0; i < m.size(); i += every) m[i] = 1;
    masks.push_back(Tensor<float>::from_vector(m, p.shape()));
  }
  estimators::CoordinateZO cge({.mu = 5e-3});
  auto grads = [&] {
    std::vector<float> out;
    for (auto& p : net->parameters())
      for (float g : p.grad().to_vector()) out.push_back(g);
    net->zero_grad();
    return out;
  };
  auto time_ms = [](auto&& f) {
    auto t0 = Clock::now();
    f();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };

  estimators::EstimateStats stats;
  // One group's loss as a tensor: plain CGE scores what the staged estimate scores.
  estimators::BatchFunction<float, Cpu> one_group = [&](const Tensor<float>& output) {
    return Tensor<float>::full(Shape{1}, float(loss(output, 1)[0]));
  };
  const double plain_ms = time_ms([&] {
    stats = cge.estimate(estimators::ParameterProblem<float, Cpu>{*net, x, one_group, &masks});
  });
  const auto plain = grads();
  std::cerr << model << ": CGE over " << stats.coordinates << " coordinates, batch " << batch << ", " << threads
            << " thread(s): plain " << plain_ms << " ms\n";
  auto stages = net->stages();
  double max_diff = 0, scale = 0;
  for (float g : plain) scale = std::max(scale, double(std::abs(g)));
  bool reuse_bitwise = false;
  auto variant = [&](const char* name, bool delta, std::int64_t max_group) {
    const double ms = time_ms(
        [&] { estimators::estimate_staged(cge, stages, x, loss, &masks, {.delta = delta, .max_group = max_group}); });
    const auto got = grads();
    if (!delta && max_group == 1) reuse_bitwise = got == plain;
    for (std::size_t i = 0; i < plain.size(); ++i) max_diff = std::max(max_diff, double(std::abs(got[i] - plain[i])));
    std::cerr << "  " << name << ": " << ms << " ms (" << plain_ms / ms << "x)\n";
    return ms;
  };
  const double reuse_ms = variant("feature reuse", false, 1);
  const double delta_ms = variant("reuse + delta forward", true, 1);
  const double batched_ms = variant("reuse + batched queries", false, group);
  const double all_ms = variant("all combined", true, group);

  nlohmann::json result = {{"benchmark", "zo_cge"},
                           {"model", model == "small" ? "SmallCnn" : "SmallCnn width 8 (model A)"},
                           {"parameters", net->num_parameters()},
                           {"batch", batch},
                           {"group", group},
                           {"threads", threads},
                           {"coordinates", stats.coordinates},
                           {"queries", stats.queries},
                           {"plain_ms", plain_ms},
                           {"reuse_ms", reuse_ms},
                           {"delta_ms", delta_ms},
                           {"batched_ms", batched_ms},
                           {"all_ms", all_ms},
                           {"reuse_speedup", plain_ms / reuse_ms},
                           {"all_speedup", plain_ms / all_ms},
                           {"reuse_bitwise_equal", reuse_bitwise},
                           {"max_rel_grad_diff", scale > 0 ? max_diff / scale : max_diff}};
  std::cout << result.dump() << std::endl;
  return 0;
}
