// mlp_demo: trains a small MLP on generated data (three interleaved spirals) with trustml's autograd
// and plain SGD, and shows the loss falling. The README's first command runs it.
//
//   mlp_demo [--steps N] [--hidden H] [--lr LR] [--seed S] [--quick]
//
// Prints the loss every few steps and ends with one JSON line of its results.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
using T = Tensor<float>;

namespace {

// Three spirals of `per_class` points each in the plane, with Philox noise; labels 0, 1, 2.
std::pair<T, Tensor<std::int64_t>> make_spirals(std::int64_t per_class, std::uint64_t seed) {
  const std::int64_t classes = 3, n = classes * per_class;
  auto noise = T::randn({n, 2}, seed).to_vector();
  std::vector<float> xy(2 * n);
  std::vector<std::int64_t> labels(n);
  for (std::int64_t c = 0; c < classes; ++c) {
    for (std::int64_t i = 0; i < per_class; ++i) {
      const std::int64_t k = c * per_class + i;
      const float r = static_cast<float>(i) / per_class;
      const float angle = 4.0f * r + 2.0943951f * c;
      xy[2 * k] = r * std::cos(angle) + 0.04f * noise[2 * k];
      xy[2 * k + 1] = r * std::sin(angle) + 0.04f * noise[2 * k + 1];
      labels[k] = c;
    }
  }
  return {T::from_vector(xy, {n, 2}), Tensor<std::int64_t>::from_vector(labels)};
}

// A weight [in, out] with Kaiming-uniform scale, as a leaf that requires grad.
T init_weight(std::int64_t in, std::int64_t out, std::uint64_t seed) {
  const float bound = std::sqrt(6.0f / in);
  return add_scalar(scale(T::rand({in, out}, seed), 2 * bound), -bound).detach().set_requires_grad();
}

struct Mlp {
  std::vector<T> weights, biases;
  Mlp(std::int64_t in, std::int64_t hidden, std::int64_t out, std::uint64_t seed) {
    const std::int64_t sizes[] = {in, hidden, hidden, out};
    for (int l = 0; l < 3; ++l) {
      weights.push_back(init_weight(sizes[l], sizes[l + 1], seed + l));
      biases.push_back(T::zeros({sizes[l + 1]}).set_requires_grad());
    }
  }
  T forward(const T& x) const {
    T h = x;
    for (std::size_t l = 0; l < weights.size(); ++l) {
      h = add(matmul(h, weights[l]), biases[l]);
      if (l + 1 < weights.size()) h = relu(h);
    }
    return h;
  }
  void sgd_step(float lr) {
    NoGradGuard no_grad;
    for (auto* group : {&weights, &biases})
      for (auto& p : *group) {
        // p <- p - lr * grad, written into p's storage so the leaf keeps its identity.
        ops::assign(p, sub(p, scale(p.grad(), lr)));
        p.bump_version();
        p.zero_grad();
      }
  }
};

double accuracy(const T& logits, const Tensor<std::int64_t>& labels) {
  auto pred = argmax(logits, 1).to_vector();
  auto want = labels.to_vector();
  std::int64_t hits = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) hits += pred[i] == want[i];
  return static_cast<double>(hits) / static_cast<double>(pred.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a small MLP on three generated spirals with trustml autograd"};
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  int steps = 1500, hidden = 64, per_class = 200;
  float lr = 0.2f;
  std::uint64_t seed = 1;
  bool quick = false;
  app.add_option("--steps", steps, "SGD steps (full batch)")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden units per layer")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the data and the initial weights");
  app.add_flag("--quick", quick, "a few hundred steps on less data, for tests");
  CLI11_PARSE(app, argc, argv);
  if (quick) steps = 300, per_class = 100;

  const auto start = std::chrono::steady_clock::now();
  auto [x, y] = make_spirals(per_class, seed);
  Mlp mlp(2, hidden, 3, seed + 100);
  double first_loss = 0, last_loss = 0;
  const int report_every = std::max(1, steps / 10);
  for (int step = 0; step < steps; ++step) {
    auto loss = cross_entropy(mlp.forward(x), y);
    loss.backward();
    mlp.sgd_step(lr);
    last_loss = loss.item();
    if (step == 0) first_loss = last_loss;
    if (step % report_every == 0 || step + 1 == steps)
      std::cerr << "step " << step << "/" << steps << "  loss " << last_loss << "\n";
  }
  double acc;
  {
    NoGradGuard no_grad;
    acc = accuracy(mlp.forward(x), y);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json result = {{"example", "mlp_demo"},
                           {"steps", steps},
                           {"initial_loss", first_loss},
                           {"final_loss", last_loss},
                           {"train_acc", acc},
                           {"seconds", seconds},
                           {"loss_fell", last_loss < 0.5 * first_loss}};
  std::cout << result.dump() << std::endl;
  return 0;
}
