// Reductions, movement and matmul: values against hand-computed references, gradcheck.
#include <cmath>

#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_grad;
using tests::Td;
using tests::Tz;

namespace {
Td x234() { return Td::randn({2, 3, 4}, 21); }
Tz z234() { return Tz::randn({2, 3, 4}, 22); }
}  // namespace

OP_TEST(sum) {
  auto t = Td::arange(6).reshape({2, 3});
  CHECK(sum(t).item() == 15);
  CHECK(sum(t, {0}).to_vector() == std::vector<double>{3, 5, 7});
  CHECK(sum(t, {-1}, true).shape() == Shape{2, 1});
  CHECK(sum(t.transpose(0, 1), {1}).to_vector() == std::vector<double>{3, 5, 7});
  check_grad([](auto& v) { return sum(v[0], {0, 2}); }, std::vector{x234()}, true);
  check_grad([](auto& v) { return sum(v[0], {1}, true); }, std::vector{z234()});
  CHECK_THROWS_AS(sum(t, {0, 0}), Error);
}
OP_TEST(mean) {
  CHECK(mean(Td::arange(6).reshape({2, 3}), {1}).to_vector() == std::vector<double>{1, 4});
  check_grad([](auto& v) { return mean(v[0], {2}); }, std::vector{x234()});
  check_grad([](auto& v) { return mean(v[0]); }, std::vector{z234()});
}
OP_TEST(amax) {
  auto t = Td::from_vector({1, 7, 3, 4, 2, 9}, {2, 3});
  CHECK(amax(t, {1}).to_vector() == std::vector<double>{7, 9});
  CHECK(amax(t).item() == 9);
  check_grad([](auto& v) { return amax(v[0], {1}); }, std::vector{x234()});
  auto tie = Td::from_vector({2, 2, 1}).set_requires_grad();
  amax(tie).backward();
  CHECK(tie.grad().to_vector() == std::vector<double>{0.5, 0.5, 0});
}
OP_TEST(amin) {
  CHECK(amin(Td::from_vector({1, 7, 3, 4, 2, 9}, {2, 3}), {0}).to_vector() == std::vector<double>{1, 2, 3});
  check_grad([](auto& v) { return amin(v[0], {0, 2}); }, std::vector{x234()});
}
OP_TEST(argmax) {
  auto t = Td::from_vector({1, 7, 3, 9, 2, 9}, {2, 3});
  CHECK(argmax(t, 1).to_vector() == std::vector<std::int64_t>{1, 0});
  CHECK(argmax(t, 0).to_vector() == std::vector<std::int64_t>{1, 0, 1});
}
OP_TEST(var) {
  CHECK(var(Td::from_vector({1, 2, 3, 4})).item() == doctest::Approx(5.0 / 3));
  CHECK(var(Td::from_vector({1, 2, 3, 4}), {}, 0).item() == doctest::Approx(1.25));
  check_grad([](auto& v) { return var(v[0], {1}); }, std::vector{x234()}, true);
  CHECK_THROWS_AS(var(Td::ones({1})), Error);
}
OP_TEST(logsumexp) {
  auto t = Td::from_vector({1000, 1000});
  CHECK(logsumexp(t).item() == doctest::Approx(1000 + std::log(2.0)));
  check_grad([](auto& v) { return logsumexp(v[0], {2}); }, std::vector{x234()}, true);
}
OP_TEST(norm) {
  CHECK(norm(Td::from_vector({3, -4})).item() == doctest::Approx(5));
  CHECK(norm(Td::from_vector({3, -4}), 1).item() == doctest::Approx(7));
  CHECK(norm(Td::from_vector({3, -4}), INFINITY).item() == doctest::Approx(4));
  CHECK(norm(Tz::from_vector({{3, 4}})).item() == doctest::Approx(5));
  check_grad([](auto& v) { return norm(v[0], 2, {1}); }, std::vector{x234()});
  check_grad([](auto& v) { return norm(v[0], 3, {2}); }, std::vector{x234()});
  check_grad([](auto& v) { return norm(v[0]); }, std::vector{z234()});
}

// ---- movement ----
OP_TEST(reshape) {
  check_grad([](auto& v) { return reshape(v[0], {4, -1}); }, std::vector{x234()});
  check_grad([](auto& v) { return reshape(v[0].transpose(0, 2), {24}); }, std::vector{z234()});
}
OP_TEST(permute) {
  check_grad([](auto& v) { return mul(permute(v[0], {2, 0, 1}), Td::randn({4, 2, 3}, 1)); }, std::vector{x234()});
}
OP_TEST(transpose) {
  check_grad([](auto& v) { return transpose(v[0], 0, 2); }, std::vector{z234()});
}
OP_TEST(slice) {
  check_grad([](auto& v) { return slice(v[0], 2, 1, 4, 2); }, std::vector{x234()}, true);
  check_grad([](auto& v) { return slice(v[0], 1, -2, 3); }, std::vector{z234()});
}
OP_TEST(slice_backward) {
  auto out = slice_backward(Td::ones({2}), {5}, 0, 1, 2);
  CHECK(out.to_vector() == std::vector<double>{0, 1, 0, 1, 0});
  check_grad([](auto& v) { return slice_backward(v[0], {2, 7}, 1, 1, 3); }, std::vector{Td::randn({2, 2}, 1)}, true);
}
OP_TEST(pad) {
  auto p = pad(Td::ones({1, 2}), {1, 2, 1, 0});
  CHECK(p.shape() == Shape{2, 5});
  CHECK(p.to_vector() == std::vector<double>{0, 0, 0, 0, 0, 0, 1, 1, 0, 0});
  check_grad([](auto& v) { return pad(v[0], {2, 1}); }, std::vector{z234()});
}
OP_TEST(expand) {
  check_grad([](auto& v) { return mul(expand(v[0], {2, 3, 4}), x234()); }, std::vector{Td::randn({3, 1}, 1)});
}
OP_TEST(squeeze) {
  check_grad([](auto& v) { return squeeze(v[0], 1); }, std::vector{Td::randn({2, 1, 3}, 1)});
}
OP_TEST(unsqueeze) {
  check_grad([](auto& v) { return unsqueeze(v[0], -1); }, std::vector{x234()});
}
OP_TEST(contiguous) {
  check_grad([](auto& v) { return contiguous(v[0].transpose(0, 1)); }, std::vector{x234()});
}
OP_TEST(to_device) {
  check_grad([](auto& v) { return v[0].template to<Cpu>(); }, std::vector{x234()});
}
OP_TEST(cast) {
  check_grad([](auto& v) { return v[0].template cast<std::complex<double>>(); }, std::vector{x234()});
  check_grad([](auto& v) { return v[0].template cast<float>().template cast<double>(); }, std::vector{x234()}, false,
             {1e-3, 1e-4, 1e-3});
}

// ---- linear algebra ----
OP_TEST(matmul) {
  auto a = Td::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}), b = Td::from_vector({1, 0, 0, 1, 1, 1}, {3, 2});
  CHECK(matmul(a, b).to_vector() == std::vector<double>{4, 5, 10, 11});
  CHECK(matmul(a.transpose(0, 1), a).to_vector()[0] == 17);                               // transposed operand, no copy
  CHECK(matmul(Td::from_vector({1, 1}), a).to_vector() == std::vector<double>{5, 7, 9});  // 1-D @ 2-D
  CHECK(matmul(a, Td::from_vector({1, 1, 1})).to_vector() == std::vector<double>{6, 15});
  auto batched = matmul(Td::randn({4, 1, 2, 3}, 1), Td::randn({5, 3, 2}, 2));
  CHECK(batched.shape() == Shape{4, 5, 2, 2});
  check_grad([](auto& v) { return matmul(v[0], v[1]); }, std::vector{Td::randn({2, 3}, 1), Td::randn({3, 4}, 2)}, true);
  check_grad([](auto& v) { return matmul(v[0], v[1]); },
             std::vector{Td::randn({2, 1, 2, 3}, 1), Td::randn({3, 3, 2}, 2)});
  check_grad([](auto& v) { return matmul(v[0].transpose(-1, -2), v[1]); },
             std::vector{Tz::randn({2, 3, 2}, 1), Tz::randn({2, 3, 2}, 2)});
  check_grad([](auto& v) { return matmul(v[0], v[1]); }, std::vector{Td::randn({3}, 1), Td::randn({3}, 2)});
}

// ---- losses ----
OP_TEST(softmax) {
  auto s = softmax(Td::from_vector({1, 2, 3}), 0).to_vector();
  const double z = std::exp(1) + std::exp(2) + std::exp(3);
  CHECK(s[2] == doctest::Approx(std::exp(3) / z));
  check_grad([](auto& v) { return softmax(v[0], 1); }, std::vector{x234()}, true);
}
OP_TEST(log_softmax) {
  check_grad([](auto& v) { return log_softmax(v[0], -1); }, std::vector{x234()}, true);
}
OP_TEST(cross_entropy) {
  auto logits = Td::from_vector({2, 0, 0, 0, 0, 3}, {2, 3});
  auto labels = Tensor<std::int64_t>::from_vector({0, 1});
  const double l0 = -std::log(std::exp(2) / (std::exp(2) + 2)), l1 = -std::log(1 / (2 + std::exp(3)));
  CHECK(cross_entropy(logits, labels).item() == doctest::Approx((l0 + l1) / 2));
  // Label smoothing 0.3 over 3 classes: target 0.8 on the label, 0.1 elsewhere (as torch).
  auto lsm = log_softmax(logits, 1).to_vector();
  const double smooth = -(0.8 * lsm[0] + 0.1 * lsm[1] + 0.1 * lsm[2] + 0.1 * lsm[3] + 0.8 * lsm[4] + 0.1 * lsm[5]) / 2;
  CHECK(cross_entropy(logits, labels, 0.3).item() == doctest::Approx(smooth));
  check_grad([labels](auto& v) { return cross_entropy(v[0], labels, 0.1); }, std::vector{Td::randn({2, 3}, 1)}, true);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor<std::int64_t>::from_vector({0, 3})),
                       doctest::Contains("label 3 at index 1 is out of range for 3 classes"), Error);
}
OP_TEST(mse) {
  CHECK(mse(Td::from_vector({1, 2}), Td::from_vector({2, 4})).item() == 2.5);
  check_grad([](auto& v) { return mse(v[0], v[1]); }, std::vector{x234(), Td::randn({2, 3, 4}, 5)});
  check_grad([](auto& v) { return mse(v[0], v[1]); }, std::vector{z234(), Tz::randn({2, 3, 4}, 5)});
}
