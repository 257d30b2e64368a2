// PNG writing (single images and captioned grids, read back with stb_image) and the progress bar.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <trustml/util/image.hpp>
#include <trustml/util/progress.hpp>
#include <vector>

#include "support/png.hpp"
#include "support/temp_dir.hpp"

using namespace trustml;
using namespace trustml::util;

namespace {

bool only_png_files(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() != ".png") return false;
  return true;
}

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<char>(c));
  return out;
}

}  // namespace

TEST_CASE("write_png writes gray and RGB images, scaled, clamped and rounded") {
  tests::TempDir dir;
  // [1, 2, 3]: 0, 0.5, 1 / -1, 2, NaN.
  const auto gray = Tensor<float>::from_vector({0, 0.5f, 1, -1, 2, std::nanf("")}, {1, 2, 3});
  write_png(dir.file("gray.png"), gray);
  tests::LoadedPng png = tests::load_png(dir.file("gray.png"));
  CHECK(png.width == 3);
  CHECK(png.height == 2);
  CHECK(png.channels == 1);
  CHECK(png.pixels == std::vector<std::uint8_t>{0, 128, 255, 0, 255, 0});

  write_png(dir.file("scaled.png"), Tensor<float>::from_vector(gray.to_vector(), {2, 3}), 3);
  png = tests::load_png(dir.file("scaled.png"));
  CHECK(png.width == 9);
  CHECK(png.height == 6);
  CHECK(png.at(5, 2).r == 128);
  CHECK(png.at(4, 3).r == 255);
  CHECK(png.at(8, 5).r == 0);

  const auto rgb = Tensor<float>::from_vector({1, 0, 0, 1, 0, 0}, {3, 1, 2});  // red, then green
  write_png(dir.file("rgb.png"), rgb);
  png = tests::load_png(dir.file("rgb.png"));
  CHECK(png.channels == 3);
  CHECK(png.at(0, 0) == Rgb{255, 0, 0});
  CHECK(png.at(1, 0) == Rgb{0, 255, 0});
  CHECK(only_png_files(dir.path()));  // the temporary file was renamed

  CHECK_THROWS_WITH_AS(write_png(dir.file("bad.png"), Tensor<float>::zeros({2, 2, 2})),
                       doctest::Contains("needs 1 (gray) or 3 (RGB) channels, got 2"), Error);
  const std::string unwritable = dir.file("missing_dir/x.png");
  const std::string expected = "trustml::write_png: " + unwritable + ": cannot create";
  CHECK_THROWS_WITH_AS(write_png(unwritable, gray), doctest::Contains(expected.c_str()), Error);
}

TEST_CASE("write_image_grid lays out images with borders and captions") {
  tests::TempDir dir;
  // Five 1x4x6 images, image i filled with (i + 1) / 8.
  std::vector<float> values;
  for (int i = 0; i < 5; ++i) values.insert(values.end(), 24, static_cast<float>(i + 1) / 8);
  const auto images = Tensor<float>::from_vector(values, {5, 1, 4, 6});
  ImageGridOptions options;
  options.columns = 3;
  options.scale = 2;
  options.padding = 3;
  options.captions = {"Sneaker", "Bag", "7", "T-shirt/top", ""};
  options.borders = {kCorrectGreen, kWrongRed, std::nullopt, kCorrectGreen, kWrongRed};
  options.border_width = 1;
  const std::string path = dir.file("grid.png");
  write_image_grid(path, images, options);
  const tests::LoadedPng png = tests::load_png(path);

  // A cell: the 12x8 image framed by 1 pixel (14x10), widened to "T-shirt/top" (11 * 6 - 1 = 65
  // pixels), with a caption band of 7 + 2 rows under it.
  const int cell_w = 65, cell_h = 10 + 9;
  CHECK(png.channels == 3);
  CHECK(png.width == 3 + 3 * (cell_w + 3));
  CHECK(png.height == 3 + 2 * (cell_h + 3));
  for (int i = 0; i < 5; ++i) {
    const int cell_x = 3 + (i % 3) * (cell_w + 3), cell_y = 3 + (i / 3) * (cell_h + 3);
    const int frame_x = cell_x + (cell_w - 14) / 2;
    const auto v = static_cast<std::uint8_t>(std::lround((i + 1) / 8.0 * 255));
    INFO("image ", i);
    CHECK(png.at(frame_x + 1, cell_y + 1) == Rgb{v, v, v});
    CHECK(png.at(frame_x + 12, cell_y + 8) == Rgb{v, v, v});
    const Rgb frame = options.borders[i].value_or(Rgb{0, 0, 0});  // no border: background
    CHECK(png.at(frame_x, cell_y) == frame);
    CHECK(png.at(frame_x + 13, cell_y + 9) == frame);
    int ink = 0;
    for (int y = cell_y + 10; y < cell_y + cell_h; ++y)
      for (int x = cell_x; x < cell_x + cell_w; ++x) ink += png.at(x, y) == Rgb{255, 255, 255};
    CHECK((i == 4 ? ink == 0 : ink > 5));
  }
  CHECK(png.at(0, 0) == Rgb{0, 0, 0});
  CHECK(only_png_files(dir.path()));

  options.captions.pop_back();
  CHECK_THROWS_WITH_AS(write_image_grid(path, images, options), doctest::Contains("4 captions for 5 images"), Error);
  // Plain grid of [N, H, W] without extras: 2 columns of 4x6 images with padding 2.
  write_image_grid(dir.file("plain.png"), Tensor<float>::from_vector(values, {5, 4, 6}), {.columns = 2});
  const tests::LoadedPng plain = tests::load_png(dir.file("plain.png"));
  CHECK(plain.width == 2 + 2 * (6 + 2));
  CHECK(plain.height == 2 + 3 * (4 + 2));
}

TEST_CASE("the bitmap font has the class-name characters and a box for the rest") {
  for (char c : std::string("T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Ankle boot 0123456789"))
    CHECK(&glyph(c) != &kMissingGlyph);
  CHECK(&glyph('~') == &kMissingGlyph);
  CHECK(text_width("Bag", 2) == (3 * 6 - 1) * 2);
  int pixels = 0;
  draw_text("I", 1, [&](int, int) { ++pixels; });
  CHECK(pixels == 3 + 5 + 3);
}

TEST_CASE("the progress bar is off when its stream is not a terminal") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(10, {.label = "quiet", .stream = file});
    CHECK_FALSE(bar.enabled());
    for (int i = 0; i < 10; ++i) bar.advance();
    bar.set_postfix("loss 0.5");
  }
  CHECK(read_all(file).empty());
  std::fclose(file);
}

TEST_CASE("the progress bar draws count, rate, times and postfix when forced on") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(3, {.label = "epoch 1", .display = ProgressDisplay::on, .stream = file});
    CHECK(bar.enabled());
    bar.set_postfix("loss 0.31");
    for (int i = 0; i < 3; ++i) bar.advance();
    bar.finish();
    bar.finish();
  }
  const std::string out = read_all(file);
  std::fclose(file);
  CHECK(out.find("epoch 1 100% [") != std::string::npos);
  CHECK(out.find("] 3/3 [") != std::string::npos);
  CHECK(out.find("it/s] loss 0.31") != std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE("the progress bar redraws at most every min_redraw_seconds") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(1000000, {.display = ProgressDisplay::on, .min_redraw_seconds = 1000, .stream = file});
    for (int i = 0; i < 100000; ++i) bar.advance();
  }  // the destructor draws the final state
  const std::string out = read_all(file);
  std::fclose(file);
  CHECK(std::count(out.begin(), out.end(), '\r') == 1);
  CHECK(out.find("100000/1000000") != std::string::npos);
}

TEST_CASE("the progress line format") {
  ProgressBar bar(100, {.label = "train", .display = ProgressDisplay::off, .bar_width = 10});
  CHECK(bar.render(50, 10.0) == "train  50% [#####-----] 50/100 [00:10<00:10, 5.0 it/s]");
  CHECK(ProgressBar(0, {.display = ProgressDisplay::off}).render(7, 2.0) == "7 [00:02, 3.5 it/s]");
  CHECK(ProgressBar::format_duration(3725) == "1:02:05");
  CHECK(ProgressBar::format_duration(59.9) == "00:59");
}
