#include "sim/job/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

namespace moesim::job {
namespace {

std::string duration_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

/// 950, 12.3 k, 22.6 M: task counts of a big iteration run to tens of millions.
std::string count_text(std::size_t n) {
  if (n < 10'000) return fmt::format("{}", n);
  if (n < 1'000'000) return fmt::format("{:.1f} k", static_cast<double>(n) / 1e3);
  return fmt::format("{:.1f} M", static_cast<double>(n) / 1e6);
}

/// "iterations" -> "iteration": the running unit is one.
std::string_view singular(std::string_view units) {
  return units.ends_with('s') ? units.substr(0, units.size() - 1) : units;
}

double seconds_between(Progress::Clock::time_point from, Progress::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Progress::Progress(std::string command, std::string units, std::size_t total, bool quiet)
    : Progress(std::move(command), std::move(units), total, quiet, &Clock::now) {}

Progress::Progress(std::string command, std::string units, std::size_t total, bool quiet,
                   std::function<Clock::time_point()> now)
    : command_(std::move(command)),
      units_(std::move(units)),
      total_(total),
      quiet_(quiet || total == 0),
      tty_(isatty(STDERR_FILENO) != 0),
      now_(std::move(now)),
      start_(now_()),
      last_print_(start_),
      last_tick_(start_),
      what_since_(start_) {}

void Progress::tick() {
  std::lock_guard lock(mutex_);
  const std::size_t done = ++done_;
  inside_what_.clear();
  inside_last_decile_ = 0;
  if (quiet_) return;
  const Clock::time_point now = now_();
  last_tick_ = now;
  Standing s;
  s.done = done;
  s.fraction = static_cast<double>(done) / static_cast<double>(total_);
  s.elapsed_s = seconds_between(start_, now);
  s.remaining_s = s.elapsed_s * static_cast<double>(total_ - done) / static_cast<double>(done);
  // A command over in a second or two needs no progress.
  if (now - start_ < std::chrono::seconds(2) && !printed_) return;
  if (tty_) {
    printed_ = true;
    // Redrawing costs a write; a few per second is enough for the eye.
    if (done == total_ || now - last_print_ >= std::chrono::milliseconds(100)) {
      print_bar(s);
      last_print_ = now;
    }
    return;
  }
  const std::size_t decile = done * 10 / total_;
  if (decile != last_decile_ || done == total_ || now - last_print_ >= std::chrono::seconds(10)) {
    print_line(s);
    last_decile_ = decile;
    last_print_ = now;
    printed_ = true;
  }
}

double Progress::remaining_s(std::size_t part_done, std::size_t part_total,
                             Clock::time_point now) const {
  if (part_done <= what_since_done_) return -1.0;
  const double part_rate_s =
      seconds_between(what_since_, now) / static_cast<double>(part_done - what_since_done_);
  const double unit_rest_s = part_rate_s * static_cast<double>(part_total - part_done);
  const double per_unit_s = done_ > 0
                                ? seconds_between(start_, last_tick_) / static_cast<double>(done_)
                                : seconds_between(start_, now) + unit_rest_s;
  return unit_rest_s + per_unit_s * static_cast<double>(total_ - done_ - 1);
}

void Progress::within(std::string_view what, std::size_t done, std::size_t total) {
  std::lock_guard lock(mutex_);
  if (quiet_ || total == 0 || done_ >= total_) return;
  const Clock::time_point now = now_();
  const bool new_what = what != inside_what_;
  if (new_what) {
    inside_what_ = std::string(what);
    inside_last_decile_ = 0;
    what_since_ = now;
    what_since_done_ = done;
  }
  if (now - start_ < std::chrono::seconds(2) && !printed_) return;
  const std::size_t decile = done * 10 / total;
  const bool due =
      tty_ ? now - last_print_ >= std::chrono::milliseconds(100)
           : decile != inside_last_decile_ || now - last_print_ >= std::chrono::seconds(10);
  if (!new_what && !due) return;
  Standing s;
  s.done = done_;
  s.fraction =
      (static_cast<double>(done_) + static_cast<double>(done) / static_cast<double>(total)) /
      static_cast<double>(total_);
  s.inside = done == total ? fmt::format("{} {}", count_text(done), what)
                           : fmt::format("{} of {} {}", count_text(done), count_text(total), what);
  s.elapsed_s = seconds_between(start_, now);
  s.remaining_s = remaining_s(done, total, now);
  show(s, now);
  inside_last_decile_ = decile;
}

void Progress::note(std::size_t count, std::string_view what) {
  show_note(count, what, Clock::duration::zero());
}

void Progress::growing(std::size_t count, std::string_view what) {
  show_note(count, what,
            tty_ ? Clock::duration(std::chrono::milliseconds(100))
                 : Clock::duration(std::chrono::seconds(10)));
}

void Progress::show_note(std::size_t count, std::string_view what, Clock::duration min_gap) {
  std::lock_guard lock(mutex_);
  if (quiet_ || done_ >= total_) return;
  inside_what_.clear();
  const Clock::time_point now = now_();
  if (now - start_ < std::chrono::seconds(2) && !printed_) return;
  if (printed_ && now - last_print_ < min_gap) return;
  Standing s;
  s.done = done_;
  s.fraction = static_cast<double>(done_) / static_cast<double>(total_);
  s.inside = fmt::format("{} {}", count_text(count), what);
  s.elapsed_s = seconds_between(start_, now);
  s.with_eta = false;
  show(s, now);
}

void Progress::show(const Standing& s, Clock::time_point now) {
  if (tty_) {
    print_bar(s);
  } else {
    print_line(s);
  }
  last_print_ = now;
  printed_ = true;
}

std::string Progress::eta_text(const Standing& s) {
  if (!s.with_eta) return "";
  return s.remaining_s < 0.0 ? ", ETA ?" : ", ETA " + duration_text(s.remaining_s);
}

void Progress::print_bar(const Standing& s) const {
  const std::size_t width = 30;
  const auto filled = static_cast<std::size_t>(static_cast<double>(width) * s.fraction);
  const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  // \033[K clears what a longer previous line left on the right.
  if (s.done == total_) {
    fmt::print(stderr, "\r{}: [{}] {}/{} {}  done in {}\033[K\n", command_, bar, s.done, total_,
               units_, duration_text(s.elapsed_s));
  } else if (s.inside.empty()) {
    const double rate = s.elapsed_s > 0.0 ? static_cast<double>(s.done) / s.elapsed_s : 0.0;
    fmt::print(stderr, "\r{}: [{}] {}/{} {}  {:.1f}/s{}\033[K", command_, bar, s.done, total_,
               units_, rate, eta_text(s));
  } else {
    fmt::print(stderr, "\r{}: [{}] {} {}/{}: {}{}\033[K", command_, bar, singular(units_),
               s.done + 1, total_, s.inside, eta_text(s));
  }
  std::fflush(stderr);
}

void Progress::print_line(const Standing& s) const {
  if (s.done == total_) {
    fmt::print(stderr, "{}: {}/{} {} (100%) in {}\n", command_, s.done, total_, units_,
               duration_text(s.elapsed_s));
  } else if (s.inside.empty()) {
    fmt::print(stderr, "{}: {}/{} {} ({}%), {} elapsed{}\n", command_, s.done, total_, units_,
               100 * s.done / total_, duration_text(s.elapsed_s), eta_text(s));
  } else if (!s.with_eta) {
    fmt::print(stderr, "{}: {} {}/{}: {}, {} elapsed\n", command_, singular(units_), s.done + 1,
               total_, s.inside, duration_text(s.elapsed_s));
  } else {
    fmt::print(stderr, "{}: {} {}/{}: {} ({}%), {} elapsed{}\n", command_, singular(units_),
               s.done + 1, total_, s.inside, static_cast<int>(100.0 * s.fraction),
               duration_text(s.elapsed_s), eta_text(s));
  }
  std::fflush(stderr);
}

}  // namespace moesim::job
