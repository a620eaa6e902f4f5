// Progress of a long sweep on stderr: on a terminal a bar redrawn in place with the rate and an
// ETA; otherwise (logs, CI, a scheduler's output file) a plain line every 10% of the cases or
// every 10 s, whichever comes first, once the sweep has run for 2 s. Thread-safe: workers call
// tick() as cases finish.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>

namespace moesim::job {

class SweepProgress {
 public:
  /// `total` cases to run in this process; quiet: print nothing.
  SweepProgress(std::size_t total, bool quiet);
  void tick();

 private:
  using Clock = std::chrono::steady_clock;
  void print_bar(std::size_t done, double elapsed_s) const;
  void print_line(std::size_t done, double elapsed_s) const;

  std::size_t total_;
  bool quiet_;
  bool tty_;
  Clock::time_point start_;
  Clock::time_point last_print_;
  std::size_t done_ = 0;
  std::size_t last_decile_ = 0;
  bool printed_ = false;
  std::mutex mutex_;
};

}  // namespace moesim::job
