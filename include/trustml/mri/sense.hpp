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
// normal_map(), the operator cg_solve inverts, adds the device's fused A^H A (the CPU's
// Kernels<Cpu>::sense_normal) for when no tape is recorded.
#pragma once

#include <complex>
#include <utility>
#include <vector>

#include "trustml/kernels/cpu/sense.hpp"
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
    TRUSTML_CHECK(m.size(1) == 1 || m.size(1) == coils(), "SenseOp", "the mask's coil dimension must be 1 or ", coils(),
                  ", got mask shape ", mask.shape());
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
  // Where the device's kernels fuse A^H A (Kernels<D>::sense_normal, the CPU's) and nothing needs the
  // tape (cg_solve's iterations never do), it runs that (fused_normal below), which equals normal()
  // up to rounding and takes a fraction of its time; otherwise it is normal().
  LinearMap<T, D> normal_map() const {
    if constexpr (requires(const kernels::SenseNormalArgs<value_t<T, D>>& a) {
                    kernels::Kernels<D>::sense_normal(a);
                  }) {
      if (height() % 2 == 0 && width() % 2 == 0)  // the fused kernel's checkerboard needs even sizes
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
    TRUSTML_CHECK(t.dim() == rank && t.size(-2) == height() && t.size(-1) == width(), op, "needs ", what,
                  " with H x W = ", height(), " x ", width(), " of the maps, got shape ", t.shape());
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

  // A^H A x in one pass per coil by the device's fused kernel (kernels/cpu/sense.hpp says how).
  Tensor<T, D> fused_normal(const Tensor<T, D>& x, const std::vector<std::vector<int>>& columns) const {
    check_batch(x, 3, "SenseOp::normal", "an image batch [B, H, W]");
    const Tensor<T, D> maps = maps_.contiguous(), mask = mask_.contiguous(), xc = x.contiguous();
    auto work = Tensor<T, D>::empty(Shape{x.size(0), coils(), height(), width()});
    auto out = Tensor<T, D>::empty(x.shape());
    if (x.numel() == 0) return out;
    kernels::SenseNormalArgs<value_t<T, D>> a;
    a.batch = x.size(0), a.coils = coils(), a.n0 = height(), a.n1 = width();
    a.x = ops::dptr(xc);
    a.maps = ops::dptr(maps), a.map_sets = maps.size(0);
    a.mask = ops::dptr(mask), a.mask_sets = mask.size(0), a.mask_coils = mask.size(1);
    a.columns = columns.data();
    a.work = ops::dptr(work), a.out = ops::dptr(out);
    kernels::Kernels<D>::sense_normal(a);
    return out;
  }

  Tensor<T, D> maps_;
  Tensor<T, D> mask_;
};

}  // namespace trustml::mri
