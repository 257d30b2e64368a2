// bench/libtorch_small_cnn.hpp: what the LibTorch comparison programs share: the reference small CNN
// in LibTorch (with trustml's zoo::SmallCnn parameter names), tensor conversions, one thread count
// for both libraries, and the median of timings.
#pragma once

#include <omp.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <trustml/trustml.hpp>
#include <vector>

extern "C" void openblas_set_num_threads(int);  // trustml's GEMM backend in the default build

namespace bench {

struct TorchSmallCnn : torch::nn::Module {
  TorchSmallCnn() {
    features = register_module("features",
                               torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)),
                                                     torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                                                     torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)),
                                                     torch::nn::ReLU(), torch::nn::MaxPool2d(2)));
    classifier = register_module("classifier", torch::nn::Linear(1568, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) { return classifier(features->forward(x).flatten(1)); }
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear classifier{nullptr};
};

inline torch::Tensor to_torch(const trustml::Tensor<float>& t) {
  std::vector<std::int64_t> sizes(t.shape().begin(), t.shape().end());
  auto values = t.to_vector();
  return torch::from_blob(values.data(), sizes, torch::kFloat32).clone();
}

inline torch::Tensor to_torch(const trustml::Tensor<std::int64_t>& t) {
  auto values = t.to_vector();
  return torch::from_blob(values.data(), {static_cast<std::int64_t>(values.size())}, torch::kInt64).clone();
}
// A float torch tensor's values in row-major order.
inline std::vector<float> to_host(const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}

// The same number of threads for trustml (OpenMP, OpenBLAS) and LibTorch (intra-op; one inter-op).
inline void use_threads(int threads) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Both libraries' median and best times (ms) and the ratio of the medians (trustml / LibTorch: lower
// is faster), as JSON fields <prefix>trustml_ms, <prefix>libtorch_ms, <prefix>ratio, ...
inline nlohmann::json timing_fields(const std::string& prefix, const std::vector<double>& trustml_ms,
                                    const std::vector<double>& libtorch_ms) {
  const double a = median(trustml_ms), b = median(libtorch_ms);
  return {{prefix + "trustml_ms", a},
          {prefix + "libtorch_ms", b},
          {prefix + "ratio", a / b},
          {prefix + "trustml_min_ms", *std::min_element(trustml_ms.begin(), trustml_ms.end())},
          {prefix + "libtorch_min_ms", *std::min_element(libtorch_ms.begin(), libtorch_ms.end())}};
}

}  // namespace bench
