// nn layers: gradients through each layer against finite differences (double), PyTorch shapes
// and semantics, and the module tree.
#include <doctest/doctest.h>

#include <cmath>
#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Td = Tensor<double>;
using tests::check_error;
using tests::check_grad;

TEST_CASE("nn: Linear matches x W^T + b and its gradients") {
  nn::Linear<double> fc(3, 2, true, 7);
  CHECK(fc.weight.shape() == Shape{2, 3});
  CHECK(fc.bias.shape() == Shape{2});
  // PyTorch's default bound 1 / sqrt(fan_in) for weight and bias.
  for (double w : fc.weight.to_vector()) CHECK(std::abs(w) <= 1 / std::sqrt(3.0));
  auto x = Td::randn({4, 3}, 1);
  auto y = fc(x).to_vector();
  auto w = fc.weight.to_vector(), b = fc.bias.to_vector(), xv = x.to_vector();
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 2; ++o) {
      double want = b[o];
      for (int k = 0; k < 3; ++k) want += xv[i * 3 + k] * w[o * 3 + k];
      CHECK(y[i * 2 + o] == doctest::Approx(want).epsilon(1e-12));
    }
  check_grad([&](auto& v) { return add(matmul(v[0], transpose(v[1], 0, 1)), v[2]); },
             std::vector{x, fc.weight.detach(), fc.bias.detach()});
  check_error([&] { return fc(Td::randn({4, 5}, 1)); }, "nn::Linear");
}

TEST_CASE("nn: the parameters of a module tree receive the gradients of its loss") {
  auto net = nn::zoo::SmallCnn<double>(1, 10, 3);
  auto x = Td::randn({2, 1, 28, 28}, 2);
  auto loss = sum(mul((*net)(x), (*net)(x)));
  loss.backward();
  for (auto& [name, p] : net->named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
  }
  // Finite differences on a few weights of each parameter.
  for (auto& [name, p] : net->named_parameters()) {
    INFO(name);
    auto g = p.grad().to_vector();
    for (std::int64_t i : {std::int64_t(0), p.numel() / 2, p.numel() - 1}) {
      auto value = p.to_vector();
      const double h = 1e-6, keep = value[i];
      auto eval = [&](double at) {
        value[i] = at;
        ops::assign(p, Td::from_vector(value, p.shape()));
        NoGradGuard no_grad;
        return sum(mul((*net)(x), (*net)(x))).item();
      };
      const double numeric = (eval(keep + h) - eval(keep - h)) / (2 * h);
      eval(keep);
      CHECK(g[i] == doctest::Approx(numeric).epsilon(1e-5));
    }
  }
}

TEST_CASE("nn: Conv2d, ConvTranspose2d, pooling and activation layers gradcheck in double") {
  nn::Conv2d<double> conv(2, 3, 3, nn::ConvOptions{.stride = 2, .padding = 1}, 5);
  CHECK(conv.weight.shape() == Shape{3, 2, 3, 3});
  check_grad([&](auto& v) { return conv2d(v[0], v[1], v[2], 2, 1); },
             std::vector{Td::randn({2, 2, 5, 5}, 1), conv.weight.detach(), conv.bias.detach()});
  nn::ConvTranspose2d<double> up(3, 2, 3, nn::ConvOptions{.stride = 2, .padding = 1, .output_padding = 1}, 6);
  CHECK(up.weight.shape() == Shape{3, 2, 3, 3});
  CHECK(up(Td::randn({1, 3, 4, 4}, 2)).shape() == Shape{1, 2, 8, 8});
  check_grad([&](auto& v) { return conv_transpose2d(v[0], v[1], v[2], 2, 1, 1); },
             std::vector{Td::randn({1, 3, 3, 3}, 1), up.weight.detach(), up.bias.detach()});
  for (auto layer : {nn::ReLU<double>(), nn::LeakyReLU<double>(0.1), nn::GELU<double>(), nn::SiLU<double>(),
                     nn::Sigmoid<double>(), nn::Tanh<double>(), nn::MaxPool2d<double>(2), nn::AvgPool2d<double>(2),
                     nn::AdaptiveAvgPool2d<double>(1), nn::Flatten<double>()}) {
    INFO(layer->type_name());
    check_grad([&](auto& v) { return (*layer)(v[0]); }, std::vector{Td::randn({2, 2, 4, 4}, 9)});
  }
}

TEST_CASE("nn: the channel-wise layers commute with channel slices; the others and a user's Lambda do not") {
  const auto x = Td::randn({2, 4, 6, 6}, 3);
  for (auto layer : {nn::ReLU<double>(), nn::LeakyReLU<double>(0.1), nn::GELU<double>(), nn::SiLU<double>(),
                     nn::Sigmoid<double>(), nn::Tanh<double>(), nn::Identity<double>(), nn::MaxPool2d<double>(2),
                     nn::AvgPool2d<double>(3, 1, 1), nn::AdaptiveAvgPool2d<double>(3), nn::Flatten<double>()}) {
    INFO(layer->type_name());
    CHECK(layer->commutes_with_channel_slices());
    // Channel 2 alone gives channel 2 of the whole output (its columns, once flattened).
    const auto whole = (*layer)(x), alone = (*layer)(slice(x, 1, 2, 3, 1).contiguous());
    const std::int64_t width = alone.dim() == 2 ? alone.size(1) : 1;
    const auto wanted = alone.dim() == 2 ? slice(whole, 1, 2 * width, 3 * width, 1) : slice(whole, 1, 2, 3, 1);
    CHECK(amax(abs(sub(alone, wanted.contiguous()))).item() == 0);
  }
  CHECK_FALSE(nn::Linear<double>(3, 2, true, 1).commutes_with_channel_slices());
  CHECK_FALSE(nn::Conv2d<double>(4, 4, 3, nn::ConvOptions{}, 1).commutes_with_channel_slices());
  CHECK_FALSE(nn::BatchNorm2d<double>(4).commutes_with_channel_slices());  // a weight per channel
  CHECK_FALSE(nn::Dropout<double>(0.5, 1).commutes_with_channel_slices());
  CHECK_FALSE(nn::Sequential<double>().commutes_with_channel_slices());
  // The name says nothing: a user's "ReLU" is taken as channel-wise only when it says so.
  CHECK_FALSE(nn::Lambda<double>("ReLU", [](const Td& t) { return relu(t); }).commutes_with_channel_slices());
  CHECK(nn::Lambda<double>("Square", [](const Td& t) { return mul(t, t); }, {.commutes_with_channel_slices = true})
            .commutes_with_channel_slices());
}

TEST_CASE("nn: Dropout zeroes about p of the elements, rescales the rest, draws fresh masks and is off in eval") {
  nn::Dropout<double> drop(0.25, 11);
  auto x = Td::ones({10000});
  auto a = drop(x).to_vector(), b = drop(x).to_vector();
  std::int64_t zeros = 0, differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK((a[i] == 0 || std::abs(a[i] - 1 / 0.75) < 1e-12));
    zeros += a[i] == 0;
    differ += (a[i] == 0) != (b[i] == 0);
  }
  CHECK(std::abs(zeros / 10000.0 - 0.25) < 0.02);
  CHECK(differ > 1000);
  drop.eval();
  CHECK(drop(x).to_vector() == x.to_vector());
  check_error([] { nn::Dropout<double>(1.0); }, "nn::Dropout");
}

TEST_CASE("nn: Embedding looks up rows and sends gradients back to them") {
  nn::Embedding<double> emb(5, 3, 1);
  auto ids = Tensor<std::int64_t>::from_vector({4, 0, 4}, {3});
  auto out = emb.embed(ids);
  CHECK(out.shape() == Shape{3, 3});
  sum(out).backward();
  auto g = emb.weight.grad().to_vector();
  CHECK(g[4 * 3] == 2);
  CHECK(g[0] == 1);
  CHECK(g[3] == 0);
  check_error([&] { return emb(Td::ones({2})); }, "nn::Module::forward");
}

TEST_CASE("nn: MultiheadAttention equals the attention formula, head by head") {
  nn::MultiheadAttention<double> mha(4, 2, 3);
  CHECK(mha.in_proj_weight.shape() == Shape{12, 4});
  auto q = Td::randn({1, 2, 4}, 1), kv = Td::randn({1, 3, 4}, 2);
  auto out = mha.attend(q, kv, kv);
  CHECK(out.shape() == Shape{1, 2, 4});
  // Reference: per head h, softmax(Q_h K_h^T / sqrt(2)) V_h, concatenated, then out_proj.
  auto proj = [&](const Td& x, int which) {
    auto w = slice(mha.in_proj_weight, 0, which * 4, which * 4 + 4, 1);
    return add(matmul(x, transpose(w, 0, 1)), slice(mha.in_proj_bias, 0, which * 4, which * 4 + 4, 1));
  };
  auto Q = proj(q, 0), K = proj(kv, 1), V = proj(kv, 2);
  std::vector<Td> heads;
  for (int h = 0; h < 2; ++h) {
    auto qh = slice(Q, 2, 2 * h, 2 * h + 2, 1), kh = slice(K, 2, 2 * h, 2 * h + 2, 1),
         vh = slice(V, 2, 2 * h, 2 * h + 2, 1);
    heads.push_back(matmul(softmax(scale(matmul(qh, transpose(kh, 1, 2)), 1 / std::sqrt(2.0)), -1), vh));
  }
  auto want = (*mha.out_proj)(concat(heads, 2)).to_vector();
  auto got = out.to_vector();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  // Masking a key position removes its influence.
  auto mask = Td::from_vector({0, 0, -INFINITY, 0, 0, -INFINITY}, {1, 2, 3});
  auto masked = mha.attend(q, kv, kv, mask).to_vector();
  auto kv2 = slice(kv, 1, 0, 2, 1);
  auto ref = mha.attend(q, kv2, kv2).to_vector();
  for (std::size_t i = 0; i < ref.size(); ++i) CHECK(masked[i] == doctest::Approx(ref[i]).epsilon(1e-12));
  check_grad([&](auto& v) { return mha.attend(v[0], v[1], v[1]); }, std::vector{q, kv});
  nn::MultiheadAttention<double> cross(4, 2, 3, true, 6, 6);
  CHECK(cross.k_proj_weight.shape() == Shape{4, 6});
  CHECK(cross.attend(q, Td::randn({1, 5, 6}, 3), Td::randn({1, 5, 6}, 4)).shape() == Shape{1, 2, 4});
  check_error([&] { return mha.attend(q, Td::randn({1, 3, 5}, 1), kv); }, "nn::MultiheadAttention");
}
