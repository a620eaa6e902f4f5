#include "sim/core/event_queue.hpp"

#include <algorithm>

namespace moesim {
namespace {

bool earlier(const Event& a, const Event& b) {
  if (a.time != b.time) return a.time < b.time;
  return a.sequence < b.sequence;
}

// A 4-ary min-heap: half the depth of a binary heap, and the four children of a node share two
// cache lines, which matters once the queue outgrows the cache (1e6 pending events).
constexpr std::size_t kArity = 4;

void sift_up(std::vector<Event>& heap, std::size_t i) {
  Event moving = heap[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / kArity;
    if (!earlier(moving, heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = moving;
}

void sift_down(std::vector<Event>& heap, std::size_t i) {
  const std::size_t n = heap.size();
  Event moving = heap[i];
  for (;;) {
    const std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = std::min(first + kArity, n);
    for (std::size_t c = first + 1; c < last; ++c) {
      if (earlier(heap[c], heap[best])) best = c;
    }
    if (!earlier(heap[best], moving)) break;
    heap[i] = heap[best];
    i = best;
  }
  heap[i] = moving;
}

void pop_top(std::vector<Event>& heap) {
  heap.front() = heap.back();
  heap.pop_back();
  if (!heap.empty()) sift_down(heap, 0);
}

}  // namespace

EventId EventQueue::push(SimTime time, EventHandler* handler, std::uint64_t tag) {
  const std::uint64_t sequence = next_sequence_++;
  heap_.push_back(Event{time, sequence, handler, tag});
  sift_up(heap_, heap_.size() - 1);
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
    pop_top(heap_);
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
  const Event e = heap_.front();
  pop_top(heap_);
  return e;
}

}  // namespace moesim
