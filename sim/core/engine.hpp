// Engine: the discrete-event loop. Owns simulated time and the event queue; asks every
// registered SharedResourceModel for its next completion, jumps to the earliest of those and of
// the queued events, advances the models to that time, then fires the events due.
//
// At one instant the resource models advance first (their completions may schedule events at
// the same time), then queued events fire in (time, sequence) order. No globals: several
// engines can live in one process.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/event_queue.hpp"
#include "sim/core/shared_resource_model.hpp"
#include "sim/core/sim_time.hpp"

namespace moesim {

class Engine;

/// Receives the events it scheduled. `tag` is whatever the handler passed to schedule().
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_event(Engine& engine, std::uint64_t tag) = 0;
};

class Engine {
 public:
  SimTime now() const { return now_; }

  /// Schedules handler.on_event(tag) at absolute time `time` (>= now()).
  EventId schedule_at(SimTime time, EventHandler& handler, std::uint64_t tag);
  EventId schedule_after(SimTime delay, EventHandler& handler, std::uint64_t tag) {
    return schedule_at(now_ + delay, handler, tag);
  }
  bool cancel(EventId id) { return queue_.cancel(id); }

  /// Registers a model; it must outlive the engine's run().
  void add_resource_model(SharedResourceModel& model) { models_.push_back(&model); }

  /// Runs until nothing is pending, or until the next instant would exceed `until`.
  void run(SimTime until = SimTime::max());

  std::uint64_t events_fired() const { return events_fired_; }
  void reserve_events(std::size_t n) { queue_.reserve(n); }

 private:
  std::optional<SimTime> next_model_completion() const;

  SimTime now_ = SimTime::zero();
  EventQueue queue_;
  std::vector<SharedResourceModel*> models_;
  std::uint64_t events_fired_ = 0;
};

}  // namespace moesim
