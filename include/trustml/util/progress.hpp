// trustml/util/progress.hpp: a progress bar for long loops, drawn on stderr.
//
//   ProgressBar bar(loader.size(), {.label = "epoch 3"});
//   for (const Batch& b : loader) { ...; bar.set_postfix("loss " + std::to_string(loss)); bar.advance(); }
//   bar.finish();
//
//   epoch 3  42% [############----------------]  197/469  [00:03<00:04, 61.2 it/s] loss 0.312
//
// The bar is drawn only when its stream is a terminal (so logs and CI output stay clean), unless
// ProgressDisplay::on or ::off says otherwise. It is redrawn in place (carriage return) at most
// every min_redraw_seconds (0.1 s by default), because a redraw per iteration would cost more than
// a fast iteration, and finish() (or the destructor) draws the final state and ends the line.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace trustml::util {

enum class ProgressDisplay { automatic, on, off };  // automatic: on when the stream is a terminal

struct ProgressOptions {
  std::string label{};  // printed before the bar
  ProgressDisplay display = ProgressDisplay::automatic;
  double min_redraw_seconds = 0.1;
  int bar_width = 28;
  std::FILE* stream = stderr;
};

class ProgressBar {
 public:
  // total <= 0: an unknown total (no percentage, bar or ETA).
  explicit ProgressBar(std::int64_t total, ProgressOptions options = {})
      : total_(total), options_(std::move(options)), start_(Clock::now()), last_draw_(start_) {
    enabled_ = options_.stream != nullptr &&
               (options_.display == ProgressDisplay::on ||
                (options_.display == ProgressDisplay::automatic && ::isatty(::fileno(options_.stream)) == 1));
  }
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool enabled() const { return enabled_; }
  std::int64_t count() const { return count_; }

  // Counts `steps` more iterations done and redraws if enough time has passed (or at the total).
  void advance(std::int64_t steps = 1) {
    count_ += steps;
    if (!enabled_ || finished_) return;
    const auto now = Clock::now();
    const bool reached_total = total_ > 0 && count_ >= total_ && count_ - steps < total_;
    if (reached_total || seconds(last_draw_, now) >= options_.min_redraw_seconds) {
      draw(now);
      last_draw_ = now;
    }
  }
  // Text shown after the rate ("loss 0.31"); shown at the next redraw.
  void set_postfix(std::string text) { postfix_ = std::move(text); }

  // Draws the final state and ends the line. Later calls do nothing.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (!enabled_) return;
    draw(Clock::now());
    std::fputc('\n', options_.stream);
    std::fflush(options_.stream);
  }

  // "mm:ss", or "h:mm:ss" from an hour on.
  static std::string format_duration(double s) {
    const auto total = static_cast<std::int64_t>(std::max(0.0, s));
    char buf[32];
    if (total >= 3600)
      std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                    static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
    else
      std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(total / 60),
                    static_cast<long long>(total % 60));
    return buf;
  }

  // The line drawn for `count` of `total` after `elapsed` seconds (without the carriage return).
  std::string render(std::int64_t count, double elapsed) const {
    std::string line = options_.label;
    if (!line.empty()) line += ' ';
    char buf[96];
    const double rate = elapsed > 0 ? static_cast<double>(count) / elapsed : 0.0;
    if (total_ > 0) {
      const double done = std::clamp(static_cast<double>(count) / static_cast<double>(total_), 0.0, 1.0);
      const int filled = static_cast<int>(done * options_.bar_width);
      std::snprintf(buf, sizeof buf, "%3d%% [", static_cast<int>(done * 100));
      line += buf;
      line.append(static_cast<std::size_t>(filled), '#');
      line.append(static_cast<std::size_t>(options_.bar_width - filled), '-');
      std::snprintf(buf, sizeof buf, "] %lld/%lld ", static_cast<long long>(count), static_cast<long long>(total_));
    } else {
      std::snprintf(buf, sizeof buf, "%lld ", static_cast<long long>(count));
    }
    line += buf;
    line += '[';
    line += format_duration(elapsed);
    if (total_ > 0) {
      line += '<';
      line += rate > 0 ? format_duration(static_cast<double>(total_ - count) / rate) : std::string("?");
    }
    std::snprintf(buf, sizeof buf, ", %.1f it/s]", rate);
    line += buf;
    if (!postfix_.empty()) {
      line += ' ';
      line += postfix_;
    }
    return line;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  void draw(Clock::time_point now) {
    // "\033[K" clears what a longer previous line left behind.
    std::fprintf(options_.stream, "\r%s\033[K", render(count_, seconds(start_, now)).c_str());
    std::fflush(options_.stream);
  }

  std::int64_t total_;
  ProgressOptions options_;
  Clock::time_point start_, last_draw_;
  std::int64_t count_ = 0;
  std::string postfix_;
  bool enabled_ = false;
  bool finished_ = false;
};

}  // namespace trustml::util
