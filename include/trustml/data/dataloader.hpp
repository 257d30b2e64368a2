// trustml/data/dataloader.hpp: mini-batches of a LabeledImages data set for a training loop.
//
//   DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1,
//                             .augmentation = {.crop_padding = 2, .horizontal_flip = true}});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const Batch& batch : loader) step(batch.images, batch.labels);  // epochs 0, 1, 2, ...
//
// Everything random is a pure function of the seed: the sample order of epoch e is a Fisher-Yates
// permutation driven by Philox stream (seed, e), and the crop and flip of sample i in epoch e come
// from Philox block i of another stream of (seed, e). A run can therefore be resumed at any epoch
// (loader.epoch(e), or set_next_epoch) and reproduces the same batches, on any platform.
//
// A batch is assembled on the calling thread by copying whole image rows with memcpy (a batch of
// 128 Fashion-MNIST images is 400 KB: tens of microseconds), so there is no worker pool to manage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/random.hpp"
#include "trustml/data/dataset.hpp"
#include "trustml/tensor/tensor.hpp"

namespace trustml::data {

struct Batch {
  Tensor<float> images;               // [B, C, H, W]
  Tensor<std::int64_t> labels;        // [B]
  std::vector<std::int64_t> indices;  // the rows of the data set, in batch order
};

// Training-time augmentation, off by default.
struct Augmentation {
  // Pad each side with this many zero pixels, then crop a random window of the original size.
  std::int64_t crop_padding = 0;
  // Mirror left-right with probability 1/2 (after the crop).
  bool horizontal_flip = false;

  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

// The augmentation drawn for one sample: output(c, y, x) = input(c, y + shift_y, x' + shift_x) with
// x' = flip ? W - 1 - x : x, and zero where that falls outside the input.
struct CropFlip {
  std::int64_t shift_y = 0, shift_x = 0;  // in [-crop_padding, crop_padding]
  bool flip = false;
};

struct DataLoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = true;
  std::uint64_t seed = 0;
  bool drop_last = false;  // skip a last batch smaller than batch_size
  Augmentation augmentation{};
};

namespace detail {
// Copies one [C, H, W] image from src to dst under the augmentation `a`.
inline void crop_flip_image(const float* src, float* dst, std::int64_t channels, std::int64_t height,
                            std::int64_t width, const CropFlip& a) {
  // Output columns whose source column is inside the image (the same range with or without flip).
  const std::int64_t x_begin = std::max<std::int64_t>(0, -a.shift_x);
  const std::int64_t x_end = std::min<std::int64_t>(width, width - a.shift_x);
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t y = 0; y < height; ++y) {
      float* out = dst + (c * height + y) * width;
      const std::int64_t sy = y + a.shift_y;
      if (sy < 0 || sy >= height || x_begin >= x_end) {
        std::fill(out, out + width, 0.0f);
        continue;
      }
      const float* in = src + (c * height + sy) * width;
      if (!a.flip) {
        std::fill(out, out + x_begin, 0.0f);
        std::memcpy(out + x_begin, in + x_begin + a.shift_x, static_cast<std::size_t>(x_end - x_begin) * sizeof(float));
        std::fill(out + x_end, out + width, 0.0f);
      } else {
        // out[x] = cropped[W - 1 - x], inside the image for W - x_end <= x < W - x_begin.
        const std::int64_t mirrored_begin = width - x_end, mirrored_end = width - x_begin;
        const float* last = in + width - 1 + a.shift_x;  // out[x] = last[-x]
        std::fill(out, out + mirrored_begin, 0.0f);
        for (std::int64_t x = mirrored_begin; x < mirrored_end; ++x) out[x] = last[-x];
        std::fill(out + mirrored_end, out + width, 0.0f);
      }
    }
}
}  // namespace detail

// The batches of one epoch: a range (for (const Batch& b : loader.epoch(3))) and random access
// (operator[]). Copies are cheap handles to the same plan; it holds the data set's tensors, so it
// stays valid after the loader is gone.
class EpochBatches {
 public:
  struct Plan {
    LabeledImages data;
    DataLoaderOptions options;
    std::uint64_t epoch;
    std::vector<std::int64_t> order;  // the sample order of this epoch
    std::int64_t num_batches;
  };

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(std::shared_ptr<const Plan> plan, std::int64_t batch) : plan_(std::move(plan)), batch_(batch) {}
    Batch operator*() const { return EpochBatches::assemble(*plan_, batch_); }
    Iterator& operator++() {
      ++batch_;
      return *this;
    }
    void operator++(int) { ++batch_; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.batch_ >= it.plan_->num_batches; }

   private:
    std::shared_ptr<const Plan> plan_;
    std::int64_t batch_ = 0;
  };

  explicit EpochBatches(std::shared_ptr<const Plan> plan) : plan_(std::move(plan)) {}

  std::int64_t size() const { return plan_->num_batches; }
  std::uint64_t epoch() const { return plan_->epoch; }
  const std::vector<std::int64_t>& order() const { return plan_->order; }
  Batch operator[](std::int64_t b) const {
    TRUSTML_CHECK(b >= 0 && b < size(), "DataLoader", "batch ", b, " is out of range for an epoch of ", size(),
                  " batches");
    return assemble(*plan_, b);
  }
  Iterator begin() const { return Iterator(plan_, 0); }
  std::default_sentinel_t end() const { return {}; }

  // The augmentation of data set row `index` in epoch `epoch`: Philox block `index` of the epoch's
  // augmentation stream; lanes 0 and 1 give the crop window, lane 2 the flip.
  static CropFlip draw_augmentation(const DataLoaderOptions& options, std::uint64_t epoch, std::int64_t index) {
    const Augmentation& aug = options.augmentation;
    const std::uint64_t stream = streams::kAugment + epoch, block = 4 * static_cast<std::uint64_t>(index);
    CropFlip draw;
    if (aug.crop_padding > 0) {
      const std::int64_t window_positions = 2 * aug.crop_padding + 1;
      draw.shift_y = uniform_below(options.seed, stream, block, window_positions) - aug.crop_padding;
      draw.shift_x = uniform_below(options.seed, stream, block + 1, window_positions) - aug.crop_padding;
    }
    draw.flip = aug.horizontal_flip && random::uniform(options.seed, stream, block + 2) <= 0.5;
    return draw;
  }

 private:
  static Batch assemble(const Plan& plan, std::int64_t b) {
    const LabeledImages& data = plan.data;
    const std::int64_t n = data.images.size(0), row = data.image_numel();
    const std::int64_t first = b * plan.options.batch_size;
    const std::int64_t count = std::min(plan.options.batch_size, n - first);
    Batch batch{Tensor<float>::empty(Shape{count, data.images.size(1), data.images.size(2), data.images.size(3)}),
                Tensor<std::int64_t>::empty(Shape{count}),
                std::vector<std::int64_t>(plan.order.begin() + first, plan.order.begin() + first + count)};
    const float* src_images = data.images.data();
    const std::int64_t* src_labels = data.labels.data();
    float* dst_images = batch.images.data();
    std::int64_t* dst_labels = batch.labels.data();
    const bool augment = plan.options.augmentation.enabled();
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t i = batch.indices[k];
      if (augment)
        detail::crop_flip_image(src_images + i * row, dst_images + k * row, data.images.size(1), data.images.size(2),
                                data.images.size(3), draw_augmentation(plan.options, plan.epoch, i));
      else std::memcpy(dst_images + k * row, src_images + i * row, static_cast<std::size_t>(row) * sizeof(float));
      dst_labels[k] = src_labels[i];
    }
    return batch;
  }

  std::shared_ptr<const Plan> plan_;
};

class DataLoader {
 public:
  DataLoader(const LabeledImages& dataset, DataLoaderOptions options)
      : data_{dataset.images.defined() ? dataset.images.contiguous_data() : dataset.images,
              dataset.labels.defined() ? dataset.labels.contiguous_data() : dataset.labels},
        options_(options) {
    data_.validate("DataLoader");
    TRUSTML_CHECK(options_.batch_size >= 1, "DataLoader", "batch_size must be >= 1, got ", options_.batch_size);
    TRUSTML_CHECK(options_.augmentation.crop_padding >= 0, "DataLoader", "crop_padding must be >= 0, got ",
                  options_.augmentation.crop_padding);
  }

  const LabeledImages& dataset() const { return data_; }
  const DataLoaderOptions& options() const { return options_; }

  // Batches per epoch.
  std::int64_t size() const {
    const std::int64_t n = data_.size(), bs = options_.batch_size;
    return options_.drop_last ? n / bs : (n + bs - 1) / bs;
  }

  // The batches of epoch `e`: the same for the same (seed, e), different from epoch to epoch.
  EpochBatches epoch(std::uint64_t e) const {
    const std::int64_t n = data_.size();
    std::vector<std::int64_t> order;
    if (options_.shuffle) {
      order = random_permutation(n, options_.seed, streams::kShuffle + e);
    } else {
      order.resize(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) order[i] = i;
    }
    return EpochBatches(
        std::make_shared<const EpochBatches::Plan>(EpochBatches::Plan{data_, options_, e, std::move(order), size()}));
  }

  // The augmentation sample `index` gets in epoch `e`.
  CropFlip augmentation(std::uint64_t e, std::int64_t index) const {
    return EpochBatches::draw_augmentation(options_, e, index);
  }

  // Range-for over the loader runs the next epoch (0 first) and advances the count, so a loop over
  // epochs needs no bookkeeping; set_next_epoch resumes a run.
  EpochBatches::Iterator begin() { return epoch(next_epoch_++).begin(); }
  std::default_sentinel_t end() const { return {}; }
  std::uint64_t next_epoch() const { return next_epoch_; }
  void set_next_epoch(std::uint64_t e) { next_epoch_ = e; }

 private:
  LabeledImages data_;
  DataLoaderOptions options_;
  std::uint64_t next_epoch_ = 0;
};

}  // namespace trustml::data
