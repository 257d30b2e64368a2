// trustml/optim/sgd.hpp: stochastic gradient descent with momentum, dampening, Nesterov momentum and
// weight decay, with torch.optim.SGD's semantics:
//
//   g = grad + weight_decay * p
//   buf = g                                          on the parameter's first update
//   buf = momentum * buf + (1 - dampening) * g       on later ones          (only when momentum != 0)
//   g = nesterov ? g + momentum * buf : buf
//   p = p - lr * g
//
// Per-group options: "momentum", "dampening". Nesterov is optimizer-wide and needs momentum > 0 and
// zero dampening in every group.
//
//   SGD<float> opt(model_params, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
//   loss.backward(); opt.step(); opt.zero_grad();
#pragma once

#include <set>
#include <string>
#include <vector>

#include "trustml/optim/optimizer.hpp"

namespace trustml::optim {

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

namespace detail {
// One SGD update of element i: parameter, gradient and momentum buffer in one pass.
template <class V>
struct SgdStep {
  Elements<V> param;
  Elements<const V> grad;
  V* momentum_buffer;  // null when momentum == 0
  V lr, weight_decay, momentum, one_minus_dampening;
  bool first;  // the buffer is new: it starts as the gradient
  bool nesterov;

  TRUSTML_HD void operator()(std::int64_t i) const {
    const V p = param[i];
    V g = grad[i];
    if (weight_decay != V(0)) g = g + weight_decay * p;
    if (momentum_buffer) {
      const V buf = first ? g : momentum * momentum_buffer[i] + one_minus_dampening * g;
      momentum_buffer[i] = buf;
      g = nesterov ? g + momentum * buf : buf;
    }
    param[i] = p - lr * g;
  }
};
}  // namespace detail

template <std::floating_point T, class D = Cpu>
class SGD final : public Optimizer<T, D> {
 public:
  using Base = Optimizer<T, D>;
  using typename Base::Group;
  using typename Base::ParamState;

  // One group of `params` with `options`.
  explicit SGD(std::vector<Tensor<T, D>> params, const SgdOptions& options = {})
      : SGD(std::vector<Group>{Group{std::move(params)}}, options) {}
  // Several groups; what a group leaves unset comes from `defaults`.
  SGD(std::vector<Group> groups, const SgdOptions& defaults)
      : Base("SGD", defaults.lr, defaults.weight_decay,
             {{"momentum", defaults.momentum}, {"dampening", defaults.dampening}}),
        nesterov_(defaults.nesterov) {
    for (auto& group : groups) this->add_param_group(std::move(group));
  }

  bool nesterov() const { return nesterov_; }

 protected:
  void update(const Group& group, const Tensor<T, D>& param, const Tensor<T, D>& grad, ParamState& state) override {
    using V = typename D::template value_t<T>;
    const double momentum = group.option("momentum");
    detail::SgdStep<V> f{detail::elements(param),
                         detail::const_elements(grad),
                         nullptr,
                         V(group.lr),
                         V(group.weight_decay),
                         V(momentum),
                         V(1 - group.option("dampening")),
                         false,
                         nesterov_};
    if (momentum != 0) {
      f.momentum_buffer = detail::buffer_data(this->buffer(state, "momentum_buffer", param, &f.first));
    }
    kernels::Kernels<D>::for_each(param.numel(), f);
  }

  void validate_options(const Group& group, std::size_t g) const override {
    const double momentum = group.option("momentum"), dampening = group.option("dampening");
    TRUSTML_CHECK(momentum >= 0, "SGD", "group ", g, ": momentum must be >= 0, got ", momentum);
    TRUSTML_CHECK(dampening == dampening, "SGD", "group ", g, ": dampening is NaN");
    TRUSTML_CHECK(!nesterov_ || (momentum > 0 && dampening == 0), "SGD", "group ", g,
                  ": Nesterov momentum needs momentum > 0 and dampening 0, got momentum ", momentum, " and dampening ",
                  dampening);
  }

  std::set<std::string> buffer_names() const override { return {"momentum_buffer"}; }
  std::vector<std::string> required_buffers(const Group& group) const override {
    if (group.option("momentum") != 0) return {"momentum_buffer"};
    return {};
  }

 private:
  bool nesterov_;
};

}  // namespace trustml::optim
