// trustml/mri/sense.hpp: SenseOp, the multi-coil Cartesian MRI forward model A = M F S.
//
//   SenseOp<T, D> A(maps, mask);            T = std::complex<float> or std::complex<double>
//   y  = A.forward(x);    // [B, H, W] image         -> [B, C, H, W] k-space
//   xa = A.adjoint(y);    // [B, C, H, W] k-space    -> [B, H, W]    A^H y = sum_c conj(S_c) F^H (M y_c)
//   xn = A.normal(x);     // A^H A x, the operator that CG-SENSE and MoDL's data consistency invert
//
// S multiplies the image by each coil's sensitivity map, F is the centered orthonormal 2-D FFT
// (fftshift(fft2(ifftshift(.), norm="ortho")): fastMRI's fft2c and BART's `fft -u` on centered
// data), M multiplies k-space by the sampling mask. With a 0/1 mask and maps normalized so that
// sum_c |S_c|^2 = 1 (BART's `normalize 8`), ||A|| <= 1 and A^H A = I where everything is sampled.
//
// Shapes: maps are [C, H, W] (one set for the batch) or [B, C, H, W] (per image); the mask is
// [H, W], [1 or B, H, W] (one mask per image) or [1 or B, 1 or C, H, W]; it may be real (cast to T
// once) and need not be binary: the adjoint multiplies by conj(M), so the adjoint identity holds for
// any weights. Every map is composed from differentiable ops, so gradients flow to the image, the
// k-space and (when they require it) the maps and the mask, and the same code runs on every device.
// normal_map(), the operator cg_solve inverts, adds a fused CPU path for when no tape is recorded.
#pragma once

#include <complex>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/ops/cg.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/fft.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::mri {

template <FloatingScalar T, class D = Cpu>
  requires is_complex_v<T>
class SenseOp {
 public:
  using Image = Tensor<T, D>;
  using Real = real_t<T>;

  SenseOp(const Tensor<T, D>& maps, const Tensor<T, D>& mask) : maps_(as_rank4(maps, "maps")) { set_mask(mask); }
  SenseOp(const Tensor<T, D>& maps, const Tensor<Real, D>& mask) : SenseOp(maps, cast<T>(mask)) {}

  std::int64_t coils() const { return maps_.size(1); }
  std::int64_t height() const { return maps_.size(2); }
  std::int64_t width() const { return maps_.size(3); }
  const Tensor<T, D>& maps() const { return maps_; }  // [1 or B, C, H, W]
  const Tensor<T, D>& mask() const { return mask_; }  // [1 or B, 1 or C, H, W]

  // Another sampling pattern with the same coils (a test at another acceleration).
  void set_mask(const Tensor<T, D>& mask) {
    TRUSTML_CHECK(mask.dim() >= 2 && mask.dim() <= 4 && mask.size(-2) == height() && mask.size(-1) == width(),
                  "SenseOp", "the mask must be [H, W], [B, H, W] or [B, C, H, W] with H x W = ", height(), " x ",
                  width(), " of the maps, got shape ", mask.shape());
    Tensor<T, D> m = mask;
    if (m.dim() == 2) m = unsqueeze(m, 0);
    if (m.dim() == 3) m = unsqueeze(m, 1);
    TRUSTML_CHECK(m.size(1) == 1 || m.size(1) == coils(), "SenseOp", "the mask's coil dimension must be 1 or ",
                  coils(), ", got mask shape ", mask.shape());
    mask_ = m;
  }
  void set_mask(const Tensor<Real, D>& mask) { set_mask(cast<T>(mask)); }

  // y = M F (S x): [B, H, W] -> [B, C, H, W].
  Tensor<T, D> forward(const Tensor<T, D>& x) const {
    check_batch(x, 3, "SenseOp::forward", "an image batch [B, H, W]");
    return mul(mask_, fft2c(mul(maps_, unsqueeze(x, 1))));
  }

  // A^H y = sum_c conj(S_c) F^H (conj(M) y_c): [B, C, H, W] -> [B, H, W].
  Tensor<T, D> adjoint(const Tensor<T, D>& y) const {
    check_batch(y, 4, "SenseOp::adjoint", "multi-coil k-space [B, C, H, W]");
    TRUSTML_CHECK(y.size(1) == coils(), "SenseOp::adjoint", "k-space has ", y.size(1), " coils but the maps have ",
                  coils(), " (k-space shape ", y.shape(), ", maps shape ", maps_.shape(), ")");
    return sum(mul(conj(maps_), ifft2c(mul(conj(mask_), y))), {1});
  }

  // A^H A x.
  Tensor<T, D> normal(const Tensor<T, D>& x) const { return adjoint(forward(x)); }

  // The operator for a batch tiled `copies` times (sample i of image j at index i B + j, as smoothing
  // lays out its noisy copies): per-image maps and masks are tiled the same way, shared ones kept.
  SenseOp repeated(std::int64_t copies) const {
    auto tile = [copies](const Tensor<T, D>& t) {
      return t.size(0) == 1 ? t : concat(std::vector<Tensor<T, D>>(static_cast<std::size_t>(copies), t), 0);
    };
    return SenseOp(tile(maps_), tile(mask_));
  }

  // The normal operator as cg_solve's linear map (it copies this operator's tensors: cheap handles).
  // On the CPU, when nothing needs the tape (cg_solve's iterations never do), it runs a fused A^H A
  // (fused_normal below) that equals normal() up to rounding and takes a fraction of its time;
  // otherwise, and on other devices, it is normal().
  LinearMap<T, D> normal_map() const {
    if constexpr (std::is_same_v<D, Cpu>) {
      if (height() % 2 == 0 && width() % 2 == 0)  // the checkerboard below needs even sizes
        // The mask's sampled columns are found once, for all of CG's iterations.
        return [op = *this, columns = sampled_columns()](const Tensor<T, D>& x) {
          return op.fused_normal_applies(x) ? op.fused_normal(x, columns) : op.normal(x);
        };
    }
    return [op = *this](const Tensor<T, D>& x) { return op.normal(x); };
  }

 private:
  static Tensor<T, D> as_rank4(const Tensor<T, D>& maps, const char* what) {
    TRUSTML_CHECK(maps.dim() == 3 || maps.dim() == 4, "SenseOp", "the ", what,
                  " must be [C, H, W] or [B, C, H, W], got shape ", maps.shape());
    return maps.dim() == 3 ? unsqueeze(maps, 0) : maps;
  }
  void check_batch(const Tensor<T, D>& t, int rank, const char* op, const char* what) const {
    TRUSTML_CHECK(t.dim() == rank && t.size(-2) == height() && t.size(-1) == width(), op, "needs ", what, " with H x W = ",
                  height(), " x ", width(), " of the maps, got shape ", t.shape());
    const std::int64_t b = t.size(0);
    TRUSTML_CHECK((maps_.size(0) == 1 || maps_.size(0) == b) && (mask_.size(0) == 1 || mask_.size(0) == b), op,
                  "a batch of ", b, " does not match maps shape ", maps_.shape(), " and mask shape ", mask_.shape());
  }

  // The fused path (CPU, even H and W: see normal_map) needs no tape: it is not a recorded op, so it
  // must not run where a gradient could flow through it.
  bool fused_normal_applies(const Tensor<T, D>& x) const {
    return !(autograd::grad_enabled() && (x.requires_grad() || maps_.requires_grad() || mask_.requires_grad()));
  }

  // For each mask slice [1 or B, 1 or C], the k-space columns it samples (any nonzero entry), ascending.
  std::vector<std::vector<int>> sampled_columns() const {
    const Tensor<T, D> mask = mask_.contiguous();
    const std::int64_t n0 = height(), n1 = width(), plane = n0 * n1;
    std::vector<std::vector<int>> columns(static_cast<std::size_t>(mask.size(0) * mask.size(1)));
    for (std::size_t k = 0; k < columns.size(); ++k) {
      const T* mk = mask.data() + static_cast<std::int64_t>(k) * plane;
      for (std::int64_t j = 0; j < n1; ++j)
        for (std::int64_t i = 0; i < n0; ++i)
          if (mk[i * n1 + j] != T(0)) {
            columns[k].push_back(static_cast<int>(j));
            break;
          }
    }
    return columns;
  }

  // a b by the textbook formula: std::complex's operator* also recovers infinities from NaN results
  // (C99 Annex G), a branch per product that keeps these loops from vectorizing.
  static T times(const T& a, const T& b) {
    return T(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
  }

  // A^H A x in one pass per coil, for the CPU. Three facts make it cheap:
  //  - For even n the centred transform is a checkerboard modulation of the plain one:
  //    fftshift(F(ifftshift(v))) = s chk . F(chk . v) with chk[i, j] = (-1)^(i + j) and a sign s =
  //    +-1, so F_c^H |M|^2 F_c = chk F^H |M|^2 F chk (chk and s square to one): no shift copies,
  //    and the k-space mask keeps its own indices.
  //  - F^H |M|^2 F is a single masked round trip (kernels/cpu/fft.hpp), in which the column
  //    transforms of k-space columns the mask leaves out are skipped (3/4 of them at 4x).
  //  - Each coil's image stays in the cache from S_c x to the round trip's end; coils run in
  //    parallel, and the coil sum is then one pass, in coil order (deterministic for any thread
  //    count).
  Tensor<T, D> fused_normal(const Tensor<T, D>& x, const std::vector<std::vector<int>>& columns) const {
    check_batch(x, 3, "SenseOp::normal", "an image batch [B, H, W]");
    using C = std::complex<Real>;
    const Tensor<T, D> maps = maps_.contiguous(), mask = mask_.contiguous(), xc = x.contiguous();
    const std::int64_t batch = x.size(0), coils = this->coils(), n0 = height(), n1 = width(), plane = n0 * n1;
    const std::int64_t map_sets = maps.size(0), mask_sets = mask.size(0), mask_coils = mask.size(1);
    const C* s = reinterpret_cast<const C*>(maps.data());
    const C* m = reinterpret_cast<const C*>(mask.data());
    const C* xs = reinterpret_cast<const C*>(xc.data());
    auto work = Tensor<T, D>::empty(Shape{batch, coils, n0, n1});
    auto out = Tensor<T, D>::empty(x.shape());
    if (x.numel() == 0) return out;
    C* w = reinterpret_cast<C*>(work.data());
    const bool aligned = kernels::cpu::fft_batch_aligned(w, plane, batch * coils);
    const Real scale = static_cast<Real>(1.0 / (static_cast<double>(n0) * static_cast<double>(n1)));
    kernels::cpu::parallel_for(batch * coils, plane * 16, [&](std::int64_t q) {
      const std::int64_t b = q / coils, c = q - b * coils;
      const C* sc = s + ((map_sets == 1 ? 0 : b) * coils + c) * plane;
      const C* xb = xs + b * plane;
      C* v = w + q * plane;
      for (std::int64_t i = 0; i < n0; ++i) {
        const Real sign = i % 2 ? Real(-1) : Real(1);  // chk at (i, j) for even j; n1 is even
        for (std::int64_t p = i * n1; p < (i + 1) * n1; p += 2) {
          v[p] = sign * times(sc[p], xb[p]);
          v[p + 1] = -sign * times(sc[p + 1], xb[p + 1]);
        }
      }
      const std::int64_t mk = (mask_sets == 1 ? 0 : b) * mask_coils + (mask_coils == 1 ? 0 : c);
      const C* mc = m + mk * plane;
      const auto& cols = columns[static_cast<std::size_t>(mk)];
      kernels::cpu::masked_round_trip(
          v, static_cast<int>(n0), static_cast<int>(n1),
          [mc, n1, scale](int i, int j) {
            // |M|^2 by hand: std::norm of a float complex goes through hypot in libstdc++.
            const C mij = mc[static_cast<std::int64_t>(i) * n1 + j];
            return (mij.real() * mij.real() + mij.imag() * mij.imag()) * scale;
          },
          cols.data(), static_cast<int>(cols.size()), aligned);
    });
    C* o = reinterpret_cast<C*>(out.data());
    kernels::cpu::parallel_for(batch * n0, n1 * coils * 8, [&](std::int64_t row) {
      const std::int64_t b = row / n0, i = row - b * n0;
      const C* sb = s + (map_sets == 1 ? 0 : b) * coils * plane + i * n1;
      const C* wb = w + b * coils * plane + i * n1;
      C* ob = o + row * n1;
      const Real sign = i % 2 ? Real(-1) : Real(1);
      for (std::int64_t j = 0; j < n1; ++j) {
        C acc(0);
        for (std::int64_t c = 0; c < coils; ++c) acc += times(std::conj(sb[c * plane + j]), wb[c * plane + j]);
        ob[j] = (j % 2 ? -sign : sign) * acc;
      }
    });
    return out;
  }

  Tensor<T, D> maps_;
  Tensor<T, D> mask_;
};

}  // namespace trustml::mri
