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

}  // namespace

Progress::Progress(std::string command, std::string units, std::size_t total, bool quiet)
    : command_(std::move(command)),
      units_(std::move(units)),
      total_(total),
      quiet_(quiet || total == 0),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_print_(start_) {}

void Progress::tick() {
  std::lock_guard lock(mutex_);
  const std::size_t done = ++done_;
  if (quiet_) return;
  const Clock::time_point now = Clock::now();
  const double elapsed_s = std::chrono::duration<double>(now - start_).count();
  if (tty_) {
    if (now - start_ < std::chrono::seconds(2) && !printed_) return;
    printed_ = true;
    // Redrawing costs a write; a few per second is enough for the eye.
    if (done == total_ || now - last_print_ >= std::chrono::milliseconds(100)) {
      print_bar(done, elapsed_s);
      last_print_ = now;
    }
    return;
  }
  // A command over in a second or two needs no progress.
  if (now - start_ < std::chrono::seconds(2) && !printed_) return;
  const std::size_t decile = done * 10 / total_;
  if (decile != last_decile_ || done == total_ || now - last_print_ >= std::chrono::seconds(10)) {
    print_line(done, elapsed_s);
    last_decile_ = decile;
    last_print_ = now;
    printed_ = true;
  }
}

void Progress::print_bar(std::size_t done, double elapsed_s) const {
  const std::size_t width = 30;
  const std::size_t filled = width * done / total_;
  const double rate = elapsed_s > 0.0 ? static_cast<double>(done) / elapsed_s : 0.0;
  const std::string eta = done == total_ ? "done in " + duration_text(elapsed_s)
                          : rate > 0.0
                              ? "ETA " + duration_text(static_cast<double>(total_ - done) / rate)
                              : "ETA ?";
  // \033[K clears what a longer previous line left on the right.
  fmt::print(stderr, "\r{}: [{}{}] {}/{} {}  {:.1f}/s  {}\033[K", command_,
             std::string(filled, '#'), std::string(width - filled, '.'), done, total_, units_, rate,
             eta);
  if (done == total_) fmt::print(stderr, "\n");
  std::fflush(stderr);
}

void Progress::print_line(std::size_t done, double elapsed_s) const {
  const double rate = elapsed_s > 0.0 ? static_cast<double>(done) / elapsed_s : 0.0;
  if (done == total_) {
    fmt::print(stderr, "{}: {}/{} {} (100%) in {}\n", command_, done, total_, units_,
               duration_text(elapsed_s));
  } else {
    fmt::print(stderr, "{}: {}/{} {} ({}%), {} elapsed, ETA {}\n", command_, done, total_, units_,
               100 * done / total_, duration_text(elapsed_s),
               rate > 0.0 ? duration_text(static_cast<double>(total_ - done) / rate) : "?");
  }
  std::fflush(stderr);
}

}  // namespace moesim::job
