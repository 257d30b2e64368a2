// Randomized smoothing (Cohen et al.): PREDICT and CERTIFY decision rules from counts, sampling budgets,
// the linear binary oracle (true radius 0.34), the constant classifier (maximum radius), batch-size
// invariance, noise statistics and sample separation, monotonicity, certified accuracy, a module as
// base classifier, and bad input (Cohen et al., arXiv:1902.02918; docs/papers.md).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <trustml/nn.hpp>
#include <trustml/smoothing/smooth.hpp>
#include <trustml/trustml.hpp>
#include <vector>

using namespace trustml;
using namespace trustml::smoothing;
using Td = Tensor<double>;
using Tf = Tensor<float>;

namespace {
// f(x) = 1[w'x + b > 0] with w = (3, -4), b = 1, as logits [0, w'x + b] of inputs [B, 2].
template <class T = double>
typename GaussianSmoothing<T>::Classifier linear_binary() {
  auto w = Tensor<T>::from_vector({0, 3, 0, -4}, {2, 2});
  auto b = Tensor<T>::from_vector({0, 1}, {2});
  return [w, b](const Tensor<T>& batch) { return add(matmul(batch, w), b); };
}
const double true_distance = 0.34;  // |3 * 0.5 - 4 * 0.2 + 1| / 5
Td linear_input() { return Td::from_vector({0.5, 0.2}, {2}); }

// Three classes from a fixed linear map of inputs [B, 2, 3]: counts spread over the classes at sigma = 1.
template <class T>
typename GaussianSmoothing<T>::Classifier linear_three_class() {
  auto w = Tensor<T>::randn({6, 3}, 11);
  return [w](const Tensor<T>& batch) { return matmul(reshape(batch, {batch.size(0), 6}), w); };
}

// Always class 2 of 3.
Td constant_logits(const Td& batch) {
  std::vector<double> v(static_cast<std::size_t>(batch.size(0) * 3), 0.0);
  for (std::int64_t i = 0; i < batch.size(0); ++i) v[static_cast<std::size_t>(3 * i + 2)] = 1;
  return Td::from_vector(v, {batch.size(0), 3});
}

// Wraps a classifier, counting its calls and rows and keeping its inputs when asked to.
struct Recorder {
  explicit Recorder(GaussianSmoothing<double>::Classifier f, bool keep_inputs = false)
      : inner(std::move(f)), keep(keep_inputs) {}
  GaussianSmoothing<double>::Classifier inner;
  bool keep;
  std::int64_t calls = 0, rows = 0;
  std::vector<double> inputs;  // concatenated rows
  GaussianSmoothing<double>::Classifier classifier() {
    return [this](const Td& batch) {
      ++calls;
      rows += batch.size(0);
      if (keep)
        for (double v : batch.to_vector()) inputs.push_back(v);
      return inner(batch);
    };
  }
};
}  // namespace

TEST_CASE("smooth: PREDICT's decision from counts (alpha = 0.001)") {
  auto p = predict_from_counts({510, 490}, 0.001);
  CHECK(p.label == abstain);
  CHECK(p.p_value == doctest::Approx(0.548).epsilon(1e-3));
  CHECK(p.counts == std::vector<std::int64_t>{510, 490});
  p = predict_from_counts({450, 550}, 0.001);
  CHECK(p.label == abstain);
  CHECK(p.p_value == doctest::Approx(0.00173).epsilon(2e-3));
  CHECK(predict_from_counts({450, 550}, 0.002).label == 1);  // passes only for alpha >= 0.002
  p = predict_from_counts({600, 400}, 0.001);
  CHECK(p.label == 0);
  CHECK(p.p_value == doctest::Approx(2.7e-10).epsilon(2e-2));
  // The top two of several classes: 600 against 400, the rest ignored.
  p = predict_from_counts({10, 400, 5, 600, 0}, 0.001);
  CHECK(p.label == 3);
  CHECK(p.p_value == binomial_two_sided_p_value(600, 1000));
  // A tie at the top abstains (p = 1); a single class or an empty runner-up predicts.
  CHECK(predict_from_counts({500, 500, 3}, 0.5).label == abstain);
  CHECK(predict_from_counts({500, 500, 3}, 0.5).p_value == 1);
  CHECK(predict_from_counts({0, 1000}, 0.001).label == 1);
  CHECK(predict_from_counts({1000}, 0.001).label == 0);
  CHECK(predict_from_counts({0, 0}, 0.5).label == abstain);
}

TEST_CASE("smooth: CERTIFY's decision from counts: golden values, abstention, monotonicity") {
  auto c = certify_from_counts(4, 99000, 100000, 0.001, 0.25);
  CHECK(c.label == 4);
  CHECK(std::abs(c.p_lower - 0.988989) <= 1e-6);
  CHECK(c.radius == doctest::Approx(0.25 * 2.29000).epsilon(5e-6));
  CHECK(c.count == 99000);
  CHECK(c.samples == 100000);
  c = certify_from_counts(1, 50, 100, 0.001, 0.25);
  CHECK(c.label == abstain);
  CHECK(c.radius == 0);
  CHECK(std::abs(c.p_lower - 0.344798) <= 1e-6);
  CHECK(certify_from_counts(0, 549, 1000, 0.001, 1).label == abstain);
  CHECK(certify_from_counts(0, 550, 1000, 0.001, 1).label == 0);

  // Non-decreasing in n_A (strictly once certified).
  double previous = -1;
  for (std::int64_t k = 0; k <= 1000; ++k) {
    const auto r = certify_from_counts(0, k, 1000, 0.001, 0.5);
    CHECK(r.radius >= previous);
    if (r.label != abstain) CHECK(r.radius > previous);
    previous = r.radius;
  }
  // Non-increasing as alpha decreases.
  previous = INFINITY;
  for (double alpha : {0.2, 0.1, 0.01, 0.001, 1e-4, 1e-6, 1e-9}) {
    const double r = certify_from_counts(0, 9000, 10000, alpha, 0.5).radius;
    CHECK(r < previous);
    previous = r;
  }
  // Linear in sigma for fixed counts.
  const double unit = certify_from_counts(0, 9000, 10000, 0.001, 1).radius;
  for (double sigma : {0.12, 0.25, 0.5, 1.0, 2.0})
    CHECK(certify_from_counts(0, 9000, 10000, 0.001, sigma).radius == doctest::Approx(sigma * unit).epsilon(1e-14));
}

TEST_CASE("smooth: CERTIFY makes exactly n0 + n base-classifier rows, PREDICT exactly n") {
  Recorder rec(linear_binary());
  GaussianSmoothing<double> smooth(rec.classifier(), 2, {.sigma = 0.25, .batch_size = 400});
  auto c = smooth.certify(linear_input(), 100, 1000, 0.001);
  CHECK(rec.rows == 1100);
  CHECK(rec.calls == 1 + 3);  // ceil(100 / 400) + ceil(1000 / 400)
  CHECK(c.samples == 1000);
  rec.rows = rec.calls = 0;
  auto p = smooth.predict(linear_input(), 1000, 0.001);
  CHECK(rec.rows == 1000);
  CHECK(rec.calls == 3);
  std::int64_t total = 0;
  for (auto k : p.counts) total += k;
  CHECK(total == 1000);
  CHECK(p.label == 1);
}

TEST_CASE("smooth: linear oracle: the MC radius exceeds the true distance 0.34 in at most alpha + 3 sqrt(alpha / T)") {
  // p_A = Phi(0.34 / sigma) and sigma Phi^-1(p_A) = 0.34 for every sigma; the bound holds with
  // probability 1 - alpha per run, so over T independent runs (seeds) the fraction of radii above
  // 0.34 is at most alpha + 3 sqrt(alpha / T). The point estimate sigma Phi^-1(n_A / n) exceeds
  // it about half the time: what the check would catch if the bound were not one.
  struct Setting {
    double alpha, sigma;
    std::int64_t n;
  };
  const int runs = 1000;
  for (const Setting s : {Setting{0.001, 0.25, 10000}, Setting{0.05, 0.5, 1000}}) {
    INFO("alpha = " << s.alpha << ", sigma = " << s.sigma << ", n = " << s.n);
    int above = 0, point_above = 0, abstained = 0;
    for (int t = 0; t < runs; ++t) {
      GaussianSmoothing<double> smooth(linear_binary(), 2,
                                       {.sigma = s.sigma, .batch_size = 20000, .seed = static_cast<std::uint64_t>(t)});
      const auto c = smooth.certify(linear_input(), 100, s.n, s.alpha);
      abstained += c.label == abstain;
      above += c.label == 1 && c.radius > true_distance;
      point_above += s.sigma * normal_quantile(double(c.count) / double(s.n)) > true_distance;
    }
    CHECK(abstained == 0);
    CHECK(double(above) / runs <= s.alpha + 3 * std::sqrt(s.alpha / runs));
    CHECK(point_above >= runs / 4);
  }
}

TEST_CASE("smooth: linear oracle: the MC radius rises toward 0.34 as n grows") {
  double previous = 0;
  for (std::int64_t n : {1000, 10000, 100000}) {
    double mean = 0;
    const int seeds = 10;
    for (int t = 0; t < seeds; ++t) {
      GaussianSmoothing<double> smooth(linear_binary(), 2,
                                       {.sigma = 0.25, .batch_size = 20000, .seed = static_cast<std::uint64_t>(t)});
      const auto c = smooth.certify(linear_input(), 100, n, 0.001, /*index=*/7);
      REQUIRE(c.label == 1);
      mean += c.radius / seeds;
    }
    INFO("n = " << n << ": mean radius " << mean);
    CHECK(mean > previous);
    CHECK(mean < true_distance);
    previous = mean;
  }
  CHECK(previous > 0.33);  // n = 1e5: 0.3355 expected (p_A = 0.913, bound 0.910)
}

TEST_CASE("smooth: constant classifier certifies sigma Phi^-1(alpha^(1/n)), 3.8115 sigma at n = 1e5") {
  struct Setting {
    std::int64_t n;
    double alpha, sigma;
  };
  for (const Setting s : {Setting{100, 0.001, 0.25}, Setting{1000, 0.01, 0.5}, Setting{100000, 0.001, 1.0}}) {
    INFO("n = " << s.n);
    GaussianSmoothing<double> smooth(constant_logits, 3, {.sigma = s.sigma, .batch_size = 5000});
    const auto x = Td::from_vector({0.1, 0.2, 0.3}, {3});
    const auto c = smooth.certify(x, 100, s.n, s.alpha);
    CHECK(c.label == 2);
    CHECK(c.count == s.n);
    CHECK(std::abs(c.radius - s.sigma * normal_quantile(std::pow(s.alpha, 1.0 / double(s.n)))) <= 1e-9);
    if (s.n == 100000) {
      CHECK(std::abs(c.radius / s.sigma - 3.8115) <= 5e-5);
      // Nothing is certified beyond the maximum radius.
      const auto table = certified_accuracy({c}, {2}, {0, 3.81 * s.sigma, 3.812 * s.sigma});
      CHECK(table.accuracy == std::vector<double>{1, 1, 0});
    }
    const auto p = smooth.predict(x, s.n, s.alpha);
    CHECK(p.label == 2);
    CHECK(p.counts == std::vector<std::int64_t>{0, 0, s.n});
  }
}

TEST_CASE_TEMPLATE("smooth: counts do not depend on the batch size (1, 7, 400)", T, double, float) {
  const auto x = Td::from_vector({0.3, -0.2, 0.1, 0.0, 0.5, -0.4}, {2, 3}).template cast<T>();
  std::vector<std::int64_t> reference;
  Certificate reference_cert{};
  Prediction reference_pred{};
  for (std::int64_t batch : {400, 7, 1}) {
    INFO("batch size " << batch);
    GaussianSmoothing<T> smooth(linear_three_class<T>(), 3, {.sigma = 1.0, .batch_size = batch, .seed = 3});
    const auto counts = smooth.sample_counts(x, 1000, 5, Phase::predict);
    const auto cert = smooth.certify(x, 50, 1000, 0.01, 5);
    const auto pred = smooth.predict(x, 1000, 0.01, 5);
    if (reference.empty()) {
      reference = counts;
      reference_cert = cert;
      reference_pred = pred;
      int nonzero = 0;
      for (auto k : counts) nonzero += k > 0;
      CHECK(nonzero >= 2);  // the noise matters for this classifier
      continue;
    }
    CHECK(counts == reference);
    CHECK(pred.counts == reference_pred.counts);
    CHECK(pred.counts == counts);  // predict draws phase `predict`, as sample_counts did here
    CHECK(cert.label == reference_cert.label);
    CHECK(cert.count == reference_cert.count);
    CHECK(cert.radius == reference_cert.radius);
  }
}

TEST_CASE("smooth: noise has mean 0 and standard deviation sigma; seeds, inputs and phases draw apart") {
  Recorder rec(linear_three_class<double>(), /*keep_inputs=*/true);
  const double sigma = 0.5;
  GaussianSmoothing<double> smooth(rec.classifier(), 3, {.sigma = sigma, .batch_size = 400, .seed = 9});
  const auto x = Td::from_vector({0.3, -0.2, 0.1, 0.0, 0.5, -0.4}, {2, 3});
  const auto xv = x.to_vector();
  smooth.sample_counts(x, 20000, 2);
  REQUIRE(rec.inputs.size() == 20000u * 6u);
  double sum = 0, squares = 0;
  for (std::size_t i = 0; i < rec.inputs.size(); ++i) {
    const double e = rec.inputs[i] - xv[i % 6];
    sum += e;
    squares += e * e;
  }
  const double count = double(rec.inputs.size()), mean = sum / count;
  const double sd = std::sqrt(squares / count - mean * mean);
  CHECK(std::abs(mean) <= 5 * sigma / std::sqrt(count));
  CHECK(std::abs(sd - sigma) <= 5 * sigma / std::sqrt(count));
  // The first row is x + sigma * randn(noise_key(seed, index, phase)).
  const auto z = Td::randn({1, 2, 3}, noise_key(9, 2, Phase::sample)).to_vector();
  for (std::size_t j = 0; j < 6; ++j) CHECK(rec.inputs[j] == xv[j] + sigma * z[j]);

  // CERTIFY: selection (n0) and estimation (n) noise are uncorrelated, not the same draws.
  rec.inputs.clear();
  const std::int64_t n0 = 2000;
  smooth.certify(x, n0, n0, 0.001, 4);
  REQUIRE(rec.inputs.size() == 2u * n0 * 6u);
  const std::size_t half = rec.inputs.size() / 2;
  double cross = 0, selection_sq = 0, estimation_sq = 0;
  for (std::size_t i = 0; i < half; ++i) {
    const double a = rec.inputs[i] - xv[i % 6], b = rec.inputs[half + i] - xv[i % 6];
    cross += a * b;
    selection_sq += a * a;
    estimation_sq += b * b;
  }
  CHECK(std::abs(cross / std::sqrt(selection_sq * estimation_sq)) <= 5 / std::sqrt(double(half)));

  // The same (seed, index, phase) reproduces; another seed, index or phase does not.
  const Td one = Td::from_vector({0.0}, {1});
  auto draw = [&](std::uint64_t seed, std::uint64_t index, Phase phase) {
    GaussianSmoothing<double> s([](const Td& b) { return Td::zeros({b.size(0), 1}); }, 1, {.sigma = 1, .seed = seed});
    return s.noisy_batch(one, noise_key(seed, index, phase), 0, 4).to_vector();
  };
  CHECK(draw(1, 2, Phase::selection) == draw(1, 2, Phase::selection));
  CHECK(draw(1, 2, Phase::selection) != draw(2, 2, Phase::selection));
  CHECK(draw(1, 2, Phase::selection) != draw(1, 3, Phase::selection));
  CHECK(draw(1, 2, Phase::selection) != draw(1, 2, Phase::estimation));
}

TEST_CASE("smooth: certified accuracy is correct AND radius >= r; abstentions count as wrong") {
  const std::vector<Certificate> certificates = {{0, 0.5, 0.9, 90, 100},
                                                 {1, 0.2, 0.8, 80, 100},
                                                 {abstain, 0, 0.4, 40, 100},
                                                 {2, 1.0, 0.99, 99, 100},
                                                 {3, 0.0, 0.5, 59, 100}};
  const std::vector<std::int64_t> labels = {0, 1, 2, 0, 3};  // the fourth is wrong
  const auto t = certified_accuracy(certificates, labels, {0, 0.1, 0.2, 0.3, 0.5, 0.6});
  CHECK(t.accuracy == std::vector<double>{0.6, 0.4, 0.4, 0.2, 0.2, 0});
  CHECK(t.abstain_rate == doctest::Approx(0.2));
  CHECK(t.clean_accuracy == doctest::Approx(0.6));
  CHECK(t.radii.size() == 6);

  // On Monte Carlo certificates of the three-class model: non-increasing in r, clean at r = 0.
  GaussianSmoothing<double> smooth(linear_three_class<double>(), 3, {.sigma = 0.5, .batch_size = 1000});
  std::vector<Certificate> mc;
  std::vector<std::int64_t> truth;
  for (int i = 0; i < 40; ++i) {
    const auto x = Td::randn({2, 3}, 100 + i);
    mc.push_back(smooth.certify(x, 20, 500, 0.01, i));
    truth.push_back(i % 3);
  }
  std::vector<double> radii;
  for (int i = 0; i <= 30; ++i) radii.push_back(0.05 * i);
  const auto table = certified_accuracy(mc, truth, radii);
  for (std::size_t j = 1; j < radii.size(); ++j) CHECK(table.accuracy[j] <= table.accuracy[j - 1]);
  CHECK(table.accuracy[0] == table.clean_accuracy);
  CHECK(table.clean_accuracy + table.abstain_rate <= 1);
}

TEST_CASE("smooth: a module as base classifier runs in eval mode without recording, mode restored") {
  // Dropout makes a forward in training mode random: the counts match the eval-mode forward only
  // if the wrapper switched the module to eval.
  auto net = std::make_shared<nn::Sequential<float>>();
  net->push_back(std::make_shared<nn::Linear<float>>(6, 16, true, 1));
  net->push_back(nn::ReLU<float>());
  net->push_back(std::make_shared<nn::Dropout<float>>(0.5, 2));
  net->push_back(std::make_shared<nn::Linear<float>>(16, 3, true, 3));
  net->train();
  const auto x = Tf::from_vector({0.3f, -0.2f, 0.1f, 0.0f, 0.5f, -0.4f}, {6});
  GaussianSmoothing<float> from_module(*net, 3, {.sigma = 0.5, .batch_size = 64, .seed = 1});
  const auto counts = from_module.sample_counts(x, 500, 0);
  CHECK(net->is_training());
  for (auto& p : net->parameters()) CHECK_FALSE(p.grad().defined());
  net->eval();
  GaussianSmoothing<float> reference([&](const Tf& b) { return (*net)(b); }, 3,
                                     {.sigma = 0.5, .batch_size = 64, .seed = 1});
  CHECK(counts == reference.sample_counts(x, 500, 0));
  net->train();
  GaussianSmoothing<float> train_mode([&](const Tf& b) { return (*net)(b); }, 3,
                                      {.sigma = 0.5, .batch_size = 64, .seed = 1});
  CHECK(counts != train_mode.sample_counts(x, 500, 0));  // the check above can fail

  // The zoo's MLP through certify and predict.
  nn::zoo::Mlp<float> mlp({6, 32, 3}, 4);
  GaussianSmoothing<float> smooth(mlp, 3, {.sigma = 0.25, .batch_size = 100});
  const auto cert = smooth.certify(x, 50, 400, 0.01, 1);
  CHECK(cert.label >= abstain);
  CHECK(cert.label < 3);
  CHECK(cert.samples == 400);
  if (cert.label != abstain) CHECK(cert.radius >= 0);
  const auto pred = smooth.predict(x, 400, 0.01, 1);
  std::int64_t total = 0;
  for (auto k : pred.counts) total += k;
  CHECK(total == 400);
}

TEST_CASE("smooth: an all-NaN image gives NaN logits through a CNN (conv, ReLU, max-pool, linear)") {
  // The reason CERTIFY refuses such input: a NaN that reached argmax would be some class.
  auto cnn = nn::zoo::SmallCnn<float>(1, 10, 7);
  cnn->eval();
  NoGradGuard no_grad;
  const auto logits = (*cnn)(Tf::full({2, 1, 28, 28}, std::numeric_limits<float>::quiet_NaN()));
  for (const float v : logits.to_vector()) CHECK(std::isnan(v));
}

TEST_CASE("smooth: bad input throws trustml::Error naming the operation") {
  const auto classify = linear_binary();
  const auto x = linear_input();
  using GS = GaussianSmoothing<double>;
  CHECK_THROWS_WITH_AS(GS(classify, 2, {.sigma = 0}), doctest::Contains("smoothing::GaussianSmoothing: sigma"), Error);
  CHECK_THROWS_WITH_AS(GS(classify, 2, {.sigma = -1}), doctest::Contains("got -1"), Error);
  CHECK_THROWS_WITH_AS(GS(classify, 2, {.sigma = std::nan("")}), doctest::Contains("sigma must be positive and finite"),
                       Error);
  CHECK_THROWS_WITH_AS(GS(classify, 2, {.sigma = INFINITY}), doctest::Contains("sigma must be positive and finite"),
                       Error);
  CHECK_THROWS_WITH_AS(GS(classify, 2, {.batch_size = 0}), doctest::Contains("batch_size must be positive, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(GS(classify, 0, {}), doctest::Contains("number of classes must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(GS(GS::Classifier{}, 2, {}), doctest::Contains("needs a base classifier"), Error);

  const GS smooth(classify, 2, {.sigma = 0.25, .batch_size = 100});
  CHECK_THROWS_WITH_AS(smooth.sample_counts(x, 0, 0), doctest::Contains("smoothing::GaussianSmoothing::sample_counts"),
                       Error);
  CHECK_THROWS_WITH_AS(smooth.predict(x, 0, 0.001), doctest::Contains("smoothing::GaussianSmoothing::predict"), Error);
  CHECK_THROWS_WITH_AS(smooth.predict(x, 100, 0), doctest::Contains("alpha must be in (0, 1), got 0"), Error);
  CHECK_THROWS_WITH_AS(smooth.predict(x, 100, 1), doctest::Contains("smoothing::GaussianSmoothing::predict"), Error);
  CHECK_THROWS_WITH_AS(smooth.certify(x, 0, 100, 0.001), doctest::Contains("n0 must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(smooth.certify(x, 10, 0, 0.001), doctest::Contains("n must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(smooth.certify(x, 200, 100, 0.001), doctest::Contains("n0 (200) must not exceed n (100)"),
                       Error);
  CHECK_THROWS_WITH_AS(smooth.certify(x, 10, 100, -0.5), doctest::Contains("smoothing::GaussianSmoothing::certify"),
                       Error);
  CHECK_THROWS_WITH_AS(smooth.certify(Td(), 10, 100, 0.001), doctest::Contains("needs a non-empty input"), Error);
  CHECK_THROWS_WITH_AS(smooth.certify(Td::zeros({1, 1, 1, 1, 1, 1, 1, 1}), 10, 100, 0.001), doctest::Contains("rank 8"),
                       Error);

  // Non-finite inputs: refused by name, never classified.
  auto with = [&](double v) {
    auto bad = x.to_vector();
    bad[1] = v;
    return Td::from_vector(bad, x.shape());
  };
  CHECK_THROWS_WITH_AS(
      smooth.certify(with(std::nan("")), 10, 100, 0.001),
      "trustml::smoothing::GaussianSmoothing::certify: the input (shape [2]) holds a non-finite value (nan) "
      "at element 1",
      Error);
  CHECK_THROWS_WITH_AS(smooth.predict(with(-INFINITY), 100, 0.001),
                       doctest::Contains("GaussianSmoothing::predict: the input (shape [2]) holds a non-finite value"),
                       Error);
  CHECK_THROWS_WITH_AS(smooth.sample_counts(with(INFINITY), 10, 0), doctest::Contains("non-finite value (inf)"), Error);

  // A base classifier that returns the wrong shape (too many classes, one row short, rank 1).
  const GS wide([](const Td& b) { return Td::zeros({b.size(0), 4}); }, 2, {});
  CHECK_THROWS_WITH_AS(wide.predict(x, 10, 0.001), doctest::Contains("must return logits [10, 2]"), Error);
  const GS short_batch([](const Td& b) { return Td::zeros({b.size(0) - 1, 2}); }, 2, {});
  CHECK_THROWS_WITH_AS(short_batch.certify(x, 10, 10, 0.001), doctest::Contains("got shape [9, 2]"), Error);
  const GS flat([](const Td& b) { return Td::zeros({b.size(0)}); }, 2, {});
  CHECK_THROWS_WITH_AS(flat.sample_counts(x, 10, 0), doctest::Contains("smoothing::GaussianSmoothing::sample_counts"),
                       Error);

  CHECK_THROWS_WITH_AS(predict_from_counts({5, 3}, 0), doctest::Contains("smoothing::predict_from_counts"), Error);
  CHECK_THROWS_WITH_AS(predict_from_counts({}, 0.01), doctest::Contains("at least one class"), Error);
  CHECK_THROWS_WITH_AS(predict_from_counts({5, -3}, 0.01), doctest::Contains("non-negative, got -3"), Error);
  CHECK_THROWS_WITH_AS(certify_from_counts(0, 11, 10, 0.01, 1), doctest::Contains("smoothing::certify_from_counts"),
                       Error);
  CHECK_THROWS_WITH_AS(certify_from_counts(-1, 5, 10, 0.01, 1), doctest::Contains("guessed class"), Error);
  CHECK_THROWS_WITH_AS(certify_from_counts(0, 5, 10, 1.5, 1), doctest::Contains("alpha must be in (0, 1), got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(certify_from_counts(0, 5, 10, 0.01, 0), doctest::Contains("sigma must be positive"), Error);
  CHECK_THROWS_WITH_AS(certified_accuracy({}, {}, {0}), doctest::Contains("smoothing::certified_accuracy"), Error);
  const std::vector<Certificate> one = {{0, 0.5, 0.9, 90, 100}};
  CHECK_THROWS_WITH_AS(certified_accuracy(one, {0, 1}, {0}), doctest::Contains("one label per certificate"), Error);
  CHECK_THROWS_WITH_AS(certified_accuracy(one, {0}, {-0.1}), doctest::Contains("radii must be non-negative"), Error);
  CHECK_THROWS_WITH_AS(certified_accuracy(one, {-1}, {0}), doctest::Contains("labels must be non-negative"), Error);
}
