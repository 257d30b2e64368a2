// CG-SENSE against BART (Debian's `bart`, run as a separate program): on a BART Shepp-Logan phantom
// with BART's simulated coils (normalized by `bart normalize 8`), MoDL's data-consistency step with
// a zero denoiser output, x_0 = 0 and k CG iterations must equal `bart pics -l2 -r LAMBDA -w 1 -i k`
// iterate for iterate (`bart pics -l2` is plain CG on (A^H A + lambda I) x = A^H y).
// Skipped with a message when `bart` is not installed (.ci/run installs it).
#include <doctest/doctest.h>

#include <complex>
#include <cstdlib>
#include <string>
#include <trustml/io/cfl.hpp>
#include <trustml/mri/metrics.hpp>
#include <trustml/mri/unrolled.hpp>
#include <trustml/trustml.hpp>

#include "support/temp_dir.hpp"

using namespace trustml;
using Zf = std::complex<float>;

namespace {
bool have_bart() { return std::system("command -v bart >/dev/null 2>&1") == 0; }
void bart(const std::string& args) {
  const std::string command = "bart " + args + " >/dev/null 2>&1";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}
}  // namespace

TEST_CASE("CG-SENSE equals `bart pics -l2 -w 1 -i k` iterate for iterate") {
  if (!have_bart()) {
    MESSAGE("skipped: the `bart` program is not installed (apt-get install bart)");
    return;
  }
  tests::TempDir dir;
  const std::int64_t n = 32, coils = 4;
  bart("phantom -x " + std::to_string(n) + " " + dir.file("img"));
  bart("phantom -x " + std::to_string(n) + " -S " + std::to_string(coils) + " " + dir.file("sens_raw"));
  bart("normalize 8 " + dir.file("sens_raw") + " " + dir.file("sens"));
  const auto image = io::read_cfl(dir.file("img"));
  const auto sens = io::read_cfl(dir.file("sens"));
  REQUIRE(image.data.shape() == Shape{n, n});
  REQUIRE(sens.data.shape() == Shape{coils, 1, n, n});  // BART [x, y, 1, coil]

  // Every other line and 8 centre lines of BART dimension 0 (our last dimension).
  std::vector<float> lines(n * n);
  for (std::int64_t i = 0; i < n * n; ++i) {
    const std::int64_t k = i % n;
    lines[i] = k % 2 == 0 || (k >= n / 2 - 4 && k < n / 2 + 4) ? 1.0f : 0.0f;
  }
  mri::SenseOp<Zf> a(sens.data.reshape({coils, n, n}), Tensor<float>::from_vector(lines, {n, n}));
  const auto y = a.forward(image.data.reshape({1, n, n}));
  io::write_cfl(dir.file("ksp"), y, {n, n, 1, coils});

  const double lambda = 0.01;
  for (int iterations : {3, 6, 10}) {
    CAPTURE(iterations);
    bart("pics -l2 -r " + std::to_string(lambda) + " -w 1 -i " + std::to_string(iterations) + " " + dir.file("ksp") +
         " " + dir.file("sens") + " " + dir.file("rec"));
    const auto rec = io::read_cfl(dir.file("rec"));
    REQUIRE(rec.data.shape() == Shape{n, n});
    // MoDL's DC with denoiser output 0 and x_0 = 0 (K = 1): CG from zero on A^H y.
    mri::UnrolledOptions options;
    options.steps = 1;
    options.lambda = lambda;
    options.cg = CgOptions{iterations, 0, 0};
    auto zero = std::make_shared<nn::Lambda<float>>(
        "Zero", [](const Tensor<float>& x) { return Tensor<float>::zeros(x.shape()); });
    mri::Unrolled<float> dc_only(zero, options);
    const auto ours = dc_only.reconstruct(a, y).reshape({n, n});
    const double error = mri::nrmse(ours, rec.data);
    CAPTURE(error);
    CHECK(error <= 1e-5);
    // One iteration more or less is far off, so the match is iterate for iterate.
    auto other = cg_solve(a.normal_map(), a.adjoint(y), Tensor<float>::from_vector({float(lambda)}),
                          CgOptions{iterations - 1, 0, 0});
    CHECK(mri::nrmse(other.reshape({n, n}), rec.data) > 1e-4);
  }
}
