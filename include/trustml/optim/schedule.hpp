// trustml/optim/schedule.hpp: learning-rate schedules.
//
// A schedule is a pure function of the step: lr_at(step) (step >= 0, counted from 0), which the tests
// and plots use directly; apply(opt, step) writes it into an optimizer's groups. The caller owns the
// step counter, so resuming from a checkpoint is apply(opt, saved_step):
//
//   WarmupCosineLR schedule(/*base_lr=*/3e-4, /*warmup_steps=*/100, /*total_steps=*/10000);
//   for (std::int64_t s = 0; s < 10000; ++s) { schedule.apply(opt, s); ...; opt.step(); }
//
// Groups that need different learning rates get one schedule each: apply(opt, group, step).
//
//   StepLR(base, step_size, gamma)         base * gamma^floor(step / step_size)
//   MultiStepLR(base, milestones, gamma)   base * gamma^(number of milestones <= step)
//   WarmupCosineLR(base, warmup, total, min_lr)
//                                          base * step / warmup while step < warmup, then a half
//                                          cosine from base down to min_lr at total, min_lr after
//   LinearLR(base, start_factor, end_factor, total_steps)
//                                          base * factor, the factor moving linearly from start to
//                                          end over total_steps, then staying at end
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/optim/optimizer.hpp"

namespace trustml::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;

  const char* name() const { return name_; }
  double base_lr() const { return base_lr_; }

  double lr_at(std::int64_t step) const {
    TRUSTML_CHECK(step >= 0, name_, "step must be >= 0, got ", step);
    return compute(step);
  }

  // Sets the learning rate of every group of `opt`, or of group `group`, to lr_at(step).
  template <class T, class D>
  void apply(Optimizer<T, D>& opt, std::int64_t step) const {
    opt.set_lr(lr_at(step));
  }
  template <class T, class D>
  void apply(Optimizer<T, D>& opt, std::size_t group, std::int64_t step) const {
    opt.set_lr(group, lr_at(step));
  }

 protected:
  LrSchedule(const char* name, double base_lr) : name_(name), base_lr_(base_lr) {
    TRUSTML_CHECK(base_lr >= 0, name_, "base_lr must be >= 0, got ", base_lr);
  }

 private:
  virtual double compute(std::int64_t step) const = 0;

  const char* name_;
  double base_lr_;
};

class StepLR final : public LrSchedule {
 public:
  StepLR(double base_lr, std::int64_t step_size, double gamma = 0.1)
      : LrSchedule("StepLR", base_lr), step_size_(step_size), gamma_(gamma) {
    TRUSTML_CHECK(step_size > 0, "StepLR", "step_size must be > 0, got ", step_size);
    TRUSTML_CHECK(gamma > 0, "StepLR", "gamma must be > 0, got ", gamma);
  }

 private:
  double compute(std::int64_t step) const override {
    return base_lr() * std::pow(gamma_, static_cast<double>(step / step_size_));
  }

  std::int64_t step_size_;
  double gamma_;
};

class MultiStepLR final : public LrSchedule {
 public:
  MultiStepLR(double base_lr, std::vector<std::int64_t> milestones, double gamma = 0.1)
      : LrSchedule("MultiStepLR", base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
    for (std::size_t i = 0; i < milestones_.size(); ++i) {
      TRUSTML_CHECK(milestones_[i] > 0, "MultiStepLR", "milestone ", i, " must be > 0, got ", milestones_[i]);
      TRUSTML_CHECK(i == 0 || milestones_[i] > milestones_[i - 1], "MultiStepLR",
                    "milestones must increase strictly, got ", milestones_[i - 1], " then ", milestones_[i]);
    }
    TRUSTML_CHECK(gamma > 0, "MultiStepLR", "gamma must be > 0, got ", gamma);
  }

 private:
  double compute(std::int64_t step) const override {
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
    return base_lr() * std::pow(gamma_, static_cast<double>(passed));
  }

  std::vector<std::int64_t> milestones_;
  double gamma_;
};

class WarmupCosineLR final : public LrSchedule {
 public:
  WarmupCosineLR(double base_lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr = 0)
      : LrSchedule("WarmupCosineLR", base_lr), warmup_(warmup_steps), total_(total_steps), min_lr_(min_lr) {
    TRUSTML_CHECK(warmup_steps >= 0, "WarmupCosineLR", "warmup_steps must be >= 0, got ", warmup_steps);
    TRUSTML_CHECK(total_steps > warmup_steps, "WarmupCosineLR", "total_steps (", total_steps,
                  ") must exceed warmup_steps (", warmup_steps, ")");
    TRUSTML_CHECK(min_lr >= 0 && min_lr <= base_lr, "WarmupCosineLR", "min_lr must be in [0, base_lr = ", base_lr,
                  "], got ", min_lr);
  }

 private:
  double compute(std::int64_t step) const override {
    if (step < warmup_) return base_lr() * static_cast<double>(step) / static_cast<double>(warmup_);
    if (step >= total_) return min_lr_;
    const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
    return min_lr_ + (base_lr() - min_lr_) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
  }

  std::int64_t warmup_, total_;
  double min_lr_;
};

class LinearLR final : public LrSchedule {
 public:
  // PyTorch's defaults and bounds: start_factor in (0, 1], end_factor in [0, 1].
  LinearLR(double base_lr, double start_factor = 1.0 / 3, double end_factor = 1.0, std::int64_t total_steps = 5)
      : LrSchedule("LinearLR", base_lr), start_(start_factor), end_(end_factor), total_(total_steps) {
    TRUSTML_CHECK(start_factor > 0 && start_factor <= 1, "LinearLR", "start_factor must be in (0, 1], got ",
                  start_factor);
    TRUSTML_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR", "end_factor must be in [0, 1], got ", end_factor);
    TRUSTML_CHECK(total_steps > 0, "LinearLR", "total_steps must be > 0, got ", total_steps);
  }

 private:
  double compute(std::int64_t step) const override {
    const double done = static_cast<double>(std::min(step, total_)) / static_cast<double>(total_);
    return base_lr() * (start_ + (end_ - start_) * done);
  }

  double start_, end_;
  std::int64_t total_;
};

}  // namespace trustml::optim
