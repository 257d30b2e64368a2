// deepzero: DeepZero's claim at small scale: coordinate-wise zeroth-order gradients (CGE) train a
// CNN from scratch about as well as backprop, and sparse CGE keeps most of it at a tenth of the
// queries, while randomized estimates (RGE) fall behind (arXiv:2310.02025; docs/papers.md).
//
//   deepzero [--epochs N] [--train-images N] [--batch-size B] [--lr LR] [--rge-lr LR] [--rge-queries Q]
//            [--sparsity S] [--mask-interval K] [--mu MU] [--seed S] [--threads N] [--methods M,...]
//            [--out DIR] [--quick]
//
// Trains the 9,098-parameter CNN of DeepZero's CGE-vs-backprop runs (model A: conv 1->8, conv 8->16, linear 784->10) on
// Fashion-MNIST five times from the same initial weights, on the same batches in the same order,
// with the same SGD (momentum 0.9, weight decay 5e-4, cosine learning rate per step):
//   fo          backprop;
//   cge         dense CGE (forward differences, mu), with feature reuse and the delta forward;
//   sparse_cge  CGE on a random subset of the weights: ZO-GraSP at initialization (finite differences
//               only, 25 images per class) gives the per-layer ratios for `sparsity`, and fresh random
//               masks at those ratios are drawn every K epochs; biases are always estimated;
//   fo_sparse   backprop with the same masks on the gradient (the reference for sparse_cge);
//   rge         Gaussian RGE with q directions (its own, smaller learning rate).
// Prints time per epoch and queries per step; writes DIR/accuracy.png (test accuracy per epoch of
// each method) and ends with one JSON line (fo_acc, cge_acc, sparse_cge_acc, fo_sparse_acc, rge_acc,
// epoch_seconds, queries_per_step, the ZO-GraSP ratios, and `parity`: |cge - fo| within 0.5 points
// in full mode, 1.5 in --quick mode: the acceptance in docs/papers.md).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <trustml/data/dataloader.hpp>
#include <trustml/data/fashion_mnist.hpp>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/nn.hpp>
#include <trustml/optim/schedule.hpp>
#include <trustml/optim/sgd.hpp>
#include <trustml/pruning/grasp.hpp>
#include <trustml/train/evaluate.hpp>
#include <trustml/trustml.hpp>
#include <trustml/util/plot.hpp>
#include <trustml/util/progress.hpp>

using namespace trustml;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
  int epochs = 2;
  std::int64_t train_images = 60000, test_images = 10000, batch_size = 64, rge_queries = 100;
  double lr = 0.05, rge_lr = 1e-3, mu = 5e-3, sparsity = 0.9;
  int mask_interval = 1;
  std::uint64_t seed = 1;
};

struct MethodResult {
  double initial_acc = 0;             // before training, in percent
  std::vector<double> test_acc;       // after each epoch, in percent
  std::vector<double> epoch_seconds;  // training time of each epoch
  double queries_per_step = 0;
};

// The first `per_class` training images of every class: the data of ZO-GraSP.
data::LabeledImages per_class_sample(const data::LabeledImages& set, std::int64_t per_class) {
  std::vector<std::int64_t> taken(10, 0), rows;
  const auto labels = set.labels.to_vector();
  for (std::int64_t i = 0; i < set.size(); ++i)
    if (taken[labels[i]] < per_class) ++taken[labels[i]], rows.push_back(i);
  return set.subset(rows);
}

std::vector<Tensor<float>> gradient_masks_or_none(const pruning::MaskSchedule* schedule, nn::Module<float>& model,
                                                  int epoch) {
  return schedule ? schedule->masks(model, epoch) : std::vector<Tensor<float>>{};
}

MethodResult train_one(const std::string& method, const Settings& s, const data::LabeledImages& train_set,
                       const data::LabeledImages& test_set, const pruning::MaskSchedule* schedule) {
  auto model = nn::zoo::SmallCnn<float>(1, 10, s.seed, 8);  // the same initial weights for every method
  auto stages = model->stages();
  data::DataLoader loader(train_set, {.batch_size = s.batch_size, .shuffle = true, .seed = s.seed});
  const double lr = method == "rge" ? s.rge_lr : s.lr;
  optim::SGD<float> sgd(model->parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 5e-4});
  const std::int64_t total_steps = static_cast<std::int64_t>(s.epochs) * loader.size();
  optim::WarmupCosineLR schedule_lr(lr, 0, total_steps);
  estimators::CoordinateZO cge({.mu = s.mu});
  estimators::RandomZO rge({.mu = s.mu, .queries = s.rge_queries, .seed = s.seed + 17});

  MethodResult result;
  result.initial_acc = 100 * train::evaluate(*model, test_set).accuracy;
  std::int64_t step = 0, queries = 0;
  for (int epoch = 1; epoch <= s.epochs; ++epoch) {
    const auto masks = gradient_masks_or_none(schedule, *model, epoch);
    const auto* active = masks.empty() ? nullptr : &masks;
    if (schedule && schedule->refreshes_at(epoch))
      std::cerr << "  " << method << ": masks refreshed at epoch " << epoch << ", " << pruning::active_count(masks)
                << " of " << model->num_parameters() << " coordinates active\n";
    util::ProgressBar bar(loader.size(), {.label = method + " epoch " + std::to_string(epoch)});
    const auto start = Clock::now();
    double loss_sum = 0;
    for (const data::Batch& batch : loader.epoch(static_cast<std::uint64_t>(epoch - 1))) {
      schedule_lr.apply(sgd, step);
      sgd.zero_grad();
      double loss = 0;
      if (method == "fo" || method == "fo_sparse") {
        auto l = cross_entropy((*model)(batch.images), batch.labels);
        l.backward();
        if (active) {
          auto params = model->parameters();
          for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(mul(params[i].grad(), masks[i]));
        }
        loss = l.item();
      } else if (method == "rge") {
        auto batch_loss = [&](const Tensor<float>& logits) { return cross_entropy(logits, batch.labels); };
        auto stats = rge.estimate(estimators::ParameterProblem<float, Cpu>{*model, batch.images, batch_loss},
                                  {.step = static_cast<std::uint64_t>(step)});
        loss = stats.loss, queries += stats.queries;
      } else {
        auto stats = estimators::estimate_staged(cge, stages, batch.images,
                                                 estimators::cross_entropy_per_group<float, Cpu>(batch.labels), active);
        loss = stats.loss, queries += stats.queries;
      }
      sgd.step();
      ++step;
      loss_sum += loss;
      bar.set_postfix("loss " + std::to_string(loss_sum / static_cast<double>(bar.count() + 1)).substr(0, 6));
      bar.advance();
    }
    bar.finish();
    result.epoch_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    result.test_acc.push_back(100 * train::evaluate(*model, test_set).accuracy);
    std::cerr << "  " << method << " epoch " << epoch << "/" << s.epochs << ": test acc " << result.test_acc.back()
              << " %, " << result.epoch_seconds.back() << " s\n";
  }
  result.queries_per_step = static_cast<double>(queries) / static_cast<double>(std::max<std::int64_t>(step, 1));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DeepZero at small scale: CGE, sparse CGE and RGE against backprop on Fashion-MNIST"};
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  Settings s;
  std::string out_dir = "deepzero_out";
  int threads = 0;
  bool quick = false;
  const std::vector<std::string> all_methods{"fo", "cge", "fo_sparse", "sparse_cge", "rge"};
  std::vector<std::string> methods = all_methods;
  app.add_option("--methods", methods, "methods to run (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(all_methods));
  app.add_option("--epochs", s.epochs, "training epochs of every method")->check(CLI::PositiveNumber);
  app.add_option("--train-images", s.train_images, "training images (a seeded random subset)")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-size", s.batch_size, "mini-batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", s.lr, "peak learning rate (backprop and CGE)")->check(CLI::PositiveNumber);
  app.add_option("--rge-lr", s.rge_lr, "peak learning rate of RGE")->check(CLI::PositiveNumber);
  app.add_option("--rge-queries", s.rge_queries, "RGE directions per step")->check(CLI::PositiveNumber);
  app.add_option("--mu", s.mu, "finite-difference step")->check(CLI::PositiveNumber);
  app.add_option("--sparsity", s.sparsity, "fraction of weights not estimated by sparse CGE")
      ->check(CLI::Range(0.0, 0.999));
  app.add_option("--mask-interval", s.mask_interval, "epochs between mask refreshes")->check(CLI::PositiveNumber);
  app.add_option("--seed", s.seed, "seed of the weights, the batch order, the masks and the directions");
  app.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(CLI::PositiveNumber);
  app.add_option("--out", out_dir, "directory for the plot");
  app.add_flag("--quick", quick, "one epoch on 2,000 training and 1,000 test images, for tests");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);

  const auto start = Clock::now();
  try {
    if (quick) s.epochs = 1, s.train_images = 2000, s.test_images = 1000;
    auto train_set = data::load_fashion_mnist(data::Split::train);
    auto test_set = data::load_fashion_mnist(data::Split::test);
    if (s.train_images < train_set.size())
      train_set = train_set.random_split(static_cast<double>(s.train_images) / train_set.size(), s.seed).first;
    if (s.test_images < test_set.size()) {
      std::vector<std::int64_t> first(static_cast<std::size_t>(s.test_images));
      for (std::int64_t i = 0; i < s.test_images; ++i) first[i] = i;
      test_set = test_set.subset(first);
    }
    auto probe = nn::zoo::SmallCnn<float>(1, 10, s.seed, 8);
    std::cerr << "model A: " << probe->num_parameters() << " parameters; " << train_set.size() << " training and "
              << test_set.size() << " test images; " << s.epochs << " epoch(s) of batch " << s.batch_size << "\n";

    // ZO-GraSP at the initial weights, from loss values only: the per-layer ratios of sparse CGE.
    pruning::LayerRatios ratios;
    const bool any_sparse = std::count(methods.begin(), methods.end(), "sparse_cge") +
                                std::count(methods.begin(), methods.end(), "fo_sparse") >
                            0;
    if (any_sparse) {
      const auto grasp_data = per_class_sample(train_set, 25);
      const auto grasp_start = Clock::now();
      ratios = pruning::zo_grasp_layer_ratios(
          *probe, [&] { return double(cross_entropy((*probe)(grasp_data.images), grasp_data.labels).item()); },
          s.sparsity, {.mu = s.mu, .queries = 192, .seed = s.seed});
      const double grasp_seconds = std::chrono::duration<double>(Clock::now() - grasp_start).count();
      std::cerr << "ZO-GraSP layer ratios at sparsity " << s.sparsity << " (" << grasp_seconds << " s):";
      for (auto& [name, r] : ratios) std::cerr << " " << name << " " << r;
      std::cerr << "\n";
    }
    const pruning::MaskSchedule masks(any_sparse ? ratios : pruning::uniform_ratios(*probe, s.sparsity), s.seed,
                                      s.mask_interval);

    std::map<std::string, MethodResult> results;
    for (const std::string& method : methods) {
      const bool sparse = method == "fo_sparse" || method == "sparse_cge";
      results[method] = train_one(method, s, train_set, test_set, sparse ? &masks : nullptr);
      double seconds = 0;
      for (double t : results[method].epoch_seconds) seconds += t;
      std::cerr << method << ": " << results[method].test_acc.back() << " % after " << s.epochs << " epoch(s), "
                << seconds / s.epochs << " s per epoch, " << results[method].queries_per_step << " queries per step\n";
    }

    fs::create_directories(out_dir);
    const auto plot = fs::path(out_dir) / "accuracy.png";
    std::vector<util::PlotSeries> series;
    for (const std::string& method : methods) {
      util::PlotSeries line{method, {0}, {results[method].initial_acc}};
      for (int e = 1; e <= s.epochs; ++e) line.x.push_back(e), line.y.push_back(results[method].test_acc[e - 1]);
      series.push_back(line);
    }
    util::write_line_plot(
        plot.string(), series,
        {.title = "Fashion-MNIST, model A: test accuracy", .x_label = "epoch", .y_label = "test accuracy (%)"});

    nlohmann::json epoch_seconds, queries_per_step, curves;
    for (auto& [method, r] : results) {
      epoch_seconds[method] = r.epoch_seconds;
      queries_per_step[method] = r.queries_per_step;
      curves[method] = r.test_acc;
    }
    // The final test accuracy of a method, null when it did not run.
    auto final_acc = [&](const std::string& method) {
      return results.count(method) ? nlohmann::json(results[method].test_acc.back()) : nlohmann::json();
    };
    nlohmann::json gap, parity;
    if (results.count("fo") && results.count("cge")) {
      gap = std::abs(results["cge"].test_acc.back() - results["fo"].test_acc.back());
      parity = gap.get<double>() <= (quick ? 1.5 : 0.5);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    nlohmann::json result = {{"example", "deepzero"},
                             {"quick", quick},
                             {"epochs", s.epochs},
                             {"train_images", train_set.size()},
                             {"test_images", test_set.size()},
                             {"parameters", probe->num_parameters()},
                             {"fo_acc", final_acc("fo")},
                             {"cge_acc", final_acc("cge")},
                             {"sparse_cge_acc", final_acc("sparse_cge")},
                             {"fo_sparse_acc", final_acc("fo_sparse")},
                             {"rge_acc", final_acc("rge")},
                             {"cge_fo_gap", gap},
                             {"parity", parity},
                             {"initial_acc", results.begin()->second.initial_acc},
                             {"test_acc_per_epoch", curves},
                             {"epoch_seconds", epoch_seconds},
                             {"queries_per_step", queries_per_step},
                             {"zo_grasp_ratios", ratios},
                             {"sparsity", s.sparsity},
                             {"seconds", seconds},
                             {"picture", plot.string()}};
    std::cout << result.dump() << std::endl;
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
