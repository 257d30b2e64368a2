// Unrolled (MoDL and the SMUG family) and its losses: SMUG with sigma = 0 is MoDL with the input
// clip; SMUGv0 equals SMUG for the same noise; weighted SMUG with equal weights is SMUG; the Monte-Carlo
// variance falls as 1/S; reseeding reproduces a reconstruction; RS-E2E k-space noise stays on the
// sampled entries; K = 0 returns A^H y; gradients reach y, the denoiser and a learned lambda.
#include <doctest/doctest.h>

#include <complex>
#include <trustml/mri/losses.hpp>
#include <trustml/mri/unrolled.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
using Zd = std::complex<double>;
using Td = Tensor<double>;
using Tz = Tensor<Zd>;

namespace {
// A small nonlinear denoiser without batch statistics, so that tiling a batch changes nothing.
std::shared_ptr<nn::Sequential<double>> small_denoiser(std::uint64_t seed) {
  auto net = std::make_shared<nn::Sequential<double>>();
  net->push_back(std::make_shared<nn::Conv2d<double>>(2, 6, 3, nn::ConvOptions{.padding = 1}, seed));
  net->push_back(nn::Tanh<double>());
  net->push_back(std::make_shared<nn::Conv2d<double>>(6, 2, 3, nn::ConvOptions{.padding = 1}, seed + 1));
  return net;
}
struct Problem {
  mri::SenseOp<Zd> a;
  Tz x_star, y;
};
// 8 x 8 images, 3 coils, every other column and the centre sampled; peak |x*| about 1.
Problem problem(std::int64_t batch = 2) {
  const std::int64_t n = 8;
  std::vector<double> cols(n * n);
  for (std::int64_t i = 0; i < n * n; ++i) cols[i] = (i % n) % 2 == 0 || (i % n) == n / 2 + 1 ? 1.0 : 0.0;
  auto maps = Tz::randn({3, n, n}, 1);
  maps = div(maps, cast<Zd>(sqrt(sum(real(mul(conj(maps), maps)), {0}, true))));
  mri::SenseOp<Zd> a(maps, Td::from_vector(cols, {n, n}));
  auto x_star = scale(Tz::randn({batch, n, n}, 2), Zd(0.4));
  return {a, x_star, a.forward(x_star)};
}
double max_abs_diff(const Tz& a, const Tz& b) { return amax(abs(sub(a, b))).item(); }
mri::UnrolledOptions opts(mri::Smoothing placement, double sigma, int samples) {
  mri::UnrolledOptions o;
  o.steps = 3;
  o.lambda = 0.5;
  o.cg = CgOptions{200, 0, 1e-12};
  o.smoothing.placement = placement;
  o.smoothing.sigma = sigma;
  o.smoothing.samples = samples;
  o.smoothing.seed = 7;
  return o;
}
}  // namespace

TEST_CASE("Unrolled: SMUG with sigma = 0 is MoDL with the [-1, 1] input clip, and MoDL inside [-1, 1]") {
  auto p = problem();
  auto d = small_denoiser(3);
  mri::Unrolled<double> smug(d, opts(mri::Smoothing::denoiser, 0.0, 3));
  auto clipped = std::make_shared<nn::Sequential<double>>();
  clipped->push_back(std::make_shared<nn::Lambda<double>>("Clip", [](const Td& x) { return clamp(x, -1.0, 1.0); }));
  clipped->push_back(d);
  mri::Unrolled<double> modl_clip(clipped, opts(mri::Smoothing::none, 0.0, 1));
  mri::Unrolled<double> modl(d, opts(mri::Smoothing::none, 0.0, 1));
  CHECK(max_abs_diff(smug.reconstruct(p.a, p.y), modl_clip.reconstruct(p.a, p.y)) < 1e-10);
  // |x*| <= ~1.5 here, so the clip binds; scaled down it does not, and SMUG(0) is plain MoDL.
  auto small_y = scale(p.y, Zd(0.2));
  CHECK(max_abs_diff(smug.reconstruct(p.a, small_y), modl.reconstruct(p.a, small_y)) < 1e-10);
}

TEST_CASE("Unrolled: SMUGv0 equals SMUG for the same noise (DC is affine); equal weights give SMUG") {
  auto p = problem();
  auto d = small_denoiser(4);
  mri::Unrolled<double> smug(d, opts(mri::Smoothing::denoiser, 0.05, 4));
  mri::Unrolled<double> v0(d, opts(mri::Smoothing::step, 0.05, 4));
  auto xs = smug.reconstruct(p.a, p.y);
  CHECK(max_abs_diff(xs, v0.reconstruct(p.a, p.y)) < 1e-9);
  auto constant = std::make_shared<nn::Lambda<double>>("Half", [](const Td& x) {
    return Td::full({x.size(0), 1}, 0.5);
  });
  mri::Unrolled<double> weighted(d, opts(mri::Smoothing::weighted, 0.05, 4), constant);
  CHECK(max_abs_diff(xs, weighted.reconstruct(p.a, p.y)) < 1e-12);
  // A weight network that prefers one sample changes the result.
  mri::Unrolled<double> learned(d, opts(mri::Smoothing::weighted, 0.05, 4), mri::sample_weight_net<double>(4, 2, 9));
  CHECK(max_abs_diff(xs, learned.reconstruct(p.a, p.y)) > 1e-6);
  CHECK_THROWS_WITH_AS(mri::Unrolled<double>(d, opts(mri::Smoothing::weighted, 0.05, 4)).reconstruct(p.a, p.y),
                       doctest::Contains("weight network"), Error);
}

TEST_CASE("Unrolled: reproducible noise, fresh or shared across steps, and the 1/S variance") {
  auto p = problem(1);
  auto d = small_denoiser(5);
  mri::Unrolled<double> smug(d, opts(mri::Smoothing::denoiser, 0.1, 4));
  smug.options().steps = 1;
  auto first = smug.reconstruct(p.a, p.y);
  CHECK(max_abs_diff(first, smug.reconstruct(p.a, p.y)) > 0);  // each call draws new noise
  smug.reseed(7);
  CHECK(max_abs_diff(first, smug.reconstruct(p.a, p.y)) == 0);

  // With shared noise the denoiser sees the same eta at every step.
  mri::UnrolledTrace<double, Cpu> trace;
  smug.options().steps = 2;
  smug.options().smoothing.clip = 0;
  smug.options().smoothing.fresh_noise_per_step = false;
  auto x2 = smug.reconstruct(p.a, p.y, &trace);
  REQUIRE(trace.denoiser_inputs.size() == 2);
  auto eta0 = sub(trace.denoiser_inputs[0], mri::tile_samples(mri::to_channels(p.a.adjoint(p.y)), 4));
  // x_1 is DC of the mean denoiser output: recompute it to find eta at step 1.
  auto z0 = mri::from_channels(mri::mean_samples(trace.denoiser_outputs[0], 4));
  auto x1 = cg_solve(p.a.normal_map(), add(p.a.adjoint(p.y), scale(z0, Zd(0.5))), Td::from_vector({0.5}),
                     smug.options().cg, z0);
  auto eta1 = sub(trace.denoiser_inputs[1], mri::tile_samples(mri::to_channels(x1), 4));
  CHECK(amax(abs(sub(eta0, eta1))).item() < 1e-9);
  smug.options().smoothing.fresh_noise_per_step = true;
  smug.reconstruct(p.a, p.y, &trace);
  auto eta1_fresh = sub(trace.denoiser_inputs[1], mri::tile_samples(mri::to_channels(x1), 4));
  CHECK(amax(abs(sub(eta0, eta1_fresh))).item() > 1e-3);

  // Var of the smoothed reconstruction (K = 1: affine in the Monte-Carlo mean) falls as 1/S.
  auto variance = [&](int samples) {
    mri::Unrolled<double> net(d, opts(mri::Smoothing::denoiser, 0.1, samples));
    net.options().steps = 1;
    const int draws = 200;
    std::vector<Tz> outs;
    for (int i = 0; i < draws; ++i) outs.push_back(net.reconstruct(p.a, p.y));
    auto mean_out = scale(sum(stack(outs, 0), {0}), Zd(1.0 / draws));
    double v = 0;
    for (auto& o : outs) v += sum(real(mul(conj(sub(o, mean_out)), sub(o, mean_out)))).item();
    return v / (draws - 1);
  };
  const double ratio = variance(4) / variance(16);
  CAPTURE(ratio);
  CHECK(ratio > 4 * 0.7);
  CHECK(ratio < 4 * 1.3);
}

TEST_CASE("Unrolled: RS-E2E averages MoDL over noisy sampled k-space; K = 0 returns A^H y") {
  auto p = problem();
  auto d = small_denoiser(6);
  mri::Unrolled<double> rs(d, opts(mri::Smoothing::whole_model, 0.0, 3));
  mri::Unrolled<double> modl(d, opts(mri::Smoothing::none, 0.0, 1));
  CHECK(max_abs_diff(rs.reconstruct(p.a, p.y), modl.reconstruct(p.a, p.y)) < 1e-12);
  // With noise and K = 0 the output is A^H (y + M eta): complex noise with N(0, sigma^2) parts on the
  // sampled entries gives E ||x_0 - A^H y||^2 = 2 sigma^2 (sampled entries per coil) with normalized maps.
  rs.options().smoothing.sigma = 0.05;
  rs.options().smoothing.samples = 1;
  rs.options().steps = 0;
  const auto ahy = p.a.adjoint(p.y);
  double energy = 0;
  const int draws = 100;
  for (int i = 0; i < draws; ++i) {
    auto e = sub(rs.reconstruct(p.a, p.y), ahy);
    energy += sum(real(mul(conj(e), e))).item() / draws;
  }
  const double sampled = sum(real(p.a.mask())).item() * 2;  // 2 images
  CHECK(energy == doctest::Approx(2 * 0.05 * 0.05 * sampled).epsilon(0.1));
  // The per-sample reconstructions (RS-E2E's training view) average to the reconstruction.
  rs.options().steps = 2;
  rs.options().smoothing.samples = 3;
  rs.reseed(9);
  const auto samples = rs.reconstruct_samples(p.a, p.y);
  rs.reseed(9);
  CHECK(samples.size(0) == 3 * p.y.size(0));
  CHECK(max_abs_diff(mri::mean_samples(samples, 3), rs.reconstruct(p.a, p.y)) < 1e-12);
  CHECK(max_abs_diff(samples.slice(0, 0, 2), samples.slice(0, 2, 4)) > 1e-6);
  CHECK_THROWS_WITH_AS(modl.reconstruct_samples(p.a, p.y), doctest::Contains("whole-model"), Error);
  // k-space RS-E2E needs the measurements, not A^H y.
  CHECK_THROWS_WITH_AS(rs.reconstruct_from_image(p.a, p.a.adjoint(p.y)), doctest::Contains("measurements"), Error);
  modl.options().steps = 0;
  CHECK(max_abs_diff(modl.reconstruct(p.a, p.y), p.a.adjoint(p.y)) == 0);
}

TEST_CASE("Unrolled: gradients reach y, the denoiser and a learned lambda; losses") {
  auto p = problem(1);
  auto o = opts(mri::Smoothing::denoiser, 0.05, 2);
  o.steps = 2;
  o.learn_lambda = true;
  mri::Unrolled<double> smug(small_denoiser(7), o);
  // Finite differences through smoothing, the clip and two implicit CG solves (noise fixed by reseed).
  auto r = gradcheck(
      [&](auto& v) {
        smug.reseed(3);
        return smug.reconstruct(p.a, v[0]);
      },
      std::vector{p.y});
  INFO(r.message);
  CHECK(r.ok);
  mri::UnrolledTrace<double, Cpu> trace;
  smug.reseed(3);
  auto x = smug.reconstruct(p.a, p.y, &trace);
  auto target = mri::to_channels(p.x_star);
  auto loss = mri::smug_loss(trace, x, p.x_star, target, 1.0);
  loss.backward();
  for (auto& [name, param] : smug.named_parameters()) {
    CAPTURE(name);
    REQUIRE(param.grad().defined());
    CHECK(amax(abs(param.grad())).item() > 0);
  }
  CHECK(mri::mse_channels(p.x_star, p.x_star).item() == 0);
  CHECK(mri::mse_channels(add(p.x_star, Tz::full(p.x_star.shape(), Zd(0.1, 0.1))), p.x_star).item() ==
        doctest::Approx(0.01));
  CHECK_THROWS_WITH_AS(mri::unrolled_stability(mri::UnrolledTrace<double, Cpu>{}, target),
                       doctest::Contains("no denoiser call"), Error);
}
