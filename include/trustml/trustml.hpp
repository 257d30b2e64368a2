// trustml/trustml.hpp: the umbrella header of the CPU library (tensors, ops, autograd).
// CUDA support is opt-in: include <trustml/cuda.hpp> from a file compiled by nvcc.
#pragma once

#include "trustml/autograd/derivatives.hpp"
#include "trustml/autograd/engine.hpp"
#include "trustml/autograd/gradcheck.hpp"
#include "trustml/core/print.hpp"
#include "trustml/core/tensor.hpp"
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
