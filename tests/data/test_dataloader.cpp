// DataLoader: batching, seeded shuffling per epoch, drop_last, augmentation, speed.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ranges>
#include <set>
#include <string>
#include <trustml/data/dataloader.hpp>
#include <vector>

using namespace trustml;
using namespace trustml::data;

namespace {

// n images [c, h, w] whose pixel k of sample i is 1 + 100000 i + k (never 0, so padding shows), label i % 10.
LabeledImages numbered_dataset(std::int64_t n, std::int64_t c = 1, std::int64_t h = 5, std::int64_t w = 6) {
  const std::int64_t row = c * h * w;
  std::vector<float> x(static_cast<std::size_t>(n * row));
  std::vector<std::int64_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t k = 0; k < row; ++k) x[i * row + k] = static_cast<float>(1 + 100000 * i + k);
    y[i] = i % 10;
  }
  return {Tensor<float>::from_vector(x, {n, c, h, w}), Tensor<std::int64_t>::from_vector(y)};
}

std::vector<std::int64_t> epoch_order(const EpochBatches& epoch) {
  std::vector<std::int64_t> seen;
  for (const Batch& batch : epoch) seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
  return seen;
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

static_assert(std::ranges::input_range<EpochBatches>, "an epoch works with std::ranges algorithms");

TEST_CASE("every sample appears exactly once per epoch, in batches equal to the data set's rows") {
  const LabeledImages data = numbered_dataset(103);
  const std::vector<float> rows = data.images.to_vector();
  DataLoader loader(data, {.batch_size = 10, .shuffle = true, .seed = 5});
  CHECK(loader.size() == 11);
  const EpochBatches epoch = loader.epoch(0);
  CHECK(epoch.size() == 11);
  std::vector<std::int64_t> seen;
  for (const Batch& batch : epoch) {
    const std::int64_t b = static_cast<std::int64_t>(batch.indices.size());
    CHECK(batch.images.shape() == Shape{b, 1, 5, 6});
    CHECK(batch.labels.shape() == Shape{b});
    const auto x = batch.images.to_vector();
    const auto y = batch.labels.to_vector();
    for (std::int64_t k = 0; k < b; ++k) {
      const std::int64_t i = batch.indices[k];
      CHECK(y[k] == i % 10);
      CHECK(std::equal(x.begin() + k * 30, x.begin() + (k + 1) * 30, rows.begin() + i * 30));
    }
    seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
  }
  CHECK(seen.size() == 103);
  CHECK(sorted(seen) == iota(103));
  CHECK(seen != iota(103));
  CHECK(seen == epoch.order());
  CHECK(epoch[10].indices.size() == 3);
  CHECK_THROWS_AS(epoch[11], Error);
}

TEST_CASE("the order is a function of (seed, epoch)") {
  const LabeledImages data = numbered_dataset(64);
  DataLoader a(data, {.batch_size = 8, .seed = 1}), b(data, {.batch_size = 8, .seed = 1}),
      other_seed(data, {.batch_size = 8, .seed = 2});
  CHECK(epoch_order(a.epoch(0)) == epoch_order(b.epoch(0)));
  CHECK(epoch_order(a.epoch(3)) == epoch_order(b.epoch(3)));
  CHECK(epoch_order(a.epoch(0)) != epoch_order(a.epoch(1)));
  CHECK(epoch_order(a.epoch(0)) != epoch_order(other_seed.epoch(0)));

  // Range-for over the loader runs epochs 0, 1, 2, ...; set_next_epoch resumes.
  std::vector<std::vector<std::int64_t>> runs;
  for (int e = 0; e < 3; ++e) {
    std::vector<std::int64_t> seen;
    for (const Batch& batch : a) seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
    runs.push_back(seen);
  }
  CHECK(a.next_epoch() == 3);
  for (int e = 0; e < 3; ++e) CHECK(runs[e] == epoch_order(b.epoch(e)));
  b.set_next_epoch(2);
  std::vector<std::int64_t> resumed;
  for (const Batch& batch : b) resumed.insert(resumed.end(), batch.indices.begin(), batch.indices.end());
  CHECK(resumed == runs[2]);

  DataLoader in_order(data, {.batch_size = 8, .shuffle = false});
  CHECK(epoch_order(in_order.epoch(0)) == iota(64));
  CHECK(epoch_order(in_order.epoch(5)) == iota(64));
}

TEST_CASE("drop_last skips the short last batch") {
  const LabeledImages data = numbered_dataset(23);
  DataLoader keep(data, {.batch_size = 5, .drop_last = false}), drop(data, {.batch_size = 5, .drop_last = true});
  CHECK(keep.size() == 5);
  CHECK(drop.size() == 4);
  std::int64_t batches = 0, samples = 0;
  for (const Batch& batch : drop.epoch(0)) {
    CHECK(batch.images.size(0) == 5);
    ++batches, samples += batch.images.size(0);
  }
  CHECK(batches == 4);
  CHECK(samples == 20);
  CHECK(keep.epoch(0)[4].images.size(0) == 3);
  DataLoader exact(numbered_dataset(20), {.batch_size = 5, .drop_last = true});
  CHECK(exact.size() == 4);
  CHECK(DataLoader(numbered_dataset(3), {.batch_size = 5, .drop_last = true}).size() == 0);
  CHECK_THROWS_AS(DataLoader(data, {.batch_size = 0}), Error);
}

TEST_CASE("horizontal flip mirrors about half of the images exactly") {
  const LabeledImages data = numbered_dataset(200, 2, 3, 4);
  const auto rows = data.images.to_vector();
  DataLoader loader(data, {.batch_size = 64, .seed = 9, .augmentation = {.horizontal_flip = true}});
  int flipped = 0;
  for (const Batch& batch : loader.epoch(0)) {
    CHECK(batch.images.shape() == Shape{static_cast<std::int64_t>(batch.indices.size()), 2, 3, 4});
    const auto x = batch.images.to_vector();
    for (std::size_t k = 0; k < batch.indices.size(); ++k) {
      const std::int64_t i = batch.indices[k];
      const CropFlip draw = loader.augmentation(0, i);
      CHECK(draw.shift_x == 0);
      CHECK(draw.shift_y == 0);
      flipped += draw.flip;
      for (int c = 0; c < 2; ++c)
        for (int y = 0; y < 3; ++y)
          for (int w = 0; w < 4; ++w) {
            const float source = rows[i * 24 + (c * 3 + y) * 4 + (draw.flip ? 3 - w : w)];
            REQUIRE(x[k * 24 + (c * 3 + y) * 4 + w] == source);
          }
    }
  }
  CHECK(flipped > 70);
  CHECK(flipped < 130);
}

TEST_CASE("random crop with zero padding shifts the image and fills with zeros") {
  const std::int64_t h = 5, w = 6, p = 2;
  const LabeledImages data = numbered_dataset(300, 1, h, w);
  const auto rows = data.images.to_vector();
  DataLoader loader(data, {.batch_size = 50, .seed = 4, .augmentation = {.crop_padding = p, .horizontal_flip = true}});
  std::set<std::int64_t> shifts_y, shifts_x;
  for (const Batch& batch : loader.epoch(1)) {
    const auto x = batch.images.to_vector();
    for (std::size_t k = 0; k < batch.indices.size(); ++k) {
      const std::int64_t i = batch.indices[k];
      const CropFlip draw = loader.augmentation(1, i);
      shifts_y.insert(draw.shift_y);
      shifts_x.insert(draw.shift_x);
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t col = 0; col < w; ++col) {
          const std::int64_t sy = y + draw.shift_y, sx = (draw.flip ? w - 1 - col : col) + draw.shift_x;
          const float expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? rows[i * h * w + sy * w + sx] : 0.0f;
          REQUIRE(x[k * h * w + y * w + col] == expected);
        }
    }
  }
  CHECK(shifts_y == std::set<std::int64_t>{-2, -1, 0, 1, 2});
  CHECK(shifts_x == std::set<std::int64_t>{-2, -1, 0, 1, 2});
  // Reproducible per (seed, epoch, sample), different across epochs.
  CHECK(loader.epoch(1)[0].images.to_vector() == loader.epoch(1)[0].images.to_vector());
  int same = 0;
  for (std::int64_t i = 0; i < 300; ++i) {
    const CropFlip a = loader.augmentation(1, i), b = loader.augmentation(2, i);
    same += a.shift_x == b.shift_x && a.shift_y == b.shift_y && a.flip == b.flip;
  }
  CHECK(same < 30);
}

TEST_CASE("a batch of 128 Fashion-MNIST-sized images takes well under a millisecond") {
  const std::int64_t n = 20000;
  LabeledImages data{Tensor<float>::rand({n, 1, 28, 28}, 1), Tensor<std::int64_t>::zeros({n})};
  DataLoader plain(data, {.batch_size = 128, .seed = 1});
  DataLoader augmented(data,
                       {.batch_size = 128, .seed = 1, .augmentation = {.crop_padding = 2, .horizontal_flip = true}});
  for (DataLoader* loader : {&plain, &augmented}) {
    const EpochBatches epoch = loader->epoch(0);
    const auto start = std::chrono::steady_clock::now();
    double checksum = 0;
    for (const Batch& batch : epoch) checksum += batch.images.data()[0];
    const double per_batch_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(epoch.size());
    MESSAGE(std::string(loader == &plain ? "plain" : "augmented"), " batch of 128 x [1, 28, 28]: ", per_batch_ms,
            " ms");
    CHECK(checksum > 0);
#if defined(NDEBUG) && !defined(TRUSTML_ADDRESS_SANITIZER)  // the bound is for optimized, uninstrumented builds
    CHECK(per_batch_ms < 1.0);
#endif
  }
}
