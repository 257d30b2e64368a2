// compare_torch_text: sentence encoding with all-MiniLM-L6-v2 in trustml and in PyTorch (eager, CPU),
// on the same batches of token ids, the same weights and the same thread count.
//
//   compare_torch_text [--python PY] [--model-dir DIR] [--sentences 1024] [--batch 64]
//                      [--threads 1,2] [--repeats 2] [--rounds 2]
//
// The sentences are English, made from a seeded word list and clause templates, and kept when the
// tokenizer gives them 8 to 48 tokens ([CLS] and [SEP] included). They are tokenized once, in
// padded batches of `batch`, and the ids and attention masks of all batches are written to a
// safetensors file that bench/torch_text_peer.py reads: both sides encode exactly these ids.
// trustml: per batch model->encode(ids, mask) under NoGradGuard, mean_pool, l2_normalize (what
// SentenceEncoder::embed does after tokenizing); PyTorch: SentenceTransformer(model_dir) on the
// same ids and masks under torch.inference_mode(). The timed unit is one pass over all batches;
// tokenizing is not timed (the peer gets ids too), it is reported as tokenize_ms.
//
// Rounds alternate, trustml then PyTorch, so that both see the same machine state; each round is a
// warm-up on the largest batch and `repeats` timed passes (the peer is a fresh process per round
// and does the same), and each side's figure is its best pass over all rounds. Two workloads: the
// batches in file order (minilm_encode_1024_batch64), and sorted by length first, longest first,
// so that a batch holds sentences of similar length (minilm_encode_1024_batch64_sorted;
// SentenceTransformer.encode sorts by characters, a proxy for tokens).
//
// One JSON line per workload and thread count: trustml_ms, torch_ms, ratio (trustml / PyTorch;
// lower is faster), max_abs_diff (the largest difference of the two sides' unit-length
// embeddings), and the least CPU time of a pass, trustml_cpu_ms and torch_cpu_ms (all threads
// together: at one thread a figure that other programs on the machine disturb much less than wall
// time). Exit status 1 when max_abs_diff exceeds 1e-4. On a machine shared with other work, run
// with OMP_WAIT_POLICY=PASSIVE (the peer inherits it): spinning OpenMP threads then stop fighting
// the other programs for the cores, for both libraries.

#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <trustml/io/safetensors.hpp>
#include <trustml/text/minilm.hpp>
#include <vector>

#ifdef TRUSTML_BENCH_OPENBLAS
extern "C" void openblas_set_num_threads(int);  // trustml's GEMM backend in the default build
#endif

namespace tl = trustml;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kTolerance = 1e-4;  // unit vectors in float: both sides sum in different orders

// Sentences of 1 to 5 clauses, each "[the] [adjective] noun verb [adverb] [preposition the place]",
// joined by conjunctions: from about 5 to 50 word pieces.
std::vector<std::string> make_candidates(std::size_t count, std::uint64_t seed) {
  static constexpr std::array<const char*, 24> nouns = {
      "dog",     "teacher", "river",  "city",     "student", "engineer", "garden",  "train",
      "doctor",  "child",   "market", "computer", "singer",  "farmer",   "village", "company",
      "painter", "ship",    "bird",   "library",  "nurse",   "cook",     "storm",   "committee"};
  static constexpr std::array<const char*, 20> adjectives = {
      "old",   "quiet",  "bright", "small",   "famous",  "tired", "happy",   "strange",   "young",  "busy",
      "large", "gentle", "angry",  "careful", "curious", "early", "distant", "beautiful", "modern", "noisy"};
  static constexpr std::array<const char*, 20> verbs = {
      "walked",  "waited",  "worked", "arrived", "stopped", "laughed", "listened", "moved",  "travelled", "rested",
      "studied", "painted", "sang",   "argued",  "played",  "slept",   "returned", "stayed", "appeared",  "changed"};
  static constexpr std::array<const char*, 12> adverbs = {"slowly",  "quickly",   "again",    "silently",
                                                          "happily", "carefully", "suddenly", "often",
                                                          "rarely",  "finally",   "together", "alone"};
  static constexpr std::array<const char*, 10> prepositions = {"near",   "behind", "inside", "across",  "beside",
                                                               "around", "toward", "under",  "through", "past"};
  static constexpr std::array<const char*, 16> places = {
      "station", "bridge",    "forest",  "harbour",    "school",  "hospital", "mountain", "museum",
      "park",    "cathedral", "factory", "university", "airport", "theatre",  "valley",   "lighthouse"};
  static constexpr std::array<const char*, 6> conjunctions = {", and",  ", but",  " because",
                                                              " while", " after", " although"};
  std::mt19937_64 rng(seed);  // the standard fixes mt19937_64's sequence: the same sentences everywhere
  auto pick = [&](const auto& words) { return std::string(words[rng() % words.size()]); };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    const int clauses = 1 + static_cast<int>(rng() % 5);
    std::string s;
    for (int c = 0; c < clauses; ++c) {
      if (c > 0) s += pick(conjunctions) + " ";
      s += chance(70) ? "the " : "a ";
      if (chance(60)) s += pick(adjectives) + " ";
      s += pick(nouns) + " " + pick(verbs);
      if (chance(40)) s += " " + pick(adverbs);
      if (chance(70)) s += " " + pick(prepositions) + " the " + pick(places);
    }
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    out.push_back(s + (chance(15) ? "?" : "."));
  }
  return out;
}

struct Workload {
  std::string name;
  std::vector<tl::text::BatchEncoding> batches;
  std::int64_t tokens = 0, padded_tokens = 0;
  double tokenize_ms = 0;
};

Workload make_workload(std::string name, const tl::text::SentenceEncoder<float>& encoder,
                       const std::vector<std::string>& sentences, std::size_t batch) {
  Workload w{std::move(name), {}, 0, 0, 0};
  const auto t0 = Clock::now();
  for (std::size_t start = 0; start < sentences.size(); start += batch) {
    const std::vector<std::string> chunk(
        sentences.begin() + static_cast<std::ptrdiff_t>(start),
        sentences.begin() + static_cast<std::ptrdiff_t>(std::min(sentences.size(), start + batch)));
    w.batches.push_back(encoder.tokenize(chunk));
  }
  w.tokenize_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  for (const auto& b : w.batches) {
    w.tokens += std::accumulate(b.lengths.begin(), b.lengths.end(), std::int64_t{0});
    w.padded_tokens += b.ids.numel();
  }
  return w;
}

void write_batches(const std::filesystem::path& path, const Workload& w) {
  std::vector<tl::io::Array> arrays;
  for (std::size_t i = 0; i < w.batches.size(); ++i) {
    arrays.push_back(tl::io::to_array("ids_" + std::to_string(i), w.batches[i].ids));
    arrays.push_back(tl::io::to_array("mask_" + std::to_string(i), w.batches[i].attention_mask));
  }
  tl::io::save_safetensors(path, arrays);
}

// The unit-length sentence embeddings [N, hidden] of `batches`.
tl::Tensor<float> encode_batches(tl::text::SentenceEncoder<float>& encoder,
                                 const std::vector<tl::text::BatchEncoding>& batches) {
  tl::NoGradGuard no_grad;
  std::vector<tl::Tensor<float>> parts;
  for (const auto& b : batches)
    parts.push_back(tl::nn::zoo::l2_normalize(
        tl::nn::zoo::mean_pool(encoder.model->encode(b.ids, b.attention_mask), b.attention_mask)));
  return tl::concat(parts, 0);
}

// CPU time of this process, all threads together (ms): with other programs competing for the
// cores, a single thread's CPU time stays near its time on an idle machine; wall time does not.
double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

// The best wall and CPU times of a pass (ms), each the least seen.
struct Timing {
  double wall_ms = std::numeric_limits<double>::infinity(), cpu_ms = wall_ms;
  void add(double wall, double cpu) { wall_ms = std::min(wall_ms, wall), cpu_ms = std::min(cpu_ms, cpu); }
};

// A warm-up on the largest batch, then `repeats` timed passes over all batches, added to `timing`;
// `out` gets the last pass's embeddings.
void trustml_round(tl::text::SentenceEncoder<float>& encoder, const Workload& w, int repeats, Timing& timing,
                   tl::Tensor<float>& out) {
  const auto largest = std::max_element(w.batches.begin(), w.batches.end(),
                                        [](const auto& a, const auto& b) { return a.ids.numel() < b.ids.numel(); });
  encode_batches(encoder, {*largest});
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    const double cpu0 = process_cpu_ms();
    out = encode_batches(encoder, w.batches);
    timing.add(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), process_cpu_ms() - cpu0);
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command` and parses the last line it printed as JSON; an error names the command.
nlohmann::json run_peer(const std::string& command) {
  std::string last, line;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start the PyTorch peer: " + command);
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe)) {
    line += buffer;
    if (line.back() == '\n') {
      if (line.size() > 1) last = line;
      line.clear();
    }
  }
  const int status = pclose(pipe);
  auto result = nlohmann::json::parse(last, nullptr, false);
  if (status != 0 || !result.is_object() || !result.contains("torch_ms") || !result.contains("torch_cpu_ms"))
    throw std::runtime_error("the PyTorch peer failed (exit status " + std::to_string(status) + ", last line '" + last +
                             "'): " + command +
                             "\n  (scripts/bench_env.sh installs its packages; --python names the interpreter)");
  return result;
}

void use_threads(int threads) {
  omp_set_num_threads(threads);
#ifdef TRUSTML_BENCH_OPENBLAS
  openblas_set_num_threads(threads);
#endif
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"all-MiniLM-L6-v2 sentence encoding: trustml vs PyTorch eager on the CPU"};
  app.option_defaults()->always_capture_default();
  std::string python = TRUSTML_BENCH_PYTHON, peer = TRUSTML_TEXT_PEER, model_dir;
  std::size_t sentence_count = 1024, batch = 64;
  std::vector<int> threads_list{1, 2};
  int repeats = 2, rounds = 2;
  app.add_option("--python", python, "the Python that runs the peer (scripts/bench_env.sh makes it)");
  app.add_option("--peer", peer, "the PyTorch peer script");
  app.add_option("--model-dir", model_dir, "all-MiniLM-L6-v2's folder (default: text::find_minilm_dir())");
  app.add_option("--sentences", sentence_count, "sentences to encode")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "sentences per padded batch")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads_list, "thread counts to compare, comma separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "timed passes per round (after a warm-up on the largest batch)")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "alternating rounds per side")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (model_dir.empty()) model_dir = tl::text::find_minilm_dir().string();

  auto encoder = tl::text::SentenceEncoder<float>::load(model_dir);

  // The sentences: candidates kept in order while their token count is in [8, 48].
  std::vector<std::string> sentences;
  std::vector<std::size_t> token_counts;
  for (std::uint64_t seed = 17; sentences.size() < sentence_count; ++seed)
    for (auto& s : make_candidates(sentence_count, seed)) {
      const std::size_t n = encoder.tokenizer.encode(s).size();
      if (n < 8 || n > 48 || sentences.size() == sentence_count) continue;
      sentences.push_back(std::move(s));
      token_counts.push_back(n);
    }
  std::vector<std::size_t> order(sentences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return token_counts[a] > token_counts[b]; });
  std::vector<std::string> sorted;
  for (std::size_t i : order) sorted.push_back(sentences[i]);
  const std::string base = "minilm_encode_" + std::to_string(sentence_count) + "_batch" + std::to_string(batch);
  const std::vector<Workload> workloads = {make_workload(base, encoder, sentences, batch),
                                           make_workload(base + "_sorted", encoder, sorted, batch)};
  std::cerr << sentences.size() << " sentences, " << *std::min_element(token_counts.begin(), token_counts.end())
            << " to " << *std::max_element(token_counts.begin(), token_counts.end()) << " tokens; e.g. \""
            << sentences[0] << "\"\n";

  const auto tmp = std::filesystem::temp_directory_path();
  const std::string tag = "trustml_text_" + std::to_string(getpid());
  const auto embeddings_file = tmp / (tag + "_embeddings.safetensors");
  bool all_agree = true;
  for (std::size_t wi = 0; wi < workloads.size(); ++wi) {
    const Workload& w = workloads[wi];
    const auto batches_file = tmp / (tag + "_batches" + std::to_string(wi) + ".safetensors");
    write_batches(batches_file, w);
    for (int threads : threads_list) {
      use_threads(threads);
      const std::string command = shell_quote(python) + " " + shell_quote(peer) + " --model-dir " +
                                  shell_quote(model_dir) + " --batches " + shell_quote(batches_file.string()) +
                                  " --threads " + std::to_string(threads) + " --repeats " + std::to_string(repeats) +
                                  " --out " + shell_quote(embeddings_file.string());
      Timing ours, theirs;
      tl::Tensor<float> our_embeddings;
      nlohmann::json peer_result;
      for (int round = 0; round < rounds; ++round) {
        trustml_round(encoder, w, repeats, ours, our_embeddings);
        peer_result = run_peer(command);
        theirs.add(peer_result["torch_ms"].get<double>(), peer_result["torch_cpu_ms"].get<double>());
        std::cerr << w.name << ", " << threads << " thread(s), round " << round + 1 << ": trustml " << ours.wall_ms
                  << " ms, PyTorch " << theirs.wall_ms << " ms (best so far)\n";
      }
      const auto their_embeddings =
          tl::io::to_tensor<float>(tl::io::load_safetensors(embeddings_file).arrays.at(0)).to_vector();
      const auto mine = our_embeddings.to_vector();
      if (mine.size() != their_embeddings.size())
        throw std::runtime_error("the peer returned " + std::to_string(their_embeddings.size()) +
                                 " embedding values, trustml " + std::to_string(mine.size()));
      double max_abs_diff = 0;
      for (std::size_t i = 0; i < mine.size(); ++i)
        max_abs_diff = std::max(max_abs_diff, std::abs(double(mine[i]) - double(their_embeddings[i])));
      all_agree = all_agree && max_abs_diff <= kTolerance;
      nlohmann::ordered_json line;  // the fields in this order
      line["workload"] = w.name;
      line["threads"] = threads;
      line["trustml_ms"] = ours.wall_ms;
      line["torch_ms"] = theirs.wall_ms;
      line["ratio"] = ours.wall_ms / theirs.wall_ms;
      line["max_abs_diff"] = max_abs_diff;
      line["trustml_cpu_ms"] = ours.cpu_ms;
      line["torch_cpu_ms"] = theirs.cpu_ms;
      line["tokens"] = w.tokens;
      line["padded_tokens"] = w.padded_tokens;
      line["tokenize_ms"] = w.tokenize_ms;
      line["torch_version"] = peer_result["torch_version"].get<std::string>();
      std::cout << line.dump() << std::endl;
    }
    std::filesystem::remove(batches_file);
  }
  std::filesystem::remove(embeddings_file);
  return all_agree ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "compare_torch_text: " << e.what() << "\n";
  return 2;
}
