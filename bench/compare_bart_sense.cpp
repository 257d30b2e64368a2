// compare_bart_sense: CG-SENSE in trustml against BART's `pics -l2` (Debian's `bart`, run as a
// separate program) on the same data, in one run; plus one forward of an unrolled network (MoDL)
// and the FFT floor of one normal-operator application.
//
//   compare_bart_sense [--n 256] [--coils 8] [--threads 2] [--k1 5] [--k2 45] [--repeats 5]
//                      [--unrolled-repeats 3] [--stat best|median] [--lambda 0.01] [--acceleration 4]
//
// Data: the Shepp-Logan phantom (n x n), `coils` birdcage maps normalized to sum_c |S_c|^2 = 1, a
// fastMRI random column mask at the given acceleration (8% centre), y = M F S x. k-space and maps
// go to BART as .cfl with BART dimensions [x, y, 1, coil] (tests/mri/test_bart.cpp's layout).
//
// Both sides run the same CG on (A^H A + lambda I) x = A^H y from x = 0 (`pics -w 1` keeps BART
// from rescaling the data), so the iterates are the same and the times compare like for like.
// Time per CG iteration is (t(k2) - t(k1)) / (k2 - k1) of whole solves: that removes what runs
// once (for BART: process start, file I/O, A^H y; for us: A^H y is outside the timed solve). Each
// time is the best (--stat median: the median) of `repeats` runs, alternating the two programs so
// both see the same machine; the best is the default because a shared machine only ever adds
// time. BART runs with OMP_NUM_THREADS = threads (and inherits OMP_WAIT_POLICY), trustml with
// omp_set_num_threads(threads).
//
// Also timed: one application of A^H A as cg_solve runs it (SenseOp::normal_map) and as normal()
// composes it from differentiable ops; the FFT floor, the 2 C 2-D transforms one application
// needs, run by kernels::Fft<Cpu> directly; and one MoDL forward (K = 8, a 5-layer 32-channel
// DnCNN, 10 CG iterations per step, batch 1, no grad).
//
// The run fails (exit 1) when our result differs from BART's at k1 or k2 by NRMSE > 1e-4.
// Ends with one JSON line: bart_ms_per_iter, ours_ms_per_iter, ratio (ours / BART; lower is
// faster), nrmse (the larger of the two checks), unrolled_forward_ms, fft_floor_ms.

#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <trustml/io/cfl.hpp>
#include <trustml/mri/masks.hpp>
#include <trustml/mri/metrics.hpp>
#include <trustml/mri/phantom.hpp>
#include <trustml/mri/sense.hpp>
#include <trustml/mri/unrolled.hpp>
#include <trustml/nn/zoo/dncnn.hpp>
#include <trustml/trustml.hpp>
#include <vector>

namespace tl = trustml;
using Zf = std::complex<float>;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// Milliseconds of one call of f.
double time_ms(const std::function<void()>& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A scratch directory removed at exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("trustml_compare_bart_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CG-SENSE: trustml vs BART pics -l2, time per CG iteration on the same iterates"};
  std::int64_t n = 256, coils = 8;
  int threads = 2, k1 = 5, k2 = 45, repeats = 5, unrolled_repeats = 3;
  std::string stat = "best";
  double lambda = 0.01, acceleration = 4;
  app.add_option("--n", n, "image size n x n")->check(CLI::PositiveNumber);
  app.add_option("--coils", coils, "number of coils")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads for both (OMP_NUM_THREADS for BART)")->check(CLI::PositiveNumber);
  app.add_option("--k1", k1, "the smaller CG iteration count")->check(CLI::PositiveNumber);
  app.add_option("--k2", k2, "the larger CG iteration count")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "timed runs per iteration count and program")->check(CLI::PositiveNumber);
  app.add_option("--unrolled-repeats", unrolled_repeats, "timed unrolled forwards")->check(CLI::PositiveNumber);
  app.add_option("--stat", stat, "statistic of the repeats: best (the default: robust on a shared machine) or median")
      ->check(CLI::IsMember({"best", "median"}));
  app.add_option("--lambda", lambda, "the l2 weight (pics -r)")->check(CLI::NonNegativeNumber);
  app.add_option("--acceleration", acceleration, "mask acceleration")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (k2 <= k1) {
    std::cerr << "compare_bart_sense: needs k2 > k1\n";
    return 2;
  }
  if (std::system("command -v bart >/dev/null 2>&1") != 0) {
    std::cerr << "compare_bart_sense: the `bart` program is not installed (apt-get install bart)\n";
    return 2;
  }
  omp_set_num_threads(threads);

  // The data, and BART's copy of it.
  const auto image = tl::cast<Zf>(tl::mri::shepp_logan<float>(n)).reshape({1, n, n});
  const auto maps = tl::mri::coil_maps<float>(coils, n, n);
  const auto mask = tl::mri::random_mask(n, n, acceleration, 0.08, 1);
  tl::mri::SenseOp<Zf> a(maps, mask);
  const auto y = a.forward(image);
  TempDir dir;
  tl::io::write_cfl(dir.file("ksp"), y, {n, n, 1, coils});
  tl::io::write_cfl(dir.file("sens"), maps, {n, n, 1, coils});
  const auto ahy = a.adjoint(y);
  const auto lam = tl::Tensor<float>::from_vector({float(lambda)});
  const auto normal = a.normal_map();

  auto bart = [&](int iterations) {
    std::ostringstream cmd;
    cmd << "OMP_NUM_THREADS=" << threads << " bart pics -l2 -r " << lambda << " -w 1 -i " << iterations << " "
        << dir.file("ksp") << " " << dir.file("sens") << " " << dir.file("rec" + std::to_string(iterations))
        << " >/dev/null 2>&1";
    if (std::system(cmd.str().c_str()) != 0) {
      std::cerr << "compare_bart_sense: failed: " << cmd.str() << "\n";
      std::exit(1);
    }
  };
  tl::Tensor<Zf> ours_k1, ours_k2;
  auto ours = [&](int iterations) {
    tl::NoGradGuard no_grad;
    auto x = tl::cg_solve(normal, ahy, lam, tl::CgOptions{iterations, 0, 0});
    (iterations == k1 ? ours_k1 : ours_k2) = x;
  };

  // Warm-up (FFTW plans, the allocator cache, BART's first start), then alternating timed rounds.
  bart(k1);
  ours(k1);
  std::vector<double> bart1, bart2, ours1, ours2;
  for (int r = 0; r < repeats; ++r) {
    bart1.push_back(time_ms([&] { bart(k1); }));
    bart2.push_back(time_ms([&] { bart(k2); }));
    ours1.push_back(time_ms([&] { ours(k1); }));
    ours2.push_back(time_ms([&] { ours(k2); }));
  }
  auto pick = [&](const std::vector<double>& v) { return stat == "best" ? best(v) : median(v); };
  const double bart_per_iter = (pick(bart2) - pick(bart1)) / (k2 - k1);
  const double ours_per_iter = (pick(ours2) - pick(ours1)) / (k2 - k1);

  // Same iterates: our k-iteration solve against BART's at both counts.
  const double err1 =
      tl::mri::nrmse(ours_k1.reshape({n, n}), tl::io::read_cfl(dir.file("rec" + std::to_string(k1))).data);
  const double err2 =
      tl::mri::nrmse(ours_k2.reshape({n, n}), tl::io::read_cfl(dir.file("rec" + std::to_string(k2))).data);
  const double err = std::max(err1, err2);

  // One application of the normal operator, and its FFT floor: the 2 C transforms it needs, run by
  // the library's FFT kernel directly on contiguous [C, n, n] data.
  std::vector<double> normal_ms, composed_ms, floor_ms;
  {
    tl::NoGradGuard no_grad;
    for (int r = 0; r < 5 * repeats; ++r) normal_ms.push_back(time_ms([&] { (void)normal(ahy); }));
    // normal(): A^H (A x) composed of the differentiable ops (what runs when a gradient is needed).
    for (int r = 0; r < 5 * repeats; ++r) composed_ms.push_back(time_ms([&] { (void)a.normal(ahy); }));
    auto buffer = tl::Tensor<Zf>::randn({coils, n, n}, 3);
    Zf* p = buffer.data();
    tl::kernels::Fft<tl::Cpu>::fft2(p, coils, n, n, false);  // plans made outside the timing
    tl::kernels::Fft<tl::Cpu>::fft2(p, coils, n, n, true);
    for (int r = 0; r < 5 * repeats; ++r)
      floor_ms.push_back(time_ms([&] {
        tl::kernels::Fft<tl::Cpu>::fft2(p, coils, n, n, false);
        tl::kernels::Fft<tl::Cpu>::fft2(p, coils, n, n, true);
      }));
  }

  // One forward of MoDL: K = 8 steps, a 5-layer 32-channel DnCNN, 10 CG iterations per step.
  std::vector<double> unrolled_ms;
  {
    tl::mri::UnrolledOptions options;
    options.steps = 8;
    options.lambda = 0.05;
    options.cg = tl::CgOptions{10, 0, 0};
    auto denoiser = std::make_shared<tl::nn::zoo::DnCNN<float>>(2, 5, 32, 7);
    tl::mri::Unrolled<float> modl(denoiser, options);
    modl.eval();
    tl::NoGradGuard no_grad;
    (void)modl.reconstruct(a, y);  // warm-up
    for (int r = 0; r < unrolled_repeats; ++r) unrolled_ms.push_back(time_ms([&] { (void)modl.reconstruct(a, y); }));
  }

  const double ratio = ours_per_iter / bart_per_iter;
  std::cout << std::fixed << std::setprecision(2);
  std::cout << "CG-SENSE " << n << "x" << n << ", " << coils << " coils, R=" << acceleration << ", lambda " << lambda
            << ", " << threads << " threads, " << stat << " of " << repeats << "\n";
  std::cout << "                      k=" << k1 << " (ms)   k=" << k2 << " (ms)   per CG iteration (ms)\n";
  std::cout << "  BART pics -l2      " << std::setw(10) << pick(bart1) << " " << std::setw(10) << pick(bart2) << " "
            << std::setw(12) << bart_per_iter << "\n";
  std::cout << "  trustml cg_solve   " << std::setw(10) << pick(ours1) << " " << std::setw(10) << pick(ours2) << " "
            << std::setw(12) << ours_per_iter << "\n";
  std::cout << "  ratio ours/BART per iteration: " << std::setprecision(3) << ratio << "\n";
  std::cout << std::scientific << std::setprecision(2) << "  NRMSE vs BART: k=" << k1 << " " << err1 << ", k=" << k2
            << " " << err2 << "\n"
            << std::fixed;
  std::cout << "  normal operator A^H A x: " << pick(normal_ms) << " ms as cg_solve runs it (normal_map), "
            << pick(composed_ms) << " ms composed (normal()); FFT floor (" << 2 * coils
            << " 2-D FFTs): " << pick(floor_ms) << " ms\n";
  std::cout << "  MoDL forward (K=8, DnCNN 5x32, CG 10, batch 1, no grad): " << pick(unrolled_ms) << " ms\n";
  std::cout << nlohmann::json{{"bart_ms_per_iter", bart_per_iter},
                              {"ours_ms_per_iter", ours_per_iter},
                              {"ratio", ratio},
                              {"nrmse", err},
                              {"unrolled_forward_ms", pick(unrolled_ms)},
                              {"fft_floor_ms", pick(floor_ms)}}
                   .dump()
            << std::endl;
  if (!(err <= 1e-4)) {
    std::cerr << "compare_bart_sense: trustml and BART differ (NRMSE " << err << " > 1e-4)\n";
    return 1;
  }
  return 0;
}
