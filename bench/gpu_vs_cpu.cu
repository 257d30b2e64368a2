// gpu_vs_cpu: the library's main workloads on the CPU and on the GPU, in one run, with the ratio.
//
//   gpu_vs_cpu [--threads N] [--repeats R] [--quick]
//
// Workloads (float; each timed after a warm-up, best of R runs, the GPU synchronized before the
// clock stops):
//   gemm       one 2048^3 matmul (cuBLAS on the GPU, the CPU's GEMM kernel otherwise), in GFLOP/s;
//   train      one SGD training step of the reference SmallCnn (20,490 parameters) on a batch of 128
//              28x28 images: forward, cross-entropy, backward, update;
//   pgd        PGD-10 (L-inf, eps 8/255) on that network, batch 128;
//   cge        one dense staged CGE step on SmallCnn, batch 64, every 4th coordinate: delta forward
//              with one query per forward (max_group 1) and with queries batched 64 to a forward;
//   cg_sense   one CG iteration of CG-SENSE at 256x256 with 8 coils (time per iteration is
//              (t(45) - t(5)) / 40 of whole solves, as bench/compare_bart_sense does);
//   dncnn      one forward of that network's denoiser, a 5-layer 32-channel DnCNN, on one 2-channel
//              256x256 image, no grad;
//   modl       one MoDL forward at 256x256, 8 coils: K = 8, that DnCNN, 10 CG iterations per step,
//              batch 1, no grad.
// Each workload also checks that the two devices compute the same thing (largest relative
// difference of the results), so a fast wrong kernel shows. With --torch-peer SCRIPT (the default
// bench/torch_gpu_peer.py; "" for none) it runs PyTorch on the same GPU through `python3 SCRIPT`
// for train, pgd and dncnn, and prints trustml / PyTorch. Ends with one JSON line.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <complex>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <trustml/attacks/pgd.hpp>
#include <trustml/cuda.hpp>
#include <trustml/estimators/staged_cge.hpp>
#include <trustml/mri/masks.hpp>
#include <trustml/mri/phantom.hpp>
#include <trustml/mri/unrolled.hpp>
#include <trustml/nn.hpp>
#include <trustml/nn/zoo/dncnn.hpp>
#include <trustml/optim/sgd.hpp>
#include <tuple>
#include <vector>

namespace tl = trustml;
using tl::Cpu;
using tl::Cuda;
using Zf = std::complex<float>;
using Clock = std::chrono::steady_clock;

namespace {

int repeats = 5;

template <class D>
void sync() {
  if constexpr (std::is_same_v<D, Cuda>) Cuda::synchronize();
}

// Best of `repeats` timed calls after one warm-up, in milliseconds.
template <class D>
double best_ms(const std::function<void()>& f) {
  f();
  sync<D>();
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    f();
    sync<D>();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  return best;
}

// max |a - b| / max |b| over the elements.
template <class T>
double rel_diff(const std::vector<T>& a, const std::vector<T>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

struct Timed {
  double ms = 0;
  std::vector<float> result;  // what the devices must agree on (flattened, as float)
};
template <class T, class D>
std::vector<float> flat(const tl::Tensor<T, D>& t) {
  std::vector<float> out;
  for (const auto& v : t.to_vector()) {
    if constexpr (std::is_same_v<T, Zf>) {
      out.push_back(v.real());
      out.push_back(v.imag());
    } else {
      out.push_back(float(v));
    }
  }
  return out;
}

template <class D>
Timed gemm(std::int64_t n) {
  auto a = tl::Tensor<float>::randn({n, n}, 1).to<D>(), b = tl::Tensor<float>::randn({n, n}, 2).to<D>();
  tl::NoGradGuard no_grad;
  tl::Tensor<float, D> c;
  const double ms = best_ms<D>([&] { c = tl::matmul(a, b); });
  return {ms, flat(tl::slice(c, 0, 0, 8))};
}

std::vector<std::int64_t> labels(std::int64_t n) {
  std::vector<std::int64_t> y(n);
  for (std::int64_t i = 0; i < n; ++i) y[i] = (i * 7) % 10;
  return y;
}

template <class D>
Timed train_step(std::int64_t batch) {
  auto net = tl::nn::zoo::SmallCnn<float, D>(1, 10, 1);
  auto x = tl::Tensor<float>::rand({batch, 1, 28, 28}, 3).to<D>();
  auto y = tl::Tensor<std::int64_t>::from_vector(labels(batch), {batch}).to<D>();
  tl::optim::SGD<float, D> sgd(net->parameters(), {.lr = 1e-3, .momentum = 0.9});
  auto step = [&] {
    sgd.zero_grad();
    auto loss = tl::cross_entropy((*net)(x), y);
    loss.backward();
    sgd.step();
  };
  const double ms = best_ms<D>(step);
  return {ms, flat(net->parameters().front())};  // same steps on both: the same weights
}

template <class D>
Timed pgd10(std::int64_t batch) {
  auto net = tl::nn::zoo::SmallCnn<float, D>(1, 10, 1);
  net->eval();
  auto x = tl::Tensor<float>::rand({batch, 1, 28, 28}, 4).to<D>();
  auto y = tl::Tensor<std::int64_t>::from_vector(labels(batch), {batch}).to<D>();
  tl::attacks::PgdOptions o{.ball = tl::attacks::LinfBall{8.0 / 255}, .steps = 10, .early_stop = false, .seed = 5};
  tl::Tensor<float, D> adversarial;
  const double ms = best_ms<D>([&] { adversarial = tl::attacks::pgd(*net, x, y, o).adversarial; });
  return {ms, flat(tl::slice(adversarial, 0, 0, 4))};
}

template <class D>
Timed cge(std::int64_t batch, std::int64_t max_group) {
  auto net = tl::nn::zoo::SmallCnn<float, D>(1, 10, 1);
  auto x = tl::Tensor<float>::rand({batch, 1, 28, 28}, 2).to<D>();
  auto y = tl::Tensor<std::int64_t>::from_vector(labels(batch), {batch}).to<D>();
  auto loss = tl::estimators::cross_entropy_per_group<float, D>(y);
  std::vector<tl::Tensor<float, D>> masks;
  for (auto& p : net->parameters()) {
    std::vector<float> m(p.numel(), 0.0f);
    for (std::size_t i = 0; i < m.size(); i += 4) m[i] = 1;
    masks.push_back(tl::Tensor<float>::from_vector(m, p.shape()).template to<D>());
  }
  tl::estimators::CoordinateZO estimator({.mu = 5e-3});
  auto stages = net->stages();
  const double ms = best_ms<D>([&] {
    net->zero_grad();
    tl::estimators::estimate_staged(estimator, stages, x, loss, &masks, {.delta = true, .max_group = max_group});
  });
  return {ms, flat(net->parameters().front().grad())};
}

template <class D>
Timed dncnn_forward(std::int64_t n) {
  tl::nn::zoo::DnCNN<float, D> denoiser(2, 5, 32, 7);
  denoiser.eval();
  const auto image = tl::Tensor<float>::rand({1, 2, n, n}, 6).to<D>();
  tl::NoGradGuard no_grad;
  tl::Tensor<float, D> out;
  const double ms = best_ms<D>([&] { out = denoiser(image); });
  return {ms, flat(out)};
}

// The last line of `command`'s output, parsed as JSON (null when the command fails).
nlohmann::json run_json(const std::string& command) {
  std::string last, line;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (fgets(buffer, sizeof buffer, pipe)) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') {
        if (line.size() > 1) last = line;
        line.clear();
      }
    }
    if (pclose(pipe) != 0) return nullptr;
  }
  return nlohmann::json::parse(last, nullptr, false);
}

struct SenseData {
  tl::Tensor<Zf> maps, y;
  tl::Tensor<float> mask;
};
SenseData sense_data(std::int64_t n, std::int64_t coils) {
  const auto image = tl::cast<Zf>(tl::mri::shepp_logan<float>(n)).reshape({1, n, n});
  SenseData d{tl::mri::coil_maps<float>(coils, n, n), {}, tl::mri::random_mask(n, n, 4, 0.08, 1)};
  d.y = tl::mri::SenseOp<Zf>(d.maps, d.mask).forward(image);
  return d;
}

template <class D>
Timed cg_sense_iteration(const SenseData& d) {
  tl::mri::SenseOp<Zf, D> a(d.maps.to<D>(), d.mask.to<D>());
  tl::NoGradGuard no_grad;
  const auto ahy = a.adjoint(d.y.to<D>());
  const auto lam = tl::Tensor<float>::from_vector({0.01f}).to<D>();
  const auto normal = a.normal_map();
  tl::Tensor<Zf, D> x;
  auto solve = [&](int k) { return best_ms<D>([&] { x = tl::cg_solve(normal, ahy, lam, tl::CgOptions{k, 0, 0}); }); };
  const double t5 = solve(5), t45 = solve(45);
  return {(t45 - t5) / 40, flat(x)};
}

template <class D>
Timed modl_forward(const SenseData& d) {
  tl::mri::UnrolledOptions options;
  options.steps = 8;
  options.lambda = 0.05;
  options.cg = tl::CgOptions{10, 0, 0};
  auto denoiser = std::make_shared<tl::nn::zoo::DnCNN<float, D>>(2, 5, 32, 7);
  tl::mri::Unrolled<float, D> modl(denoiser, options);
  modl.eval();
  tl::mri::SenseOp<Zf, D> a(d.maps.to<D>(), d.mask.to<D>());
  const auto y = d.y.to<D>();
  tl::NoGradGuard no_grad;
  tl::Tensor<Zf, D> x;
  const double ms = best_ms<D>([&] { x = modl.reconstruct(a, y); });
  return {ms, flat(x)};
}

std::string gpu_name() {
  cudaDeviceProp prop{};
  return cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.name : "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trustml workloads on the CPU and the GPU, with the ratio"};
  int threads = omp_get_max_threads();
  bool quick = false;
  std::string torch_peer = "bench/torch_gpu_peer.py";
  app.add_option("--threads", threads, "OpenMP threads for the CPU side")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "timed runs per workload and device")->check(CLI::PositiveNumber);
  app.add_flag("--quick", quick, "smaller sizes (a smoke test)");
  app.add_option("--torch-peer", torch_peer, "PyTorch peer script run with python3 (\"\": none)");
  CLI11_PARSE(app, argc, argv);
  if (!Cuda::available()) {
    std::cerr << "gpu_vs_cpu: no CUDA device found\n";
    return 2;
  }
  omp_set_num_threads(threads);
  const std::int64_t gemm_n = quick ? 256 : 2048, batch = quick ? 16 : 128, mri_n = quick ? 64 : 256;
  const auto data = sense_data(mri_n, 8);

  nlohmann::json out = {{"benchmark", "gpu_vs_cpu"}, {"device", gpu_name()}, {"cpu_threads", threads}};
  std::cout << std::fixed << std::setprecision(3) << "workload                         cpu ms      gpu ms   "
            << "cpu/gpu   max rel. diff\n";
  auto row = [&](const std::string& name, const Timed& c, const Timed& g) {
    const double diff = rel_diff(g.result, c.result);
    std::cout << std::left << std::setw(30) << name << std::right << std::setw(10) << c.ms << std::setw(12) << g.ms
              << std::setw(10) << c.ms / g.ms << std::scientific << std::setprecision(2) << std::setw(14) << diff
              << std::fixed << std::setprecision(3) << "\n";
    out[name] = {{"cpu_ms", c.ms}, {"gpu_ms", g.ms}, {"speedup", c.ms / g.ms}, {"max_rel_diff", diff}};
  };
  const auto gc = gemm<Cpu>(gemm_n), gg = gemm<Cuda>(gemm_n);
  row("gemm " + std::to_string(gemm_n), gc, gg);
  const double flop = 2.0 * double(gemm_n) * gemm_n * gemm_n;
  out["gemm_gflops"] = {{"cpu", flop / gc.ms * 1e-6}, {"gpu", flop / gg.ms * 1e-6}};
  const auto train_gpu = train_step<Cuda>(batch), pgd_gpu = pgd10<Cuda>(batch), dncnn_gpu = dncnn_forward<Cuda>(mri_n);
  row("SmallCnn train step", train_step<Cpu>(batch), train_gpu);
  row("SmallCnn PGD-10", pgd10<Cpu>(batch), pgd_gpu);
  row("DnCNN forward", dncnn_forward<Cpu>(mri_n), dncnn_gpu);
  const auto cge_cpu = cge<Cpu>(batch / 2, 1);
  row("CGE delta, 1 query/forward", cge_cpu, cge<Cuda>(batch / 2, 1));
  row("CGE delta, 64 queries/forward", cge_cpu, cge<Cuda>(batch / 2, 64));
  row("CG-SENSE ms/iteration", cg_sense_iteration<Cpu>(data), cg_sense_iteration<Cuda>(data));
  row("MoDL forward", modl_forward<Cpu>(data), modl_forward<Cuda>(data));
  if (!torch_peer.empty()) {
    const auto peer = run_json("python3 " + torch_peer + " --batch " + std::to_string(batch) + " --n " +
                               std::to_string(mri_n) + " --repeats " + std::to_string(repeats));
    if (!peer.is_object()) {
      std::cerr << "gpu_vs_cpu: the PyTorch peer (python3 " << torch_peer << ") failed\n";
      return 1;
    }
    std::cout << "PyTorch " << peer["torch"].get<std::string>() << " on the same GPU (trustml / PyTorch):\n";
    for (const auto& [name, ours, key] :
         {std::tuple{"SmallCnn train step", train_gpu.ms, "train_ms"},
          std::tuple{"SmallCnn PGD-10", pgd_gpu.ms, "pgd_ms"}, std::tuple{"DnCNN forward", dncnn_gpu.ms, "dncnn_ms"}}) {
      const double theirs = peer[key].get<double>();
      std::cout << "  " << std::left << std::setw(28) << name << std::right << std::setw(10) << theirs << " ms  ratio "
                << ours / theirs << "\n";
      out[name]["torch_gpu_ms"] = theirs;
      out[name]["ratio_vs_torch"] = ours / theirs;
    }
    out["torch"] = peer["torch"];
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
