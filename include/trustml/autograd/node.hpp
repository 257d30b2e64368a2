// trustml/autograd/node.hpp: the type-erased node of the define-by-run tape, and the grad mode.
//
// Every tensor that requires a gradient points at one Node: the op that produced it (its grad_fn)
// or, for a leaf, the node that accumulates into its .grad. A node's only strong references are its
// edges to the nodes of its inputs, so a graph is a DAG of shared pointers owned from the outputs.
// Destroying a long chain would recurse once per node; node destructors instead hand children whose
// last reference they hold to a thread-local queue (release_edges), so a chain of a million ops is
// freed in a loop.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace trustml::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> node;
};

// Per-run state the engine hands to every node it runs.
struct RunContext {
  bool create_graph = false;
  bool retain_graph = false;
  bool accumulate_leaves = true;  // false inside grad(): no leaf's .grad is touched
};

class Node {
 public:
  virtual ~Node() = default;

  virtual const char* name() const = 0;
  // Consumes the accumulated output gradient and pushes input gradients along the edges.
  virtual void apply(const RunContext& ctx) = 0;
  // Drops saved tensors after a backward without retain_graph.
  virtual void release() {}
  virtual bool has_grad() const = 0;
  // Drops a gradient that reached a node grad() does not need to run.
  virtual void discard_grad() = 0;
  // True for the node that accumulates into a leaf's .grad.
  virtual bool is_accumulator() const { return false; }

  std::span<Edge> edges() { return {edges_, n_edges_}; }
  std::span<const Edge> edges() const { return {edges_, n_edges_}; }

  // Engine bookkeeping, valid during one run.
  std::uint64_t visit_epoch = 0;
  std::int64_t pending = 0;
  bool needed = true;
  bool capture = false;

 protected:
  // Node types own their edges (a fixed array for a fixed arity, so recording allocates nothing for
  // them) and point the base at them.
  void set_edges(Edge* data, std::size_t n) {
    edges_ = data;
    n_edges_ = n;
  }

  // Called by the destructor of every node type that owns edges, before the edges are destroyed:
  // children whose last reference this node holds go to a thread-local queue that the outermost
  // call drains, so freeing a chain of a million nodes never recurses.
  static void release_edges(std::span<Edge> edges) {
    thread_local std::vector<std::shared_ptr<Node>>* queue = nullptr;
    std::vector<std::shared_ptr<Node>> local;
    const bool outermost = queue == nullptr;
    if (outermost) queue = &local;
    for (auto& e : edges)
      if (e.node && e.node.use_count() == 1) queue->push_back(std::move(e.node));
    if (!outermost) return;
    while (!queue->empty()) {
      auto last = std::move(queue->back());
      queue->pop_back();
      last.reset();  // may push that node's children onto the queue
    }
    queue = nullptr;
  }

 private:
  Edge* edges_ = nullptr;
  std::size_t n_edges_ = 0;
};

// Whether ops record onto the tape (thread-local, like PyTorch's grad mode).
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool grad_enabled() { return grad_mode_flag(); }

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_mode_flag()) { grad_mode_flag() = enabled; }
  ~GradModeGuard() { grad_mode_flag() = previous_; }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording off in a scope: inference, zeroth-order queries, optimizer updates.
struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
// Turns recording on in a scope, even inside a NoGradGuard.
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

// NaN-check debug mode: every op checks its output and the gradients it sends, and names itself
// when one holds a NaN or an infinity (an overflow is usually the step before a NaN).
inline bool& nan_check_flag() {
  static bool enabled = false;
  return enabled;
}
inline void set_nan_check(bool enabled) { nan_check_flag() = enabled; }

}  // namespace trustml::autograd

namespace trustml {
using autograd::EnableGradGuard;
using autograd::NoGradGuard;
using autograd::set_nan_check;
}  // namespace trustml
