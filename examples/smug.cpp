// smug: robust MRI reconstruction by smoothing inside the unrolled steps (SMUG; Li et al. 2023, Liang
// et al. 2025; arXiv:2303.12735, arXiv:2312.07784; the small-scale protocol is in docs/papers.md).
//
//   smug [--size N] [--coils C] [--train-images N] [--test-images N] [--steps K] [--epochs E]
//        [--pretrain-epochs E] [--smug-epochs E] [--rs-e2e-epochs E] [--sigma S] [--eps a,b,c]
//        [--smug-init pretrained|modl] [--stability-target truth|denoised] [--attack-domain kspace|image]
//        [--load DIR] [--seed S]
//        [--threads N] [--out DIR] [--quick]
//   smug_cuda [the same options]      (built with TRUSTML_CUDA: the same study on the GPU)
//
// 1. Data: random-ellipse phantoms with a smooth phase, N x N, normalized to peak |x*| = 1; birdcage
//    coil maps normalized as BART's `normalize 8`; fully sampled k-space y_full = F S x* plus complex
//    Gaussian noise; a fastMRI random 1-D mask at 4x (y = M y_full), and others at 2x and 8x.
// 2. Models (all: a 5-layer 32-channel residual CNN denoiser, K unrolled steps, lambda 1, CG):
//    MoDL trained end to end (MSE(x_K, x*)); RS-E2E fine-tuned from MoDL on the consistency loss
//    against the frozen MoDL with noise on the sampled k-space; SMUG from a denoiser
//    pre-trained on x* + noise, fine-tuned with the unrolled-stability loss, target D(x*).
//    Adam, betas (0.5, 0.999), learning rate held then decayed linearly to 0 (the SMUG codes'
//    schedule). Weights are saved in DIR and reloaded by --load.
// 3. Evaluation on the test images (PSNR and SSIM as the SMUG code computes them: complex PSNR,
//    SSIM on the real and imaginary channels; fastMRI's NMSE, PSNR and SSIM of the magnitudes are
//    in the JSON too): clean input; L-inf PGD (10 steps, alpha eps/3, random start) on the zero-filled
//    input x_0 = A^H y, which is also A^H y in every data-consistency step (ICASSP protocol, the
//    default: RS-E2E smooths with image-domain noise, eps 1/255, 2/255, 4/255 of the peak 1), or
//    with --attack-domain kspace on the sampled k-space entries (journal protocol: RS-E2E smooths
//    with k-space noise, eps 0.002, 0.004, 0.006),
//    adaptive through the smoothing with fresh noise every step (EOT), and transferred from the
//    unsmoothed network with the same weights; Gaussian noise of the same sizes on the attacked
//    input (on the sampled entries only, in k-space); 2x and 8x
//    sampling (both x_0 and the data consistency use the new mask); K = 4 and 12 at test time. Zero
//    filling and CG-SENSE are the baselines.
// Writes DIR/reconstructions.png (magnitudes: truth, zero filled, each model clean and under the
// largest attack) and DIR/errors.png (error magnitudes x 10), and ends with one JSON line: the table,
// the acceptance checks, and timings.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <trustml/mri.hpp>
#include <trustml/nn.hpp>
#include <trustml/nn/serialize.hpp>
#include <trustml/optim/adam.hpp>
#include <trustml/trustml.hpp>
#include <trustml/util/image.hpp>
#include <trustml/util/progress.hpp>
#if defined(TRUSTML_SMUG_CUDA)
#include <trustml/cuda.hpp>
#endif

using namespace trustml;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
#if defined(TRUSTML_SMUG_CUDA)  // examples/smug_cuda.cu
using Dev = Cuda;
#else
using Dev = Cpu;
#endif
using R = float;
using C = std::complex<R>;
using Image = Tensor<C, Dev>;
using Channels = Tensor<R, Dev>;
using Net = mri::Unrolled<R, Dev>;
using Sense = mri::SenseOp<C, Dev>;

namespace {

struct Settings {
  std::int64_t size = 64, coils = 8, train_images = 128, test_images = 16, ellipses = 8;
  double acceleration = 4, center_fraction = 0.08, measurement_noise = 0.003;
  int steps = 5, cg_iterations = 10, features = 32, layers = 5;
  int modl_epochs = 24, rs_e2e_epochs = 2, pretrain_epochs = 20, smug_epochs = 24;
  std::int64_t batch_size = 4;
  // sigma: 0.01, 0.02 and 0.1 were tried too (docs/performance.md, "examples/smug"); 0.05 keeps
  // SMUG's clean PSNR at or above MoDL's and gives it the robust gain.
  double lr = 1e-3, sigma = 0.05;
  int train_samples = 4, test_samples = 10, attack_samples = 4, pgd_steps = 10;
  std::vector<double> eps;                 // L-inf, per real and imaginary part; empty: the attack domain's default
  std::string smug_init = "pretrained";    // or "modl": fine-tune SMUG from MoDL's denoiser
  std::string stability_target = "truth";  // UStab target: x* (ICASSP code) or "denoised" D(x*) (journal)
  mri::AttackDomain attack_domain = mri::AttackDomain::image;
  std::uint64_t seed = 1;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The denoiser: x + a 5-layer 3x3 CNN of x on the real and imaginary channels (no batch statistics,
// so a tiled batch of noisy samples is denoised sample by sample).
class ResidualCnn : public nn::Module<R, Dev> {
 public:
  ResidualCnn(int features, int layers, std::uint64_t seed) : nn::Module<R, Dev>("ResidualCnn") {
    body = register_module("body", std::make_shared<nn::Sequential<R, Dev>>());
    for (int i = 0; i < layers; ++i) {
      const std::int64_t in = i == 0 ? 2 : features, out = i + 1 == layers ? 2 : features;
      body->push_back(std::make_shared<nn::Conv2d<R, Dev>>(in, out, 3, nn::ConvOptions{.padding = 1}, seed + i));
      if (i + 1 < layers) body->push_back(nn::ReLU<R, Dev>());
    }
  }
  Channels forward(const Channels& x) override { return add(x, (*body)(x)); }
  std::shared_ptr<nn::Sequential<R, Dev>> body;
};

// Test-set truth, fully sampled k-space and the coil maps.
struct MriData {
  Image x_star;  // [N, H, W], peak |x*| = 1 per image
  Image y_full;  // [N, C, H, W]
};

MriData make_data(const Settings& s, const Sense& full, std::int64_t count, std::uint64_t seed) {
  std::vector<Tensor<C>> images;  // made on the CPU, then moved
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t k = seed * 100003 + static_cast<std::uint64_t>(i);
    const auto magnitude = mri::random_ellipses<R>(s.size, s.ellipses, k);
    const Tensor<C> x = mri::apply_phase(magnitude, mri::smooth_phase<R>(s.size, k, std::numbers::pi / 2));
    const R peak = amax(abs(x)).item();
    images.push_back(scale(x, C(1 / std::max(peak, R(1e-6)))));
  }
  MriData d{stack(images, 0).to<Dev>(), {}};
  d.y_full = add(full.forward(d.x_star), mri::complex_gaussian_noise<R, Dev>(Shape{count, s.coils, s.size, s.size},
                                                                             s.measurement_noise, seed + 7));
  return d;
}

Image rows_of(const Image& x, const std::vector<std::int64_t>& rows) {
  return index_select(x, 0,
                      Tensor<std::int64_t, Dev>::from_vector(rows, Shape{static_cast<std::int64_t>(rows.size())}));
}

Net make_net(const Settings& s, std::shared_ptr<nn::Module<R, Dev>> denoiser, mri::Smoothing placement, int samples) {
  return Net(std::move(denoiser),
             {.steps = s.steps,
              .lambda = 1.0,
              .learn_lambda = false,
              .cg = {s.cg_iterations, 0, 0},
              .smoothing = {.placement = placement,
                            .sigma = s.sigma,
                            .samples = samples,
                            .rs_e2e_noise = s.attack_domain == mri::AttackDomain::image ? mri::RsE2ENoise::image
                                                                                        : mri::RsE2ENoise::kspace,
                            .seed = s.seed}});
}

// Adam with betas (0.5, 0.999); the learning rate is held for the first half of the epochs, then
// decays linearly (the SMUG codes' multiplier 1 - max(0, e + 1 - E0) / (E + 1 - E0), E0 = E / 2).
// `batch_loss(rows)` returns the loss of those training images; returns the mean loss per epoch.
template <class BatchLoss>
std::vector<double> train(const std::string& name, std::vector<Channels> params, int epochs, std::int64_t images,
                          const Settings& s, BatchLoss&& batch_loss) {
  optim::Adam<R, Dev> adam(std::move(params), {.lr = s.lr, .beta1 = 0.5, .beta2 = 0.999});
  std::vector<std::int64_t> order(static_cast<std::size_t>(images));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 shuffle_rng(s.seed);
  std::vector<double> epoch_loss;
  const int hold = epochs / 2;
  for (int e = 0; e < epochs; ++e) {
    adam.set_lr(s.lr * (1.0 - std::max(0, e + 1 - hold) / static_cast<double>(epochs + 1 - hold)));
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    const std::int64_t batches = (images + s.batch_size - 1) / s.batch_size;
    util::ProgressBar bar(batches, {.label = name + " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs)});
    double total = 0;
    for (std::int64_t b = 0; b < batches; ++b) {
      const auto first = order.begin() + b * s.batch_size;
      const std::vector<std::int64_t> rows(first, first + std::min(s.batch_size, images - b * s.batch_size));
      adam.zero_grad();
      const Channels loss = batch_loss(rows);
      loss.backward();
      adam.step();
      total += static_cast<double>(loss.item());
      bar.set_postfix("loss " + std::to_string(total / static_cast<double>(b + 1)).substr(0, 8));
      bar.advance();
    }
    bar.finish();
    epoch_loss.push_back(total / static_cast<double>(batches));
  }
  return epoch_loss;
}

// The reconstruction of every image of y [N, C, H, W], in batches, without a tape.
template <class Recon>
Image in_batches(const Image& y, std::int64_t batch, Recon&& recon) {
  NoGradGuard no_grad;
  std::vector<Image> parts;
  for (std::int64_t i = 0; i < y.size(0); i += batch)
    parts.push_back(recon(y.slice(0, i, std::min(y.size(0), i + batch))));
  return concat(parts, 0);
}

// SMUG's metrics (complex PSNR, SSIM on the real and imaginary channels) per image, and fastMRI's
// (magnitudes, the test set as one volume).
struct Score {
  mri::ImageScores psnr, ssim;
  double nmse = 0, psnr_fastmri = 0, ssim_fastmri = 0;
  nlohmann::json json() const {
    return {{"psnr", psnr.mean()},  {"psnr_std", psnr.std()},       {"ssim", ssim.mean()},
            {"nmse_fastmri", nmse}, {"psnr_fastmri", psnr_fastmri}, {"ssim_fastmri", ssim_fastmri}};
  }
};
Score score(const Image& recon, const Image& x_star) {
  const Channels gt = abs(x_star), pred = abs(recon);
  return {mri::psnr_complex(recon, x_star), mri::ssim_realimag(recon, x_star), mri::nmse(gt, pred),
          mri::psnr_fastmri(gt, pred), mri::ssim_fastmri(gt, pred)};
}

// A paired bootstrap 95% interval of mean(a - b) over images.
std::pair<double, double> bootstrap_interval(const std::vector<double>& a, const std::vector<double>& b,
                                             std::uint64_t seed, int resamples = 2000) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, a.size() - 1);
  std::vector<double> means;
  for (int r = 0; r < resamples; ++r) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t j = pick(rng);
      m += a[j] - b[j];
    }
    means.push_back(m / static_cast<double>(a.size()));
  }
  std::sort(means.begin(), means.end());
  return {means[static_cast<std::size_t>(0.025 * resamples)], means[static_cast<std::size_t>(0.975 * resamples)]};
}

Channels magnitudes(const Image& x) { return unsqueeze(abs(x), 1); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SMUG: robust unrolled MRI reconstruction on phantoms (MoDL, RS-E2E, SMUG)"};
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  Settings s;
  std::string out_dir = "smug_out", load_dir;
  int threads = 0;
  bool quick = false;
  app.add_option("--size", s.size, "image size N (N x N)")->check(CLI::Range(16, 512));
  app.add_option("--coils", s.coils, "receive coils")->check(CLI::Range(1, 64));
  app.add_option("--train-images", s.train_images, "training images")->check(CLI::PositiveNumber);
  app.add_option("--test-images", s.test_images, "test images")->check(CLI::PositiveNumber);
  app.add_option("--steps", s.steps, "unrolled steps K")->check(CLI::Range(1, 32));
  app.add_option("--epochs", s.modl_epochs, "MoDL training epochs")->check(CLI::PositiveNumber);
  app.add_option("--pretrain-epochs", s.pretrain_epochs, "SMUG denoiser pre-training epochs")
      ->check(CLI::PositiveNumber);
  app.add_option("--smug-epochs", s.smug_epochs, "SMUG fine-tuning epochs")->check(CLI::PositiveNumber);
  app.add_option("--rs-e2e-epochs", s.rs_e2e_epochs, "RS-E2E fine-tuning epochs")->check(CLI::PositiveNumber);
  app.add_option("--sigma", s.sigma, "smoothing noise (peak |x*| = 1)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--eps", s.eps, "L-inf PGD budgets (default: 0.002,0.004,0.006 in k-space; 1/255,2/255,4/255 on x_0)")
      ->delimiter(',');
  app.add_option("--attack-domain", s.attack_domain, "PGD on the sampled k-space (journal) or on x_0 = A^H y (ICASSP)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, mri::AttackDomain>{
          {"kspace", mri::AttackDomain::kspace}, {"image", mri::AttackDomain::image}}));
  app.add_option("--smug-init", s.smug_init, "SMUG starts from the pre-trained denoiser or from MoDL's")
      ->check(CLI::IsMember({"pretrained", "modl"}));
  app.add_option("--stability-target", s.stability_target, "UStab target: x* (truth) or D(x*) (denoised)")
      ->check(CLI::IsMember({"truth", "denoised"}));
  app.add_option("--load", load_dir, "load modl/rs_e2e/smug .safetensors from DIR where present");
  app.add_option("--seed", s.seed, "seed of data, weights, noise and attacks");
  app.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(CLI::PositiveNumber);
  app.add_option("--out", out_dir, "directory for pictures and weights");
  app.add_flag("--quick", quick, "a small run for tests (32 x 32, 4 coils, K = 3; about a minute)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  if (quick) {
    s.size = 32, s.coils = 4, s.train_images = 32, s.test_images = 8, s.ellipses = 5, s.steps = 3;
    s.cg_iterations = 8, s.features = 16, s.layers = 4, s.modl_epochs = 4, s.rs_e2e_epochs = 1;
    s.pretrain_epochs = 4, s.smug_epochs = 1, s.test_samples = 4, s.attack_samples = 2, s.pgd_steps = 5;
  }
  const bool image_attack = s.attack_domain == mri::AttackDomain::image;
  if (app.count("--eps") == 0)
    s.eps = image_attack ? std::vector{1.0 / 255, 2.0 / 255, 4.0 / 255} : std::vector{0.002, 0.004, 0.006};
  if (s.eps.empty()) {
    std::cerr << "smug: --eps needs at least one budget\n";
    return 2;
  }
  std::sort(s.eps.begin(), s.eps.end());

  const auto start = Clock::now();
  try {
    fs::create_directories(out_dir);
    // 1. Data: one set of coil maps, the 4x training mask and the test masks.
    const Image maps = mri::coil_maps<R>(s.coils, s.size, s.size).to<Dev>();
    const Sense full(maps, Channels::ones(Shape{s.size, s.size}));
    // fastMRI's random masks vary in their line count; the fixed test masks are the first draws
    // within 5% of the nominal rate.
    auto mask_at = [&](double r) {
      for (std::uint64_t k = 0;; ++k) {
        auto m = mri::random_mask(s.size, s.size, r, s.center_fraction, s.seed + 11 + k);
        if (std::abs(mri::acceleration_of(m) - r) <= 0.05 * r || k == 1000) return m.to<Dev>();
      }
    };
    const Sense a(maps, mask_at(s.acceleration));
    const MriData train_set = make_data(s, full, s.train_images, s.seed);
    const MriData test_set = make_data(s, full, s.test_images, s.seed + 1000);
    const Image y_train = mul(a.mask(), train_set.y_full), y_test = mul(a.mask(), test_set.y_full);
    std::cerr << s.train_images << " training and " << s.test_images << " test images, " << s.size << " x " << s.size
              << ", " << s.coils << " coils, mask acceleration " << mri::acceleration_of(real(a.mask()).to<Cpu>())
              << (std::is_same_v<Dev, Cpu> ? "" : ", on the GPU") << "\n";

    // 2. Models.
    nlohmann::json train_seconds, train_loss;
    auto saved = [&](const std::string& name) { return fs::path(load_dir) / (name + ".safetensors"); };
    auto obtain = [&](const std::string& name, nn::Module<R, Dev>& model, auto&& fit) {
      if (!load_dir.empty() && fs::exists(saved(name))) {
        nn::load_module(saved(name).string(), model);
        std::cerr << name << ": loaded " << saved(name) << "\n";
        return;
      }
      const auto t0 = Clock::now();
      train_loss[name] = fit();
      train_seconds[name] = seconds_since(t0);
      nn::save_module((fs::path(out_dir) / (name + ".safetensors")).string(), model);
    };
    auto modl_denoiser = std::make_shared<ResidualCnn>(s.features, s.layers, s.seed + 100);
    Net modl = make_net(s, modl_denoiser, mri::Smoothing::none, 1);
    obtain("modl", *modl_denoiser, [&] {
      return train("MoDL", modl.parameters(), s.modl_epochs, s.train_images, s, [&](const auto& rows) {
        return mri::mse_channels(modl.reconstruct(a, rows_of(y_train, rows)), rows_of(train_set.x_star, rows));
      });
    });
    modl.eval();

    // RS-E2E: starts from MoDL and learns to agree, on every noisy sample, with the frozen MoDL.
    auto rs_denoiser = std::make_shared<ResidualCnn>(s.features, s.layers, s.seed + 100);
    rs_denoiser->load_state_dict(modl_denoiser->state_dict());
    Net rs_e2e = make_net(s, rs_denoiser, mri::Smoothing::whole_model, s.train_samples);
    Net rs_e2e_base = make_net(s, rs_denoiser, mri::Smoothing::none, 1);
    obtain("rs_e2e", *rs_denoiser, [&] {
      return train("RS-E2E", rs_e2e.parameters(), s.rs_e2e_epochs, s.train_images, s, [&](const auto& rows) {
        const Image y = rows_of(y_train, rows);
        Image frozen;
        {
          NoGradGuard no_grad;
          frozen = modl.reconstruct(a, y);
        }
        return mri::mse_channels(rs_e2e.reconstruct_samples(a, y), mri::tile_samples(frozen, s.train_samples));
      });
    });
    rs_e2e.eval();

    // SMUG: denoiser pre-training on x* + noise (or MoDL's denoiser), then fine-tuning with the
    // unrolled-stability loss.
    auto smug_denoiser = std::make_shared<ResidualCnn>(s.features, s.layers, s.seed + 200);
    Net smug = make_net(s, smug_denoiser, mri::Smoothing::denoiser, s.train_samples);
    Net smug_base = make_net(s, smug_denoiser, mri::Smoothing::none, 1);
    obtain("smug", *smug_denoiser, [&] {
      nlohmann::json losses;
      std::uint64_t call = 0;
      if (s.smug_init == "modl") {
        smug_denoiser->load_state_dict(modl_denoiser->state_dict());
      } else {
        losses["pretrain"] =
            train("denoiser", smug_denoiser->parameters(), s.pretrain_epochs, s.train_images, s, [&](const auto& rows) {
              const Channels x = mri::to_channels(rows_of(train_set.x_star, rows));
              const Channels eta = Channels::randn(x.shape(), s.seed + 41, ++call * x.numel());
              return mse((*smug_denoiser)(clamp(add(x, scale(eta, R(s.sigma))), R(-1), R(1))), x);
            });
      }
      losses["fine_tune"] = train("SMUG", smug.parameters(), s.smug_epochs, s.train_images, s, [&](const auto& rows) {
        const Image x_star = rows_of(train_set.x_star, rows);
        mri::UnrolledTrace<R, Dev> trace;
        const Image x_k = smug.reconstruct(a, rows_of(y_train, rows), &trace);
        const Channels truth = mri::to_channels(x_star);
        return mri::smug_loss(trace, x_k, x_star, s.stability_target == "truth" ? truth : (*smug_denoiser)(truth));
      });
      return losses;
    });
    smug.eval();
    smug_base.eval();
    rs_e2e_base.eval();
    smug.options().smoothing.samples = rs_e2e.options().smoothing.samples = s.test_samples;

    // 3. Evaluation. Each method restarts its noise stream (the journal test seeds 0 before each).
    struct Method {
      std::string name;
      Net* net;
      Net* base;  // the unsmoothed network with the same weights: the transfer attack's surrogate
    };
    std::vector<Method> methods{{"modl", &modl, &modl}, {"rs_e2e", &rs_e2e, &rs_e2e_base}, {"smug", &smug, &smug_base}};
    const std::int64_t batch = 8;
    auto evaluate = [&](Method& m, const Sense& op, const Image& y) {
      m.net->reseed(s.seed);
      return in_batches(y, batch, [&](const Image& yb) { return m.net->reconstruct(op, yb); });
    };
    // The attacked input: k-space y, or x_0 = A^H y in image mode.
    auto reconstruct_input = [&](Net& net, const Image& input) {
      return image_attack ? net.reconstruct_from_image(a, input) : net.reconstruct(a, input);
    };
    auto evaluate_input = [&](Method& m, const Image& input) {
      m.net->reseed(s.seed);
      return in_batches(input, batch, [&](const Image& part) { return reconstruct_input(*m.net, part); });
    };
    std::map<std::string, std::map<std::string, Score>> scores;
    auto record = [&](const std::string& method, const std::string& row, const Image& recon) {
      scores[method][row] = score(recon, test_set.x_star);
      std::cerr << "  " << row << " " << method << ": PSNR " << scores[method][row].psnr.mean() << " dB, SSIM "
                << scores[method][row].ssim.mean() << "\n";
    };
    const auto eval_start = Clock::now();
    const Image zero_filled = a.adjoint(y_test);
    const Image attacked_input = image_attack ? zero_filled : y_test;
    record("zero_filled", "clean", zero_filled);
    CgOptions sense_cg{30, 0, 1e-6};
    record("cg_sense", "clean", cg_solve(a.normal_map(), zero_filled, Channels::full(Shape{1}, R(0.01)), sense_cg));
    std::map<std::string, Image> shown_clean, shown_attacked;
    for (auto& m : methods) shown_clean[m.name] = evaluate(m, a, y_test), record(m.name, "clean", shown_clean[m.name]);

    // PGD on the sampled k-space: adaptive (through the smoothing, attack_samples per forward) and,
    // for the smoothed models, transferred from the unsmoothed network.
    nlohmann::json attack_loss;
    bool deltas_admissible = true, attack_loss_rose = true;
    const Channels outside = sub(Channels::ones(Shape{s.size, s.size}), real(squeeze(squeeze(a.mask(), 0), 0)));
    auto attack = [&](Net& net, double eps, int samples, const std::string& label) {
      const int test_samples = net.options().smoothing.samples;
      net.options().smoothing.samples = samples;
      net.reseed(s.seed + 77);
      std::vector<Image> inputs;
      std::vector<double> first, last;
      util::ProgressBar bar(s.test_images, {.label = label});
      for (std::int64_t i = 0; i < s.test_images; i += batch) {
        const std::int64_t end = std::min(s.test_images, i + batch);
        mri::ReconstructionPgdOptions o{.domain = s.attack_domain,
                                        .ball = attacks::LinfBall{eps},
                                        .steps = s.pgd_steps,
                                        .seed = s.seed + static_cast<std::uint64_t>(i)};
        auto r =
            mri::reconstruction_pgd([&](const Image& in) { return reconstruct_input(net, in); },
                                    attacked_input.slice(0, i, end), test_set.x_star.slice(0, i, end), o, a.mask());
        const double worst = amax(abs(mri::to_channels(r.delta))).item();
        const double leak = image_attack ? 0.0 : double(amax(mul(abs(r.delta), outside)).item());
        deltas_admissible = deltas_admissible && worst <= eps * (1 + 1e-6) && leak == 0;
        first.push_back(r.loss[1]), last.push_back(r.loss.back());
        inputs.push_back(r.input);
        bar.advance(end - i);
      }
      bar.finish();
      net.options().smoothing.samples = test_samples;
      const double l1 = std::accumulate(first.begin(), first.end(), 0.0),
                   lk = std::accumulate(last.begin(), last.end(), 0.0);
      attack_loss[label] = {{"after_step_1", l1 / first.size()}, {"final", lk / last.size()}};
      attack_loss_rose = attack_loss_rose && (s.pgd_steps < 2 || lk > l1);
      return concat(inputs, 0);
    };
    for (double eps : s.eps) {
      const std::string row = "pgd_" + std::to_string(eps).substr(0, 6);
      for (auto& m : methods) {
        const Image recon = evaluate_input(m, attack(*m.net, eps, s.attack_samples, row + " " + m.name));
        record(m.name, row, recon);
        if (eps == s.eps.back()) shown_attacked[m.name] = recon;
        if (m.net != m.base)
          record(m.name, row + "_transfer", evaluate_input(m, attack(*m.base, eps, 1, row + " transfer " + m.name)));
      }
    }
    // Gaussian noise of the same sizes on the attacked input (only on the sampled k-space entries).
    for (double eps : s.eps) {
      const Image noise = mri::complex_gaussian_noise<R, Dev>(attacked_input.shape(), eps, s.seed + 55);
      const Image noisy = add(attacked_input, image_attack ? noise : mul(a.mask(), noise));
      for (auto& m : methods) record(m.name, "noise_" + std::to_string(eps).substr(0, 6), evaluate_input(m, noisy));
    }
    // Other sampling rates (both x_0 and the data consistency use the new mask) and other K.
    for (double r : {2.0, 8.0}) {
      const Sense ar(maps, mask_at(r));
      for (auto& m : methods)
        record(m.name, "accel_" + std::to_string(static_cast<int>(r)) + "x",
               evaluate(m, ar, mul(ar.mask(), test_set.y_full)));
    }
    for (int k : {4, 12}) {
      for (auto& m : methods) {
        m.net->options().steps = k;
        record(m.name, "steps_" + std::to_string(k), evaluate(m, a, y_test));
        m.net->options().steps = s.steps;
      }
    }
    const double eval_seconds = seconds_since(eval_start);

    // Pictures: the first four test images.
    {
      const std::int64_t shown = std::min<std::int64_t>(4, s.test_images);
      std::vector<Channels> rows{magnitudes(test_set.x_star.slice(0, 0, shown)),
                                 magnitudes(zero_filled.slice(0, 0, shown))};
      std::vector<Channels> errors{magnitudes(sub(zero_filled, test_set.x_star).slice(0, 0, shown))};
      std::vector<std::string> captions, error_captions;
      for (const char* c : {"truth", "zero filled"})
        for (std::int64_t i = 0; i < shown; ++i) captions.push_back(c);
      for (std::int64_t i = 0; i < shown; ++i) error_captions.push_back("zero filled");
      for (auto& m : methods)
        for (const auto* set : {&shown_clean, &shown_attacked}) {
          const Image& recon = set->at(m.name);
          rows.push_back(magnitudes(recon.slice(0, 0, shown)));
          errors.push_back(magnitudes(sub(recon, test_set.x_star).slice(0, 0, shown)));
          for (std::int64_t i = 0; i < shown; ++i) {
            captions.push_back(m.name + (set == &shown_clean ? "" : " pgd"));
            error_captions.push_back(captions.back());
          }
        }
      const int zoom = s.size < 64 ? 4 : 2;
      util::write_image_grid((fs::path(out_dir) / "reconstructions.png").string(), concat(rows, 0).to<Cpu>(),
                             {.columns = shown, .scale = zoom, .captions = captions});
      util::write_image_grid((fs::path(out_dir) / "errors.png").string(), scale(concat(errors, 0), R(10)).to<Cpu>(),
                             {.columns = shown, .scale = zoom, .captions = error_captions});
    }

    // Acceptance (docs/papers.md): the largest budget is the one the papers' numbers are about.
    const std::string worst = "pgd_" + std::to_string(s.eps.back()).substr(0, 6);
    auto psnr = [&](const std::string& m, const std::string& row) { return scores.at(m).at(row).psnr.mean(); };
    bool smug_gain_every_eps = true;
    for (double eps : s.eps) {
      const std::string row = "pgd_" + std::to_string(eps).substr(0, 6);
      smug_gain_every_eps = smug_gain_every_eps && psnr("smug", row) > psnr("modl", row);
    }
    const auto interval =
        bootstrap_interval(scores["smug"][worst].psnr.values, scores["modl"][worst].psnr.values, s.seed);
    bool noise_drop_smaller = true;
    for (double eps : s.eps) {
      const std::string row = "noise_" + std::to_string(eps).substr(0, 6);
      noise_drop_smaller =
          noise_drop_smaller && psnr("smug", "clean") - psnr("smug", row) < psnr("modl", "clean") - psnr("modl", row);
    }
    nlohmann::json checks = {
        {"modl_beats_cg_sense_beats_zero_filled",
         psnr("modl", "clean") > psnr("cg_sense", "clean") && psnr("cg_sense", "clean") > psnr("zero_filled", "clean")},
        {"attack_costs_modl_2db", psnr("modl", "clean") - psnr("modl", worst) >= 2},
        {"smug_robust_gain_1db", psnr("smug", worst) - psnr("modl", worst) >= 1},
        {"smug_gain_every_eps", smug_gain_every_eps},
        {"smug_gain_interval_excludes_0", interval.first > 0},
        {"smug_transfer_gain_1db", psnr("smug", worst + "_transfer") - psnr("modl", worst) >= 1},
        {"smug_clean_within_1_5db", psnr("smug", "clean") >= psnr("modl", "clean") - 1.5},
        {"smug_beats_rs_e2e_under_attack", psnr("smug", worst) >= psnr("rs_e2e", worst)},
        {"smug_noise_drop_smaller", noise_drop_smaller}};
    // The quick run is too small to train robust models: it must pass the invariants.
    bool checks_passed = deltas_admissible && attack_loss_rose &&
                         psnr("modl", "clean") > psnr("zero_filled", "clean") &&
                         psnr("modl", worst) < psnr("modl", "clean");
    // The full run must meet the acceptance checks; the further checks are reported.
    if (!quick)
      for (const char* required : {"modl_beats_cg_sense_beats_zero_filled", "attack_costs_modl_2db",
                                   "smug_robust_gain_1db", "smug_clean_within_1_5db", "smug_beats_rs_e2e_under_attack"})
        checks_passed = checks_passed && checks[required].get<bool>();
    nlohmann::json table;  // row -> method -> scores
    for (const auto& [method, rows] : scores)
      for (const auto& [row, sc] : rows) table[row][method] = sc.json();
    nlohmann::json result = {{"example", "smug"},
                             {"quick", quick},
                             {"size", s.size},
                             {"coils", s.coils},
                             {"acceleration", s.acceleration},
                             {"steps", s.steps},
                             {"sigma", s.sigma},
                             {"test_samples", s.test_samples},
                             {"attack_samples", s.attack_samples},
                             {"eps", s.eps},
                             {"attack_domain", image_attack ? "image" : "kspace"},
                             {"table", table},
                             {"smug_minus_modl_worst_psnr_ci95", {interval.first, interval.second}},
                             {"attack_loss", attack_loss},
                             {"train_loss", train_loss},
                             {"train_seconds", train_seconds},
                             {"eval_seconds", eval_seconds},
                             {"deltas_admissible", deltas_admissible},
                             {"attack_loss_rose", attack_loss_rose},
                             {"checks", checks},
                             {"checks_passed", checks_passed},
                             {"seconds", seconds_since(start)}};
    std::cout << result.dump() << std::endl;
    return checks_passed ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "smug: " << e.what() << "\n";
    return 1;
  }
}
