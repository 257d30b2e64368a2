// tests/support/png.hpp: PNG files read back with stb_image, for the tests of util/image.hpp and
// util/plot.hpp.
#pragma once

#include <doctest/doctest.h>

#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#else
#include <stb_image.h>
#endif

#include <cstdint>
#include <string>
#include <trustml/util/image.hpp>
#include <vector>

namespace tests {

struct LoadedPng {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  // The color at (x, y); gray images repeat their one channel.
  trustml::util::Rgb at(int x, int y) const {
    const std::uint8_t* p = &pixels[(static_cast<std::size_t>(y) * width + x) * channels];
    return channels >= 3 ? trustml::util::Rgb{p[0], p[1], p[2]} : trustml::util::Rgb{p[0], p[0], p[0]};
  }
  // How many pixels have `color`.
  int count(trustml::util::Rgb color) const {
    int n = 0;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) n += at(x, y) == color;
    return n;
  }
};

inline LoadedPng load_png(const std::string& path) {
  LoadedPng png;
  unsigned char* data = stbi_load(path.c_str(), &png.width, &png.height, &png.channels, 0);
  REQUIRE_MESSAGE(data != nullptr, "stbi_load failed: ", stbi_failure_reason());
  png.pixels.assign(data, data + static_cast<std::size_t>(png.width) * png.height * png.channels);
  stbi_image_free(data);
  return png;
}

}  // namespace tests
