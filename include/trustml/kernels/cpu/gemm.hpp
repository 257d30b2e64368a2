// trustml/kernels/cpu/gemm.hpp: Kernels<Cpu>::gemm, batched matrix products through Eigen, or
// through a CBLAS (float and double) when TRUSTML_USE_BLAS is defined.
//
// Kept apart from loops.hpp so that a file which only names a Tensor does not parse Eigen;
// ops/common.hpp includes it, so every op that multiplies matrices sees the definition.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <type_traits>

#include "trustml/kernels/cpu/loops.hpp"

#if defined(TRUSTML_USE_BLAS)
#include <cblas.h>
#endif

namespace trustml::kernels {

namespace cpu {
// Small batched products run one per thread; large ones let Eigen parallelize each product.
template <class T>
void eigen_gemm(const GemmArgs<T>& g) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using Stride = Eigen::OuterStride<>;
  const bool small = g.m * g.n * g.k < Kernels<Cpu>::kSmallGemm;
  auto one = [&](std::int64_t b) {
    Eigen::Map<Mat, 0, Stride> c(g.c + b * g.stride_c, g.m, g.n, Stride(g.ldc));
    // One product form for every beta: half the Eigen instantiations, which dominate compile time.
    if (g.beta == T(0)) c.setZero();
    else if (g.beta != T(1)) c *= g.beta;
    auto product = [&](const auto& a, const auto& bm) { c.noalias() += g.alpha * (a * bm); };
    auto with_b = [&](const auto& a) {
      if (g.trans_b) product(a, Eigen::Map<const ColMat, 0, Stride>(g.b + b * g.stride_b, g.k, g.n, Stride(g.ldb)));
      else product(a, Eigen::Map<const Mat, 0, Stride>(g.b + b * g.stride_b, g.k, g.n, Stride(g.ldb)));
    };
    if (g.trans_a) with_b(Eigen::Map<const ColMat, 0, Stride>(g.a + b * g.stride_a, g.m, g.k, Stride(g.lda)));
    else with_b(Eigen::Map<const Mat, 0, Stride>(g.a + b * g.stride_a, g.m, g.k, Stride(g.lda)));
  };
  if (small && g.batch > 1) {
    parallel_for(g.batch, g.m * g.n * g.k, one);
  } else {
    for (std::int64_t b = 0; b < g.batch; ++b) one(b);
  }
}
}  // namespace cpu

template <class T>
void Kernels<Cpu>::gemm(const GemmArgs<T>& g) {
#if defined(TRUSTML_USE_BLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    const auto ta = g.trans_a ? CblasTrans : CblasNoTrans, tb = g.trans_b ? CblasTrans : CblasNoTrans;
    auto one = [&](std::int64_t b) {
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, g.alpha, g.a + b * g.stride_a, g.lda, g.b + b * g.stride_b,
                    g.ldb, g.beta, g.c + b * g.stride_c, g.ldc);
      else
        cblas_dgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, g.alpha, g.a + b * g.stride_a, g.lda, g.b + b * g.stride_b,
                    g.ldb, g.beta, g.c + b * g.stride_c, g.ldc);
    };
    // As in eigen_gemm: products too small for the BLAS to split run one per thread (inside a
    // parallel region OpenBLAS's OpenMP build runs single-threaded).
    if (g.batch > 1 && g.m * g.n * g.k < kSmallGemm) cpu::parallel_for(g.batch, g.m * g.n * g.k, one);
    else
      for (std::int64_t b = 0; b < g.batch; ++b) one(b);
  } else  // complex: Eigen (only the instantiations a BLAS build still needs are compiled)
#endif
  {
    cpu::eigen_gemm(g);
  }
}

}  // namespace trustml::kernels
