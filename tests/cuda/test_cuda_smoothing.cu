// tests/cuda/test_cuda_smoothing.cu: randomized smoothing on Cuda against the CPU. The noise is the
// same Philox stream on both devices (bit-identical normals, exact scaling and addition), so noisy
// batches agree exactly and, for a small linear model in double, so do the class counts, PREDICT
// and CERTIFY.
#include <trustml/nn.hpp>
#include <trustml/smoothing/smooth.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

TEST_CASE("cuda smoothing: noisy batches, counts, PREDICT and CERTIFY equal the CPU's") {
  SKIP_WITHOUT_GPU();
  nn::Linear<double, Cpu> cpu(4, 3, true, 5);
  nn::Linear<double, Cuda> gpu(4, 3, true, 5);
  gpu.load_state_dict(cpu.state_dict());
  const auto x = Tensor<double>::from_vector({0.2, -0.1, 0.4, 0.3}, {4});
  const auto xg = x.to<Cuda>();
  const smoothing::SmoothingOptions options{.sigma = 0.75, .batch_size = 300, .seed = 2};
  smoothing::GaussianSmoothing<double, Cpu> on_cpu(cpu, 3, options);
  smoothing::GaussianSmoothing<double, Cuda> on_gpu(gpu, 3, options);

  const auto key = smoothing::noise_key(2, 1, smoothing::Phase::sample);
  CHECK(on_gpu.noisy_batch(xg, key, 17, 50).to_vector() == on_cpu.noisy_batch(x, key, 17, 50).to_vector());

  const auto counts = on_cpu.sample_counts(x, 2000, 1);
  int nonzero = 0;
  for (auto k : counts) nonzero += k > 0;
  CHECK(nonzero >= 2);  // the noise matters for this model
  CHECK(on_gpu.sample_counts(xg, 2000, 1) == counts);
  CHECK(on_gpu.predict(xg, 1000, 0.01, 3).counts == on_cpu.predict(x, 1000, 0.01, 3).counts);
  const auto want = on_cpu.certify(x, 100, 2000, 0.001, 4);
  const auto got = on_gpu.certify(xg, 100, 2000, 0.001, 4);
  CHECK(got.label == want.label);
  CHECK(got.count == want.count);
  CHECK(got.radius == want.radius);
}
