// trustml/util/image.hpp: PNG files of image tensors, and grids of images with captions and
// colored borders (to look at samples, reconstructions, or which predictions were right).
//
//   write_png("digit.png", image /* [C, H, W] or [H, W], values in [0, 1] */, /*scale=*/4);
//   write_image_grid("preds.png", batch.images, {.columns = 8, .scale = 2,
//                    .captions = {"Sneaker", "Bag", ...},            // drawn under each image
//                    .borders = {kCorrectGreen, kWrongRed, ...}});   // optional, per image
//
// Values are clamped to [0, 1] (NaN becomes 0) and rounded to 8 bits. One-channel images are gray,
// three-channel ones RGB; grids are always written as RGB so that borders can be colored. Captions
// use the built-in 5x7 font (util/bitmap_font.hpp). A file is written to a temporary name in the same
// directory, flushed to disk and renamed, so a reader never sees half a PNG.
//
// PNG encoding is stb_image_write from the system's libstb (Debian libstb-dev), which is compiled
// there: link libstb (the trustml::data target does) and do not define STB_IMAGE_WRITE_IMPLEMENTATION.
#pragma once

#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/io/atomic_file.hpp"
#include "trustml/tensor/tensor.hpp"
#include "trustml/util/bitmap_font.hpp"

namespace trustml::util {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};
inline constexpr Rgb kCorrectGreen{0, 190, 0};
inline constexpr Rgb kWrongRed{230, 0, 0};

struct ImageGridOptions {
  std::int64_t columns = 8;
  int scale = 1;                              // each image pixel becomes a scale x scale square
  int padding = 2;                            // background pixels around every cell
  std::vector<std::string> captions{};        // none, or one per image, drawn under it
  int text_scale = 1;                         // each font pixel becomes a text_scale square
  std::vector<std::optional<Rgb>> borders{};  // none, or one per image (nullopt: no border for it)
  int border_width = 2;                       // used when borders are given
  Rgb background{0, 0, 0};
  Rgb text_color{255, 255, 255};
};

namespace detail {

// An 8-bit interleaved image being composed.
struct Canvas {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;

  Canvas(int w, int h, int c, Rgb fill) : width(w), height(h), channels(c), pixels(std::size_t(w) * h * c) {
    for (std::size_t p = 0; p < pixels.size(); p += static_cast<std::size_t>(c))
      for (int k = 0; k < c; ++k) pixels[p + k] = k == 0 ? fill.r : k == 1 ? fill.g : fill.b;
  }
  void put(int x, int y, Rgb color) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    std::uint8_t* p = &pixels[(std::size_t(y) * width + x) * channels];
    p[0] = color.r;
    if (channels == 3) p[1] = color.g, p[2] = color.b;
  }
  void fill_rect(int x0, int y0, int w, int h, Rgb color) {
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) put(x, y, color);
  }
};

inline std::uint8_t to_byte(float v) {
  if (!(v > 0)) return 0;  // also NaN
  if (v >= 1) return 255;
  return static_cast<std::uint8_t>(std::lround(v * 255.0f));
}

// Draws image [C, H, W] (C = 1 or 3, contiguous floats) at (x0, y0), each pixel scale x scale.
inline void blit(Canvas& canvas, const float* image, int c, int h, int w, int x0, int y0, int scale) {
  for (int y = 0; y < h * scale; ++y)
    for (int x = 0; x < w * scale; ++x) {
      const std::size_t pixel = std::size_t(y / scale) * w + x / scale, plane = std::size_t(h) * w;
      const std::uint8_t v0 = to_byte(image[pixel]);
      Rgb color{v0, v0, v0};
      if (c == 3) color = Rgb{v0, to_byte(image[plane + pixel]), to_byte(image[2 * plane + pixel])};
      canvas.put(x0 + x, y0 + y, color);
    }
}

inline void check_image_size(const char* op, const std::string& path, std::int64_t w, std::int64_t h) {
  constexpr std::int64_t kMaxSide = 1 << 15;  // stb and most viewers handle this; larger is a mistake
  TRUSTML_CHECK(w >= 1 && h >= 1 && w <= kMaxSide && h <= kMaxSide, op, path, ": image of ", w, "x", h,
                " pixels; each side must be in [1, ", kMaxSide, "]");
}

inline void write_canvas_png(const char* op, const std::string& path, const Canvas& canvas) {
  std::vector<std::uint8_t> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int ok = stbi_write_png_to_func(append, &png, canvas.width, canvas.height, canvas.channels,
                                        canvas.pixels.data(), canvas.width * canvas.channels);
  TRUSTML_CHECK(ok != 0, op, path, ": PNG encoding failed (", canvas.width, "x", canvas.height, ")");
  io::write_file_atomically(path, std::as_bytes(std::span(png)), op);
}

}  // namespace detail

// Writes image [C, H, W] (C = 1: gray, C = 3: RGB) or [H, W] (gray), values in [0, 1], to a PNG,
// each pixel drawn as a scale x scale square.
inline void write_png(const std::string& path, const Tensor<float>& image, int scale = 1) {
  TRUSTML_CHECK(image.defined() && (image.dim() == 2 || image.dim() == 3), "write_png", path,
                ": needs an image [C, H, W] or [H, W], got ", image.defined() ? "shape " : "an undefined tensor",
                image.defined() ? image.shape() : Shape{});
  const std::int64_t c = image.dim() == 3 ? image.size(0) : 1;
  const std::int64_t h = image.size(-2), w = image.size(-1);
  TRUSTML_CHECK(c == 1 || c == 3, "write_png", path, ": needs 1 (gray) or 3 (RGB) channels, got ", c);
  TRUSTML_CHECK(scale >= 1, "write_png", path, ": scale must be >= 1, got ", scale);
  detail::check_image_size("write_png", path, w * scale, h * scale);
  const Tensor<float> x = image.contiguous_data();
  detail::Canvas canvas(static_cast<int>(w * scale), static_cast<int>(h * scale), static_cast<int>(c), Rgb{});
  detail::blit(canvas, x.data(), static_cast<int>(c), static_cast<int>(h), static_cast<int>(w), 0, 0, scale);
  detail::write_canvas_png("write_png", path, canvas);
}

// Writes images [N, C, H, W] (C = 1 or 3) or [N, H, W] as a grid of `columns` columns, row by row,
// with an optional caption under each image and an optional colored border around it.
inline void write_image_grid(const std::string& path, const Tensor<float>& images,
                             const ImageGridOptions& options = {}) {
  const char* op = "write_image_grid";
  TRUSTML_CHECK(images.defined() && (images.dim() == 3 || images.dim() == 4), op, path,
                ": needs images [N, C, H, W] or [N, H, W], got ", images.defined() ? "shape " : "an undefined tensor",
                images.defined() ? images.shape() : Shape{});
  const std::int64_t n = images.size(0), c = images.dim() == 4 ? images.size(1) : 1;
  const std::int64_t h = images.size(-2), w = images.size(-1);
  TRUSTML_CHECK(n >= 1, op, path, ": no images to draw");
  TRUSTML_CHECK(c == 1 || c == 3, op, path, ": needs 1 (gray) or 3 (RGB) channels, got ", c);
  TRUSTML_CHECK(options.columns >= 1 && options.scale >= 1 && options.text_scale >= 1 && options.padding >= 0 &&
                    options.border_width >= 0,
                op, path, ": columns, scale and text_scale must be >= 1 and padding, border_width >= 0");
  TRUSTML_CHECK(options.captions.empty() || static_cast<std::int64_t>(options.captions.size()) == n, op, path, ": ",
                options.captions.size(), " captions for ", n, " images");
  TRUSTML_CHECK(options.borders.empty() || static_cast<std::int64_t>(options.borders.size()) == n, op, path, ": ",
                options.borders.size(), " border colors for ", n, " images");

  // Every cell has the same size: the image with its border frame, widened to the longest caption.
  const std::int64_t frame = options.borders.empty() ? 0 : options.border_width;
  const std::int64_t framed_w = w * options.scale + 2 * frame, framed_h = h * options.scale + 2 * frame;
  std::int64_t caption_w = 0;
  for (const auto& caption : options.captions)
    caption_w = std::max<std::int64_t>(caption_w, text_width(caption, options.text_scale));
  const std::int64_t caption_h = options.captions.empty() ? 0 : (kGlyphHeight + 2) * options.text_scale;
  const std::int64_t cell_w = std::max(framed_w, caption_w), cell_h = framed_h + caption_h;
  const std::int64_t columns = std::min(options.columns, n), rows = (n + columns - 1) / columns;
  const std::int64_t width = options.padding + columns * (cell_w + options.padding);
  const std::int64_t height = options.padding + rows * (cell_h + options.padding);
  detail::check_image_size(op, path, width, height);

  const Tensor<float> x = images.contiguous_data();
  detail::Canvas canvas(static_cast<int>(width), static_cast<int>(height), 3, options.background);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto cell_x = static_cast<int>(options.padding + (i % columns) * (cell_w + options.padding));
    const auto cell_y = static_cast<int>(options.padding + (i / columns) * (cell_h + options.padding));
    const auto frame_x = static_cast<int>(cell_x + (cell_w - framed_w) / 2);
    if (!options.borders.empty() && options.borders[i])
      canvas.fill_rect(frame_x, cell_y, static_cast<int>(framed_w), static_cast<int>(framed_h), *options.borders[i]);
    detail::blit(canvas, x.data() + i * c * h * w, static_cast<int>(c), static_cast<int>(h), static_cast<int>(w),
                 static_cast<int>(frame_x + frame), static_cast<int>(cell_y + frame), options.scale);
    if (!options.captions.empty()) {
      const std::string& caption = options.captions[i];
      const int text_x = cell_x + static_cast<int>(cell_w - text_width(caption, options.text_scale)) / 2;
      const int text_y = cell_y + static_cast<int>(framed_h) + options.text_scale;
      draw_text(caption, options.text_scale,
                [&](int px, int py) { canvas.put(text_x + px, text_y + py, options.text_color); });
    }
  }
  detail::write_canvas_png(op, path, canvas);
}

}  // namespace trustml::util
