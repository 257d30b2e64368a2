// Module weights in safetensors files and training checkpoints: round trips, and bad files
// rejected by name (never a crash).
#include <doctest/doctest.h>

#include <trustml/nn.hpp>
#include <trustml/nn/serialize.hpp>
#include <trustml/optim/adam.hpp>
#include <trustml/optim/sgd.hpp>
#include <trustml/train/checkpoint.hpp>

#include "support/op_registry.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using Tf = Tensor<float>;
using tests::check_error;

TEST_CASE("nn files: a module saved and loaded computes the same function, buffers included") {
  tests::TempDir dir;
  nn::zoo::ResNet<float> a(1, 10, 1, 1), b(1, 10, 1, 2);
  auto x = Tf::randn({4, 1, 16, 16}, 3);
  (void)a(x);  // moves the running statistics and counts a batch
  a.eval();
  b.eval();
  nn::save_module(dir.file("resnet.safetensors"), a, {{"note", "test"}});
  nn::load_module(dir.file("resnet.safetensors"), b);
  CHECK(a(x).to_vector() == b(x).to_vector());
  CHECK(b.bn1->num_batches_tracked.item() == 1);
  CHECK(io::load_safetensors(dir.file("resnet.safetensors")).metadata.at("note") == "test");
}

TEST_CASE("nn files: wrong names, shapes and dtypes are named; truncated files are errors at every offset") {
  tests::TempDir dir;
  auto cnn = nn::zoo::SmallCnn<float>();
  const std::string path = dir.file("cnn.safetensors");
  nn::save_module(path, *cnn);
  auto lenet = nn::zoo::LeNet5<float>();
  try {
    nn::load_module(path, *lenet);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("nn::load_module") != std::string::npos);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("features.0.weight") != std::string::npos);  // [6, 1, 5, 5] vs [16, 1, 3, 3]
    CHECK(msg.find("missing 'classifier.0.weight'") != std::string::npos);
  }
  auto doubles = nn::zoo::SmallCnn<double>();
  try {  // F32 in the file, F64 wanted
    nn::load_module(path, *doubles);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("trustml::nn::load_module: " + path) == 0);
    CHECK(msg.find("holds F32, expected F64") != std::string::npos);
  }

  const auto bytes = tests::read_bytes(path);
  const std::string cut = dir.file("cut.safetensors");
  const auto before = cnn->parameters()[0].to_vector();
  for (std::size_t n = 0; n < bytes.size(); n += (n < 400 ? 1 : 997)) {
    INFO("truncated to " << n << " bytes");
    tests::write_bytes(cut, bytes.substr(0, n));
    CHECK_THROWS_AS(nn::load_module(cut, *cnn), Error);
  }
  CHECK(cnn->parameters()[0].to_vector() == before);  // failed loads changed nothing
}

TEST_CASE("checkpoint: resuming from a checkpoint continues exactly like the uninterrupted run") {
  tests::TempDir dir;
  auto x = Tf::randn({8, 1, 28, 28}, 1);
  auto y = Tensor<std::int64_t>::from_vector({0, 1, 2, 3, 4, 5, 6, 7}, {8});
  auto run_steps = [&](nn::Module<float>& model, optim::Optimizer<float>& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      cross_entropy(model(x), y).backward();
      opt.step();
    }
  };
  auto a = nn::zoo::SmallCnn<float>(1, 10, 4);
  optim::Adam<float> opt_a(a->parameters(), {.lr = 1e-3});
  run_steps(*a, opt_a, 3);
  train::save_checkpoint(dir.file("ckpt.safetensors"), *a, opt_a, {.epoch = 1, .step = 3, .notes = {{"best", "0.5"}}});
  run_steps(*a, opt_a, 2);

  auto b = nn::zoo::SmallCnn<float>(1, 10, 9);
  optim::Adam<float> opt_b(b->parameters(), {.lr = 1e-3});
  auto progress = train::load_checkpoint(dir.file("ckpt.safetensors"), *b, opt_b);
  CHECK(progress.epoch == 1);
  CHECK(progress.step == 3);
  CHECK(progress.notes.at("best") == "0.5");
  run_steps(*b, opt_b, 2);
  for (std::size_t i = 0; i < a->parameters().size(); ++i)
    CHECK(a->parameters()[i].to_vector() == b->parameters()[i].to_vector());

  // A checkpoint of another optimizer, and a plain weights file, are rejected by name.
  optim::SGD<float> sgd(b->parameters(), {.lr = 0.1, .momentum = 0.9});
  check_error([&] { train::load_checkpoint(dir.file("ckpt.safetensors"), *b, sgd); }, "train::load_checkpoint");
  nn::save_module(dir.file("weights.safetensors"), *a);
  check_error([&] { train::load_checkpoint(dir.file("weights.safetensors"), *b, opt_b); }, "train::load_checkpoint");
}

TEST_CASE("nn files: a state dict that does not fit changes no weight") {
  tests::TempDir dir;
  using Linear = nn::Linear<float>;
  nn::Sequential<float> small{std::make_shared<Linear>(3, 4, true, 1), std::make_shared<Linear>(4, 2, true, 2)};
  nn::Sequential<float> other{std::make_shared<Linear>(3, 4, true, 3), std::make_shared<Linear>(4, 5, true, 4)};
  nn::save_module(dir.file("small.safetensors"), small);
  // Layer 0 fits, layer 1 does not: nothing is copied, not even layer 0.
  const auto before = other.parameters()[0].to_vector();
  check_error([&] { nn::load_module(dir.file("small.safetensors"), other); }, "nn::load_module",
              "'1.weight': expected shape [5, 4], got [2, 4]");
  CHECK(other.parameters()[0].to_vector() == before);
  check_error([&] { other.check_state_dict(small.state_dict()); }, "nn::Module::load_state_dict",
              "'1.bias': expected shape [5], got [2]");
  CHECK(other.parameters()[0].to_vector() == before);
}

TEST_CASE("checkpoint: a checkpoint with a bad part changes neither the model nor the optimizer") {
  tests::TempDir dir;
  auto x = Tf::randn({4, 1, 28, 28}, 1);
  auto y = Tensor<std::int64_t>::from_vector({0, 1, 2, 3}, {4});
  auto train_step = [&](nn::Module<float>& model, optim::Optimizer<float>& opt) {
    opt.zero_grad();
    cross_entropy(model(x), y).backward();
    opt.step();
  };
  auto a = nn::zoo::SmallCnn<float>(1, 10, 4);
  optim::Adam<float> opt_a(a->parameters(), {.lr = 1e-3});
  train_step(*a, opt_a);
  const std::string good = dir.file("good.safetensors");
  train::save_checkpoint(good, *a, opt_a, {.epoch = 1, .step = 1, .notes = {}});

  auto b = nn::zoo::SmallCnn<float>(1, 10, 9);
  optim::Adam<float> opt_b(b->parameters(), {.lr = 1e-3});
  train_step(*b, opt_b);
  auto weights = [&] {
    std::vector<std::vector<float>> out;
    for (const auto& p : b->parameters()) out.push_back(p.to_vector());
    return out;
  };
  auto optimizer_state = [&] {
    std::vector<std::vector<float>> out;
    for (const auto& [name, t] : opt_b.state()) out.push_back(t.to_vector());
    return out;
  };
  const auto weights_before = weights();
  const auto state_before = optimizer_state();
  // The checkpoint with one entry reshaped (same bytes, so the file itself is valid).
  auto corrupt = [&](const std::string& name, const std::string& entry) {
    auto file = io::load_safetensors(good);
    bool found = false;
    for (auto& array : file.arrays)
      if (array.name == entry) {
        array.shape = {static_cast<std::int64_t>(array.bytes.size() / sizeof(float))};
        found = true;
      }
    REQUIRE(found);
    io::save_safetensors(dir.file(name), file.arrays, file.metadata);
    return dir.file(name);
  };
  const std::string bad_optimizer = corrupt("bad_optimizer.safetensors", "optimizer.group0.param0.exp_avg");
  check_error([&] { train::load_checkpoint(bad_optimizer, *b, opt_b); }, "train::load_checkpoint",
              "'group0.param0.exp_avg' has shape [144] but the parameter has shape [16, 1, 3, 3]");
  CHECK(weights() == weights_before);
  CHECK(optimizer_state() == state_before);
  const std::string bad_model = corrupt("bad_model.safetensors", "model.features.0.weight");
  check_error([&] { train::load_checkpoint(bad_model, *b, opt_b); }, "train::load_checkpoint",
              "'features.0.weight': expected shape [16, 1, 3, 3], got [144]");
  CHECK(weights() == weights_before);
  CHECK(optimizer_state() == state_before);
  // The good checkpoint still loads whole.
  train::load_checkpoint(good, *b, opt_b);
  for (std::size_t i = 0; i < a->parameters().size(); ++i)
    CHECK(a->parameters()[i].to_vector() == b->parameters()[i].to_vector());
}
