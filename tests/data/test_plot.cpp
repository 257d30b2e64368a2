// Line plots (util/plot.hpp): written to PNG and read back with stb_image, nice tick labels, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <trustml/util/plot.hpp>
#include <vector>

#include "support/op_registry.hpp"
#include "support/png.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::util;
using trustml::util::detail::nice_ticks;

namespace {

std::vector<std::string> labels(const std::vector<util::detail::PlotTick>& ticks) {
  std::vector<std::string> out;
  for (const auto& tick : ticks) out.push_back(tick.label);
  return out;
}

}  // namespace

TEST_CASE("write_line_plot draws every series in its palette color on white") {
  tests::TempDir dir;
  std::vector<double> epochs, sgd, zo;
  for (int e = 1; e <= 10; ++e) {
    epochs.push_back(e);
    sgd.push_back(91 - 12 * std::exp(-0.5 * e));
    zo.push_back(86 - 20 * std::exp(-0.3 * e));
  }
  const std::vector<PlotSeries> series = {
      {"SGD", epochs, sgd}, {"ZO-SGD", epochs, zo}, {"FO baseline (1 point)", {10}, {88}}};
  const std::string path = dir.file("accuracy.png");
  write_line_plot(path, series, {.title = "Test accuracy", .x_label = "epoch", .y_label = "accuracy (%)"});

  const tests::LoadedPng png = tests::load_png(path);
  CHECK(png.width == 640);
  CHECK(png.height == 420);
  REQUIRE(png.channels == 3);
  const Rgb white{255, 255, 255};
  CHECK(png.at(0, 0) == white);
  CHECK(png.at(639, 419) == white);
  CHECK(png.count(white) > 640 * 420 / 2);
  CHECK(png.count(kPlotPalette[0]) > 300);  // 2-pixel lines across the plot
  CHECK(png.count(kPlotPalette[1]) > 300);
  CHECK(png.count(kPlotPalette[2]) >= 25 + 36);  // one 5x5 marker, and the legend's swatch
  CHECK(png.count(kPlotPalette[3]) == 0);
  CHECK(png.count(Rgb{0, 0, 0}) > 1000);  // frame, ticks and text
  CHECK(dir.entries() == std::vector<std::string>{"accuracy.png"});

  // Size, fixed y range with clipped data, no markers, a single point alone, a plot without text.
  write_line_plot(path, series, {.width = 300, .height = 200, .y_min = 80, .y_max = 90, .markers = false});
  const tests::LoadedPng small = tests::load_png(path);
  CHECK(small.width == 300);
  CHECK(small.height == 200);
  CHECK(small.count(kPlotPalette[2]) >= 25);
  write_line_plot(path, {{"", {0.5}, {-3}}});
  CHECK(tests::load_png(path).count(kPlotPalette[0]) == 25);
}

TEST_CASE("write_line_plot chooses 4-6 nice ticks with short labels") {
  CHECK(labels(nice_ticks(-0.05, 1.05, false)) == std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1"});
  CHECK(labels(nice_ticks(0.05, 1.95, false)) == std::vector<std::string>{"0.5", "1", "1.5"});
  CHECK(labels(nice_ticks(0.55, 10.45, true)) == std::vector<std::string>{"2", "4", "6", "8", "10"});
  CHECK(labels(nice_ticks(0, 100, false)) == std::vector<std::string>{"0", "20", "40", "60", "80", "100"});
  CHECK(labels(nice_ticks(-2.1, 2.1, false)) == std::vector<std::string>{"-2", "-1", "0", "1", "2"});
  CHECK(labels(nice_ticks(79.4, 92.6, false)) == std::vector<std::string>{"80", "82.5", "85", "87.5", "90", "92.5"});
  CHECK(labels(nice_ticks(0, 0.01, false)) ==
        std::vector<std::string>{"0", "0.002", "0.004", "0.006", "0.008", "0.01"});
}

TEST_CASE("write_line_plot reports bad input") {
  tests::TempDir dir;
  const std::string path = dir.file("bad.png");
  const PlotSeries ok{"ok", {1, 2}, {3, 4}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const char* op = "util::write_line_plot";
  tests::check_error([&] { write_line_plot(path, {}); }, op, "no series");
  tests::check_error(
      [&] {
        write_line_plot(path, {ok, {"short", {1, 2, 3}, {1, 2}}});
      },
      op, "series 1 (\"short\") has 3 x values and 2 y values");
  tests::check_error([&] { write_line_plot(path, {{"empty", {}, {}}}); }, op, "series 0 (\"empty\") has 0 x values");
  tests::check_error(
      [&] {
        write_line_plot(path, {ok, {"nan", {1, 2, 3}, {1, nan, 2}}});
      },
      op, "series 1 (\"nan\") point 1 is (2, nan); values must be finite");
  tests::check_error([&] { write_line_plot(path, {ok}, {.width = 199}); }, op, "199x420 pixels is too small");
  tests::check_error([&] { write_line_plot(path, {ok}, {.height = 100}); }, op, "too small");
  tests::check_error([&] { write_line_plot(path, {ok}, {.y_min = 1, .y_max = 1}); }, op,
                     "y_min (1) must be less than y_max (1)");
  tests::check_error([&] { write_line_plot(path, {ok}, {.y_min = 10}); }, op, "a bound not given comes from the data");
  tests::check_error([&] { write_line_plot(path, {{"huge", {-1e308, 1e308}, {0, 1}}}); }, op, "too wide a range");
  CHECK(dir.entries().empty());
}
