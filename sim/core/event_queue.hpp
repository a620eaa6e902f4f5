// EventQueue: pending events ordered by (time, insertion sequence).
//
// The sequence number breaks ties, so two events at the same picosecond fire in the order they
// were scheduled and a run is reproducible bit for bit. Cancellation is lazy: a cancelled event
// stays in the heap and is skipped when it reaches the top, which keeps cancel() O(1) amortised.
// push and pop are O(log n) on a binary heap of 32-byte entries.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

#include "sim/core/sim_time.hpp"

namespace moesim {

class EventHandler;

struct EventId {
  std::uint64_t sequence = 0;
  auto operator<=>(const EventId&) const = default;
};

struct Event {
  SimTime time;
  std::uint64_t sequence = 0;
  EventHandler* handler = nullptr;
  std::uint64_t tag = 0;  ///< meaning chosen by the handler (e.g. a task index)
};

class EventQueue {
 public:
  EventId push(SimTime time, EventHandler* handler, std::uint64_t tag);
  /// Cancels a pending event. Returns false if it already fired, was cancelled, or never existed.
  bool cancel(EventId id);
  /// The earliest live event, if any (skips cancelled ones).
  std::optional<SimTime> next_time();
  /// Removes and returns the earliest live event.
  std::optional<Event> pop();
  bool empty() { return !next_time().has_value(); }
  std::size_t pending_including_cancelled() const { return heap_.size(); }
  void reserve(std::size_t n) { heap_.reserve(n); }

 private:
  void drop_cancelled_top();

  std::vector<Event> heap_;
  std::unordered_set<std::uint64_t> cancelled_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace moesim
