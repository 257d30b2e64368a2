// The model zoo: output shapes, parameter counts, seeding and a training signal for each model.
#include <doctest/doctest.h>

#include <trustml/nn.hpp>

#include "support/op_registry.hpp"

using namespace trustml;
using Tf = Tensor<float>;
using Td = Tensor<double>;
using tests::check_error;

TEST_CASE("nn zoo: classifiers map 28x28 images to 10 logits; equal seeds give equal models") {
  auto x = Tf::randn({3, 1, 28, 28}, 1);
  nn::zoo::Mlp<float> mlp({784, 32, 10}, 1);
  CHECK(mlp(x).shape() == Shape{3, 10});
  CHECK(mlp.num_parameters() == 784 * 32 + 32 + 32 * 10 + 10);
  auto lenet = nn::zoo::LeNet5<float>();
  CHECK((*lenet)(x).shape() == Shape{3, 10});
  CHECK(lenet->num_parameters() == 6 * 25 + 6 + 16 * 6 * 25 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10);
  auto resnet = nn::zoo::ResNet20<float>(1, 10);
  CHECK((*resnet)(x).shape() == Shape{3, 10});
  // ResNet-20 with 1x1 projection shortcuts: 0.27 M parameters.
  CHECK(resnet->num_parameters() > 265000);
  CHECK(resnet->num_parameters() < 275000);
  auto a = nn::zoo::SmallCnn<float>(1, 10, 5), b = nn::zoo::SmallCnn<float>(1, 10, 5),
       c = nn::zoo::SmallCnn<float>(1, 10, 6);
  CHECK((*a)(x).to_vector() == (*b)(x).to_vector());
  CHECK((*a)(x).to_vector() != (*c)(x).to_vector());
}

TEST_CASE("nn zoo: DnCNN returns an image of the input's shape; its gradient is checked in double") {
  nn::zoo::DnCNN<float> dncnn(2, 5, 16);
  CHECK(dncnn(Tf::randn({2, 2, 12, 12}, 1)).shape() == Shape{2, 2, 12, 12});
  nn::zoo::DnCNN<double> small(1, 3, 4);
  small.eval();
  tests::check_grad([&](auto& v) { return small(v[0]); }, std::vector{Td::randn({1, 1, 5, 5}, 2)});
}

TEST_CASE("nn zoo: the tiny U-Net predicts noise of the image's shape, with and without conditioning") {
  nn::zoo::TinyUNet<float> unet(1, 16, 8, 3);
  auto x = Tf::randn({2, 1, 8, 8}, 1);
  auto t = Tf::from_vector({3, 500}, {2});
  auto cond = Tf::randn({2, 4, 8}, 2);
  auto with = unet.predict(x, t, cond), without = unet.predict(x, t);
  CHECK(with.shape() == Shape{2, 1, 8, 8});
  CHECK(with.to_vector() != without.to_vector());  // the conditioning is used
  CHECK(unet.predict(x, Tf::from_vector({4, 500}, {2})).to_vector() != without.to_vector());  // so is the time
  sum(mul(with, with)).backward();
  for (auto& [name, p] : unet.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
  check_error([&] { return unet.predict(Tf::randn({2, 1, 7, 8}, 1), t); }, "nn::zoo::TinyUNet");
  check_error([&] { return unet.predict(x, t, Tf::randn({2, 4, 5}, 1)); }, "nn::zoo::TinyUNet");
  nn::zoo::TinyUNet<double> tiny(1, 4, 2, 1);
  tests::check_grad(
      [&](auto& v) {
        return tiny.predict(v[0], Td::from_vector({2, 7}, {2}), v[1]);
      },
      std::vector{Td::randn({2, 1, 4, 4}, 3), Td::randn({2, 3, 2}, 4)});
}
