// trustml/kernels/cpu/sense.hpp: Kernels<Cpu>::sense_normal, MRI's normal operator A^H A of the
// SENSE model A = M F S (mri/sense.hpp) fused into one pass per coil: the optional entry of
// kernels/api.hpp that SenseOp::normal_map runs when no tape is recorded.
//
// Three facts make it cheap:
//  - For even n the centred transform is a checkerboard modulation of the plain one:
//    fftshift(F(ifftshift(v))) = s chk . F(chk . v) with chk[i, j] = (-1)^(i + j) and a sign s =
//    +-1, so F_c^H |M|^2 F_c = chk F^H |M|^2 F chk (chk and s square to one): no shift copies,
//    and the k-space mask keeps its own indices.
//  - F^H |M|^2 F is a single masked round trip (cpu::masked_round_trip, kernels/cpu/fft.hpp), in
//    which the column transforms of k-space columns the mask leaves out are skipped (3/4 of them
//    at 4x).
//  - Each coil's image stays in the cache from S_c x to the round trip's end; coils run in
//    parallel, and the coil sum is then one pass, in coil order (deterministic for any thread
//    count).
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

#include "trustml/core/scalar.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/kernels/cpu/fft.hpp"
#include "trustml/kernels/cpu/loops.hpp"

namespace trustml::kernels {

namespace cpu {
// a b by the textbook formula: std::complex's operator* also recovers infinities from NaN results
// (C99 Annex G), a branch per product that keeps these loops from vectorizing.
template <class C>
C times(const C& a, const C& b) {
  return C(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
}
}  // namespace cpu

template <class C>
void Kernels<Cpu>::sense_normal(const SenseNormalArgs<C>& a) {
  using Real = real_t<C>;
  const std::int64_t batch = a.batch, coils = a.coils, n0 = a.n0, n1 = a.n1, plane = n0 * n1;
  const std::int64_t map_sets = a.map_sets, mask_sets = a.mask_sets, mask_coils = a.mask_coils;
  const C* s = a.maps;
  const C* m = a.mask;
  const C* xs = a.x;
  const std::vector<int>* columns = a.columns;
  C* w = a.work;
  const bool aligned = cpu::fft_batch_aligned(w, plane, batch * coils);
  const Real scale = static_cast<Real>(1.0 / (static_cast<double>(n0) * static_cast<double>(n1)));
  cpu::parallel_for(batch * coils, plane * 16, [&](std::int64_t q) {
    const std::int64_t b = q / coils, c = q - b * coils;
    const C* sc = s + ((map_sets == 1 ? 0 : b) * coils + c) * plane;
    const C* xb = xs + b * plane;
    C* v = w + q * plane;
    for (std::int64_t i = 0; i < n0; ++i) {
      const Real sign = i % 2 ? Real(-1) : Real(1);  // chk at (i, j) for even j; n1 is even
      for (std::int64_t p = i * n1; p < (i + 1) * n1; p += 2) {
        v[p] = sign * cpu::times(sc[p], xb[p]);
        v[p + 1] = -sign * cpu::times(sc[p + 1], xb[p + 1]);
      }
    }
    const std::int64_t mk = (mask_sets == 1 ? 0 : b) * mask_coils + (mask_coils == 1 ? 0 : c);
    const C* mc = m + mk * plane;
    const auto& cols = columns[mk];
    cpu::masked_round_trip(
        v, static_cast<int>(n0), static_cast<int>(n1),
        [mc, n1, scale](int i, int j) {
          // |M|^2 by hand: std::norm of a float complex goes through hypot in libstdc++.
          const C mij = mc[static_cast<std::int64_t>(i) * n1 + j];
          return (mij.real() * mij.real() + mij.imag() * mij.imag()) * scale;
        },
        cols.data(), static_cast<int>(cols.size()), aligned);
  });
  C* o = a.out;
  cpu::parallel_for(batch * n0, n1 * coils * 8, [&](std::int64_t row) {
    const std::int64_t b = row / n0, i = row - b * n0;
    const C* sb = s + (map_sets == 1 ? 0 : b) * coils * plane + i * n1;
    const C* wb = w + b * coils * plane + i * n1;
    C* ob = o + row * n1;
    const Real sign = i % 2 ? Real(-1) : Real(1);
    for (std::int64_t j = 0; j < n1; ++j) {
      C acc(0);
      for (std::int64_t c = 0; c < coils; ++c) acc += cpu::times(std::conj(sb[c * plane + j]), wb[c * plane + j]);
      ob[j] = (j % 2 ? -sign : sign) * acc;
    }
  });
}

}  // namespace trustml::kernels
