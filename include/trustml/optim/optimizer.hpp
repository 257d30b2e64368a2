// trustml/optim/optimizer.hpp: what every optimizer shares: parameter groups, per-parameter state,
// the step loop, zero_grad, learning-rate setters, and named state for checkpoints.
//
// Parameters are leaf tensors. step() updates them in place (the leaf keeps its identity and its
// storage; its version counter is bumped) under NoGradGuard, one fused element functor per parameter
// run by Kernels<D>::for_each, so the same code runs on every device. Parameters without a gradient
// are skipped, as in PyTorch, and their state does not advance.
//
// State is kept per parameter by position (group g, index i): an update counter and named buffers
// (SGD's momentum_buffer, Adam's exp_avg, ...), created on the parameter's first update. state()
// names them "group<g>.param<i>.<buffer>", with the counter as the 0-d tensor "group<g>.param<i>.step"
// (exact up to 2^24 updates in float, as PyTorch's float step tensor). Hyperparameters are not part of
// the state: a resumed run sets them again (its schedule does).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "trustml/autograd/node.hpp"
#include "trustml/core/config.hpp"
#include "trustml/core/shape.hpp"
#include "trustml/kernels/api.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::optim {

// Named tensors: an optimizer's state as state() returns it and load_state() takes it.
template <class T, class D>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T, D>>>;

// Optimizer-specific hyperparameters by name. A std::map with a user-provided default constructor:
// GCC 12 crashes (internal compiler error in nothrow_spec_p) on a designated initializer of a
// ParamGroup inside a braced list when this member's type has a defaulted one, as std::map does.
struct OptionMap : std::map<std::string, double> {
  using std::map<std::string, double>::map;
  OptionMap() {}
};

// A set of parameters sharing hyperparameters. A hyperparameter left unset (NaN for lr and
// weight_decay, absent from `options`) takes the optimizer's default when the group is added.
template <std::floating_point T, class D = Cpu>
struct ParamGroup {
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();

  std::vector<Tensor<T, D>> params{};
  double lr = kUnset;
  double weight_decay = kUnset;
  // The optimizer's own hyperparameters by name ("momentum", "dampening" for SGD; "beta1", "beta2",
  // "eps" for Adam and AdamW).
  OptionMap options{};

  double option(const std::string& name) const {
    auto it = options.find(name);
    TRUSTML_CHECK(it != options.end(), "ParamGroup", "no option named '", name, "'");
    return it->second;
  }
};

namespace detail {
// Element i (row-major) of a tensor as an update functor reads and writes it. Parameters and
// gradients are usually contiguous; a strided one (a leaf made from a view) pays for the index math.
template <class V>
struct Elements {
  V* ptr;
  Shape shape;
  Strides strides;
  bool contiguous;

  TRUSTML_HD V& operator[](std::int64_t i) const {
    if (contiguous) return ptr[i];
    std::int64_t offset = 0;
    for (int d = shape.rank - 1; d >= 0; --d) {
      offset += (i % shape.dims[d]) * strides.dims[d];
      i /= shape.dims[d];
    }
    return ptr[offset];
  }
};

template <class T, class D>
Elements<typename D::template value_t<T>> elements(const Tensor<T, D>& t) {
  return {reinterpret_cast<typename D::template value_t<T>*>(t.data()), t.shape(), t.strides(), t.is_contiguous()};
}
template <class T, class D>
Elements<const typename D::template value_t<T>> const_elements(const Tensor<T, D>& t) {
  return {reinterpret_cast<const typename D::template value_t<T>*>(t.data()), t.shape(), t.strides(),
          t.is_contiguous()};
}

// The data pointer of a state buffer (always contiguous, created by the optimizer).
template <class T, class D>
typename D::template value_t<T>* buffer_data(const Tensor<T, D>& t) {
  return reinterpret_cast<typename D::template value_t<T>*>(t.data());
}

// "group<g>.param<i>.<what>" split into its parts; false when `name` has another form.
inline bool parse_state_name(const std::string& name, std::size_t& group, std::size_t& index, std::string& what) {
  auto number_after = [&](std::size_t& pos, const std::string& prefix, std::size_t& value) {
    if (name.compare(pos, prefix.size(), prefix) != 0) return false;
    pos += prefix.size();
    const std::size_t start = pos;
    value = 0;
    while (pos < name.size() && name[pos] >= '0' && name[pos] <= '9' && pos - start < 9)
      value = value * 10 + static_cast<std::size_t>(name[pos++] - '0');
    return pos > start && pos < name.size() && name[pos++] == '.';
  };
  std::size_t pos = 0;
  if (!number_after(pos, "group", group) || !number_after(pos, "param", index)) return false;
  what = name.substr(pos);
  return !what.empty();
}
}  // namespace detail

template <std::floating_point T, class D = Cpu>
class Optimizer {
 public:
  using Group = ParamGroup<T, D>;
  using State = NamedTensors<T, D>;

  // What the optimizer keeps for one parameter.
  struct ParamState {
    std::int64_t step = 0;                        // updates this parameter has received
    std::map<std::string, Tensor<T, D>> buffers;  // created by the optimizer on first use
  };

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }
  // The groups, with every hyperparameter resolved. Editing a value is allowed (that is how
  // per-group schedules work); add groups with add_param_group, which fills in the defaults.
  std::vector<Group>& param_groups() { return groups_; }
  const std::vector<Group>& param_groups() const { return groups_; }

  // Adds a group: unset hyperparameters take this optimizer's defaults, then all are checked.
  void add_param_group(Group group) {
    const std::size_t g = groups_.size();
    if (group.lr != group.lr) group.lr = default_lr_;
    if (group.weight_decay != group.weight_decay) group.weight_decay = default_weight_decay_;
    for (const auto& [key, value] : group.options)
      TRUSTML_CHECK(default_options_.count(key), name_.c_str(), "group ", g, " has the unknown option '", key,
                    "' (known: ", known_options(), ")");
    for (const auto& [key, value] : default_options_) group.options.try_emplace(key, value);
    TRUSTML_CHECK(group.lr >= 0, name_.c_str(), "group ", g, ": learning rate must be >= 0, got ", group.lr);
    TRUSTML_CHECK(group.weight_decay >= 0, name_.c_str(), "group ", g, ": weight_decay must be >= 0, got ",
                  group.weight_decay);
    validate_options(group, g);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const auto& p = group.params[i];
      TRUSTML_CHECK(p.defined(), name_.c_str(), "group ", g, " param ", i, " is an undefined tensor");
      TRUSTML_CHECK(p.is_leaf(), name_.c_str(), "group ", g, " param ", i, " (shape ", p.shape(),
                    ") is not a leaf: only leaf tensors can be optimized");
      bool repeated = false;
      for (const auto& other : groups_)
        for (const auto& q : other.params) repeated = repeated || p.same(q);
      for (std::size_t j = 0; j < i; ++j) repeated = repeated || p.same(group.params[j]);
      TRUSTML_CHECK(!repeated, name_.c_str(), "group ", g, " param ", i, " (shape ", p.shape(),
                    ") appears twice among the parameters");
    }
    groups_.push_back(std::move(group));
    states_.emplace_back();
  }

  // One update of every parameter that has a gradient. Everything is checked before the first
  // parameter changes, so a failed step leaves the parameters as they were.
  virtual void step() {
    NoGradGuard no_grad;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const Group& group = groups_[g];
      // Catches groups pushed into param_groups() directly (their unset values are NaN) and edits
      // that made a value negative.
      TRUSTML_CHECK(group.lr >= 0 && group.weight_decay >= 0, name_.c_str(), "group ", g, " has lr ", group.lr,
                    " and weight_decay ", group.weight_decay, "; both must be >= 0 (add groups with add_param_group)");
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        const Tensor<T, D> grad = group.params[i].grad();
        TRUSTML_CHECK(!grad.defined() || grad.shape() == group.params[i].shape(), name_.c_str(), "group ", g, " param ",
                      i, ": gradient shape ", grad.shape(), " differs from the parameter's shape ",
                      group.params[i].shape());
      }
    }
    states_.resize(std::max(states_.size(), groups_.size()));
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const Group& group = groups_[g];
      states_[g].resize(std::max(states_[g].size(), group.params.size()));
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        const Tensor<T, D>& p = group.params[i];
        const Tensor<T, D> grad = p.grad();
        if (!grad.defined()) continue;
        ParamState& state = states_[g][i];
        ++state.step;
        update(group, p, grad, state);
        p.bump_version();
      }
    }
  }

  // Drops every parameter's gradient (set_to_none, PyTorch's default) or sets it to zero in place.
  void zero_grad(bool set_to_none = true) {
    NoGradGuard no_grad;
    for (auto& group : groups_)
      for (auto& p : group.params) {
        Tensor<T, D> grad = p.grad();
        if (!grad.defined()) continue;
        if (set_to_none) p.zero_grad();
        else if (grad.is_contiguous()) grad.fill_(T(0));
        else p.set_grad(Tensor<T, D>::zeros(p.shape()));
      }
  }

  // Sets the learning rate of every group, or of group `g`.
  void set_lr(double lr) {
    for (std::size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
  }
  void set_lr(std::size_t g, double lr) {
    TRUSTML_CHECK(g < groups_.size(), "set_lr", "group ", g, " of ", groups_.size(), " in ", name_);
    TRUSTML_CHECK(lr >= 0, "set_lr", "learning rate must be >= 0, got ", lr, " (", name_, " group ", g, ")");
    groups_[g].lr = lr;
  }
  double lr(std::size_t g = 0) const {
    TRUSTML_CHECK(g < groups_.size(), "lr", "group ", g, " of ", groups_.size(), " in ", name_);
    return groups_[g].lr;
  }

  // A snapshot (copies) of every updated parameter's state, named as in the header comment.
  State state() const {
    State out;
    for (std::size_t g = 0; g < states_.size(); ++g)
      for (std::size_t i = 0; i < states_[g].size(); ++i) {
        const ParamState& s = states_[g][i];
        if (s.step == 0 && s.buffers.empty()) continue;
        const std::string prefix = "group" + std::to_string(g) + ".param" + std::to_string(i) + ".";
        out.emplace_back(prefix + "step", Tensor<T, D>::scalar(static_cast<T>(s.step)));
        for (const auto& [what, buffer] : s.buffers) out.emplace_back(prefix + what, buffer.clone());
      }
    return out;
  }

  // Replaces the state with (copies of) `saved`, as state() of an optimizer over parameters of the
  // same shapes and groups wrote it. Every entry is checked before anything changes: an unknown or
  // repeated name, a missing step or buffer, or a shape that is not the parameter's is an error
  // naming the entry.
  void load_state(const State& saved) {
    std::vector<std::vector<ParamState>> loaded(groups_.size());
    std::vector<std::vector<bool>> has_step(groups_.size());
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      loaded[g].resize(groups_[g].params.size());
      has_step[g].assign(groups_[g].params.size(), false);
    }
    const std::set<std::string> known = buffer_names();
    for (const auto& [name, tensor] : saved) {
      std::size_t g = 0, i = 0;
      std::string what;
      TRUSTML_CHECK(detail::parse_state_name(name, g, i, what), "load_state", "'", name, "' is not a state name of ",
                    name_, " (group<g>.param<i>.<buffer>)");
      TRUSTML_CHECK(g < groups_.size() && i < groups_[g].params.size(), "load_state", "'", name, "' names a parameter ",
                    name_, " does not have (", groups_.size(), " groups)");
      TRUSTML_CHECK(tensor.defined(), "load_state", "'", name, "' is an undefined tensor");
      ParamState& s = loaded[g][i];
      if (what == "step") {
        TRUSTML_CHECK(!has_step[g][i], "load_state", "'", name, "' appears twice");
        TRUSTML_CHECK(tensor.numel() == 1, "load_state", "'", name, "' must hold one value, got shape ",
                      tensor.shape());
        const T value = tensor.item();
        TRUSTML_CHECK(value >= 0 && value < T(1e15) && value == std::floor(value), "load_state", "'", name,
                      "' must be a non-negative integer, got ", value);
        s.step = static_cast<std::int64_t>(value);
        has_step[g][i] = true;
        continue;
      }
      TRUSTML_CHECK(known.count(what), "load_state", "'", name, "': ", name_, " has no buffer named '", what, "'");
      TRUSTML_CHECK(!s.buffers.count(what), "load_state", "'", name, "' appears twice");
      const Shape& want = groups_[g].params[i].shape();
      TRUSTML_CHECK(tensor.shape() == want, "load_state", "'", name, "' has shape ", tensor.shape(),
                    " but the parameter has shape ", want);
      s.buffers.emplace(what, tensor.clone());
    }
    for (std::size_t g = 0; g < groups_.size(); ++g)
      for (std::size_t i = 0; i < loaded[g].size(); ++i) {
        const ParamState& s = loaded[g][i];
        const std::string prefix = "group" + std::to_string(g) + ".param" + std::to_string(i) + ".";
        TRUSTML_CHECK(has_step[g][i] || s.buffers.empty(), "load_state", "'", prefix, "step' is missing");
        if (s.step == 0) continue;
        for (const std::string& what : required_buffers(groups_[g]))
          TRUSTML_CHECK(s.buffers.count(what), "load_state", "'", prefix, what, "' is missing");
      }
    states_ = std::move(loaded);
  }

 protected:
  Optimizer(std::string name, double default_lr, double default_weight_decay, OptionMap default_options)
      : name_(std::move(name)),
        default_lr_(default_lr),
        default_weight_decay_(default_weight_decay),
        default_options_(std::move(default_options)) {}

  // Applies one update to `param` in place. state.step already counts this update.
  virtual void update(const Group& group, const Tensor<T, D>& param, const Tensor<T, D>& grad, ParamState& state) = 0;
  // Checks a group's options (add_param_group has resolved them); throws naming group `g`.
  virtual void validate_options(const Group& group, std::size_t g) const = 0;
  // Every buffer name this optimizer may keep, and those a parameter of `group` has once updated.
  virtual std::set<std::string> buffer_names() const = 0;
  virtual std::vector<std::string> required_buffers(const Group& group) const = 0;

  // The buffer `what` of `state`, created as zeros shaped like `param` when missing. `created`
  // tells the caller it is new (SGD starts its momentum from the gradient then).
  static Tensor<T, D>& buffer(ParamState& state, const std::string& what, const Tensor<T, D>& param,
                              bool* created = nullptr) {
    auto [it, inserted] = state.buffers.try_emplace(what);
    if (inserted) it->second = Tensor<T, D>::zeros(param.shape());
    if (created) *created = inserted;
    return it->second;
  }

 private:
  std::string known_options() const {
    std::string names;
    for (const auto& [key, value] : default_options_) names += (names.empty() ? "" : ", ") + key;
    return names.empty() ? "none" : names;
  }

  std::string name_;
  double default_lr_, default_weight_decay_;
  OptionMap default_options_;
  std::vector<Group> groups_;
  std::vector<std::vector<ParamState>> states_;  // parallel to groups_, by parameter position
};

}  // namespace trustml::optim
