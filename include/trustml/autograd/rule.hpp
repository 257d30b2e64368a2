// trustml/autograd/rule.hpp: how a derivative rule is written.
//
// Every primitive op has a rule, Rule<Op::name>, written at the end of its family's header
// (ops/elementwise.hpp, ops/reduce.hpp, ...), so including a family brings its ops and their rules
// and nothing else. A rule maps the gradient of the op's output to the gradients of its inputs (a
// vector-Jacobian product), written with tensor ops, so that running it under create_graph records
// it and higher-order gradients come for free. Gradients whose shape differs from the input's (from
// broadcasting) are summed back by the engine (sum_to); a rule may return an undefined tensor for
// an input that needs no gradient.
//
// Complex numbers follow the conjugate-Wirtinger convention, as PyTorch: for a real loss L and
// z = x + iy the gradient is dL/dx + i dL/dy, so a holomorphic f(z) has the rule g * conj(f'(z))
// and `mul` multiplies by the conjugate of the other factor. For real tensors conj() is free.
//
// Each entry: TRUSTML_RULE(op, what it saves) { return grads(...one per input...); }
// c.grad is the output gradient; c.in<I>(), c.out() the saved tensors; c.attrs the op's attributes;
// c.needs<I>() whether input I wants a gradient. Names of other ops inside a rule are found when
// the rule is instantiated, so a rule may use ops of families declared after it.
#pragma once

#include <tuple>
#include <utility>

#include "trustml/autograd/record.hpp"

namespace trustml::autograd {

template <Save S>
struct RuleBase {
  static constexpr bool defined = true;
  static constexpr Save save = S;
};

template <class... G>
auto grads(G... g) {
  return std::make_tuple(std::move(g)...);
}

#define TRUSTML_RULE(name, saved)                 \
  template <>                                     \
  struct Rule<Op::name> : RuleBase<Save::saved> { \
    template <class C>                            \
    static auto backward(const C& c);             \
  };                                              \
  template <class C>                              \
  auto Rule<Op::name>::backward(const C& c)

// Element type of input I, and a zero of the gradient's type to broadcast.
template <class C, std::size_t I = 0>
using InT = typename C::template In<I>::value_type;
template <class G>
G zero_like(const G&) {
  return G::zeros(Shape{});
}

}  // namespace trustml::autograd
