// The module tree: registration, names, state dicts, train/eval, apply, hooks, devices.
#include <doctest/doctest.h>

#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Tf = Tensor<float>;
using tests::check_error;

TEST_CASE("nn: names follow PyTorch's state_dict conventions") {
  auto net = nn::zoo::SmallCnn<float>();
  std::vector<std::string> names;
  for (auto& [name, t] : net->state_dict().tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"features.0.weight", "features.0.bias", "features.3.weight",
                                          "features.3.bias", "classifier.weight", "classifier.bias"});
  CHECK(net->num_parameters() == 20490);
  nn::zoo::ResNet<float> resnet(1, 10);
  auto state = resnet.state_dict();
  auto has = [&](const std::string& n) {
    for (auto& [name, t] : state.tensors)
      if (name == n) return true;
    for (auto& [name, t] : state.index_tensors)
      if (name == n) return true;
    return false;
  };
  CHECK(has("conv1.weight"));
  CHECK(has("bn1.running_var"));
  CHECK(has("layer1.0.conv1.weight"));
  CHECK(has("layer2.0.downsample.0.weight"));
  CHECK(has("layer3.2.bn2.num_batches_tracked"));
  CHECK(has("fc.bias"));
  CHECK(!has("layer1.0.downsample.0.weight"));
  std::int64_t modules = 0;
  for (auto& [name, m] : resnet.named_modules()) modules += m->type_name() == "BasicBlock";
  CHECK(modules == 9);
  CHECK(resnet.submodule("layer2.0").type_name() == "BasicBlock");
  check_error([&] { resnet.submodule("layer9"); }, "nn::Module::submodule");
}

TEST_CASE("nn: load_state_dict copies in place and names every mismatch") {
  auto a = nn::zoo::SmallCnn<float>(1, 10, 1), b = nn::zoo::SmallCnn<float>(1, 10, 2);
  auto weight_before = b->features->named_parameters()[0].second;  // the same tensor as features.0.weight
  b->load_state_dict(a->state_dict());
  CHECK(weight_before.to_vector() == a->named_parameters()[0].second.to_vector());
  auto x = Tf::randn({2, 1, 28, 28}, 3);
  CHECK((*a)(x).to_vector() == (*b)(x).to_vector());

  auto state = a->state_dict();
  state.tensors[0].second = Tf::zeros({3});                    // wrong shape
  state.tensors.pop_back();                                    // missing classifier.bias
  state.tensors.emplace_back("extra.weight", Tf::zeros({1}));  // unexpected
  try {
    b->load_state_dict(state);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("nn::Module::load_state_dict") != std::string::npos);
    CHECK(msg.find("features.0.weight") != std::string::npos);
    CHECK(msg.find("missing 'classifier.bias'") != std::string::npos);
    CHECK(msg.find("unexpected 'extra.weight'") != std::string::npos);
  }
  // Non-strict loading takes what matches and ignores the rest, but a wrong shape is still an error.
  state.tensors[0].second = a->state_dict().tensors[0].second;
  b->load_state_dict(state, false);
}

TEST_CASE("nn: train/eval reach every module, apply visits the tree, hooks see and replace outputs") {
  nn::zoo::ResNet<float> net(1, 10, 1);
  net.eval();
  std::int64_t in_training = 0, visited = 0;
  net.apply([&](nn::Module<float>& m) {
    ++visited;
    in_training += m.is_training();
  });
  CHECK(in_training == 0);
  CHECK(visited == static_cast<std::int64_t>(net.named_modules().size()));
  net.train();
  CHECK(net.bn1->is_training());

  auto cnn = nn::zoo::SmallCnn<float>();
  Shape seen;
  auto& conv = cnn->submodule("features.3");
  const int id = conv.register_forward_hook([&](nn::Module<float>&, const Tf&, Tf& out) {
    seen = out.shape();
    out = Tf::zeros(out.shape());  // replace the activation
  });
  auto x = Tf::randn({2, 1, 28, 28}, 1);
  auto logits = (*cnn)(x).to_vector();
  CHECK(seen == Shape{2, 32, 14, 14});
  // With the second conv's output zeroed, the logits are the classifier bias.
  auto bias = cnn->named_parameters().back().second.to_vector();
  CHECK(logits[3] == doctest::Approx(bias[3]));
  conv.remove_forward_hook(id);
  CHECK((*cnn)(x).to_vector()[3] != doctest::Approx(bias[3]));
}

TEST_CASE("nn: registration rejects bad names") {
  struct Net : nn::Module<float> {
    Net() : Module("Net") { register_parameter("w", Tf::zeros({2})); }
  } net;
  check_error([&] { net.register_parameter("w", Tf::zeros({1})); }, "nn::Module::register");
  check_error([&] { net.register_buffer("a.b", Tf::zeros({1})); }, "nn::Module::register");
  check_error([&] { net.register_module("m", std::shared_ptr<nn::Module<float>>()); }, "nn::Module::register_module");
  CHECK(net.parameters()[0].requires_grad());
}
