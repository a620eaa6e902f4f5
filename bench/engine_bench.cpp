// Event engine throughput: events per second for a queue holding `pending` events, where each
// fired event schedules one more at a pseudo-random later time (a steady-state hold model, the
// classic priority-queue benchmark).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "sim/core/engine.hpp"

namespace moesim {
namespace {

struct Hold final : EventHandler {
  std::uint64_t remaining = 0;
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  void on_event(Engine& engine, std::uint64_t tag) override {
    if (remaining == 0) return;
    --remaining;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    engine.schedule_after(SimTime::from_ps(static_cast<std::int64_t>(1 + state % 1'000'000)), *this,
                          tag);
  }
};

void BM_EngineHold(benchmark::State& state) {
  const auto pending = static_cast<std::uint64_t>(state.range(0));
  const std::uint64_t events = 1'000'000;
  for (auto _ : state) {
    Engine engine;
    Hold hold;
    hold.remaining = events;
    engine.reserve_events(pending + 1);
    for (std::uint64_t i = 0; i < pending; ++i) {
      engine.schedule_at(SimTime::from_ps(static_cast<std::int64_t>(i)), hold, i);
    }
    engine.run();
    benchmark::DoNotOptimize(engine.events_fired());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (events + pending)));
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * (events + pending)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EngineHold)
    ->Arg(1'000)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace moesim

BENCHMARK_MAIN();
