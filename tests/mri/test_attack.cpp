// reconstruction_pgd: the perturbation stays in its eps-ball at every step (L-inf and L2), zero on
// unsampled k-space, the perturbed x_0 stays in [-1, 1] (entries of x_0 outside it move only back
// toward it); the attack raises the loss over its steps on a fixed MoDL; transfer from the
// unsmoothed model; input errors.
#include <doctest/doctest.h>

#include <complex>
#include <trustml/mri/attack.hpp>
#include <trustml/trustml.hpp>

using namespace trustml;
using Zd = std::complex<double>;
using Td = Tensor<double>;
using Tz = Tensor<Zd>;

namespace {
std::shared_ptr<nn::Sequential<double>> small_denoiser() {
  auto net = std::make_shared<nn::Sequential<double>>();
  net->push_back(std::make_shared<nn::Conv2d<double>>(2, 6, 3, nn::ConvOptions{.padding = 1}, 11));
  net->push_back(nn::Tanh<double>());
  net->push_back(std::make_shared<nn::Conv2d<double>>(6, 2, 3, nn::ConvOptions{.padding = 1}, 12));
  return net;
}
struct Setup {
  mri::SenseOp<Zd> a;
  Tz x_star, y;
};
Setup setup() {
  const std::int64_t n = 8;
  std::vector<double> cols(n * n);
  for (std::int64_t i = 0; i < n * n; ++i) cols[i] = (i % n) % 3 == 0 || (i % n) == n / 2 ? 1.0 : 0.0;
  auto maps = Tz::randn({3, n, n}, 1);
  maps = div(maps, cast<Zd>(sqrt(sum(real(mul(conj(maps), maps)), {0}, true))));
  mri::SenseOp<Zd> a(maps, Td::from_vector(cols, {n, n}));
  auto x_star = scale(Tz::randn({4, n, n}, 2), Zd(0.4));
  return {a, x_star, a.forward(x_star)};
}
double max_part(const Tz& z) { return std::max(amax(abs(real(z))).item(), amax(abs(imag(z))).item()); }
}  // namespace

TEST_CASE("reconstruction_pgd: k-space and image-domain L-inf PGD on MoDL") {
  auto s = setup();
  mri::UnrolledOptions o;
  o.steps = 2;
  o.lambda = 0.2;
  o.cg = CgOptions{30, 0, 1e-10};
  mri::Unrolled<double> modl(small_denoiser(), o);
  SUBCASE("k-space: in the ball, masked, the loss grows") {
    mri::ReconstructionPgdOptions p;
    p.ball.eps = 0.05;
    auto r =
        mri::reconstruction_pgd([&](const Tz& y) { return modl.reconstruct(s.a, y); }, s.y, s.x_star, p, s.a.mask());
    REQUIRE(r.loss.size() == 11);
    CHECK(r.loss.back() > r.loss[1]);
    CHECK(r.loss.back() > 1.5 * r.loss.front());
    CHECK(max_part(r.delta) <= 0.05 * (1 + 1e-6));
    auto outside = mul(sub(Tz::ones(s.a.mask().shape()), s.a.mask()), r.delta);
    CHECK(amax(abs(outside)).item() == 0);
    CHECK(amax(abs(sub(r.input, add(s.y, r.delta)))).item() == 0);
  }
  SUBCASE("image domain: x_0 = A^H y perturbed, clamped to [-1, 1]; L2 ball") {
    mri::ReconstructionPgdOptions p;
    p.domain = mri::AttackDomain::image;
    p.ball.eps = 0.02;
    const auto ahy = s.a.adjoint(s.y);
    auto recon = [&](const Tz& x0) { return modl.reconstruct_from_image(s.a, x0); };
    auto r = mri::reconstruction_pgd(recon, ahy, s.x_star, p);
    CHECK(r.loss.back() > r.loss[1]);
    CHECK(max_part(r.delta) <= 0.02 * (1 + 1e-6));
    CHECK(max_part(r.input) <= 1.0);
    // x_0 partly outside [-1, 1]: those entries may move back toward the box, never further out,
    // and no entry leaves the ball.
    const auto loud = scale(ahy, Zd(4));
    REQUIRE(max_part(loud) > 1.0);
    auto r_loud = mri::reconstruction_pgd(recon, loud, scale(s.x_star, Zd(4)), p);
    CHECK(max_part(r_loud.delta) <= 0.02 * (1 + 1e-6));
    const auto parts = mri::to_channels(loud), moved = mri::to_channels(r_loud.input);
    CHECK(amax(sub(abs(moved), maximum(abs(parts), Td::ones(parts.shape())))).item() <= 1e-12);
    mri::ReconstructionPgdOptions p2{.domain = mri::AttackDomain::image, .ball = attacks::L2Ball{0.3}};
    auto r2 = mri::reconstruction_pgd(recon, ahy, s.x_star, p2);
    for (double v : p2.ball.norms(mri::to_channels(r2.delta))) CHECK(v <= 0.3 * (1 + 1e-6));
    CHECK(r2.loss.back() > r2.loss.front());
  }
  SUBCASE("the iterates are those of the projected steepest-ascent recursion, bit for bit") {
    // delta_0 = P(eps N(0, 1)), delta_{t+1} = P(clamp(x_0 + P(delta_t + alpha s_t)) - x_0): the
    // loop written out, against the attack on attacks/ascent.hpp's loop.
    mri::ReconstructionPgdOptions p{
        .domain = mri::AttackDomain::image, .ball = attacks::L2Ball{0.3}, .steps = 4, .seed = 5};
    const auto ahy = s.a.adjoint(s.y);
    auto recon = [&](const Tz& x0) { return modl.reconstruct_from_image(s.a, x0); };
    auto r = mri::reconstruction_pgd(recon, ahy, s.x_star, p);
    const auto base = mri::to_channels(ahy);
    const auto lower = minimum(base, Td::full(base.shape(), -1.0)), upper = maximum(base, Td::ones(base.shape()));
    auto admissible = [&](const Td& d) {
      return p.ball.project(sub(minimum(maximum(add(base, p.ball.project(d)), lower), upper), base));
    };
    Td delta = admissible(scale(Td::randn(base.shape(), 5), 0.3));
    std::vector<double> losses;
    for (int t = 0; t <= p.steps; ++t) {
      auto leaf = delta.detach().set_requires_grad();
      auto loss = mri::mse_channels(recon(add(ahy, mri::from_channels(leaf))), s.x_star);
      losses.push_back(loss.item());
      if (t == p.steps) break;
      const auto g = grad(std::vector{loss}, std::vector{leaf})[0];
      delta = admissible(add(delta, p.ball.steepest_ascent(g, p.ball.eps / 3)));
    }
    CHECK(r.loss == losses);
    CHECK(amax(abs(sub(mri::to_channels(r.delta), delta))).item() == 0);
  }
  SUBCASE("errors") {
    mri::ReconstructionPgdOptions p;
    auto recon = [&](const Tz& y) { return modl.reconstruct(s.a, y); };
    CHECK_THROWS_WITH_AS(mri::reconstruction_pgd(recon, s.y, s.x_star, p), doctest::Contains("mask"), Error);
    p.domain = mri::AttackDomain::image;
    CHECK_THROWS_WITH_AS(mri::reconstruction_pgd(recon, s.y, s.x_star, p), doctest::Contains("[4, 3, 8, 8]"), Error);
    const Tz image = s.a.adjoint(s.y);
    const Tz nan_image = mul(image, Tz::scalar({std::nan(""), 0.0}));
    CHECK_THROWS_WITH_AS(mri::reconstruction_pgd(recon, nan_image, s.x_star, p),
                         doctest::Contains("mri::reconstruction_pgd: the input (shape [4, 8, 8]) holds a non-finite "
                                           "value at element 0"),
                         Error);
    CHECK_THROWS_WITH_AS(mri::reconstruction_pgd(recon, image, add(s.x_star, Tz::scalar({INFINITY, 0.0})), p),
                         doctest::Contains("the target x_star"), Error);
    p.ball.eps = -1;
    CHECK_THROWS_AS(mri::reconstruction_pgd(recon, image, s.x_star, p), Error);
  }
}
