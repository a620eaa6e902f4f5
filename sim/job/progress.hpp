// Progress of a long command on stderr (sweep's cases, reproduce's simulations, run's and
// compare's iterations): on a terminal a bar redrawn in place with the rate and an ETA;
// otherwise (logs, CI, a scheduler's output file) a plain line every 10% of the units or every
// 10 s, whichever comes first. Nothing is printed before the command has run for 2 s, so quick
// runs (and the tests) stay quiet. Thread-safe: workers call tick() as units finish.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace moesim::job {

class Progress {
 public:
  /// `total` units to run in this process, named `units` ("cases") in lines that start with
  /// `command` ("sweep"); quiet: print nothing.
  Progress(std::string command, std::string units, std::size_t total, bool quiet);
  void tick();

 private:
  using Clock = std::chrono::steady_clock;
  void print_bar(std::size_t done, double elapsed_s) const;
  void print_line(std::size_t done, double elapsed_s) const;

  std::string command_;
  std::string units_;
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
