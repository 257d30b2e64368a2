// trustml/autograd/record.hpp: how an op puts itself on the tape.
//
// An op computes its output, then calls record<Op::name>(out, attrs, inputs...). When grad mode is
// on and an input requires a gradient, record creates an OpNode that remembers what the op's rule
// (Rule<Op::name>, at the end of the op's family header) declares it needs: the inputs, the output, the
// attributes. Saved tensors keep data only, never a strong reference to a node, so the graph holds
// no cycles; when a rule runs with create_graph they are re-attached to the tape (the saved output
// to this very node), which is what makes double backward work.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "trustml/autograd/node.hpp"
#include "trustml/kernels/functors.hpp"
#include "trustml/ops/op_list.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::autograd {

// Rule<op>: the derivative rule of a primitive op. Specializations live at the end of each op
// family's header (ops/<family>.hpp), written with TRUSTML_RULE (autograd/rule.hpp):
//   struct Rule<Op::x> {
//     static constexpr Save save = Save::inputs;   // what backward needs
//     template <class C> static auto backward(const C& c);   // -> std::tuple of input gradients
//   };
template <Op op>
struct Rule {
  static constexpr bool defined = false;
};

enum class Save { nothing = 0, inputs = 1, output = 2, both = 3 };
constexpr bool saves_inputs(Save s) { return (static_cast<int>(s) & 1) != 0; }
constexpr bool saves_output(Save s) { return (static_cast<int>(s) & 2) != 0; }

struct NoAttrs {};

// A node that receives gradients of type Tensor<T, D>: every op node and every leaf accumulator.
template <class T, class D>
class GradSink : public Node {
 public:
  using Grad = Tensor<T, D>;

  void accumulate(Grad g) {
    if (!buffer_.defined()) buffer_ = std::move(g);
    else buffer_ = add_grads(buffer_, g);
  }
  bool has_grad() const override { return buffer_.defined(); }
  void discard_grad() override { buffer_ = Grad(); }
  void add_hook(typename Grad::Hook h) { hooks_.push_back(std::move(h)); }

  // Set by grad(): the gradient that reached this node, after hooks.
  Grad captured;

 protected:
  Grad take_grad() {
    Grad g = std::move(buffer_);
    buffer_ = Grad();
    for (auto& h : hooks_) {
      Grad r = h(g);
      if (r.defined()) g = std::move(r);
    }
    if (capture) captured = g;
    return g;
  }
  static Grad add_grads(const Grad& a, const Grad& b);  // defined in engine.hpp (needs add)

 private:
  Grad buffer_;
  std::vector<typename Grad::Hook> hooks_;
};

// Accumulates into a leaf's .grad. Holds the leaf weakly: the leaf owns this node.
template <class T, class D>
class AccumulateGrad final : public GradSink<T, D> {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl<T, D>>& leaf) : leaf_(leaf) {}
  const char* name() const override { return "AccumulateGrad"; }
  bool is_accumulator() const override { return true; }
  void apply(const RunContext& ctx) override {
    Tensor<T, D> g = this->take_grad();
    if (!ctx.accumulate_leaves) return;
    auto leaf = leaf_.lock();
    if (!leaf) return;
    if (leaf->grad) {
      Tensor<T, D> current(leaf->grad);
      const bool in_place = !ctx.create_graph && !leaf->grad->node && current.is_contiguous() &&
                            leaf->grad.use_count() == 2 && current.storage().use_count() == 1 &&
                            current.shape() == g.shape();
      if (in_place) {  // .grad += g, as PyTorch: accumulation over many backwards allocates nothing
        using V = typename D::template value_t<T>;
        auto* out = reinterpret_cast<V*>(current.data());
        kernels::Kernels<D>::map(g.shape(), out, fn::Add{}, kernels::Strided<V>{out, current.strides()},
                                 kernels::Strided<V>{reinterpret_cast<const V*>(g.data()), g.strides()});
        current.bump_version();
      } else {
        leaf->grad = GradSink<T, D>::add_grads(current, g).impl_ptr();
      }
    } else if (ctx.create_graph) {
      leaf->grad = g.impl_ptr();
    } else {
      // A gradient nobody else holds becomes .grad as it is; otherwise .grad gets its own copy, so
      // that a later in-place change of .grad (an optimizer's) cannot reach another tensor.
      const bool sole = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous();
      leaf->grad = sole ? g.impl_ptr() : g.clone().impl_ptr();
    }
  }

 private:
  std::weak_ptr<TensorImpl<T, D>> leaf_;
};

// The node a tensor's gradient flows into: its grad_fn, or its leaf accumulator (made on demand).
template <class T, class D>
std::shared_ptr<Node> gradient_edge(const Tensor<T, D>& t) {
  if constexpr (!FloatingScalar<T>) {
    return nullptr;
  } else {
    auto* impl = t.impl();
    if (!impl) return nullptr;
    if (impl->node) return impl->node;
    if (!impl->requires_grad) return nullptr;
    impl->node = std::make_shared<AccumulateGrad<T, D>>(t.impl_ptr());
    return impl->node;
  }
}

// Data of a tensor kept for backward, without its place on the tape.
template <class T, class D>
struct Saved {
  Tensor<T, D> data;
  std::uint64_t version = 0;

  Saved() = default;
  explicit Saved(const Tensor<T, D>& t) : data(t.detach()), version(t.storage()->version) {}

  // The saved tensor; attached to `node` (so gradients flow through it) when recording.
  Tensor<T, D> unpack(const std::shared_ptr<Node>& node, const char* op) const {
    TRUSTML_CHECK(data.defined(), op,
                  "backward through a graph that was already freed; pass retain_graph=true to the first backward");
    TRUSTML_CHECK(data.storage()->version == version, op, "a tensor saved for backward (shape ", data.shape(),
                  ") was modified in place after it was used");
    if (!node || !grad_enabled()) return data;
    Tensor<T, D> t = data.detach();
    t.impl()->node = node;
    return t;
  }
};

template <Op op, class Attrs, class Out, class... Ins>
class OpNode;

// What a rule sees: the output gradient, saved inputs and output, attributes.
template <class NodeT>
struct RuleContext {
  const NodeT& node;
  const typename NodeT::OutTensor& grad;
  const typename NodeT::AttrsType& attrs;

  template <std::size_t I>
  using In = std::tuple_element_t<I, typename NodeT::InputTypes>;

  template <std::size_t I>
  auto in() const {
    return node.template unpack_input<I>();
  }
  auto out() const { return node.unpack_output(); }
  // Input I wants a gradient: it is on the tape, and (in grad()) leads to a requested input, so
  // grad(loss, {x}) skips the weight-gradient products of every layer.
  template <std::size_t I>
  bool needs() const {
    const auto& next = node.edges()[I].node;
    return next != nullptr && next->needed;
  }
  template <std::size_t I>
  const Shape& in_shape() const {
    return node.in_shapes[I];
  }
};

template <class T, class D>
Tensor<T, D> sum_to(const Tensor<T, D>& g, const Shape& shape);  // ops/reduce.hpp
template <class T, class D>
void check_finite(const Tensor<T, D>& t, const char* what, const char* op);  // engine.hpp

// Hands the gradient g of an input (shape `shape`) to the node behind that input's edge, summing it
// back over broadcast dimensions first; nothing happens when either is absent.
template <class T, class D>
void send_grad(const std::shared_ptr<Node>& edge, Tensor<T, D> g, const Shape& shape, Op op) {
  if (!edge || !g.defined()) return;
  if (!(g.shape() == shape)) g = sum_to(g, shape);
  if (nan_check_flag()) check_finite(g, "the gradient", op_name(op));
  static_cast<GradSink<T, D>*>(edge.get())->accumulate(std::move(g));
}

template <Op op, class Attrs, class Out, class... Ins>
class OpNode final : public GradSink<typename Out::value_type, typename Out::device_type>,
                     public std::enable_shared_from_this<OpNode<op, Attrs, Out, Ins...>> {
 public:
  using OutTensor = Out;
  using AttrsType = Attrs;
  using InputTypes = std::tuple<Ins...>;
  static_assert(Rule<op>::defined,
                "trustml: this op has no derivative rule in scope; a primitive's rule is defined at the end of "
                "its family header (ops/<family>.hpp): include that header, not a part of it (the op is named "
                "in the Rule<Op::...> of this message's context)");
  static constexpr Save save = Rule<op>::save;

  OpNode(const Attrs& attrs, const Out& out, const Ins&... ins)
      : in_shapes{ins.shape()...}, edge_storage_{Edge{gradient_edge(ins)}...}, attrs_(attrs) {
    this->set_edges(edge_storage_.data(), edge_storage_.size());
    if constexpr (saves_inputs(save))
      inputs_ = std::tuple<Saved<typename Ins::value_type, typename Ins::device_type>...>(
          Saved<typename Ins::value_type, typename Ins::device_type>(ins)...);
    if constexpr (saves_output(save)) output_ = Saved<typename Out::value_type, typename Out::device_type>(out);
  }

  ~OpNode() override { Node::release_edges(this->edges()); }
  const char* name() const override { return op_name(op); }

  template <std::size_t I>
  auto unpack_input() const {
    static_assert(saves_inputs(save), "trustml: this rule reads an input but does not declare Save::inputs");
    return std::get<I>(inputs_).unpack(this->edges()[I].node, op_name(op));
  }
  auto unpack_output() const {
    static_assert(saves_output(save), "trustml: this rule reads the output but does not declare Save::output");
    auto self = std::const_pointer_cast<OpNode>(this->shared_from_this());
    return output_.unpack(std::static_pointer_cast<Node>(self), op_name(op));
  }

  void apply(const RunContext&) override {
    Out g = this->take_grad();
    RuleContext<OpNode> c{*this, g, attrs_};
    auto grads = Rule<op>::backward(c);
    static_assert(std::tuple_size_v<decltype(grads)> == sizeof...(Ins),
                  "trustml: a derivative rule must return one gradient per input");
    push(grads, std::index_sequence_for<Ins...>{});
  }

  void release() override {
    if constexpr (saves_inputs(save)) inputs_ = {};
    if constexpr (saves_output(save)) output_ = {};
  }

  std::array<Shape, sizeof...(Ins)> in_shapes;

 private:
  template <class Tuple, std::size_t... I>
  void push(Tuple& grads, std::index_sequence<I...>) {
    (push_one<I>(std::get<I>(grads)), ...);
  }
  template <std::size_t I, class G>
  void push_one(G& g) {
    using In = std::tuple_element_t<I, std::tuple<Ins...>>;
    if constexpr (std::is_same_v<G, std::nullptr_t>) {
      return;
    } else {
      static_assert(std::is_same_v<G, In>, "trustml: a rule returned a gradient of another type than its input");
      send_grad(this->edges()[I].node, std::move(g), in_shapes[I], op);
    }
  }

  std::array<Edge, sizeof...(Ins)> edge_storage_;
  Attrs attrs_;
  [[no_unique_address]] std::conditional_t<
      saves_inputs(save), std::tuple<Saved<typename Ins::value_type, typename Ins::device_type>...>, NoAttrs>
      inputs_{};
  [[no_unique_address]] std::conditional_t<saves_output(save),
                                           Saved<typename Out::value_type, typename Out::device_type>, NoAttrs>
      output_{};
};

template <class... Ins>
bool any_requires_grad(const Ins&... ins) {
  return (ins.requires_grad() || ...);
}

// Puts `out` on the tape as the result of `op` applied to `ins`, when anything requires a gradient.
template <Op op, class Attrs, class Out, class... Ins>
Out record(Out out, const Attrs& attrs, const Ins&... ins) {
  if (nan_check_flag()) check_finite(out, "its output", op_name(op));
  // Integer tensors (indices) go through views and copies too, but never carry gradients.
  if constexpr (op_kind(op) == OpKind::primitive && FloatingScalar<typename Out::value_type>) {
    if (grad_enabled() && any_requires_grad(ins...)) {
      out.impl()->node = std::make_shared<OpNode<op, Attrs, Out, Ins...>>(attrs, out, ins...);
    }
  }
  return out;
}

// Ops over a runtime number of inputs of one type (concat) record with record_list. The rule gets
// c.grad, c.attrs, c.size() and, for input i < c.size(), c.needs(i) and c.in_shape(i); it returns a
// std::vector with one gradient (or an undefined tensor) per input, and saves nothing.
template <Op op, class Attrs, class T, class D>
class ListOpNode;
template <class NodeT>
struct ListRuleContext {
  const NodeT& node;
  const typename NodeT::OutTensor& grad;
  const typename NodeT::AttrsType& attrs;

  std::size_t size() const { return node.in_shapes.size(); }
  bool needs(std::size_t i) const { return node.edges()[i].node != nullptr && node.edges()[i].node->needed; }
  const Shape& in_shape(std::size_t i) const { return node.in_shapes[i]; }
};

template <Op op, class Attrs, class T, class D>
class ListOpNode final : public GradSink<T, D> {
 public:
  using OutTensor = Tensor<T, D>;
  using AttrsType = Attrs;
  static_assert(Rule<op>::defined, "trustml: this op has no derivative rule in scope (see OpNode)");
  static_assert(Rule<op>::save == Save::nothing, "trustml: a rule over a list of inputs cannot save tensors");

  ListOpNode(const Attrs& attrs, const std::vector<Tensor<T, D>>& ins) : attrs_(attrs) {
    for (const auto& t : ins) {
      edge_storage_.push_back(Edge{gradient_edge(t)});
      in_shapes.push_back(t.shape());
    }
    this->set_edges(edge_storage_.data(), edge_storage_.size());
  }
  ~ListOpNode() override { Node::release_edges(this->edges()); }

  const char* name() const override { return op_name(op); }

  void apply(const RunContext&) override {
    Tensor<T, D> g = this->take_grad();
    ListRuleContext<ListOpNode> c{*this, g, attrs_};
    std::vector<Tensor<T, D>> grads = Rule<op>::backward(c);
    for (std::size_t i = 0; i < grads.size(); ++i)
      send_grad(this->edges()[i].node, std::move(grads[i]), in_shapes[i], op);
  }

  std::vector<Shape> in_shapes;

 private:
  std::vector<Edge> edge_storage_;
  Attrs attrs_;
};

template <Op op, class Attrs, class T, class D>
Tensor<T, D> record_list(Tensor<T, D> out, const Attrs& attrs, const std::vector<Tensor<T, D>>& ins) {
  static_assert(op_kind(op) == OpKind::primitive, "trustml: record_list is for primitive ops");
  if (nan_check_flag()) check_finite(out, "its output", op_name(op));
  bool any = false;
  for (const auto& t : ins) any = any || t.requires_grad();
  if (grad_enabled() && any) out.impl()->node = std::make_shared<ListOpNode<op, Attrs, T, D>>(attrs, ins);
  return out;
}

}  // namespace trustml::autograd
