// compare_libtorch_cnn: the reference small CNN's training step in trustml and in LibTorch, in one
// run, from the same weights (one safetensors file), on the same batch and thread count.
//
//   compare_libtorch_cnn [--threads N] [--steps S] [--batch B] [--weights FILE]
//
// Checks first that both compute the same step: the loss and every parameter gradient must agree
// to 1e-5 relative (max |g_trustml - g_torch| / max |g_torch| per tensor). Then times S steps of
// each (forward, cross-entropy, backward, SGD update with lr 0.01), alternating rounds of five
// steps so that both see the same machine state, and reports the medians. Ends with one JSON
// line: trustml_ms, libtorch_ms, ratio (trustml / LibTorch; lower is faster), max_rel_grad_diff.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <trustml/io/safetensors.hpp>
#include <trustml/nn.hpp>
#include <trustml/nn/serialize.hpp>
#include <trustml/optim/sgd.hpp>
#include <trustml/trustml.hpp>

#include "libtorch_small_cnn.hpp"

namespace tl = trustml;
using bench::median;
using bench::to_torch;
using bench::TorchSmallCnn;
using Clock = std::chrono::steady_clock;

namespace {

double max_rel_diff(const std::vector<float>& a, const torch::Tensor& b) {
  const std::vector<float> pb = bench::to_host(b);
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(pb[i])));
    scale = std::max(scale, std::abs(double(pb[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Reference CNN training step: trustml vs LibTorch"};
  int threads = 1, steps = 30;
  std::int64_t batch = 128;
  std::string weights = (std::filesystem::temp_directory_path() / "trustml_compare_cnn.safetensors").string();
  app.add_option("--threads", threads, "threads for both libraries (LibTorch oversubscribes at 2 on 2 vCPUs)")
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "timed steps per library")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--weights", weights, "where to write the shared safetensors weights");
  CLI11_PARSE(app, argc, argv);

  bench::use_threads(threads);

  // One set of weights, written once and read by both.
  tl::nn::save_module(weights, *tl::nn::zoo::SmallCnn<float>(1, 10, 7));
  auto ours = tl::nn::zoo::SmallCnn<float>(1, 10, 99);
  tl::nn::load_module(weights, *ours);
  TorchSmallCnn theirs;
  {
    torch::NoGradGuard no_grad;
    auto params = theirs.named_parameters();
    for (const auto& array : tl::io::load_safetensors(weights).arrays)
      params[array.name].copy_(to_torch(tl::io::to_tensor<float>(array)));
  }
  const auto x = tl::Tensor<float>::randn({batch, 1, 28, 28}, 11);
  std::vector<std::int64_t> label_values(batch);
  for (std::int64_t i = 0; i < batch; ++i) label_values[i] = (i * 7) % 10;
  const auto y = tl::Tensor<std::int64_t>::from_vector(label_values, {batch});
  const auto tx = to_torch(x);
  const auto ty = torch::from_blob(label_values.data(), {batch}, torch::kInt64).clone();

  // Same function: loss and gradients of one step.
  auto our_loss = tl::cross_entropy((*ours)(x), y);
  our_loss.backward();
  auto their_loss = torch::nn::functional::cross_entropy(theirs.forward(tx), ty);
  their_loss.backward();
  const double loss_rel = std::abs(our_loss.item() - their_loss.item<float>()) / std::abs(their_loss.item<float>());
  double max_grad = 0;
  auto their_params = theirs.named_parameters();
  for (auto& [name, p] : ours->named_parameters()) {
    const double d = max_rel_diff(p.grad().to_vector(), their_params[name].grad());
    std::cerr << "  grad " << name << " max rel diff " << d << "\n";
    max_grad = std::max(max_grad, d);
  }
  std::cerr << "loss trustml " << our_loss.item() << " libtorch " << their_loss.item<float>() << " (rel diff "
            << loss_rel << ")\n";
  const bool agree = loss_rel <= 1e-5 && max_grad <= 1e-5;

  // Timing: training steps with SGD (lr 0.01), alternating rounds.
  tl::optim::SGD<float> our_sgd(ours->parameters(), {.lr = 0.01});
  torch::optim::SGD their_sgd(theirs.parameters(), torch::optim::SGDOptions(0.01));
  auto our_step = [&] {
    our_sgd.zero_grad();
    auto loss = tl::cross_entropy((*ours)(x), y);
    loss.backward();
    our_sgd.step();
  };
  auto their_step = [&] {
    their_sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(theirs.forward(tx), ty);
    loss.backward();
    their_sgd.step();
  };
  auto time_ms = [](auto& step) {
    const auto t0 = Clock::now();
    step();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (int i = 0; i < 3; ++i) our_step(), their_step();  // warm-up: caches, allocator, thread pools
  std::vector<double> our_ms, their_ms;
  for (int round = 0; round * 5 < steps; ++round) {
    for (int i = 0; i < 5; ++i) our_ms.push_back(time_ms(our_step));
    for (int i = 0; i < 5; ++i) their_ms.push_back(time_ms(their_step));
  }
  const double a = median(our_ms), b = median(their_ms);
  std::cerr << "train step (batch " << batch << ", " << threads << " thread(s)): trustml " << a << " ms, LibTorch " << b
            << " ms\n";
  nlohmann::json result = {{"benchmark", "compare_libtorch_cnn"},
                           {"batch", batch},
                           {"threads", threads},
                           {"steps", our_ms.size()},
                           {"loss_rel_diff", loss_rel},
                           {"max_rel_grad_diff", max_grad},
                           {"agree", agree},
                           {"libtorch_version", TORCH_VERSION}};
  result.update(bench::timing_fields("", our_ms, their_ms));
  std::cout << result.dump() << std::endl;
  return agree ? 0 : 1;
}
