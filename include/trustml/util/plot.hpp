// trustml/util/plot.hpp: line charts written to PNG (test accuracy per epoch for several training
// methods, certified accuracy against radius, ...) without a plotting library.
//
//   write_line_plot("accuracy.png", {{"SGD", epochs, sgd_accuracy}, {"ZO-SGD", epochs, zo_accuracy}},
//                   {.title = "Test accuracy", .x_label = "epoch", .y_label = "accuracy (%)"});
//   write_line_plot("certified.png", {{"sigma 0.25", radii, certified}}, {.y_min = 0, .y_max = 1});
//
// On a white background: a frame around the plot area, 4-6 "nice" ticks per axis (steps of 1, 2, 2.5
// or 5 times a power of ten) with numeric labels and light grid lines, every series a 2-pixel line
// through its points in the order given, in the next color of kPlotPalette (cycled after 10 series),
// with a small square marker at each point (a one-point series is just its marker), a legend (color
// and name of every series with a name) in the corner of the plot area where it hides the least data,
// the title on top (2x text when it fits) and the axis labels (the y label horizontally above the
// axis); text wider than the image is cut to "...". The axes span the data with a 5% margin;
// LinePlotOptions::y_min / y_max fix either end of the y axis (lines outside it are clipped at the
// frame). Text uses the 5x7 font of util/bitmap_font.hpp. The file is written like write_png
// (util/image.hpp): atomically, with stb_image_write from libstb.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/util/bitmap_font.hpp"
#include "trustml/util/image.hpp"

namespace trustml::util {

struct PlotSeries {
  std::string name{};            // shown in the legend; a series without a name is not listed there
  std::vector<double> x{}, y{};  // the points, drawn in this order; x.size() == y.size() >= 1, all finite
};

struct LinePlotOptions {
  std::string title{}, x_label{}, y_label{};
  int width = 640, height = 420;           // pixels, at least 200 x 150
  std::optional<double> y_min{}, y_max{};  // default: the data's range with a 5% margin
  bool markers = true;                     // a 5x5 square at every data point
};

// Series colors, in order (the Tableau 10 palette).
inline constexpr Rgb kPlotPalette[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                       {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                       {188, 189, 34},  {23, 190, 207}};

namespace detail {

struct PlotTick {
  double value;
  std::string label;
};

// The ticks inside [lo, hi] (lo < hi): multiples of a step m * 10^e, m in {1, 2, 2.5, 5}, chosen to
// give 4-6 ticks (nearest to 5; 2.5 only when it does clearly better). `integral`: whole steps only.
inline std::vector<PlotTick> nice_ticks(double lo, double hi, bool integral) {
  const double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span)) return {};
  const int e0 = static_cast<int>(std::floor(std::log10(span / 5)));
  double best_score = 1e300, step = 0;
  int best_e = 0;
  double best_m = 1;
  for (int e = e0 - 1; e <= e0 + 1; ++e)
    for (const double m : {1.0, 2.0, 2.5, 5.0}) {
      const double s = m * std::pow(10.0, e);
      if (integral && s != std::floor(s)) continue;
      const double count = std::floor(hi / s + 1e-9) - std::ceil(lo / s - 1e-9) + 1;
      const double outside = count < 4 ? 4 - count : count > 6 ? count - 6 : 0;
      const double score = 10 * outside + std::abs(count - 5) + (m == 2.5 ? 1.5 : 0);
      if (score < best_score) best_score = score, step = s, best_e = e, best_m = m;
    }
  if (step == 0) return {};
  const int decimals = std::max(0, -best_e) + (best_m == 2.5 && best_e <= 0 ? 1 : 0);
  std::vector<PlotTick> ticks;
  for (double i = std::ceil(lo / step - 1e-9); i <= std::floor(hi / step + 1e-9); ++i) {
    double v = i * step;
    if (std::abs(v) < step * 1e-6) v = 0;  // no "-0"
    char buffer[64];
    if (decimals > 8 || std::abs(v) >= 1e9) {
      std::snprintf(buffer, sizeof buffer, "%.4g", v);
    } else {
      std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
      std::string s = buffer;  // trailing zeros of a rounding-free value: "1.50" -> "1.5", "2.0" -> "2"
      if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
      }
      std::snprintf(buffer, sizeof buffer, "%s", s.c_str());
    }
    ticks.push_back({v, buffer});
  }
  return ticks;
}

// [lo, hi] widened by 5% of its span on both sides; a single value gets +-10% of itself (or +-1).
inline std::pair<double, double> padded_range(double lo, double hi) {
  const double pad = hi > lo ? (hi - lo) * 0.05 : lo != 0 ? std::abs(lo) * 0.1 : 1.0;
  return {lo - pad, hi + pad};
}

// The segment (x0, y0)-(x1, y1), clipped to the rectangle [l, r] x [t, b] (Liang-Barsky), drawn with
// a 2x2 brush along Bresenham's line; brush pixels outside the rectangle are left alone.
inline void draw_segment(Canvas& canvas, double x0, double y0, double x1, double y1, int l, int t, int r, int b,
                         Rgb color) {
  double t0 = 0, t1 = 1;
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 - l, r - x0, y0 - t, b - y0};
  for (int k = 0; k < 4; ++k) {
    if (p[k] == 0) {
      if (q[k] < 0) return;
      continue;
    }
    const double u = q[k] / p[k];
    if (p[k] < 0) t0 = std::max(t0, u);
    else t1 = std::min(t1, u);
  }
  if (t0 > t1) return;
  int ax = static_cast<int>(std::lround(x0 + t0 * dx)), ay = static_cast<int>(std::lround(y0 + t0 * dy));
  const int bx = static_cast<int>(std::lround(x0 + t1 * dx)), by = static_cast<int>(std::lround(y0 + t1 * dy));
  const int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1, ex = std::abs(bx - ax), ey = -std::abs(by - ay);
  for (int err = ex + ey;;) {
    for (int k = 0; k < 4; ++k) {
      const int x = ax + k % 2, y = ay + k / 2;
      if (x >= l && x <= r && y >= t && y <= b) canvas.put(x, y, color);
    }
    if (ax == bx && ay == by) break;
    const int e2 = 2 * err;
    if (e2 >= ey) err += ey, ax += sx;
    if (e2 <= ex) err += ex, ay += sy;
  }
}

}  // namespace detail

// Writes a line chart of `series` to the PNG file `path` (see the top of this file).
inline void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series,
                            const LinePlotOptions& options = {}) {
  const char* op = "util::write_line_plot";
  TRUSTML_CHECK(!series.empty(), op, path, ": no series to plot");
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double x_lo = kInf, x_hi = -kInf, y_lo = kInf, y_hi = -kInf;
  bool x_integral = true, y_integral = true;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& line = series[s];
    TRUSTML_CHECK(!line.x.empty() && line.x.size() == line.y.size(), op, path, ": series ", s, " (\"", line.name,
                  "\") has ", line.x.size(), " x values and ", line.y.size(),
                  " y values; needs the same number, at least 1");
    for (std::size_t i = 0; i < line.x.size(); ++i) {
      const double x = line.x[i], y = line.y[i];
      TRUSTML_CHECK(std::isfinite(x) && std::isfinite(y), op, path, ": series ", s, " (\"", line.name, "\") point ", i,
                    " is (", x, ", ", y, "); values must be finite");
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
      x_integral = x_integral && x == std::floor(x), y_integral = y_integral && y == std::floor(y);
    }
  }
  const int width = options.width, height = options.height;
  TRUSTML_CHECK(width >= 200 && height >= 150, op, path, ": a plot of ", width, "x", height,
                " pixels is too small; needs at least 200x150");
  detail::check_image_size(op, path, width, height);
  const auto [xa, xb] = detail::padded_range(x_lo, x_hi);
  auto [ya, yb] = detail::padded_range(y_lo, y_hi);
  ya = options.y_min.value_or(ya), yb = options.y_max.value_or(yb);
  TRUSTML_CHECK(std::isfinite(ya) && std::isfinite(yb) && ya < yb, op, path, ": y_min (", ya,
                ") must be less than y_max (", yb, ")",
                options.y_min && options.y_max ? "" : "; a bound not given comes from the data");
  TRUSTML_CHECK(std::isfinite(xb - xa) && std::isfinite(yb - ya), op, path, ": the data spans x in [", x_lo, ", ", x_hi,
                "] and y in [", y_lo, ", ", y_hi, "], too wide a range to plot");
  const auto x_ticks = detail::nice_ticks(xa, xb, x_integral && xb - xa >= 4);
  const auto y_ticks = detail::nice_ticks(ya, yb, y_integral && yb - ya >= 4);

  // Layout: the plot area [left, right] x [top, bottom] is the frame; around it the tick labels
  // (7 pixels tall, next to 4-pixel tick marks), the axis labels and the title.
  constexpr int kMargin = 10, kTick = 4, kText = kGlyphHeight;
  auto fit = [&](std::string s) {  // cut to the image's width, ending in "..."
    const std::size_t room = static_cast<std::size_t>((width - 2 * kMargin + 1) / kGlyphAdvance);
    if (s.size() > room) s = s.substr(0, room - 3) + "...";
    return s;
  };
  const std::string title = fit(options.title), x_label = fit(options.x_label), y_label = fit(options.y_label);
  const int title_scale = text_width(title, 2) <= width - 2 * kMargin ? 2 : 1;
  const int top = kMargin + (title.empty() ? 0 : kText * title_scale + 8) + (y_label.empty() ? 4 : kText + 8);
  int y_label_w = 0, x_label_half = 0;
  for (const auto& tick : y_ticks) y_label_w = std::max(y_label_w, text_width(tick.label, 1));
  for (const auto& tick : x_ticks) x_label_half = std::max(x_label_half, text_width(tick.label, 1) / 2);
  const int left = kMargin + y_label_w + kTick + 4, right = width - 1 - std::max(14, x_label_half + 4);
  const int bottom = height - 1 - (kTick + 3 + kText + (x_label.empty() ? 0 : 6 + kText) + 8);
  auto px = [&](double x) { return left + (x - xa) / (xb - xa) * (right - left); };
  auto py = [&](double y) { return bottom - (y - ya) / (yb - ya) * (bottom - top); };
  auto round = [](double v) { return static_cast<int>(std::lround(v)); };
  auto text = [](detail::Canvas& canvas, const std::string& s, int x, int y, int scale, Rgb color) {
    draw_text(s, scale, [&](int dx, int dy) { canvas.put(x + dx, y + dy, color); });
  };

  const Rgb white{255, 255, 255}, black{0, 0, 0}, grid{225, 225, 225}, legend_edge{170, 170, 170};
  detail::Canvas canvas(width, height, 3, white);
  for (const auto& tick : x_ticks) canvas.fill_rect(round(px(tick.value)), top, 1, bottom - top, grid);
  for (const auto& tick : y_ticks) canvas.fill_rect(left, round(py(tick.value)), right - left, 1, grid);

  // The series, clipped to the inside of the frame.
  const int l = left + 1, t = top + 1, r = right - 1, b = bottom - 1;
  auto marker = [&](int cx, int cy, Rgb color) {
    for (int y = std::max(cy - 2, t); y <= std::min(cy + 2, b); ++y)
      for (int x = std::max(cx - 2, l); x <= std::min(cx + 2, r); ++x) canvas.put(x, y, color);
  };
  constexpr std::size_t kColors = std::size(kPlotPalette);
  for (std::size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& line = series[s];
    const Rgb color = kPlotPalette[s % kColors];
    for (std::size_t i = 1; i < line.x.size(); ++i) {
      const double x0 = px(line.x[i - 1]), y0 = py(line.y[i - 1]), x1 = px(line.x[i]), y1 = py(line.y[i]);
      detail::draw_segment(canvas, x0, y0, x1, y1, l, t, r, b, color);
    }
    if (options.markers || line.x.size() == 1)
      for (std::size_t i = 0; i < line.x.size(); ++i) {
        const double x = px(line.x[i]), y = py(line.y[i]);
        if (x >= l - 2 && x <= r + 2 && y >= t - 2 && y <= b + 2) marker(round(x), round(y), color);
      }
  }

  // The legend, in the corner of the plot area whose box covers the fewest drawn data pixels.
  std::vector<std::size_t> named;
  int name_w = 0;
  for (std::size_t s = 0; s < series.size(); ++s)
    if (!series[s].name.empty()) named.push_back(s), name_w = std::max(name_w, text_width(series[s].name, 1));
  if (!named.empty()) {
    constexpr int kPad = 6, kRow = kText + 5, kSwatch = 18;
    const int box_w = 2 * kPad + kSwatch + 6 + name_w, box_h = 2 * kPad + static_cast<int>(named.size()) * kRow - 5;
    const int box_l = l + 7, box_r = r - 7 - box_w, box_t = t + 7, box_b = b - 7 - box_h;
    const std::array<std::pair<int, int>, 4> corners{{{box_r, box_t}, {box_l, box_t}, {box_r, box_b}, {box_l, box_b}}};
    std::pair<int, int> best = corners[0];
    long best_ink = -1;
    for (const auto& [cx, cy] : corners) {
      long ink = 0;
      for (int y = std::max(cy, 0); y < std::min(cy + box_h, height); ++y)
        for (int x = std::max(cx, 0); x < std::min(cx + box_w, width); ++x) {
          const std::uint8_t* p = &canvas.pixels[(std::size_t(y) * width + x) * 3];
          const Rgb c{p[0], p[1], p[2]};
          ink += c != white && c != grid;
        }
      if (best_ink < 0 || ink < best_ink) best_ink = ink, best = {cx, cy};
    }
    const auto [bx, by] = best;
    canvas.fill_rect(bx, by, box_w, box_h, legend_edge);
    canvas.fill_rect(bx + 1, by + 1, box_w - 2, box_h - 2, white);
    for (std::size_t k = 0; k < named.size(); ++k) {
      const Rgb color = kPlotPalette[named[k] % kColors];
      const int row_y = by + kPad + static_cast<int>(k) * kRow;
      canvas.fill_rect(bx + kPad, row_y + 3, kSwatch, 2, color);
      if (options.markers || series[named[k]].x.size() == 1)
        canvas.fill_rect(bx + kPad + kSwatch / 2 - 2, row_y + 1, 5, 5, color);
      text(canvas, series[named[k]].name, bx + kPad + kSwatch + 6, row_y, 1, black);
    }
  }

  // The frame, tick marks and labels, axis labels and title.
  canvas.fill_rect(left, top, right - left + 1, 1, black);
  canvas.fill_rect(left, bottom, right - left + 1, 1, black);
  canvas.fill_rect(left, top, 1, bottom - top + 1, black);
  canvas.fill_rect(right, top, 1, bottom - top + 1, black);
  for (const auto& tick : x_ticks) {
    const int x = round(px(tick.value));
    canvas.fill_rect(x, bottom + 1, 1, kTick, black);
    text(canvas, tick.label, x - text_width(tick.label, 1) / 2, bottom + kTick + 3, 1, black);
  }
  for (const auto& tick : y_ticks) {
    const int y = round(py(tick.value));
    canvas.fill_rect(left - kTick, y, kTick, 1, black);
    text(canvas, tick.label, left - kTick - 3 - text_width(tick.label, 1), y - kText / 2, 1, black);
  }
  if (!x_label.empty())
    text(canvas, x_label, (left + right - text_width(x_label, 1)) / 2, bottom + kTick + 3 + kText + 6, 1, black);
  if (!y_label.empty()) text(canvas, y_label, kMargin, top - kText - 6, 1, black);
  if (!title.empty()) text(canvas, title, (width - text_width(title, title_scale)) / 2, kMargin, title_scale, black);
  detail::write_canvas_png(op, path, canvas);
}

}  // namespace trustml::util
