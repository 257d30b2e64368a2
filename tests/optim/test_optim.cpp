// Optimizers: updates against PyTorch's formulas computed here in plain double loops, convergence on a
// convex quadratic, parameter groups, zero_grad and skipped parameters, state round trips.
#include <trustml/optim/adam.hpp>
#include <trustml/optim/schedule.hpp>
#include <trustml/optim/sgd.hpp>

#include <algorithm>
#include <cmath>

#include "support/op_registry.hpp"

using namespace trustml;
using namespace trustml::optim;
using tests::check_close;
using tests::check_error;
using tests::Td;
using Vec = std::vector<double>;

namespace {

const Vec kStart = {0.5, -1.2, 2.0, 0.3};
// One fixed gradient per step; the last ones are small so AMSGrad's max differs from v.
const std::vector<Vec> kGrads = {
    {0.1, -0.4, 1.5, -0.02}, {-0.3, 0.2, 0.9, 0.05}, {0.05, 0.01, -0.2, 0.0}, {0.02, -0.01, 0.1, 0.3}};

Td leaf(const Vec& values) { return Td::from_vector(values).set_requires_grad(); }

// Runs `opt` over `param` with kGrads[0..steps), setting each gradient by hand.
template <class Opt>
void run_steps(Opt& opt, Td& param, std::size_t steps) {
  for (std::size_t t = 0; t < steps; ++t) {
    param.set_grad(Td::from_vector(kGrads[t]));
    opt.step();
  }
}

// torch.optim.SGD, written out.
Vec reference_sgd(double lr, double momentum, double dampening, double weight_decay, bool nesterov, std::size_t steps) {
  Vec p = kStart, buf(p.size());
  for (std::size_t t = 0; t < steps; ++t)
    for (std::size_t i = 0; i < p.size(); ++i) {
      double g = kGrads[t][i] + weight_decay * p[i];
      if (momentum != 0) {
        buf[i] = t == 0 ? g : momentum * buf[i] + (1 - dampening) * g;
        g = nesterov ? g + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * g;
    }
  return p;
}

// torch.optim.Adam (decoupled = false) and torch.optim.AdamW (decoupled = true), written out.
Vec reference_adam(double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool decoupled,
                   std::size_t steps) {
  Vec p = kStart, m(p.size()), v(p.size()), v_max(p.size());
  for (std::size_t t = 1; t <= steps; ++t) {
    const double bias_correction1 = 1 - std::pow(beta1, double(t)), bias_correction2 = 1 - std::pow(beta2, double(t));
    for (std::size_t i = 0; i < p.size(); ++i) {
      double g = kGrads[t - 1][i];
      if (decoupled) p[i] *= 1 - lr * weight_decay;
      else g += weight_decay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      v_max[i] = std::max(v_max[i], v[i]);
      const double denom = std::sqrt(amsgrad ? v_max[i] : v[i]) / std::sqrt(bias_correction2) + eps;
      p[i] -= lr / bias_correction1 * m[i] / denom;
    }
  }
  return p;
}

}  // namespace

TEST_CASE("SGD matches torch.optim.SGD's update") {
  struct Case {
    const char* what;
    SgdOptions options;
  };
  const Case cases[] = {
      {"plain", {.lr = 0.1}},
      {"momentum", {.lr = 0.1, .momentum = 0.9}},
      {"nesterov", {.lr = 0.05, .momentum = 0.8, .nesterov = true}},
      {"dampening", {.lr = 0.1, .momentum = 0.9, .dampening = 0.3}},
      {"weight decay", {.lr = 0.1, .weight_decay = 0.05}},
      {"everything", {.lr = 0.07, .momentum = 0.5, .weight_decay = 0.2, .nesterov = true}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Td p = leaf(kStart);
    SGD<double> opt({p}, c.options);
    run_steps(opt, p, kGrads.size());
    const auto& o = c.options;
    check_close(p, reference_sgd(o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, kGrads.size()), 1e-12);
  }
}

TEST_CASE("SGD with momentum: hand-computed values") {
  // lr 0.1, momentum 0.9, gradient 1 each step: buf = 1, 1.9, 2.71 and p = 1 - 0.1 * (1 + 1.9 + 2.71).
  Td p = leaf({1.0});
  SGD<double> opt({p}, {.lr = 0.1, .momentum = 0.9});
  const Vec want = {0.9, 0.71, 0.439};
  for (double w : want) {
    p.set_grad(Td::from_vector({1.0}));
    opt.step();
    CHECK(p.item() == doctest::Approx(w).epsilon(1e-14));
  }
}

TEST_CASE("Adam and AdamW match torch.optim's updates") {
  struct Case {
    const char* what;
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, decoupled;
  };
  const Case cases[] = {
      {"Adam", 0.01, 0.9, 0.999, 1e-8, 0, false, false},
      {"Adam, eps after the square root", 0.1, 0.8, 0.99, 0.3, 0, false, false},
      {"Adam, L2 weight decay", 0.05, 0.9, 0.999, 1e-8, 0.1, false, false},
      {"Adam, small beta1 (the other lerp branch)", 0.05, 0.3, 0.9, 1e-6, 0, false, false},
      {"Adam amsgrad", 0.05, 0.9, 0.99, 1e-8, 0.02, true, false},
      {"AdamW", 0.05, 0.9, 0.999, 1e-8, 0.1, false, true},
      {"AdamW amsgrad", 0.05, 0.85, 0.95, 1e-4, 0.3, true, true},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Td p = leaf(kStart);
    std::unique_ptr<Optimizer<double>> opt;
    if (c.decoupled)
      opt = std::make_unique<AdamW<double>>(std::vector{p}, AdamWOptions{.lr = c.lr,
                                                                         .beta1 = c.beta1,
                                                                         .beta2 = c.beta2,
                                                                         .eps = c.eps,
                                                                         .weight_decay = c.weight_decay,
                                                                         .amsgrad = c.amsgrad});
    else
      opt = std::make_unique<Adam<double>>(std::vector{p}, AdamOptions{.lr = c.lr,
                                                                       .beta1 = c.beta1,
                                                                       .beta2 = c.beta2,
                                                                       .eps = c.eps,
                                                                       .weight_decay = c.weight_decay,
                                                                       .amsgrad = c.amsgrad});
    run_steps(*opt, p, kGrads.size());
    const Vec want =
        reference_adam(c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.amsgrad, c.decoupled, kGrads.size());
    check_close(p, want, 1e-12);
  }
}

TEST_CASE("Adam's first step moves every element by lr * g / (|g| + eps)") {
  Td p = leaf(kStart);
  Adam<double> opt({p}, {.lr = 0.01, .eps = 1e-3});
  run_steps(opt, p, 1);
  Vec want = kStart;
  for (std::size_t i = 0; i < want.size(); ++i) want[i] -= 0.01 * kGrads[0][i] / (std::abs(kGrads[0][i]) + 1e-3);
  check_close(p, want, 1e-13);
}

TEST_CASE("the update is in place: same leaf, same storage, version bumped") {
  Td p = leaf(kStart);
  const auto* impl = p.impl();
  const double* data = p.data();
  const auto version = p.storage()->version;
  Adam<double> opt({p});
  run_steps(opt, p, 2);
  CHECK(opt.param_groups()[0].params[0].impl() == impl);
  CHECK(p.data() == data);
  CHECK(p.storage()->version == version + 2);
  CHECK(p.is_leaf());
  CHECK(p.requires_grad());
}

TEST_CASE("strided parameters and gradients are updated element by element") {
  // A leaf that is the transpose of its storage, and a transposed gradient.
  Td p = Td::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1).detach().set_requires_grad();
  REQUIRE_FALSE(p.is_contiguous());
  const Vec before = p.to_vector();
  Td g = Td::from_vector({10, 20, 30, 40, 50, 60}, {2, 3}).transpose(0, 1);
  p.set_grad(g);
  SGD<double> opt({p}, {.lr = 0.01});
  opt.step();
  Vec want = before, gv = g.to_vector();
  for (std::size_t i = 0; i < want.size(); ++i) want[i] -= 0.01 * gv[i];
  check_close(p, want, 1e-15);
}

TEST_CASE("SGD and Adam minimize a convex quadratic") {
  // sum((A x - b)^2) with A symmetric positive definite and b = A x*: the minimum is x*.
  const Td a = Td::from_vector({3, 1, 0, 1, 2, 0.5, 0, 0.5, 1.5}, {3, 3});
  const Vec x_star = {0.5, -1, 2};
  const Td b = matmul(a, Td::from_vector(x_star));
  auto loss_of = [&](const Td& x) {
    const Td r = sub(matmul(a, x), b);
    return sum(mul(r, r));
  };
  auto minimize = [&](Optimizer<double>& opt, Td& x, int steps, const LrSchedule* schedule) {
    for (int s = 0; s < steps; ++s) {
      if (schedule) schedule->apply(opt, s);
      loss_of(x).backward();
      opt.step();
      opt.zero_grad();
    }
  };
  SUBCASE("SGD with Nesterov momentum") {
    Td x = Td::zeros({3}).set_requires_grad();
    SGD<double> opt({x}, {.lr = 0.02, .momentum = 0.9, .nesterov = true});
    minimize(opt, x, 600, nullptr);
    check_close(x, x_star, 1e-10);
    CHECK(loss_of(x).item() < 1e-20);
  }
  SUBCASE("Adam with a cosine schedule") {
    Td x = Td::zeros({3}).set_requires_grad();
    Adam<double> opt({x});
    const WarmupCosineLR schedule(0.05, 50, 3000);
    minimize(opt, x, 3000, &schedule);
    check_close(x, x_star, 1e-5);
  }
  SUBCASE("AdamW without weight decay") {
    Td x = Td::zeros({3}).set_requires_grad();
    AdamW<double> opt({x}, {.lr = 0.02, .weight_decay = 0});
    const StepLR schedule(0.02, 500, 0.1);
    minimize(opt, x, 2000, &schedule);
    check_close(x, x_star, 1e-4);
  }
}

TEST_CASE("parameter groups have their own learning rates and options") {
  Td w = leaf({1, 2}), b = leaf({3}), c = leaf({4});
  SGD<double> opt({{.params = {w}, .lr = 0.1}, {.params = {b}, .options = {{"momentum", 0.5}}}, {.params = {c}}},
                  {.lr = 0.01, .weight_decay = 0.5});
  const auto& groups = opt.param_groups();
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].lr == 0.1);
  CHECK(groups[1].lr == 0.01);
  CHECK(groups[2].weight_decay == 0.5);
  CHECK(groups[1].option("momentum") == 0.5);
  CHECK(groups[2].option("momentum") == 0);
  for (int step = 0; step < 2; ++step) {
    for (Td* p : {&w, &b, &c}) p->set_grad(Td::ones(p->shape()));
    opt.step();
  }
  // w: p -= 0.1 * (1 + 0.5 p), twice.
  double w0 = 1, w1 = 2;
  for (int step = 0; step < 2; ++step) w0 -= 0.1 * (1 + 0.5 * w0), w1 -= 0.1 * (1 + 0.5 * w1);
  check_close(w, {w0, w1}, 1e-15);
  // b: momentum 0.5 in its group only.
  const double g1 = 1 + 0.5 * 3, b1 = 3 - 0.01 * g1, g2 = 1 + 0.5 * b1;
  check_close(b, {b1 - 0.01 * (0.5 * g1 + g2)}, 1e-15);
  // c: the defaults.
  const double c1 = 4 - 0.01 * (1 + 0.5 * 4);
  check_close(c, {c1 - 0.01 * (1 + 0.5 * c1)}, 1e-15);

  opt.set_lr(1, 0.3);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.3);
  opt.set_lr(0.2);
  for (std::size_t g = 0; g < 3; ++g) CHECK(opt.lr(g) == 0.2);
  const StepLR schedule(1.0, 1, 0.5);
  schedule.apply(opt, 2, 3);
  CHECK(opt.lr(2) == 0.125);
  CHECK(opt.lr(0) == 0.2);
  schedule.apply(opt, 1);
  for (std::size_t g = 0; g < 3; ++g) CHECK(opt.lr(g) == 0.5);

  check_error([&] { opt.set_lr(-1); }, "set_lr");
  check_error([&] { opt.set_lr(3, 0.1); }, "set_lr");
}

TEST_CASE("bad hyperparameters and parameters are rejected naming the optimizer") {
  Td p = leaf({1}), q = leaf({2});
  check_error([&] { SGD<double>({p}, {.lr = -0.1}); }, "SGD");
  check_error([&] { SGD<double>({p}, {.momentum = -0.5}); }, "SGD");
  check_error([&] { SGD<double>({p}, {.nesterov = true}); }, "SGD");
  check_error([&] { SGD<double>({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); }, "SGD");
  check_error([&] { SGD<double>({{.params = {p}, .options = {{"beta1", 0.9}}}}, SgdOptions{}); }, "SGD");
  check_error([&] { SGD<double>({{.params = {p}}, {.params = {q, p}}}, SgdOptions{}); }, "SGD");
  check_error([&] { SGD<double>({p, q, p}); }, "SGD");
  check_error([&] { SGD<double>({mul(p, q)}); }, "SGD");
  check_error([&] { Adam<double>({p}, {.beta1 = 1.0}); }, "Adam");
  check_error([&] { Adam<double>({p}, {.beta2 = -0.1}); }, "Adam");
  check_error([&] { Adam<double>({p}, {.eps = -1}); }, "Adam");
  check_error([&] { AdamW<double>({p}, {.weight_decay = -1}); }, "AdamW");
  check_error([&] { Adam<double>({{.params = {p}, .lr = -1}}, AdamOptions{}); }, "Adam");

  // A gradient of the wrong shape fails the step before any parameter changes.
  SGD<double> opt({q, p});
  q.set_grad(Td::ones({1}));
  p.set_grad(Td::ones({2}));
  check_error([&] { opt.step(); }, "SGD");
  CHECK(q.item() == 2);
}

TEST_CASE("zero_grad drops or zeroes gradients; parameters without one are skipped") {
  Td p = leaf({1, 2}), q = leaf({3});
  Adam<double> opt({p, q}, {.lr = 0.1});
  sum(mul(p, p)).backward();
  REQUIRE(p.grad().defined());
  REQUIRE_FALSE(q.grad().defined());
  opt.step();  // q has no gradient: untouched, and no state
  CHECK(q.to_vector() == Vec{3});
  CHECK(p.to_vector() != Vec{1, 2});
  for (const auto& [name, tensor] : opt.state()) CHECK(name.find("param1") == std::string::npos);

  const double* grad_data = p.grad().data();
  opt.zero_grad(/*set_to_none=*/false);
  REQUIRE(p.grad().defined());
  CHECK(p.grad().data() == grad_data);
  CHECK(p.grad().to_vector() == Vec{0, 0});
  opt.zero_grad();
  CHECK_FALSE(p.grad().defined());
  const Vec kept = p.to_vector();
  opt.step();
  CHECK(p.to_vector() == kept);

  // A parameter's step count advances only when it is updated: q's first update uses step 1.
  Td q_fresh = leaf({3});
  Adam<double> fresh({q_fresh}, {.lr = 0.1});
  q.set_grad(Td::from_vector({0.7}));
  q_fresh.set_grad(Td::from_vector({0.7}));
  opt.step();
  fresh.step();
  CHECK(q.item() == q_fresh.item());
}

TEST_CASE("state() and load_state() round trip exactly") {
  auto check_round_trip = [](auto make) {
    Td pa = leaf(kStart), pb = leaf({0.1, 0.2});
    auto a = make(std::vector{pa, pb});
    for (std::size_t t = 0; t < 3; ++t) {
      pa.set_grad(Td::from_vector(kGrads[t]));
      pb.set_grad(Td::from_vector({0.3 * double(t), -0.1}));
      a->step();
    }
    const auto saved = a->state();
    Td qa = leaf(pa.to_vector()), qb = leaf(pb.to_vector());
    auto b = make(std::vector{qa, qb});
    b->load_state(saved);
    for (Td* p : {&pa, &qa}) p->set_grad(Td::from_vector(kGrads[3]));
    for (Td* p : {&pb, &qb}) p->set_grad(Td::from_vector({0.5, 0.5}));
    a->step();
    b->step();
    CHECK(qa.to_vector() == pa.to_vector());
    CHECK(qb.to_vector() == pb.to_vector());
    const auto again = b->state();
    REQUIRE(again.size() == a->state().size());
    for (std::size_t k = 0; k < again.size(); ++k) {
      CHECK(again[k].first == a->state()[k].first);
      CHECK(again[k].second.to_vector() == a->state()[k].second.to_vector());
    }
    return saved;
  };
  SUBCASE("Adam with AMSGrad") {
    const auto saved = check_round_trip([](std::vector<Td> ps) {
      return std::make_unique<Adam<double>>(ps, AdamOptions{.lr = 0.05, .amsgrad = true});
    });
    std::vector<std::string> names;
    for (const auto& [name, tensor] : saved) names.push_back(name);
    CHECK(names == std::vector<std::string>{"group0.param0.step", "group0.param0.exp_avg", "group0.param0.exp_avg_sq",
                                            "group0.param0.max_exp_avg_sq", "group0.param1.step",
                                            "group0.param1.exp_avg", "group0.param1.exp_avg_sq",
                                            "group0.param1.max_exp_avg_sq"});
    CHECK(saved[0].second.item() == 3);
    CHECK(saved[0].second.dim() == 0);
  }
  SUBCASE("SGD with momentum") {
    const auto saved = check_round_trip([](std::vector<Td> ps) {
      return std::make_unique<SGD<double>>(ps, SgdOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
    });
    REQUIRE(saved.size() == 4);
    CHECK(saved[1].first == "group0.param0.momentum_buffer");
  }
}

TEST_CASE("load_state rejects state that does not fit, naming the entry") {
  Td p = leaf(kStart);
  Adam<double> source({p});
  run_steps(source, p, 2);
  const auto good = source.state();  // step, exp_avg, exp_avg_sq
  Adam<double> target({leaf(kStart)});

  auto with = [&](std::size_t k, std::string name, Td tensor) {
    auto s = good;
    s[k] = {std::move(name), std::move(tensor)};
    return s;
  };
  auto without = [&](std::size_t k) {
    auto s = good;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(k));
    return s;
  };
  auto expect_error = [&](const NamedTensors<double, Cpu>& state, const std::string& mentions) {
    INFO("expected a message mentioning " << mentions);
    check_error([&] { target.load_state(state); }, "load_state");
    try {
      target.load_state(state);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(mentions) != std::string::npos);
    }
  };
  expect_error(with(1, "group0.param0.exp_avg", Td::zeros({2, 2})), "group0.param0.exp_avg' has shape");
  expect_error(with(1, "group0.param0.momentum_buffer", Td::zeros({4})), "no buffer named 'momentum_buffer'");
  expect_error(with(1, "group1.param0.exp_avg", Td::zeros({4})), "group1.param0.exp_avg");
  expect_error(with(1, "group0.param7.exp_avg", Td::zeros({4})), "group0.param7.exp_avg");
  expect_error(with(1, "exp_avg", Td::zeros({4})), "'exp_avg' is not a state name");
  expect_error(with(1, "group0.param0.exp_avg_sq", Td::zeros({4})), "appears twice");
  expect_error(with(0, "group0.param0.step", Td::scalar(1.5)), "non-negative integer");
  expect_error(without(2), "group0.param0.exp_avg_sq' is missing");
  expect_error(without(0), "group0.param0.step' is missing");
  // AMSGrad needs its buffer; a plain Adam has none to take.
  Adam<double> amsgrad({leaf(kStart)}, {.amsgrad = true});
  check_error([&] { amsgrad.load_state(good); }, "load_state");
  SGD<double> sgd({leaf(kStart)}, {.momentum = 0.9});
  check_error([&] { sgd.load_state(good); }, "load_state");

  // A failed load changes nothing; an empty state resets.
  Td r = leaf(kStart);
  Adam<double> keeps({r});
  run_steps(keeps, r, 1);
  const auto before = keeps.state();
  CHECK_THROWS_AS(keeps.load_state(without(2)), Error);
  CHECK(keeps.state().size() == before.size());
  keeps.load_state({});
  CHECK(keeps.state().empty());
}

TEST_CASE("float parameters follow the same formulas to float precision") {
  Tensor<float> p = Tensor<float>::from_vector({0.5f, -1.2f, 2.0f, 0.3f}).set_requires_grad();
  AdamW<float> opt({p}, {.lr = 0.05, .weight_decay = 0.1, .amsgrad = true});
  for (const Vec& g : kGrads) {
    p.set_grad(Tensor<float>::from_vector(std::vector<float>(g.begin(), g.end())));
    opt.step();
  }
  const Vec want = reference_adam(0.05, 0.9, 0.999, 1e-8, 0.1, true, true, kGrads.size());
  const auto got = p.to_vector();
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
}

TEST_CASE("groups edited into an invalid state are caught at step") {
  Td p = leaf({1}), q = leaf({2});
  SGD<double> opt({p});
  opt.param_groups().push_back({.params = {q}});  // bypasses add_param_group: lr unset
  q.set_grad(Td::ones({1}));
  check_error([&] { opt.step(); }, "SGD");
  opt.param_groups().pop_back();
  opt.add_param_group({.params = {q}, .lr = 0.5});
  opt.step();
  CHECK(q.item() == 1.5);
}
