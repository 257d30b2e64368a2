// DIDN, SMUG's MRI denoiser: shapes with and without padding, the exact parameter count of the SMUG
// model, the global residual, gradients in double, PyTorch names, seeding and the width check.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <trustml/nn/zoo/didn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Tf = Tensor<float>;
using Td = Tensor<double>;
using tests::check_error;

namespace {
// Weights of unit gain and nonzero biases: with SMUG's N(0, 0.02) the block branches are so small
// that the output is the input to within gradcheck's tolerance, which would check almost nothing.
void randomize(nn::Module<double>& model, std::uint64_t seed) {
  NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    if (p.dim() == 4)
      ops::assign(p, scale(Td::randn(p.shape(), seed++), 1.0 / std::sqrt(double(p.size(1) * p.size(2) * p.size(3)))));
    else if (name.ends_with(".bias")) ops::assign(p, scale(Td::randn(p.shape(), seed++), 0.1));
  }
}
}  // namespace

TEST_CASE("nn zoo: DIDN keeps the input's shape, also when H and W are not multiples of 8") {
  nn::zoo::DIDN<float> didn;  // SMUG's: 2 -> 2 channels, width 64, 2 blocks
  CHECK(didn(Tf::randn({2, 2, 32, 32}, 1)).shape() == Shape{2, 2, 32, 32});
  CHECK(didn(Tf::randn({1, 2, 20, 28}, 2)).shape() == Shape{1, 2, 20, 28});
  nn::zoo::DIDN<float> small(nn::zoo::DIDNOptions{.width = 8, .blocks = 3, .seed = 4});
  CHECK(small(Tf::randn({1, 2, 30, 30}, 3)).shape() == Shape{1, 2, 30, 30});
  CHECK(small(Tf::randn({1, 2, 1, 13}, 3)).shape() == Shape{1, 2, 1, 13});
  check_error([&] { small(Tf::randn({1, 3, 8, 8}, 3)); }, "nn::zoo::DIDN", "[1, 3, 8, 8]");
}

TEST_CASE("nn zoo: DIDN has exactly the parameters of SMUG's models/didn.py, under its PyTorch names") {
  // Width C, n blocks, in = out = 2 channels; every conv has a bias, every PReLU one slope.
  // A down-up block, conv by conv (weights + biases), then its 9 PReLUs:
  //   conv1, conv3, conv21, conv23, conv25  5 x (9 C^2 + C)     conv5   C -> 2C 3x3: 18 C^2 + 2C
  //   conv7, conv16  2 x (36 C^2 + 2C)                         conv9  2C -> 4C 3x3: 72 C^2 + 4C
  //   conv11 4C -> 4C 3x3: 144 C^2 + 4C                        conv13 4C -> 8C 1x1: 32 C^2 + 8C
  //   conv15 4C -> 2C 1x1: 8 C^2 + 2C      conv18 2C -> 4C 1x1: 8 C^2 + 4C      conv20 2C -> C 1x1: 2 C^2 + C
  //   block = 401 C^2 + 34 C + 9                                   (C = 64: 1,644,681)
  // Around the blocks: conv_input 9 in C + C, conv_down 9 C^2 + C, conv_mid n C^2 + C, conv_mid2 9 C^2 + C,
  // conv_output 9 (C / 4) out + out, and 4 PReLUs:
  //   top = (18 + n) C^2 + (9 in + 4 + 9 out / 4) C + out + 4     (C = 64, n = 2: 83,622)
  // Total for C = 64, n = 2: 2 x 1,644,681 + 83,622 = 3,372,984 (the SMUG journal's "about 3.4 M").
  auto count = [](std::int64_t c, std::int64_t n, std::int64_t in, std::int64_t out) {
    return n * (401 * c * c + 34 * c + 9) + (18 + n) * c * c + 9 * in * c + 4 * c + 9 * (c / 4) * out + out + 4;
  };
  CHECK(count(64, 2, 2, 2) == 3372984);
  nn::zoo::DIDN<float> didn;
  CHECK(didn.num_parameters() == 3372984);
  nn::zoo::DIDN<float> three(2, 2, 64, 3);
  CHECK(three.num_parameters() == count(64, 3, 2, 2));
  nn::zoo::DIDN<float> tiny(1, 1, 12, 1);
  CHECK(tiny.num_parameters() == count(12, 1, 1, 1));

  const auto named = didn.named_parameters();
  CHECK(named.size() == 2 + 1 + 2 + 1 + 2 * (14 * 2 + 9) + 2 + 1 + 2 + 1 + 2);
  CHECK(named.front().first == "conv_input.weight");
  CHECK(named[2].first == "relu1.weight");
  CHECK(named[6].first == "recursive.0.conv1.weight");
  CHECK(named[8].first == "recursive.0.relu2.weight");
  CHECK(named.back().first == "conv_output.bias");
  auto& block = didn.submodule("recursive.1");
  CHECK(block.type_name() == "DIDNBlock");
  CHECK(didn.submodule("recursive.1.conv13").named_parameters()[0].second.shape() == Shape{512, 256, 1, 1});
  CHECK(didn.submodule("recursive.1.relu24").named_parameters()[0].second.shape() == Shape{1});
  CHECK(didn.conv_mid->weight.shape() == Shape{64, 128, 1, 1});
  CHECK(didn.conv_output->weight.shape() == Shape{2, 16, 3, 3});
}

TEST_CASE("nn zoo: DIDN initializes like SMUG (N(0, 0.02) convs, zero biases, PReLU 0.25), seeded") {
  nn::zoo::DIDN<float> a(2, 2, 16, 1, 7), b(2, 2, 16, 1, 7), c(2, 2, 16, 1, 8);
  const auto pa = a.named_parameters(), pb = b.named_parameters(), pc = c.named_parameters();
  double sum = 0, sum2 = 0;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].first);
    const auto va = pa[i].second.to_vector();
    CHECK(va == pb[i].second.to_vector());
    if (pa[i].second.dim() == 4) {
      CHECK(va != pc[i].second.to_vector());
      for (float v : va) sum += v, sum2 += double(v) * v, ++n;
    } else if (pa[i].first.ends_with(".bias")) {
      CHECK(va == std::vector<float>(va.size(), 0.0f));
    } else {
      CHECK(va == std::vector<float>{0.25f});
    }
  }
  CHECK(std::abs(sum / double(n)) < 1e-3);
  CHECK(std::sqrt(sum2 / double(n)) == doctest::Approx(0.02).epsilon(0.02));
  // Consecutive draws of one stream: no two convs start with the same numbers.
  CHECK(a.conv_down->weight.to_vector()[0] != a.blocks[0]->conv1->weight.to_vector()[0]);
}

TEST_CASE("nn zoo: DIDN with a zero last conv returns its input exactly (the global residual)") {
  nn::zoo::DIDN<float> didn(2, 2, 16, 2, 3);
  {
    NoGradGuard no_grad;
    didn.conv_output->weight.fill_(0.0f);
    didn.conv_output->bias.fill_(0.0f);
  }
  for (const Shape& shape : {Shape{2, 2, 32, 32}, Shape{1, 2, 20, 28}, Shape{1, 2, 9, 3}}) {
    INFO(shape);
    auto x = Tf::randn(shape, 5);
    CHECK(didn(x).to_vector() == x.to_vector());
  }
}

TEST_CASE("nn zoo: DIDN gradients w.r.t. the input gradcheck in double; backward reaches every parameter") {
  nn::zoo::DIDN<double> didn(2, 2, 8, 1, 11);
  randomize(didn, 100);
  tests::check_grad([&](auto& v) { return didn(v[0]); }, std::vector{Td::randn({1, 2, 8, 8}, 1)});
  tests::check_grad([&](auto& v) { return didn(v[0]); }, std::vector{Td::randn({1, 2, 7, 6}, 2)});  // pad + crop
  // The shared PReLU slope: one [1] weight broadcast over a whole feature map.
  tests::check_grad([](auto& v) { return prelu(v[0], v[1]); },
                    std::vector{Td::randn({2, 3, 4, 4}, 3), Td::from_vector({0.25}, {1})});

  nn::zoo::DIDN<double> fresh(2, 2, 8, 2, 12);  // SMUG's initialization
  auto x = Td::randn({2, 2, 12, 16}, 4);
  sum(mul(fresh(x), Td::randn({2, 2, 12, 16}, 5))).backward();
  for (auto& [name, p] : fresh.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
    bool nonzero = false;
    for (double g : p.grad().to_vector()) nonzero = nonzero || g != 0;
    CHECK(nonzero);
  }
}

TEST_CASE("nn zoo: DIDN inference is repeatable for one 8x8 image (1x1 maps at the blocks' quarter scale)") {
  // conv9, conv11 and conv13 then see one image of one pixel: conv2d's no-tape path must not write its
  // result into the bias it starts from.
  nn::zoo::DIDN<double> didn(2, 2, 8, 1, 13);
  randomize(didn, 200);
  const auto bias = didn.blocks[0]->conv11->bias.to_vector();
  auto x = Td::randn({1, 2, 8, 8}, 6);
  NoGradGuard no_grad;
  const auto first = didn(x).to_vector();
  CHECK(didn(x).to_vector() == first);
  CHECK(didn.blocks[0]->conv11->bias.to_vector() == bias);
}

TEST_CASE("nn zoo: DIDN rejects a width that is not a multiple of 4") {
  check_error([] { nn::zoo::DIDN<float>(2, 2, 30); }, "nn::zoo::DIDN", "got 30");
  check_error([] { nn::zoo::DIDN<float>(2, 2, 0); }, "nn::zoo::DIDN", "got 0");
  check_error([] { nn::zoo::DIDN<float>(2, 2, 8, 0); }, "nn::zoo::DIDN", "blocks");
  check_error([] { nn::zoo::DIDN<float>(2, 1, 8); }, "nn::zoo::DIDN", "channels_out must equal channels_in");
}
