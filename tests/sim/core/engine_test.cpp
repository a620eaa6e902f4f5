#include "sim/core/engine.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace moesim {
namespace {

struct Recorder final : EventHandler {
  std::vector<std::pair<std::int64_t, std::uint64_t>> fired;
  void on_event(Engine& engine, std::uint64_t tag) override {
    fired.emplace_back(engine.now().ps(), tag);
    // Tag 1 schedules a follow-up at the same instant: it must fire after everything already
    // queued for that instant.
    if (tag == 1) engine.schedule_after(SimTime::zero(), *this, 100);
  }
};

// A resource with one activity that completes at a fixed time.
struct OneShot final : SharedResourceModel {
  SimTime at;
  bool done = false;
  std::vector<std::pair<std::int64_t, std::int64_t>> advances;
  std::optional<SimTime> next_completion(SimTime) const override {
    return done ? std::nullopt : std::optional<SimTime>(at);
  }
  void advance(SimTime from, SimTime to) override {
    advances.emplace_back(from.ps(), to.ps());
    if (to >= at) done = true;
  }
};

}  // namespace

TEST(Engine, FiresEventsInTimeThenSequenceOrder) {
  Engine engine;
  Recorder r;
  engine.schedule_at(SimTime::from_ps(10), r, 1);
  engine.schedule_at(SimTime::from_ps(10), r, 2);
  engine.schedule_at(SimTime::from_ps(5), r, 3);
  engine.run();
  const std::vector<std::pair<std::int64_t, std::uint64_t>> expected{
      {5, 3}, {10, 1}, {10, 2}, {10, 100}};
  EXPECT_EQ(r.fired, expected);
  EXPECT_EQ(engine.events_fired(), 4u);
}

TEST(Engine, CancelledEventDoesNotFire) {
  Engine engine;
  Recorder r;
  const EventId id = engine.schedule_at(SimTime::from_ps(10), r, 7);
  engine.schedule_at(SimTime::from_ps(20), r, 8);
  EXPECT_TRUE(engine.cancel(id));
  engine.run();
  ASSERT_EQ(r.fired.size(), 1u);
  EXPECT_EQ(r.fired[0].second, 8u);
}

TEST(Engine, AdvancesResourceModelsToEveryInstant) {
  // The model completes at 15 ps; events at 10 and 20 ps. The engine must advance the model
  // 0->10, 10->15 (its completion), 15->20.
  Engine engine;
  Recorder r;
  OneShot model;
  model.at = SimTime::from_ps(15);
  engine.add_resource_model(model);
  engine.schedule_at(SimTime::from_ps(10), r, 2);
  engine.schedule_at(SimTime::from_ps(20), r, 3);
  engine.run();
  const std::vector<std::pair<std::int64_t, std::int64_t>> expected{{0, 10}, {10, 15}, {15, 20}};
  EXPECT_EQ(model.advances, expected);
  EXPECT_TRUE(model.done);
}

TEST(Engine, RunUntilStopsBeforeLaterEvents) {
  Engine engine;
  Recorder r;
  engine.schedule_at(SimTime::from_ps(10), r, 2);
  engine.schedule_at(SimTime::from_ps(30), r, 3);
  engine.run(SimTime::from_ps(20));
  ASSERT_EQ(r.fired.size(), 1u);
  engine.run();
  EXPECT_EQ(r.fired.size(), 2u);
}

}  // namespace moesim
