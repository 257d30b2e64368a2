// trustml/optim/adam.hpp: Adam (with L2 weight decay and optional AMSGrad) and AdamW (decoupled
// weight decay), with torch.optim.Adam's and torch.optim.AdamW's semantics. At update t of a parameter:
//
//   AdamW:  p = p * (1 - lr * weight_decay)          Adam:  g = grad + weight_decay * p
//   m = beta1 * m + (1 - beta1) * g                  (PyTorch's lerp, computed as it does)
//   v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v)                            (AMSGrad only; the denominator then uses v_max)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p - lr / (1 - beta1^t) * m / denom
//
// The bias corrections and step size are computed on the host in double, then the whole update runs
// as one element functor (m, v, v_max and p written in one pass).
//
// Per-group options: "beta1", "beta2", "eps". AMSGrad is optimizer-wide.
//
//   AdamW<float> opt(params, {.lr = 3e-4, .weight_decay = 0.1});
#pragma once

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "trustml/core/scalar.hpp"
#include "trustml/optim/optimizer.hpp"

namespace trustml::optim {

// PyTorch's defaults; they differ only in weight_decay.
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

namespace detail {
// a + w * (b - a) as torch.lerp computes it: from the nearer end, so w = 1 gives b exactly.
template <class V>
TRUSTML_HD V lerp(V a, V b, V w) {
  return w < V(0.5) ? a + w * (b - a) : b - (b - a) * (V(1) - w);
}

// One Adam/AdamW update of element i.
template <class V>
struct AdamStep {
  Elements<V> param;
  Elements<const V> grad;
  V* exp_avg;
  V* exp_avg_sq;
  V* max_exp_avg_sq;  // null without AMSGrad
  V one_minus_beta1, beta2, one_minus_beta2, eps;
  V l2;                     // Adam's weight decay, added to the gradient (0 for AdamW)
  V decay;                  // AdamW's factor 1 - lr * weight_decay (1 for Adam)
  V step_size;              // lr / (1 - beta1^t)
  V bias_correction2_sqrt;  // sqrt(1 - beta2^t)

  TRUSTML_HD void operator()(std::int64_t i) const {
    V p = param[i];
    V g = grad[i];
    if (l2 != V(0)) g = g + l2 * p;
    if (decay != V(1)) p = p * decay;
    const V m = lerp(exp_avg[i], g, one_minus_beta1);
    const V v = exp_avg_sq[i] * beta2 + one_minus_beta2 * (g * g);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    V second = v;
    if (max_exp_avg_sq) {
      const V previous = max_exp_avg_sq[i];
      second = (v != v || v > previous) ? v : previous;  // NaN propagates, as torch.maximum
      max_exp_avg_sq[i] = second;
    }
    const V denom = math::sqrt(second) / bias_correction2_sqrt + eps;
    param[i] = p - step_size * (m / denom);
  }
};
}  // namespace detail

template <std::floating_point T, class D = Cpu>
class Adam : public Optimizer<T, D> {
 public:
  using Base = Optimizer<T, D>;
  using typename Base::Group;
  using typename Base::ParamState;

  explicit Adam(std::vector<Tensor<T, D>> params, const AdamOptions& options = {})
      : Adam(std::vector<Group>{Group{std::move(params)}}, options) {}
  Adam(std::vector<Group> groups, const AdamOptions& defaults)
      : Adam("Adam", std::move(groups), defaults.lr, defaults.beta1, defaults.beta2, defaults.eps,
             defaults.weight_decay, defaults.amsgrad, false) {}

  bool amsgrad() const { return amsgrad_; }
  // Whether weight decay is decoupled from the gradient (AdamW) or added to it (Adam).
  bool decoupled_weight_decay() const { return decoupled_; }

 protected:
  Adam(std::string name, std::vector<Group> groups, double lr, double beta1, double beta2, double eps,
       double weight_decay, bool amsgrad, bool decoupled)
      : Base(std::move(name), lr, weight_decay, {{"beta1", beta1}, {"beta2", beta2}, {"eps", eps}}),
        amsgrad_(amsgrad),
        decoupled_(decoupled) {
    for (auto& group : groups) this->add_param_group(std::move(group));
  }

  void update(const Group& group, const Tensor<T, D>& param, const Tensor<T, D>& grad, ParamState& state) override {
    using V = typename D::template value_t<T>;
    const double beta1 = group.option("beta1"), beta2 = group.option("beta2");
    const double t = static_cast<double>(state.step);
    const double bias_correction1 = 1 - std::pow(beta1, t), bias_correction2 = 1 - std::pow(beta2, t);
    detail::AdamStep<V> f{detail::elements(param),
                          detail::const_elements(grad),
                          detail::buffer_data(this->buffer(state, "exp_avg", param)),
                          detail::buffer_data(this->buffer(state, "exp_avg_sq", param)),
                          amsgrad_ ? detail::buffer_data(this->buffer(state, "max_exp_avg_sq", param)) : nullptr,
                          V(1 - beta1),
                          V(beta2),
                          V(1 - beta2),
                          V(group.option("eps")),
                          V(decoupled_ ? 0.0 : group.weight_decay),
                          V(decoupled_ ? 1 - group.lr * group.weight_decay : 1.0),
                          V(group.lr / bias_correction1),
                          V(std::sqrt(bias_correction2))};
    kernels::Kernels<D>::for_each(param.numel(), f);
  }

  void validate_options(const Group& group, std::size_t g) const override {
    const double beta1 = group.option("beta1"), beta2 = group.option("beta2"), eps = group.option("eps");
    const char* op = this->name().c_str();
    TRUSTML_CHECK(beta1 >= 0 && beta1 < 1, op, "group ", g, ": beta1 must be in [0, 1), got ", beta1);
    TRUSTML_CHECK(beta2 >= 0 && beta2 < 1, op, "group ", g, ": beta2 must be in [0, 1), got ", beta2);
    TRUSTML_CHECK(eps >= 0, op, "group ", g, ": eps must be >= 0, got ", eps);
  }

  std::set<std::string> buffer_names() const override {
    if (amsgrad_) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }
  std::vector<std::string> required_buffers(const Group&) const override {
    if (amsgrad_) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

 private:
  bool amsgrad_, decoupled_;
};

template <std::floating_point T, class D = Cpu>
class AdamW final : public Adam<T, D> {
 public:
  using typename Adam<T, D>::Group;

  explicit AdamW(std::vector<Tensor<T, D>> params, const AdamWOptions& options = {})
      : AdamW(std::vector<Group>{Group{std::move(params)}}, options) {}
  AdamW(std::vector<Group> groups, const AdamWOptions& defaults)
      : Adam<T, D>("AdamW", std::move(groups), defaults.lr, defaults.beta1, defaults.beta2, defaults.eps,
                   defaults.weight_decay, defaults.amsgrad, true) {}
};

}  // namespace trustml::optim
