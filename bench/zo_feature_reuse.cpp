// zo_feature_reuse: dense CGE on the reference small CNN, plain (a full forward per query) against
// feature reuse (a query runs only the stages from the perturbed parameter's stage on), in one run.
//
//   zo_feature_reuse [--batch B] [--every K] [--threads N]
//
// --every K estimates every K-th coordinate of each parameter (K = 1: dense CGE, 20,491 queries).
// Checks that both give the same gradient and ends with one JSON line: plain_ms, reuse_ms,
// speedup, queries, max_rel_grad_diff.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <trustml/estimators/zeroth_order.hpp>
#include <trustml/nn.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"Dense CGE on the reference CNN: plain vs feature reuse"};
  std::int64_t batch = 32, every = 1;
  int threads = 1;
  app.add_option("--batch", batch, "images per query")->check(CLI::PositiveNumber);
  app.add_option("--every", every, "estimate every K-th coordinate (1: dense)")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);

  auto net = nn::zoo::SmallCnn<float>(1, 10, 1);
  auto x = Tensor<float>::randn({batch, 1, 28, 28}, 2);
  std::vector<std::int64_t> labels(batch);
  for (std::int64_t i = 0; i < batch; ++i) labels[i] = i % 10;
  auto y = Tensor<std::int64_t>::from_vector(labels, {batch});
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

  auto t0 = Clock::now();
  auto plain_stats = cge.estimate(*net, [&] { return double(cross_entropy((*net)(x), y).item()); }, &masks);
  const double plain_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto plain = grads();

  std::vector<nn::Module<float>*> stages;
  for (std::size_t i = 0; i < net->features->size(); ++i) stages.push_back(&(*net->features)[i]);
  auto flatten = nn::Flatten<float>();
  stages.push_back(flatten.get());
  stages.push_back(net->classifier.get());
  t0 = Clock::now();
  cge.estimate_staged(stages, x, [&](const Tensor<float>& logits) { return double(cross_entropy(logits, y).item()); },
                      &masks);
  const double reuse_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto reuse = grads();

  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    diff = std::max(diff, double(std::abs(plain[i] - reuse[i])));
    scale = std::max(scale, double(std::abs(plain[i])));
  }
  std::cerr << "CGE over " << plain_stats.coordinates << " coordinates (batch " << batch << "): plain " << plain_ms
            << " ms, feature reuse " << reuse_ms << " ms\n";
  nlohmann::json result = {{"benchmark", "zo_feature_reuse"},
                           {"model", "SmallCnn"},
                           {"batch", batch},
                           {"threads", threads},
                           {"coordinates", plain_stats.coordinates},
                           {"queries", plain_stats.queries},
                           {"plain_ms", plain_ms},
                           {"reuse_ms", reuse_ms},
                           {"speedup", plain_ms / reuse_ms},
                           {"max_rel_grad_diff", scale > 0 ? diff / scale : diff}};
  std::cout << result.dump() << std::endl;
  return 0;
}
