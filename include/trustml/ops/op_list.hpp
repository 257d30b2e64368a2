// trustml/ops/op_list.hpp: the single source of truth for the ops of the library.
//
// Each op is one line X(name, kind), grouped by family:
//   primitive           has a derivative rule Rule<Op::name> at the end of its family's header
//                       (a missing rule is a compile error: where the op records itself, and for
//                       every primitive at once in trustml.hpp);
//   composite           written from primitives, so its derivative comes for free;
//   non_differentiable  returns indices or masks.
// The Op enum, the op-name table and the test that every op has a gradcheck are generated from it.
#pragma once

// The lists are laid out by hand, several ops a line.
// clang-format off
#define TRUSTML_OPS_ELEMENTWISE(X)                                                                      \
  X(add, primitive) X(sub, primitive) X(mul, primitive) X(div, primitive) X(neg, primitive)             \
  X(exp, primitive) X(log, primitive) X(sqrt, primitive) X(pow, primitive) X(abs, primitive)            \
  X(sin, primitive) X(cos, primitive) X(tanh, primitive) X(sigmoid, primitive) X(relu, primitive)       \
  X(leaky_relu, primitive) X(prelu, composite) X(silu, primitive) X(erf, primitive) X(gelu, primitive)                    \
  X(clamp, primitive) X(where, primitive) X(maximum, primitive) X(minimum, primitive)                   \
  X(scale, primitive) X(add_scalar, primitive) X(step, non_differentiable)                     \
  X(in_range, non_differentiable) X(max_mask, non_differentiable) X(straight_through, primitive)

#define TRUSTML_OPS_REDUCE(X)                                                                          \
  X(sum, primitive) X(mean, composite) X(amax, primitive) X(amin, primitive) X(argmax, non_differentiable) \
  X(var, composite) X(logsumexp, composite) X(norm, composite)

#define TRUSTML_OPS_MOVEMENT(X)                                                                        \
  X(reshape, primitive) X(permute, primitive) X(transpose, composite) X(slice, primitive)              \
  X(expand, primitive) X(slice_backward, primitive) X(pad, composite) X(squeeze, composite) X(unsqueeze, composite) X(contiguous, primitive)          \
  X(to_device, primitive) X(cast, primitive)

// matmul (ops/linalg.hpp) and the conjugate-gradient solve (ops/cg.hpp).
#define TRUSTML_OPS_LINALG(X) X(matmul, primitive) X(cg_solve, primitive)

#define TRUSTML_OPS_COMPLEX(X) \
  X(conj, primitive) X(real, primitive) X(imag, primitive) X(angle, primitive) X(make_complex, primitive)

#define TRUSTML_OPS_NN(X) \
  X(softmax, primitive) X(log_softmax, primitive) X(layer_norm, primitive) X(cross_entropy, composite) X(mse, composite)

// Convolution, pooling and resampling (ops/conv.hpp, ops/pool.hpp).
#define TRUSTML_OPS_CONV(X)                                                                              \
  X(im2col, primitive) X(col2im, primitive) X(conv2d, primitive) X(conv_transpose2d, composite)          \
  X(max_pool2d, primitive) X(avg_pool2d, composite) X(adaptive_avg_pool2d, composite)                    \
  X(upsample_nearest2d, composite) X(pixel_shuffle, composite) X(pixel_unshuffle, composite)

// FFT (ops/fft.hpp) and indexing: concat, stack, index_select, gather, scatter_add, embedding (ops/index.hpp).
#define TRUSTML_OPS_FFT_INDEX(X)                                                                         \
  X(fft2c, primitive) X(ifft2c, primitive) X(concat, primitive) X(stack, composite)                      \
  X(index_select, composite) X(gather, primitive) X(scatter_add, primitive) X(embedding, composite)

// Ops a user adds without editing this file: define TRUSTML_EXTRA_OPS(X) before including trustml.
#ifndef TRUSTML_EXTRA_OPS
#define TRUSTML_EXTRA_OPS(X)
#endif

#define TRUSTML_OPS(X)        \
  TRUSTML_OPS_ELEMENTWISE(X)  \
  TRUSTML_OPS_REDUCE(X)       \
  TRUSTML_OPS_MOVEMENT(X)     \
  TRUSTML_OPS_LINALG(X)       \
  TRUSTML_OPS_COMPLEX(X)      \
  TRUSTML_OPS_NN(X)           \
  TRUSTML_OPS_CONV(X)         \
  TRUSTML_OPS_FFT_INDEX(X)    \
  TRUSTML_EXTRA_OPS(X)
// clang-format on

namespace trustml {

enum class OpKind { primitive, composite, non_differentiable };

enum class Op {
#define TRUSTML_OP_ENUM(name, kind) name,
  TRUSTML_OPS(TRUSTML_OP_ENUM)
#undef TRUSTML_OP_ENUM
};

struct OpInfo {
  const char* name;
  OpKind kind;
};

inline constexpr OpInfo kOps[] = {
#define TRUSTML_OP_INFO(name, kind) {#name, OpKind::kind},
    TRUSTML_OPS(TRUSTML_OP_INFO)
#undef TRUSTML_OP_INFO
};

constexpr const char* op_name(Op op) { return kOps[static_cast<int>(op)].name; }
constexpr OpKind op_kind(Op op) { return kOps[static_cast<int>(op)].kind; }

}  // namespace trustml
