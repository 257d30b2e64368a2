// Gradient clipping (norms, scaling, non-finite norms) and learning-rate schedules (values at chosen
// steps, argument checks).
#include <trustml/optim/clip.hpp>
#include <trustml/optim/schedule.hpp>
#include <trustml/optim/sgd.hpp>

#include <cmath>
#include <limits>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::optim;
using tests::check_close;
using tests::check_error;
using tests::Td;
using Vec = std::vector<double>;

namespace {
// Leaves with gradients {3, 4} and {12} (2-norm 13, 1-norm 19, inf-norm 12), and one without.
struct Params {
  Td a = Td::zeros({2}).set_requires_grad(), b = Td::zeros({1, 1}).set_requires_grad(),
     no_grad = Td::zeros({3}).set_requires_grad();
  Params() {
    a.set_grad(Td::from_vector({3, -4}));
    b.set_grad(Td::from_vector({12}, {1, 1}));
  }
  std::vector<Td> all() const { return {a, b, no_grad}; }
};
}  // namespace

TEST_CASE("clip_grad_norm_ returns the total norm and scales gradients above max_norm") {
  SUBCASE("2-norm above the limit") {
    Params p;
    const auto version = p.a.grad().storage()->version;
    CHECK(clip_grad_norm_(p.all(), 6.5) == 13.0);
    const double factor = 6.5 / (13 + 1e-6);
    check_close(p.a.grad(), {3 * factor, -4 * factor}, 1e-15);
    check_close(p.b.grad(), {12 * factor}, 1e-15);
    CHECK(p.a.grad().storage()->version == version + 1);
    CHECK_FALSE(p.no_grad.grad().defined());
  }
  SUBCASE("below the limit nothing changes") {
    Params p;
    CHECK(clip_grad_norm_(p.all(), 13.5) == 13.0);
    CHECK(p.a.grad().to_vector() == Vec{3, -4});
    CHECK(p.b.grad().to_vector() == Vec{12});
  }
  SUBCASE("other norms") {
    Params p;
    CHECK(clip_grad_norm_(p.all(), 100, kInfNorm) == 12.0);
    CHECK(clip_grad_norm_(p.all(), 100, 1.0) == 19.0);
    CHECK(clip_grad_norm_(p.all(), 100, 3.0) == doctest::Approx(std::cbrt(27.0 + 64 + 1728)).epsilon(1e-14));
    CHECK(clip_grad_norm_(p.all(), 6.0, kInfNorm) == 12.0);
    const double factor = 6 / (12 + 1e-6);
    check_close(p.a.grad(), {3 * factor, -4 * factor}, 1e-15);
  }
  SUBCASE("float gradients accumulate in double") {
    auto x = Tensor<float>::full({1000}, 0.1f).set_requires_grad();
    x.set_grad(Tensor<float>::full({1000}, 0.1f));
    const double want = std::sqrt(1000.0) * double(0.1f);
    CHECK(clip_grad_norm_(std::vector{x}, 1e9) == doctest::Approx(want).epsilon(1e-13));
  }
  SUBCASE("no gradients: norm 0") {
    Td x = Td::ones({2}).set_requires_grad();
    CHECK(clip_grad_norm_(std::vector{x}, 1.0) == 0.0);
  }
  SUBCASE("non-finite norms") {
    Params p;
    p.a.set_grad(Td::from_vector({std::numeric_limits<double>::quiet_NaN(), 1}));
    check_error([&] { clip_grad_norm_(p.all(), 1.0, 2.0, /*error_if_nonfinite=*/true); }, "clip_grad_norm_");
    check_error([&] { clip_grad_norm_(p.all(), 1.0, kInfNorm, true); }, "clip_grad_norm_");
    CHECK(p.b.grad().to_vector() == Vec{12});  // the error left the gradients alone
    CHECK(std::isnan(clip_grad_norm_(p.all(), 1.0)));
    CHECK(std::isnan(p.b.grad().item()));  // scaled by the NaN factor, as PyTorch does

    Params q;
    q.b.set_grad(Td::from_vector({std::numeric_limits<double>::infinity()}, {1, 1}));
    check_error([&] { clip_grad_norm_(q.all(), 1.0, 2.0, true); }, "clip_grad_norm_");
    CHECK(std::isinf(clip_grad_norm_(q.all(), 1.0)));
    CHECK(q.a.grad().to_vector() == Vec{0, 0});
  }
  SUBCASE("bad arguments") {
    Params p;
    check_error([&] { clip_grad_norm_(p.all(), 1.0, 0.0); }, "clip_grad_norm_");
    check_error([&] { clip_grad_norm_(p.all(), 1.0, -2.0); }, "clip_grad_norm_");
    check_error([&] { clip_grad_norm_(p.all(), -1.0); }, "clip_grad_norm_");
  }
}

TEST_CASE("clip_grad_value_ clamps every gradient element") {
  Params p;
  clip_grad_value_(p.all(), 3.5);
  CHECK(p.a.grad().to_vector() == Vec{3, -3.5});
  CHECK(p.b.grad().to_vector() == Vec{3.5});
  // A strided gradient.
  Td x = Td::zeros({2, 2}).set_requires_grad();
  x.set_grad(Td::from_vector({1, -5, 7, 2}, {2, 2}).transpose(0, 1));
  clip_grad_value_(std::vector{x}, 2.0);
  CHECK(x.grad().to_vector() == Vec{1, 2, -2, 2});
  check_error([&] { clip_grad_value_(p.all(), -1.0); }, "clip_grad_value_");
}

TEST_CASE("StepLR and MultiStepLR decay at their boundaries") {
  const StepLR step(0.1, 3, 0.5);
  CHECK(step.lr_at(0) == 0.1);
  CHECK(step.lr_at(2) == 0.1);
  CHECK(step.lr_at(3) == 0.05);
  CHECK(step.lr_at(5) == 0.05);
  CHECK(step.lr_at(6) == 0.025);
  CHECK(step.lr_at(30) == doctest::Approx(0.1 / 1024).epsilon(1e-15));

  const MultiStepLR multi(1.0, {2, 5}, 0.1);
  CHECK(multi.lr_at(0) == 1.0);
  CHECK(multi.lr_at(1) == 1.0);
  CHECK(multi.lr_at(2) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(multi.lr_at(4) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(multi.lr_at(5) == doctest::Approx(0.01).epsilon(1e-15));
  CHECK(multi.lr_at(1000) == doctest::Approx(0.01).epsilon(1e-15));
}

TEST_CASE("WarmupCosineLR: linear warm-up, then a half cosine down to min_lr") {
  const WarmupCosineLR cosine(1.0, 10, 110, 0.1);
  CHECK(cosine.lr_at(0) == 0.0);
  CHECK(cosine.lr_at(5) == 0.5);
  CHECK(cosine.lr_at(10) == 1.0);                                   // end of warm-up: the base
  CHECK(cosine.lr_at(60) == doctest::Approx(0.55).epsilon(1e-15));  // midpoint: halfway to min_lr
  CHECK(cosine.lr_at(35) == doctest::Approx(0.1 + 0.45 * (1 + std::sqrt(0.5))).epsilon(1e-15));
  CHECK(cosine.lr_at(110) == 0.1);
  CHECK(cosine.lr_at(5000) == 0.1);
  for (std::int64_t s = 11; s <= 110; ++s) CHECK(cosine.lr_at(s) < cosine.lr_at(s - 1));

  const WarmupCosineLR no_warmup(2.0, 0, 4);
  CHECK(no_warmup.lr_at(0) == 2.0);
  CHECK(no_warmup.lr_at(2) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(no_warmup.lr_at(4) == 0.0);
}

TEST_CASE("LinearLR moves the factor from start to end, then holds it") {
  const LinearLR linear(0.3, 0.5, 1.0, 4);
  CHECK(linear.lr_at(0) == doctest::Approx(0.15).epsilon(1e-15));
  CHECK(linear.lr_at(2) == doctest::Approx(0.225).epsilon(1e-15));
  CHECK(linear.lr_at(4) == doctest::Approx(0.3).epsilon(1e-15));
  CHECK(linear.lr_at(100) == doctest::Approx(0.3).epsilon(1e-15));
  const LinearLR down(1.0, 1.0, 0.0, 10);
  CHECK(down.lr_at(3) == doctest::Approx(0.7).epsilon(1e-15));
  CHECK(down.lr_at(10) == 0.0);
}

TEST_CASE("schedules set the optimizer's learning rate") {
  Td x = Td::ones({2}).set_requires_grad();
  SGD<double> opt({x}, {.lr = 123});
  const MultiStepLR schedule(0.5, {3}, 0.2);
  schedule.apply(opt, 0);
  CHECK(opt.lr() == 0.5);
  schedule.apply(opt, 3);
  CHECK(opt.lr() == doctest::Approx(0.1).epsilon(1e-15));
  // The next step uses it.
  x.set_grad(Td::ones({2}));
  opt.step();
  check_close(x, {0.9, 0.9}, 1e-15);
}

TEST_CASE("schedules reject bad arguments, naming the schedule") {
  check_error([] { StepLR(0.1, 0); }, "StepLR");
  check_error([] { StepLR(0.1, 2, 0.0); }, "StepLR");
  check_error([] { StepLR(-0.1, 2); }, "StepLR");
  check_error([] { MultiStepLR(0.1, {5, 3}); }, "MultiStepLR");
  check_error([] { MultiStepLR(0.1, {2, 2}); }, "MultiStepLR");
  check_error([] { MultiStepLR(0.1, {0, 2}); }, "MultiStepLR");
  check_error([] { MultiStepLR(0.1, {2}, -1); }, "MultiStepLR");
  check_error([] { WarmupCosineLR(1.0, 10, 10); }, "WarmupCosineLR");
  check_error([] { WarmupCosineLR(1.0, -1, 10); }, "WarmupCosineLR");
  check_error([] { WarmupCosineLR(1.0, 1, 10, 2.0); }, "WarmupCosineLR");
  check_error([] { WarmupCosineLR(1.0, 1, 10, -0.1); }, "WarmupCosineLR");
  check_error([] { LinearLR(1.0, 0.0); }, "LinearLR");
  check_error([] { LinearLR(1.0, 1.5); }, "LinearLR");
  check_error([] { LinearLR(1.0, 0.5, 1.2); }, "LinearLR");
  check_error([] { LinearLR(1.0, 0.5, 1.0, 0); }, "LinearLR");
  check_error([] { StepLR(0.1, 2).lr_at(-1); }, "StepLR");
  check_error([] { LinearLR(1.0).lr_at(-3); }, "LinearLR");
}
