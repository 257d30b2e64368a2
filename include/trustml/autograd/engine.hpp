// trustml/autograd/engine.hpp: backward() and grad(), run without recursion.
//
// A run (1) walks the graph from the roots with an explicit stack, counting each node's incoming
// edges, (2) orders the nodes topologically (Kahn), (3) inside grad() marks the nodes that lead to
// a requested input, and (4) runs them in order, each node pushing its input gradients into the
// buffers of the nodes behind its edges. Deep graphs (a million ops) therefore cost heap, not stack.
#pragma once

#include <cmath>
#include <vector>

#include "trustml/autograd/record.hpp"
#include "trustml/ops/elementwise.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::autograd {

template <class T, class D>
Tensor<T, D> GradSink<T, D>::add_grads(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  return trustml::add(a, b);
}

template <class T, class D>
void check_finite(const Tensor<T, D>& t, const char* what, const char* op) {
  const std::int64_t at = first_nonfinite(t);
  if (at < 0) return;
  const T v = t.to_vector()[static_cast<std::size_t>(at)];
  bool nan;
  if constexpr (is_complex_v<T>) nan = std::isnan(v.real()) || std::isnan(v.imag());
  else nan = std::isnan(v);
  detail::fail(op, "produced ", nan ? "a NaN" : "an infinity", " in ", what, " at element ", at, " (shape ", t.shape(),
               "; NaN-check mode is on)");
}

// Runs the graph behind `roots`, whose buffers hold the seed gradients.
inline void run_graph(const std::vector<Node*>& roots, const RunContext& ctx, bool prune_to_captured) {
  thread_local std::uint64_t epoch = 0;
  const std::uint64_t run = ++epoch;
  // Work lists are reused across runs (small graphs would otherwise pay for their allocations),
  // except in a run started from inside another one (by a hook).
  struct Scratch {
    std::vector<Node*> stack, order, seen;
  };
  thread_local Scratch shared;
  thread_local int depth = 0;
  Scratch nested;
  Scratch& scratch = depth == 0 ? shared : nested;
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  } depth_guard{++depth};
  auto& [stack, order, seen] = scratch;
  stack.clear(), order.clear(), seen.clear();
  for (Node* r : roots) {
    if (r->visit_epoch == run) continue;
    r->visit_epoch = run;
    r->pending = 0;
    stack.push_back(r);
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    seen.push_back(n);
    for (auto& e : n->edges()) {
      Node* child = e.node.get();
      if (!child) continue;
      if (child->visit_epoch != run) {
        child->visit_epoch = run;
        child->pending = 0;
        stack.push_back(child);
      }
      ++child->pending;
    }
  }
  for (Node* n : seen)
    if (n->pending == 0) stack.push_back(n);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (auto& e : n->edges())
      if (e.node && --e.node->pending == 0) stack.push_back(e.node.get());
  }
  if (prune_to_captured) {
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      bool needed = n->capture;
      for (auto& e : n->edges()) needed = needed || (e.node && e.node->needed);
      n->needed = needed;
    }
  }
  GradModeGuard mode(ctx.create_graph);
  for (Node* n : order) {
    if (prune_to_captured && !n->needed) n->discard_grad();
    else if (n->has_grad()) n->apply(ctx);
    if (!ctx.retain_graph) n->release();
  }
  for (Node* n : seen) {
    n->needed = true;
    n->capture = false;
  }
}

template <class T, class D>
void seed(const Tensor<T, D>& output, const Tensor<T, D>& grad_output, const char* op, std::vector<Node*>& roots) {
  TRUSTML_CHECK(output.requires_grad(), op, "the output (shape ", output.shape(),
                ") does not require grad: no input of the ops that made it requires grad");
  Tensor<T, D> g = grad_output;
  if (!g.defined()) {
    TRUSTML_CHECK(output.numel() == 1, op, "an implicit gradient needs a one-element output, got shape ",
                  output.shape(), "; pass grad_output");
    g = Tensor<T, D>::ones(output.shape());
  }
  TRUSTML_CHECK(g.shape() == output.shape(), op, "grad_output shape ", g.shape(), " differs from output shape ",
                output.shape());
  auto node = gradient_edge(output);
  static_cast<GradSink<T, D>*>(node.get())->accumulate(g);
  roots.push_back(node.get());
}

// Gradients of sum(grad_outputs[i] * outputs[i]) with respect to `inputs`, without touching any
// .grad. With create_graph the results are themselves on the tape (Hessian-vector products).
template <class T, class TOut, class D>
std::vector<Tensor<T, D>> grad(const std::vector<Tensor<TOut, D>>& outputs, const std::vector<Tensor<T, D>>& inputs,
                               const std::vector<Tensor<TOut, D>>& grad_outputs = {}, bool retain_graph = false,
                               bool create_graph = false, bool allow_unused = false) {
  TRUSTML_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "grad", grad_outputs.size(),
                " grad_outputs for ", outputs.size(), " outputs");
  std::vector<Node*> roots;
  for (std::size_t i = 0; i < outputs.size(); ++i)
    seed(outputs[i], grad_outputs.empty() ? Tensor<TOut, D>() : grad_outputs[i], "grad", roots);
  std::vector<std::shared_ptr<Node>> sinks;
  for (const auto& in : inputs) {
    TRUSTML_CHECK(in.requires_grad(), "grad", "an input (shape ", in.shape(), ") does not require grad");
    sinks.push_back(gradient_edge(in));
    sinks.back()->capture = true;
  }
  run_graph(roots, RunContext{create_graph, retain_graph || create_graph, false}, true);
  std::vector<Tensor<T, D>> result;
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    auto* sink = static_cast<GradSink<T, D>*>(sinks[i].get());
    Tensor<T, D> g = std::move(sink->captured);
    sink->captured = Tensor<T, D>();
    TRUSTML_CHECK(g.defined() || allow_unused, "grad", "input ", i, " (shape ", inputs[i].shape(),
                  ") was not used to compute the outputs; pass allow_unused=true");
    if (g.defined() && !(g.shape() == inputs[i].shape())) g = sum_to(g, inputs[i].shape());
    result.push_back(g);
  }
  return result;
}

}  // namespace trustml::autograd

namespace trustml {

using autograd::grad;

template <Scalar T, Device D>
void Tensor<T, D>::backward(const Tensor& grad_output, bool retain_graph, bool create_graph) const {
  std::vector<autograd::Node*> roots;
  autograd::seed(*this, grad_output, "backward", roots);
  autograd::run_graph(roots, autograd::RunContext{create_graph, retain_graph || create_graph, true}, false);
}

template <Scalar T, Device D>
void Tensor<T, D>::register_hook(Hook hook) const {
  TRUSTML_CHECK(requires_grad(), "register_hook", "the tensor (shape ", shape(), ") does not require grad");
  auto node = autograd::gradient_edge(*this);
  static_cast<autograd::GradSink<T, D>*>(node.get())->add_hook(std::move(hook));
}

template <Scalar T, Device D>
void Tensor<T, D>::retain_grad() const {
  if (is_leaf() || checked().retains_grad) return;
  checked().retains_grad = true;
  std::weak_ptr<Impl> weak = impl_;
  register_hook([weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      impl->grad = impl->grad ? trustml::add(Tensor(impl->grad), g.detach()).impl_ptr() : g.detach().impl_ptr();
    }
    return Tensor();
  });
}

}  // namespace trustml
