// trustml/data/dataset.hpp: LabeledImages, an in-memory labeled image data set, and the ways the
// experiments cut it: subsets, class subsets, class-incremental tasks, source/target splits,
// seeded random and forget/retain splits, and per-channel normalization.
//
// A data set is two tensors on the CPU: images [N, C, H, W] (float) and labels [N] (int64, class
// ids >= 0). Every operation returns a new data set with its own contiguous storage, so rows can be
// copied with memcpy and the result never aliases the source. Random splits draw from Philox
// (core/random.hpp) with a stream per purpose, so a (seed, data set) pair gives the same split on
// every run, platform and thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/random.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::data {

// Philox streams of the data module: one per purpose, so no two draws ever share numbers.
namespace streams {
inline constexpr std::uint64_t kRandomSplit = 0xDA7A0001ull << 32;
inline constexpr std::uint64_t kForgetSplit = 0xDA7A0002ull << 32;
inline constexpr std::uint64_t kShuffle = 0xDA7A0003ull << 32;  // + epoch
inline constexpr std::uint64_t kAugment = 0xDA7A0004ull << 32;  // + epoch
}  // namespace streams

// A uniform integer in [0, bound) from draw `index` of (seed, stream). The draw u is in (0, 1], so
// floor(u * bound) is bound only for the largest 32-bit draw, which is folded onto bound - 1.
inline std::int64_t uniform_below(std::uint64_t seed, std::uint64_t stream, std::uint64_t index, std::int64_t bound) {
  const auto k = static_cast<std::int64_t>(random::uniform(seed, stream, index) * static_cast<double>(bound));
  return std::min(k, bound - 1);
}

// A permutation of 0..n-1: Fisher-Yates driven by the Philox stream (seed, stream).
inline std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t seed, std::uint64_t stream) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[uniform_below(seed, stream, static_cast<std::uint64_t>(i), i + 1)]);
  return order;
}

// Contiguous groups of classes 0..num_classes-1, one per task, sizes differing by at most one
// (the first num_classes % num_tasks groups get the extra class).
inline std::vector<std::vector<std::int64_t>> consecutive_class_groups(std::int64_t num_classes,
                                                                       std::int64_t num_tasks) {
  TRUSTML_CHECK(num_tasks >= 1 && num_tasks <= num_classes, "consecutive_class_groups", "cannot split ", num_classes,
                " classes into ", num_tasks, " non-empty tasks");
  std::vector<std::vector<std::int64_t>> groups(static_cast<std::size_t>(num_tasks));
  std::int64_t next = 0;
  for (std::int64_t t = 0; t < num_tasks; ++t) {
    const std::int64_t count = num_classes / num_tasks + (t < num_classes % num_tasks ? 1 : 0);
    for (std::int64_t k = 0; k < count; ++k) groups[t].push_back(next++);
  }
  return groups;
}

struct ChannelStats {
  std::vector<double> mean;    // one per channel
  std::vector<double> stddev;  // population standard deviation, one per channel
};

struct SourceTargetSplit;
struct RandomSplit;
struct ForgetRetainSplit;
// Which samples to forget: a random fraction of all samples, or every sample of one class.
struct ForgetFraction {
  double value;
};
struct ForgetClass {
  std::int64_t value;
};

struct LabeledImages {
  Tensor<float> images;         // [N, C, H, W]
  Tensor<std::int64_t> labels;  // [N], class ids >= 0

  std::int64_t size() const { return checked("size").images.size(0); }
  std::int64_t channels() const { return checked("channels").images.size(1); }
  std::int64_t height() const { return checked("height").images.size(2); }
  std::int64_t width() const { return checked("width").images.size(3); }
  // Floats per image (C * H * W).
  std::int64_t image_numel() const { return channels() * height() * width(); }
  // Largest label + 1 (0 for an empty set).
  std::int64_t num_classes() const {
    const auto labels_host = checked("num_classes").labels.to_vector();
    std::int64_t top = -1;
    for (std::int64_t y : labels_host) top = std::max(top, y);
    return top + 1;
  }
  // How many samples each class 0..num_classes()-1 has.
  std::vector<std::int64_t> class_counts() const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes()), 0);
    for (std::int64_t y : labels.to_vector()) ++counts[static_cast<std::size_t>(y)];
    return counts;
  }

  // The rows `indices` (in that order; repeats allowed).
  LabeledImages subset(const std::vector<std::int64_t>& indices) const {
    const LabeledImages& self = checked("subset");
    const Tensor<float> src_images = self.images.contiguous_data();
    const Tensor<std::int64_t> src_labels = self.labels.contiguous_data();
    const std::int64_t n = self.size(), row = self.image_numel();
    Shape shape = src_images.shape();
    shape.dims[0] = static_cast<std::int64_t>(indices.size());
    LabeledImages out{Tensor<float>::empty(shape), Tensor<std::int64_t>::empty(Shape{shape.dims[0]})};
    float* dst_images = out.images.data();
    std::int64_t* dst_labels = out.labels.data();
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const std::int64_t i = indices[k];
      TRUSTML_CHECK(i >= 0 && i < n, "subset", "index ", i, " (position ", k, ") is out of range for ", n, " samples");
      std::memcpy(dst_images + static_cast<std::int64_t>(k) * row, src_images.data() + i * row,
                  static_cast<std::size_t>(row) * sizeof(float));
      dst_labels[k] = src_labels.data()[i];
    }
    return out;
  }

  // The indices of the samples whose label is in `classes`, in order.
  std::vector<std::int64_t> indices_of_classes(const std::vector<std::int64_t>& classes) const {
    const auto labels_host = checked("indices_of_classes").labels.to_vector();
    std::vector<std::int64_t> indices;
    for (std::size_t i = 0; i < labels_host.size(); ++i)
      if (std::find(classes.begin(), classes.end(), labels_host[i]) != classes.end())
        indices.push_back(static_cast<std::int64_t>(i));
    return indices;
  }

  // The samples of `classes`. With remap_labels, class classes[k] becomes label k (a fresh head of
  // k outputs); otherwise labels are kept.
  LabeledImages classes_subset(const std::vector<std::int64_t>& classes, bool remap_labels = false) const {
    for (std::size_t a = 0; a < classes.size(); ++a) {
      TRUSTML_CHECK(classes[a] >= 0, "classes_subset", "class ids are >= 0, got ", classes[a]);
      for (std::size_t b = 0; b < a; ++b)
        TRUSTML_CHECK(classes[a] != classes[b], "classes_subset", "class ", classes[a], " is listed twice");
    }
    LabeledImages out = subset(indices_of_classes(classes));
    if (remap_labels) {
      std::int64_t* y = out.labels.data();
      for (std::int64_t i = 0; i < out.labels.numel(); ++i)
        y[i] = std::find(classes.begin(), classes.end(), y[i]) - classes.begin();
    }
    return out;
  }

  // Class-incremental learning: classes 0..num_classes()-1 cut into num_tasks consecutive groups
  // (consecutive_class_groups), one data set per task.
  std::vector<LabeledImages> class_incremental_tasks(std::int64_t num_tasks, bool remap_labels = false) const {
    std::vector<LabeledImages> tasks;
    for (const auto& group : consecutive_class_groups(num_classes(), num_tasks))
      tasks.push_back(classes_subset(group, remap_labels));
    return tasks;
  }

  // Source: the samples of source_classes; target: all others. Labels are kept.
  SourceTargetSplit split_by_classes(const std::vector<std::int64_t>& source_classes) const;
  // A uniformly random `fraction` of the samples (rounded to nearest) and the rest.
  RandomSplit random_split(double fraction, std::uint64_t seed) const;
  // Machine unlearning: the samples to forget and those to retain, disjoint and together complete.
  ForgetRetainSplit forget_retain_split(ForgetFraction forget, std::uint64_t seed) const;
  ForgetRetainSplit forget_retain_split(ForgetClass forget) const;

  // Per-channel mean and population standard deviation over all samples and pixels.
  ChannelStats mean_std() const {
    const LabeledImages& self = checked("mean_std");
    const Tensor<float> x = self.images.contiguous_data();
    const std::int64_t n = self.size(), c = self.channels(), plane = self.height() * self.width();
    TRUSTML_CHECK(n * plane > 0, "mean_std", "needs at least one pixel, got images of shape ", x.shape());
    ChannelStats stats{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
    for (std::int64_t ch = 0; ch < c; ++ch) {
      // Two passes (mean, then squared deviations): no cancellation for data far from zero.
      double sum = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* p = x.data() + (i * c + ch) * plane;
        for (std::int64_t k = 0; k < plane; ++k) sum += p[k];
      }
      const double mean = sum / static_cast<double>(n * plane);
      double squares = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* p = x.data() + (i * c + ch) * plane;
        for (std::int64_t k = 0; k < plane; ++k) squares += (p[k] - mean) * (p[k] - mean);
      }
      stats.mean[ch] = mean;
      stats.stddev[ch] = std::sqrt(squares / static_cast<double>(n * plane));
    }
    return stats;
  }

  // (x - mean[c]) / stddev[c] for each channel c; labels unchanged.
  LabeledImages normalize(const std::vector<double>& mean, const std::vector<double>& stddev) const {
    const LabeledImages& self = checked("normalize");
    const std::int64_t n = self.size(), c = self.channels(), plane = self.height() * self.width();
    TRUSTML_CHECK(static_cast<std::int64_t>(mean.size()) == c && static_cast<std::int64_t>(stddev.size()) == c,
                  "normalize", "needs one mean and one std per channel (", c, "), got ", mean.size(), " and ",
                  stddev.size());
    for (std::int64_t ch = 0; ch < c; ++ch)
      TRUSTML_CHECK(stddev[ch] > 0 && std::isfinite(stddev[ch]) && std::isfinite(mean[ch]), "normalize", "channel ", ch,
                    " has mean ", mean[ch], " and stddev ", stddev[ch], "; both must be finite, stddev > 0");
    LabeledImages out{self.images.contiguous_data().clone(), self.labels.contiguous_data().clone()};
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t ch = 0; ch < c; ++ch) {
        float* p = out.images.data() + (i * c + ch) * plane;
        const auto m = static_cast<float>(mean[ch]), inv = static_cast<float>(1.0 / stddev[ch]);
        for (std::int64_t k = 0; k < plane; ++k) p[k] = (p[k] - m) * inv;
      }
    return out;
  }
  LabeledImages normalize(const ChannelStats& stats) const { return normalize(stats.mean, stats.stddev); }

  // Throws unless images is [N, C, H, W], labels is [N] and every label is >= 0.
  void validate(const char* op = "LabeledImages") const {
    TRUSTML_CHECK(images.defined() && labels.defined(), op, "the data set's images or labels are undefined");
    TRUSTML_CHECK(images.dim() == 4, op, "images must be [N, C, H, W], got shape ", images.shape());
    TRUSTML_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), op,
                  "labels must be [N] with N = ", images.size(0), " (the number of images), got shape ",
                  labels.shape());
    for (std::int64_t y : labels.to_vector()) TRUSTML_CHECK(y >= 0, op, "labels must be >= 0, got ", y);
  }

 private:
  // The cheap part of validate(), run by every method.
  const LabeledImages& checked(const char* op) const {
    TRUSTML_CHECK(images.defined() && labels.defined(), op, "the data set's images or labels are undefined");
    TRUSTML_CHECK(images.dim() == 4 && labels.dim() == 1 && labels.size(0) == images.size(0), op,
                  "needs images [N, C, H, W] and labels [N], got ", images.shape(), " and ", labels.shape());
    return *this;
  }
};

struct SourceTargetSplit {
  LabeledImages source, target;
};
// Each part with its row indices in the original data set (sorted).
struct RandomSplit {
  LabeledImages first, second;
  std::vector<std::int64_t> first_indices, second_indices;
};
struct ForgetRetainSplit {
  LabeledImages forget, retain;
  std::vector<std::int64_t> forget_indices, retain_indices;
};

namespace detail {
// The indices 0..n-1 not in `chosen` (which is sorted).
inline std::vector<std::int64_t> complement(const std::vector<std::int64_t>& chosen, std::int64_t n) {
  std::vector<std::int64_t> rest;
  rest.reserve(static_cast<std::size_t>(n) - chosen.size());
  std::size_t k = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (k < chosen.size() && chosen[k] == i) ++k;
    else rest.push_back(i);
  }
  return rest;
}
// round(fraction * n) indices drawn without replacement, sorted.
inline std::vector<std::int64_t> random_sorted_subset(std::int64_t n, double fraction, std::uint64_t seed,
                                                      std::uint64_t stream, const char* op) {
  TRUSTML_CHECK(fraction >= 0 && fraction <= 1, op, "fraction must be in [0, 1], got ", fraction);
  auto order = random_permutation(n, seed, stream);
  order.resize(static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n))));
  std::sort(order.begin(), order.end());
  return order;
}
}  // namespace detail

inline SourceTargetSplit LabeledImages::split_by_classes(const std::vector<std::int64_t>& source_classes) const {
  const auto source = indices_of_classes(source_classes);
  return {subset(source), subset(detail::complement(source, size()))};
}

inline RandomSplit LabeledImages::random_split(double fraction, std::uint64_t seed) const {
  auto first = detail::random_sorted_subset(size(), fraction, seed, streams::kRandomSplit, "random_split");
  auto second = detail::complement(first, size());
  return {subset(first), subset(second), std::move(first), std::move(second)};
}

inline ForgetRetainSplit LabeledImages::forget_retain_split(ForgetFraction forget, std::uint64_t seed) const {
  auto forget_rows =
      detail::random_sorted_subset(size(), forget.value, seed, streams::kForgetSplit, "forget_retain_split");
  auto retain_rows = detail::complement(forget_rows, size());
  return {subset(forget_rows), subset(retain_rows), std::move(forget_rows), std::move(retain_rows)};
}

inline ForgetRetainSplit LabeledImages::forget_retain_split(ForgetClass forget) const {
  auto forget_rows = indices_of_classes({forget.value});
  TRUSTML_CHECK(!forget_rows.empty(), "forget_retain_split", "class ", forget.value, " has no samples to forget");
  auto retain_rows = detail::complement(forget_rows, size());
  return {subset(forget_rows), subset(retain_rows), std::move(forget_rows), std::move(retain_rows)};
}

}  // namespace trustml::data
