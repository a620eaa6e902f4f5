// Progress of a long command on stderr (sweep's cases, reproduce's simulations, run's and
// compare's iterations, and inside one iteration its tasks as they are built and simulated): on a
// terminal a bar redrawn in place with the rate and an ETA; otherwise (logs, CI, a scheduler's
// output file) a plain line every 10% of the units or every 10 s, whichever comes first. Nothing
// is printed before the command has run for 2 s, so quick runs (and the tests) stay quiet.
// Thread-safe: workers call tick() as units finish.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace moesim::job {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  /// `total` units to run in this process, named `units` ("cases") in lines that start with
  /// `command` ("sweep"); quiet: print nothing.
  Progress(std::string command, std::string units, std::size_t total, bool quiet);
  /// The same, reading the time from `now` (tests drive it).
  Progress(std::string command, std::string units, std::size_t total, bool quiet,
           std::function<Clock::time_point()> now);

  /// One unit finished.
  void tick();
  /// Inside the unit now running (the next to tick): `done` of its `total` parts, `what` says
  /// of what ("tasks simulated"). A single huge iteration (DeepSeek-V3 on 2,048 GPUs, 20 s)
  /// shows progress this way; a new `what` is printed at once (after the first 2 s). The ETA
  /// reads the rate of its parts since the first report of this `what` (a run's set-up before
  /// its first tasks end does not count as their pace).
  void within(std::string_view what, std::size_t done, std::size_t total);
  /// A step of the running unit that has no parts to count, `count` of `what` ("22.6 M tasks
  /// built"), printed once (after the first 2 s).
  void note(std::size_t count, std::string_view what);
  /// A count of the running unit that grows toward an end not known in advance, `count` of
  /// `what` ("12.6 M tasks built so far": a task graph under construction). Shown as a note, at
  /// most every 100 ms on a terminal and every 10 s in a log (the first after 2 s).
  void growing(std::size_t count, std::string_view what);

 private:
  /// Where the command stands, for one line or bar.
  struct Standing {
    std::size_t done = 0;   ///< units finished
    double fraction = 0.0;  ///< of all the units, the running one's parts included
    std::string
        inside;  ///< the running unit's parts ("11.3 M of 22.6 M tasks simulated"), or empty
    double elapsed_s = 0.0;
    double remaining_s = -1.0;  ///< negative: unknown
    bool with_eta = true;       ///< false for a note
  };
  /// note() and growing(): `count` of `what` with the elapsed time and no ETA, unless the last
  /// line or bar is more recent than `min_gap`.
  void show_note(std::size_t count, std::string_view what, Clock::duration min_gap);
  /// Prints `s` as a bar or a line, as stderr is a terminal or not.
  void show(const Standing& s, Clock::time_point now);
  void print_bar(const Standing& s) const;
  void print_line(const Standing& s) const;
  /// "ETA 9s", or "ETA ?" before anything is done.
  static std::string eta_text(const Standing& s);
  /// Seconds left, negative when unknown: the running unit's parts at their rate since the first
  /// report of its `what`, then the units after it at the mean time per unit so far (this one's
  /// estimate when none has ended).
  double remaining_s(std::size_t part_done, std::size_t part_total, Clock::time_point now) const;

  std::string command_;
  std::string units_;
  std::size_t total_;
  bool quiet_;
  bool tty_;
  std::function<Clock::time_point()> now_;
  Clock::time_point start_;
  Clock::time_point last_print_;
  Clock::time_point last_tick_;      ///< when the last unit ended (or the start)
  Clock::time_point what_since_;     ///< first report of the running unit's `what`
  std::size_t what_since_done_ = 0;  ///< its parts done then
  std::size_t done_ = 0;
  std::size_t last_decile_ = 0;
  std::string inside_what_;  ///< the running unit's `what`, empty between units
  std::size_t inside_last_decile_ = 0;
  bool printed_ = false;
  std::mutex mutex_;
};

}  // namespace moesim::job
