// docs/text.md's fragment as the body of main, then a check of what the page says of its result.
// The page's #include is first here at file scope, so that its copy inside main is skipped
// (#pragma once). Without TRUSTML_MINILM_DIR it exits 77, which CTest reports as Skipped, as
// tests/text does.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <trustml/text/minilm.hpp>

int main() {
  const char* dir = std::getenv("TRUSTML_MINILM_DIR");
  if (!dir || !*dir) return 77;
#include "text/embed.inc"
  // Rows of unit length: a diagonal of ones; trousers are nearer to pants than to the stock market.
  const auto c = cosine.to_vector();
  if (std::abs(c[0] - 1) < 1e-5f && std::abs(c[4] - 1) < 1e-5f && c[1] > c[2]) return 0;
  std::cerr << "docs/text.md: unexpected cosine similarities:";
  for (float v : c) std::cerr << " " << v;
  std::cerr << "\n";
  return 1;
}
