// LabeledImages: subsets, class splits, seeded random splits, forget/retain splits, normalization.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <trustml/data/dataset.hpp>
#include <vector>

using namespace trustml;
using namespace trustml::data;

namespace {

constexpr std::int64_t kC = 2, kH = 3, kW = 4, kRow = kC * kH * kW;

// n images [2, 3, 4] whose pixel k of sample i is 1000 i + k, labelled i % classes.
LabeledImages numbered_dataset(std::int64_t n, std::int64_t classes) {
  std::vector<float> x(static_cast<std::size_t>(n * kRow));
  std::vector<std::int64_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t k = 0; k < kRow; ++k) x[i * kRow + k] = static_cast<float>(1000 * i + k);
    y[i] = i % classes;
  }
  return {Tensor<float>::from_vector(x, {n, kC, kH, kW}), Tensor<std::int64_t>::from_vector(y)};
}

// The sample number encoded in each image of `data` (see numbered_dataset).
std::vector<std::int64_t> sample_ids(const LabeledImages& data) {
  const auto x = data.images.to_vector();
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < data.size(); ++i) {
    const auto id = static_cast<std::int64_t>(x[i * kRow] / 1000);
    for (std::int64_t k = 0; k < kRow; ++k) REQUIRE(x[i * kRow + k] == static_cast<float>(1000 * id + k));
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// a and b are disjoint and together are 0..n-1.
void check_partition(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b, std::int64_t n) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  CHECK(a == iota(n));
}

}  // namespace

TEST_CASE("subset copies the listed rows and checks the indices") {
  const LabeledImages data = numbered_dataset(10, 5);
  CHECK(data.size() == 10);
  CHECK(data.channels() == kC);
  CHECK(data.height() == kH);
  CHECK(data.width() == kW);
  CHECK(data.num_classes() == 5);
  const LabeledImages s = data.subset({7, 2, 2, 9});
  CHECK(sample_ids(s) == std::vector<std::int64_t>{7, 2, 2, 9});
  CHECK(s.labels.to_vector() == std::vector<std::int64_t>{2, 2, 2, 4});
  CHECK(data.subset({}).size() == 0);
  CHECK_THROWS_WITH_AS(data.subset({3, 10}), doctest::Contains("index 10 (position 1) is out of range for 10"), Error);
  CHECK_THROWS_AS(data.subset({-1}), Error);
}

TEST_CASE("validate and every method check the shapes of the data set") {
  LabeledImages bad{Tensor<float>::zeros({3, 1, 2, 2}), Tensor<std::int64_t>::zeros({4})};
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("labels must be [N] with N = 3"), Error);
  CHECK_THROWS_AS(bad.subset({0}), Error);
  LabeledImages negative{Tensor<float>::zeros({1, 1, 2, 2}), Tensor<std::int64_t>::from_vector({-1})};
  CHECK_THROWS_WITH_AS(negative.validate(), doctest::Contains("labels must be >= 0, got -1"), Error);
  CHECK_THROWS_AS(LabeledImages{}.size(), Error);
}

TEST_CASE("classes_subset keeps the listed classes and can renumber them") {
  const LabeledImages data = numbered_dataset(20, 5);
  const LabeledImages kept = data.classes_subset({3, 1});
  CHECK(sample_ids(kept) == std::vector<std::int64_t>{1, 3, 6, 8, 11, 13, 16, 18});
  CHECK(kept.labels.to_vector() == std::vector<std::int64_t>{1, 3, 1, 3, 1, 3, 1, 3});
  const LabeledImages renumbered = data.classes_subset({3, 1}, /*remap_labels=*/true);
  CHECK(renumbered.labels.to_vector() == std::vector<std::int64_t>{1, 0, 1, 0, 1, 0, 1, 0});
  CHECK_THROWS_WITH_AS(data.classes_subset({1, 1}), doctest::Contains("class 1 is listed twice"), Error);
}

TEST_CASE("class_incremental_tasks splits the classes into consecutive groups") {
  CHECK(consecutive_class_groups(10, 5) ==
        std::vector<std::vector<std::int64_t>>{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}});
  CHECK(consecutive_class_groups(10, 3) == std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
  CHECK_THROWS_AS(consecutive_class_groups(10, 0), Error);
  CHECK_THROWS_AS(consecutive_class_groups(10, 11), Error);

  const LabeledImages data = numbered_dataset(20, 5);
  const auto tasks = data.class_incremental_tasks(2);
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].labels.to_vector() == std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  CHECK(tasks[1].labels.to_vector() == std::vector<std::int64_t>{3, 4, 3, 4, 3, 4, 3, 4});
  CHECK(sample_ids(tasks[1]) == std::vector<std::int64_t>{3, 4, 8, 9, 13, 14, 18, 19});
  const auto local = data.class_incremental_tasks(2, /*remap_labels=*/true);
  CHECK(local[1].labels.to_vector() == std::vector<std::int64_t>{0, 1, 0, 1, 0, 1, 0, 1});
}

TEST_CASE("split_by_classes gives the source classes and the rest") {
  const LabeledImages data = numbered_dataset(20, 5);
  const auto [source, target] = data.split_by_classes({0, 4});
  for (std::int64_t y : source.labels.to_vector()) CHECK((y == 0 || y == 4));
  for (std::int64_t y : target.labels.to_vector()) CHECK((y >= 1 && y <= 3));
  check_partition(sample_ids(source), sample_ids(target), 20);
}

TEST_CASE("random_permutation is a seeded permutation, the same on every platform") {
  const auto p = random_permutation(1000, 42, 7);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota(1000));
  CHECK(random_permutation(1000, 42, 7) == p);
  CHECK(random_permutation(1000, 43, 7) != p);
  CHECK(random_permutation(1000, 42, 8) != p);
  // Pinned: Philox draws are integer arithmetic and exactly rounded doubles, so these never change.
  CHECK(random_permutation(10, 42, 0) == std::vector<std::int64_t>{9, 2, 0, 5, 4, 1, 8, 3, 7, 6});
  CHECK(random_permutation(0, 1, 0).empty());
  CHECK(random_permutation(1, 1, 0) == std::vector<std::int64_t>{0});
}

TEST_CASE("random_split is seeded, disjoint and complete") {
  const LabeledImages data = numbered_dataset(40, 4);
  const RandomSplit split = data.random_split(0.25, 11);
  CHECK(split.first.size() == 10);
  CHECK(split.second.size() == 30);
  CHECK(sample_ids(split.first) == split.first_indices);
  CHECK(sample_ids(split.second) == split.second_indices);
  check_partition(split.first_indices, split.second_indices, 40);
  CHECK(data.random_split(0.25, 11).first_indices == split.first_indices);
  CHECK(data.random_split(0.25, 12).first_indices != split.first_indices);
  CHECK(data.random_split(0.0, 1).first.size() == 0);
  CHECK(data.random_split(1.0, 1).second.size() == 0);
  CHECK_THROWS_AS(data.random_split(1.5, 1), Error);
}

TEST_CASE("forget_retain_split by fraction and by class") {
  const LabeledImages data = numbered_dataset(50, 5);
  const ForgetRetainSplit random = data.forget_retain_split(ForgetFraction{0.1}, 3);
  CHECK(random.forget.size() == 5);
  CHECK(random.retain.size() == 45);
  CHECK(sample_ids(random.forget) == random.forget_indices);
  CHECK(sample_ids(random.retain) == random.retain_indices);
  check_partition(random.forget_indices, random.retain_indices, 50);
  CHECK(data.forget_retain_split(ForgetFraction{0.1}, 3).forget_indices == random.forget_indices);
  // Another stream than random_split: the same seed and fraction give other samples.
  CHECK(data.random_split(0.1, 3).first_indices != random.forget_indices);

  const ForgetRetainSplit by_class = data.forget_retain_split(ForgetClass{2});
  CHECK(by_class.forget.labels.to_vector() == std::vector<std::int64_t>(10, 2));
  for (std::int64_t y : by_class.retain.labels.to_vector()) CHECK(y != 2);
  check_partition(by_class.forget_indices, by_class.retain_indices, 50);
  CHECK_THROWS_WITH_AS(data.forget_retain_split(ForgetClass{7}), doctest::Contains("class 7 has no samples"), Error);
}

TEST_CASE("mean_std and normalize work per channel") {
  // Channel 0 holds 1, 3 (mean 2, std 1); channel 1 holds 10, 10, 10, 14 (mean 11, std sqrt(3)).
  const LabeledImages data{Tensor<float>::from_vector({1, 3, 10, 10, 3, 1, 10, 14}, {2, 2, 1, 2}),
                           Tensor<std::int64_t>::from_vector({0, 1})};
  const ChannelStats stats = data.mean_std();
  CHECK(stats.mean == std::vector<double>{2, 11});
  CHECK(stats.stddev[0] == doctest::Approx(1.0));
  CHECK(stats.stddev[1] == doctest::Approx(std::sqrt(3.0)));
  const LabeledImages normalized = data.normalize(stats);
  const ChannelStats after = normalized.mean_std();
  for (int c = 0; c < 2; ++c) {
    CHECK(after.mean[c] == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(after.stddev[c] == doctest::Approx(1.0).epsilon(1e-6));
  }
  CHECK(normalized.images.to_vector()[0] == doctest::Approx(-1.0));
  CHECK(normalized.labels.to_vector() == data.labels.to_vector());
  CHECK(data.images.to_vector()[0] == 1.0f);  // the source is untouched
  CHECK_THROWS_WITH_AS(data.normalize({0}, {1}), doctest::Contains("one mean and one std per channel (2)"), Error);
  CHECK_THROWS_AS(data.normalize({0, 0}, {1, 0}), Error);
}
