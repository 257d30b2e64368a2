// trustml/kernels/functors.hpp: the element functions of the elementwise ops, one definition for
// every device. Each functor is a plain struct with a TRUSTML_HD call operator templated on the
// element type the device uses (std::complex on the CPU, cuda::std::complex on CUDA).
#pragma once

#include "trustml/core/scalar.hpp"

namespace trustml::fn {

#define TRUSTML_UNARY_FN(Name, expr)     \
  struct Name {                          \
    template <class V>                   \
    TRUSTML_HD V operator()(V x) const { \
      return expr;                       \
    }                                    \
  };
#define TRUSTML_BINARY_FN(Name, expr)         \
  struct Name {                               \
    template <class V>                        \
    TRUSTML_HD V operator()(V a, V b) const { \
      return expr;                            \
    }                                         \
  };

TRUSTML_BINARY_FN(Add, a + b)
TRUSTML_BINARY_FN(Sub, a - b)
TRUSTML_BINARY_FN(Mul, a* b)
TRUSTML_BINARY_FN(Div, a / b)
// NaN in either argument gives NaN (b != b is true only for NaN), as PyTorch's maximum and minimum.
TRUSTML_BINARY_FN(Maximum, (a < b || b != b) ? b : a)
TRUSTML_BINARY_FN(Minimum, (b < a || b != b) ? b : a)
// 0 where a < b, 1/2 where a == b, 1 elsewhere (a > b or a NaN on either side): the share of
// maximum(a, b)'s gradient that a gets. A NaN output passes the gradient to both sides, as PyTorch.
TRUSTML_BINARY_FN(MaxMask, a < b ? V(0) : (a == b ? V(0.5) : V(1)))
// 1 where a == b, else 0: where an extremum was taken (exact, also for infinite values).
TRUSTML_BINARY_FN(EqualMask, a == b ? V(1) : V(0))
// g = a, y = b = relu(x): g except where y <= 0, so a NaN output passes g (PyTorch's threshold_backward).
TRUSTML_BINARY_FN(ReluBackward, b <= V(0) ? V(0) : a)
// g * gelu'(x) = g (Phi(x) + x phi(x)) and g * silu'(x) = g s (1 + x (1 - s)), s = sigmoid(x), for
// a = g, b = x: the one-pass backward of gelu and silu when no graph is recorded.
TRUSTML_BINARY_FN(GeluBackward, a* math::gelu_grad(b))
struct SiluBackward {
  template <class V>
  TRUSTML_HD V operator()(V g, V x) const {
    const V s = math::sigmoid(x);
    return g * (s * (V(1) + x * (V(1) - s)));
  }
};
TRUSTML_UNARY_FN(Identity, x)
TRUSTML_UNARY_FN(Neg, -x)
TRUSTML_UNARY_FN(Exp, math::exp(x))
TRUSTML_UNARY_FN(Log, math::log(x))
TRUSTML_UNARY_FN(Sqrt, math::sqrt(x))
TRUSTML_UNARY_FN(Sin, math::sin(x))
TRUSTML_UNARY_FN(Cos, math::cos(x))
TRUSTML_UNARY_FN(Tanh, math::tanh(x))
TRUSTML_UNARY_FN(Erf, math::erf(x))
TRUSTML_UNARY_FN(Sigmoid, math::sigmoid(x))
// Exact GELU x Phi(x) (PyTorch's default) and SiLU x sigmoid(x), real only.
TRUSTML_UNARY_FN(Gelu, math::gelu(x))
TRUSTML_UNARY_FN(Silu, x* math::sigmoid(x))
// relu(NaN) = NaN, as PyTorch; the mask is the gradient of relu given its output.
TRUSTML_UNARY_FN(Relu, x < V(0) ? V(0) : x)
TRUSTML_UNARY_FN(ReluMask, x <= V(0) ? V(0) : V(1))
TRUSTML_UNARY_FN(Step, x > V(0) ? V(1) : V(0))
TRUSTML_UNARY_FN(Sign, x > V(0) ? V(1) : (x < V(0) ? V(-1) : V(0)))
TRUSTML_UNARY_FN(Conj, math::conj(x))
// TRUSTML_UNARY_FN and TRUSTML_BINARY_FN stay defined: ops added outside the library
// (TRUSTML_EXTRA_OPS, docs/adding_an_op.md) write their functors with them too.

// Functors with a parameter carry it as a real or element-typed member.
template <class P>
struct Pow {
  P p;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return math::pow(x, p);
  }
};
template <class P>
struct LeakyRelu {
  P slope;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return x > V(0) ? x : V(slope) * x;
  }
};
template <class P>
struct Clamp {
  P lo, hi;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return x < V(lo) ? V(lo) : (x > V(hi) ? V(hi) : x);
  }
};
// 1 strictly inside (lo, hi): the gradient mask of clamp, 0 at the bounds and at NaN as PyTorch's.
template <class P>
struct InOpenRange {
  P lo, hi;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return (x > V(lo) && x < V(hi)) ? V(1) : V(0);
  }
};
template <class P>
struct InRange {
  P lo, hi;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return (x >= V(lo) && x <= V(hi)) ? V(1) : V(0);
  }
};
template <class S>
struct Scale {
  S s;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return x * s;
  }
};
template <class S>
struct AddScalar {
  S s;
  template <class V>
  TRUSTML_HD V operator()(V x) const {
    return x + s;
  }
};
struct Where {
  template <class V>
  TRUSTML_HD V operator()(V c, V a, V b) const {
    return c != V(0) ? a : b;
  }
};

// Complex parts and constructors: the output type differs from the input type.
template <class R>
struct Abs {
  template <class V>
  TRUSTML_HD R operator()(V x) const {
    return R(math::abs(x));
  }
};
template <class R>
struct Real {
  template <class V>
  TRUSTML_HD R operator()(V x) const {
    return R(math::real(x));
  }
};
template <class R>
struct Imag {
  template <class V>
  TRUSTML_HD R operator()(V x) const {
    return R(math::imag(x));
  }
};
template <class R>
struct Angle {
  template <class V>
  TRUSTML_HD R operator()(V x) const {
    return math::atan2(R(math::imag(x)), R(math::real(x)));
  }
};
template <class C>
struct MakeComplex {
  template <class R>
  TRUSTML_HD C operator()(R re, R im) const {
    return C(re, im);
  }
};
template <class To>
struct Convert {
  template <class V>
  TRUSTML_HD To operator()(V x) const {
    if constexpr (math::ComplexLike<V> && math::ComplexLike<To>) {
      using R = decltype(To().real());
      return To(R(x.real()), R(x.imag()));
    } else {
      return To(x);
    }
  }
};

}  // namespace trustml::fn
