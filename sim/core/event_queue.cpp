#include "sim/core/event_queue.hpp"

#include <algorithm>

namespace moesim {
namespace {
// std::push_heap builds a max-heap, so "later" compares as "less" to keep the earliest on top.
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    if (a.time != b.time) return a.time > b.time;
    return a.sequence > b.sequence;
  }
};
}  // namespace

EventId EventQueue::push(SimTime time, EventHandler* handler, std::uint64_t tag) {
  const std::uint64_t sequence = next_sequence_++;
  heap_.push_back(Event{time, sequence, handler, tag});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return EventId{sequence};
}

bool EventQueue::cancel(EventId id) {
  if (id.sequence >= next_sequence_) return false;
  // Only events still in the heap can be cancelled; a linear scan would be O(n), so we record the
  // sequence and verify presence lazily. Double cancellation is rejected by the set.
  const bool present = std::any_of(heap_.begin(), heap_.end(),
                                   [&](const Event& e) { return e.sequence == id.sequence; });
  if (!present) return false;
  return cancelled_.insert(id.sequence).second;
}

void EventQueue::drop_cancelled_top() {
  while (!heap_.empty() && !cancelled_.empty()) {
    auto it = cancelled_.find(heap_.front().sequence);
    if (it == cancelled_.end()) return;
    cancelled_.erase(it);
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
}

std::optional<SimTime> EventQueue::next_time() {
  drop_cancelled_top();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().time;
}

std::optional<Event> EventQueue::pop() {
  drop_cancelled_top();
  if (heap_.empty()) return std::nullopt;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  Event e = heap_.back();
  heap_.pop_back();
  return e;
}

}  // namespace moesim
