// trustml/trustml.hpp: the umbrella header of the CPU library (tensors, every op family with its
// derivative rules, autograd). It is for programs; library headers include what they use instead.
// CUDA support is opt-in: include <trustml/cuda.hpp> from a file compiled by nvcc.
#pragma once

#include "trustml/autograd/engine.hpp"
#include "trustml/autograd/gradcheck.hpp"
#include "trustml/ops/cg.hpp"
#include "trustml/ops/conv.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/fft.hpp"
#include "trustml/ops/index.hpp"
#include "trustml/ops/linalg.hpp"
#include "trustml/ops/movement.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/pool.hpp"
#include "trustml/ops/reduce.hpp"
#include "trustml/tensor/print.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::autograd {

// Every primitive in ops/op_list.hpp has a rule: with every family included, this is where a
// missing one (say, a primitive added through TRUSTML_EXTRA_OPS) is named.
#define TRUSTML_REQUIRE_RULE(name, kind)                                                 \
  static_assert(OpKind::kind != OpKind::primitive || Rule<Op::name>::defined,            \
                "trustml: primitive op '" #name                                          \
                "' has no derivative rule; add one with TRUSTML_RULE "                   \
                "(autograd/rule.hpp) after its definition, or mark the op composite or " \
                "non_differentiable in ops/op_list.hpp");
TRUSTML_OPS(TRUSTML_REQUIRE_RULE)
#undef TRUSTML_REQUIRE_RULE

}  // namespace trustml::autograd
