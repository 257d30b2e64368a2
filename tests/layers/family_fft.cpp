// ops/fft.hpp alone is enough to differentiate the centred FFT.
#include "trustml/ops/fft.hpp"

#include <complex>

#include "layers/family_support.hpp"

using namespace trustml;
using C = std::complex<double>;

TEST_CASE("ops/fft.hpp alone: fft2c is unitary, so the gradient of <g, fft2c(x)> is ifft2c(g)") {
  auto x = Tensor<C>::from_vector({C(1, 0), C(0, 2), C(-1, 1), C(3, 0)}, Shape{1, 2, 2}).set_requires_grad();
  auto g = Tensor<C>::from_vector({C(0.5, 1), C(2, 0), C(0, -1), C(1, 1)}, Shape{1, 2, 2});
  fft2c(x).backward(g);
  const auto got = x.grad().to_vector(), want = ifft2c(g).to_vector();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) < 1e-12);
}
