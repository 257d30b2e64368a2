// trustml/nn/module.hpp: the runtime module tree of trustml networks.
//
// A Module<T, D> owns named parameters (leaf tensors that require grad), named buffers (state that
// is saved but not trained: BatchNorm's running statistics; int64 counters are index buffers) and
// named child modules, in registration order. Names compose with dots exactly like PyTorch's
// state_dict keys ("features.0.weight"), so weights move between trustml and PyTorch by name.
//
//   class Net : public nn::Module<float> {
//    public:
//     Net() : Module("Net") {
//       fc = register_module("fc", std::make_shared<nn::Linear<float>>(784, 10, /*seed=*/1));
//     }
//     Tensor<float> forward(const Tensor<float>& x) override { return (*fc)(x); }
//     std::shared_ptr<nn::Linear<float>> fc;
//   };
//
// A registered tensor and the member that holds it are the same tensor (a Tensor is a shared
// handle), so load_state_dict writes new values into their storage in place. Moving a network to
// another device is building the same network there and loading the state dict: load_state_dict
// accepts a state dict of any device and copies across.
//
// Calling a module (operator()) runs forward and then its forward hooks, which may replace the
// output (how feature-reuse estimators and analysis tools tap intermediate activations).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "trustml/autograd/engine.hpp"
#include "trustml/ops/common.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::nn {

// A parameter is a leaf tensor that requires grad: the name says what a tensor is for. Gradient
// estimators (backprop or zeroth-order) fill its grad(), which the optimizers read.
template <class T = float, class D = Cpu>
using Parameter = Tensor<T, D>;

// Named tensors of a module tree: its parameters and floating buffers, and its int64 buffers.
template <class T, class D = Cpu>
struct StateDict {
  std::vector<std::pair<std::string, Tensor<T, D>>> tensors;
  std::vector<std::pair<std::string, Tensor<std::int64_t, D>>> index_tensors;
  std::size_t size() const { return tensors.size() + index_tensors.size(); }
};

template <class T = float, class D = Cpu>
class Module {
 public:
  using TensorT = Tensor<T, D>;
  using IndexTensor = Tensor<std::int64_t, D>;
  using ForwardHook = std::function<void(Module&, const TensorT& input, TensorT& output)>;

  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // The class name shown in errors and summaries ("Linear", "BatchNorm2d", ...).
  const std::string& type_name() const { return type_name_; }

  // The computation of a one-input module. Modules with other inputs (Embedding, attention, the
  // U-Net) define their own call and leave this one throwing.
  virtual TensorT forward(const TensorT& x) {
    ::trustml::detail::fail("nn::Module::forward", type_name_, " does not take one tensor (got ", x.shape(),
                            "); call its own forward");
  }

  TensorT operator()(const TensorT& x) {
    TensorT out = forward(x);
    run_forward_hooks(x, out);
    return out;
  }

  // True when forward on a slice of channels (dim 1) gives that slice of forward on all channels:
  // each channel is mapped on its own by a function that does not depend on which channel it is
  // (element-wise activations, pooling, and Flatten, whose output keeps each channel's features
  // contiguous in channel order). Staged CGE runs a change confined to one channel through such
  // modules alone (estimators/staged_cge.hpp). False unless a module declares it.
  virtual bool commutes_with_channel_slices() const { return false; }

  // ---- registration ----
  // Makes `value` a leaf that requires grad and registers it. Names are unique per module and hold
  // no dots (dots join the levels of the tree).
  TensorT register_parameter(const std::string& name, TensorT value) {
    check_new_name(name);
    if (!value.is_leaf()) value = value.detach();
    value.set_requires_grad(true);
    parameters_.emplace_back(name, value);
    return value;
  }
  TensorT register_buffer(const std::string& name, TensorT value) {
    check_new_name(name);
    buffers_.emplace_back(name, value.detach());
    return buffers_.back().second;
  }
  IndexTensor register_index_buffer(const std::string& name, IndexTensor value) {
    check_new_name(name);
    index_buffers_.emplace_back(name, value);
    return value;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    TRUSTML_CHECK(module != nullptr, "nn::Module::register_module", "submodule '", name, "' of ", type_name_,
                  " is null");
    check_new_name(name);
    children_.emplace_back(name, module);
    return module;
  }

  // ---- traversal (registration order, depth first, parents' own tensors before children's) ----
  std::vector<std::pair<std::string, TensorT>> named_parameters(bool recurse = true) const {
    std::vector<std::pair<std::string, TensorT>> out;
    collect(
        out, "", recurse, [](const Module& m) -> const auto& { return m.parameters_; });
    return out;
  }
  std::vector<TensorT> parameters(bool recurse = true) const {
    std::vector<TensorT> out;
    for (auto& [name, p] : named_parameters(recurse)) out.push_back(p);
    return out;
  }
  // Freezes (false) or unfreezes every parameter, as PyTorch's module.requires_grad_(): a frozen
  // network records nothing for its weights but still passes gradients to its inputs.
  void requires_grad_(bool on = true) {
    for (auto& p : parameters()) p.set_requires_grad(on);
  }
  std::vector<std::pair<std::string, TensorT>> named_buffers(bool recurse = true) const {
    std::vector<std::pair<std::string, TensorT>> out;
    collect(
        out, "", recurse, [](const Module& m) -> const auto& { return m.buffers_; });
    return out;
  }
  std::vector<std::pair<std::string, IndexTensor>> named_index_buffers(bool recurse = true) const {
    std::vector<std::pair<std::string, IndexTensor>> out;
    collect(
        out, "", recurse, [](const Module& m) -> const auto& { return m.index_buffers_; });
    return out;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // Every module of the tree with its dotted path; the root is "".
  std::vector<std::pair<std::string, Module*>> named_modules() {
    std::vector<std::pair<std::string, Module*>> out{{"", this}};
    for (auto& [name, child] : children_)
      for (auto& [sub, m] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, m);
    return out;
  }
  // The submodule at a dotted path ("features.3"), or an error naming the missing part.
  Module& submodule(const std::string& path) {
    for (auto& [name, m] : named_modules())
      if (name == path) return *m;
    ::trustml::detail::fail("nn::Module::submodule", type_name_, " has no submodule '", path, "'");
  }
  std::int64_t num_parameters() const {
    std::int64_t n = 0;
    for (auto& [name, p] : named_parameters()) n += p.numel();
    return n;
  }

  // ---- state ----
  // Parameters, then buffers, then index buffers: the tensors themselves (not copies).
  StateDict<T, D> state_dict() const {
    StateDict<T, D> state;
    state.tensors = named_parameters();
    for (auto& b : named_buffers()) state.tensors.push_back(b);
    state.index_tensors = named_index_buffers();
    return state;
  }

  // Copies every entry of `state` (from any device) into the tensor of the same name, in place.
  // Every entry's shape is checked, and with `strict` that no name is missing or unexpected, before
  // anything is copied: a state that does not fit is an error listing every problem and changes
  // nothing.
  template <class D2>
  void load_state_dict(const StateDict<T, D2>& state, bool strict = true) {
    const auto [tensors, index_tensors] = match_state(state, strict);
    copy_pairs(tensors);
    copy_pairs(index_tensors);
  }
  // The checks of load_state_dict alone: throws its error when `state` does not fit, copies nothing.
  // A caller that loads more than the module (train::load_checkpoint) checks every part first.
  template <class D2>
  void check_state_dict(const StateDict<T, D2>& state, bool strict = true) const {
    (void)match_state(state, strict);
  }

  // ---- modes and utilities ----
  virtual void train(bool on = true) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Calls f on this module and every descendant (parents first).
  void apply(const std::function<void(Module&)>& f) {
    f(*this);
    for (auto& [name, child] : children_) child->apply(f);
  }
  void zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
  }

  // Hooks run after forward in registration order; the returned id removes one.
  int register_forward_hook(ForwardHook hook) {
    hooks_.emplace_back(next_hook_id_, std::move(hook));
    return next_hook_id_++;
  }
  void remove_forward_hook(int id) {
    std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
  }

 protected:
  void run_forward_hooks(const TensorT& in, TensorT& out) {
    for (auto& [id, hook] : hooks_) hook(*this, in, out);
  }

 private:
  void check_new_name(const std::string& name) const {
    TRUSTML_CHECK(!name.empty() && name.find('.') == std::string::npos, "nn::Module::register", "name '", name, "' in ",
                  type_name_, " must be non-empty and hold no '.'");
    auto taken = [&](const auto& list) {
      for (auto& entry : list)
        if (entry.first == name) return true;
      return false;
    };
    TRUSTML_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(index_buffers_) && !taken(children_),
                  "nn::Module::register", "name '", name, "' is already used in ", type_name_);
  }

  template <class Entry, class Get>
  void collect(std::vector<Entry>& out, const std::string& prefix, bool recurse, Get get) const {
    for (auto& [name, t] : get(*this)) out.emplace_back(prefix + name, t);
    if (!recurse) return;
    for (auto& [name, child] : children_) child->collect(out, prefix + name + ".", true, get);
  }

  // Own tensors paired with the entries of `state` load_state_dict copies into them; throws, listing
  // every problem, when `state` does not fit.
  template <class D2>
  auto match_state(const StateDict<T, D2>& state, bool strict) const {
    const auto own = state_dict();
    std::ostringstream problems;
    // Braces: the parameters' problems are listed before the index buffers'.
    auto pairs = std::pair{match(own.tensors, state.tensors, strict, problems),
                           match(own.index_tensors, state.index_tensors, strict, problems)};
    const std::string text = problems.str();
    TRUSTML_CHECK(text.empty(), "nn::Module::load_state_dict", "state does not fit ", type_name_, ":", text);
    return pairs;
  }

  template <class U, class D2>
  using Pairs = std::vector<std::pair<Tensor<U, D>, Tensor<U, D2>>>;

  template <class U, class D2>
  static Pairs<U, D2> match(const std::vector<std::pair<std::string, Tensor<U, D>>>& own,
                            const std::vector<std::pair<std::string, Tensor<U, D2>>>& given, bool strict,
                            std::ostringstream& problems) {
    Pairs<U, D2> pairs;
    std::vector<bool> used(given.size(), false);
    for (auto& [name, dst] : own) {
      std::size_t i = 0;
      while (i < given.size() && given[i].first != name) ++i;
      if (i == given.size()) {
        if (strict) problems << "\n  missing '" << name << "' " << dst.shape();
        continue;
      }
      used[i] = true;
      const auto& src = given[i].second;
      if (src.shape() != dst.shape()) {
        problems << "\n  '" << name << "': expected shape " << dst.shape() << ", got " << src.shape();
        continue;
      }
      pairs.emplace_back(dst, src);
    }
    if (strict)
      for (std::size_t i = 0; i < given.size(); ++i)
        if (!used[i]) problems << "\n  unexpected '" << given[i].first << "' " << given[i].second.shape();
    return pairs;
  }

  template <class U, class D2>
  static void copy_pairs(const Pairs<U, D2>& pairs) {
    NoGradGuard no_grad;
    for (auto& [dst, src] : pairs) {
      ops::assign(dst, src.template to<D>());
      dst.bump_version();
    }
  }

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, TensorT>> parameters_, buffers_;
  std::vector<std::pair<std::string, IndexTensor>> index_buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int, ForwardHook>> hooks_;
  int next_hook_id_ = 0;
};

// Puts a module in eval mode for a scope and restores its previous mode, also when the scope
// throws (attacks, certification and evaluation run models this way).
template <class T, class D>
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module<T, D>& model) : model_(model), was_training_(model.is_training()) { model.eval(); }
  ~EvalModeGuard() { model_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module<T, D>& model_;
  bool was_training_;
};

}  // namespace trustml::nn
