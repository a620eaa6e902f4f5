#include "sim/core/engine.hpp"

#include "sim/core/errors.hpp"

namespace moesim {

EventId Engine::schedule_at(SimTime time, EventHandler& handler, std::uint64_t tag) {
  MOESIM_CHECK(time >= now_, "event scheduled in the past ({} ps < now {} ps)", time.ps(),
               now_.ps());
  return queue_.push(time, &handler, tag);
}

std::optional<SimTime> Engine::next_model_completion() const {
  std::optional<SimTime> best;
  for (const SharedResourceModel* model : models_) {
    if (auto t = model->next_completion(now_); t && (!best || *t < *best)) best = t;
  }
  return best;
}

void Engine::run(SimTime until) {
  for (;;) {
    const std::optional<SimTime> event_time = queue_.next_time();
    const std::optional<SimTime> model_time = next_model_completion();
    if (!event_time && !model_time) return;
    SimTime next = SimTime::max();
    if (event_time) next = *event_time;
    if (model_time && *model_time < next) next = *model_time;
    if (next > until) return;
    MOESIM_CHECK(next >= now_, "time went backwards ({} ps < {} ps)", next.ps(), now_.ps());

    // Move every continuous activity to the new instant; completions fire in here.
    if (next > now_ || model_time == next) {
      for (SharedResourceModel* model : models_) model->advance(now_, next);
    }
    now_ = next;
    // Fire the events due now, in sequence order. An event may schedule more at `now_`; those
    // fire in this same loop after the ones already queued.
    while (auto t = queue_.next_time()) {
      if (*t != now_) break;
      const Event e = *queue_.pop();
      ++events_fired_;
      e.handler->on_event(*this, e.tag);
    }
  }
}

}  // namespace moesim
