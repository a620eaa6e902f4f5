// Sweep throughput (issue 16): cases per second through the same runner as `moesim sweep`, on
// a slice of FSMoE's 1458-layer grid (traces/grids/fsmoe-1458.json, 48 RTX A6000 GPUs, flow
// network) with the 5 strategies FSMoE compares, on 1 and 2 threads; with and without a results
// directory, to show what writing one file per case costs. The whole-grid target (7290 cases in
// at most 60 s on 2 cores) is measured through the CLI with /usr/bin/time -v (README).
#include <benchmark/benchmark.h>

#include <filesystem>

#include "sim/job/sweep_plan.hpp"
#include "sim/job/sweep_runner.hpp"

namespace {

using namespace moesim;

// The first `configurations` configurations of the grid, every strategy.
std::vector<io::SweepCaseLine> grid_slice(std::size_t configurations) {
  const job::SweepPlan plan =
      job::make_sweep_plan(std::string(MOESIM_SOURCE_DIR) + "/traces/grids/fsmoe-1458.json",
                           "deepspeed-moe,tutel,tutel-improved,fsmoe-no-iio,fsmoe", "");
  return {plan.cases.begin(),
          plan.cases.begin() + static_cast<std::ptrdiff_t>(configurations * plan.strategies())};
}

void run_slice(benchmark::State& state, bool keep_results) {
  const std::vector<io::SweepCaseLine> cases = grid_slice(40);
  const std::string dir = (std::filesystem::temp_directory_path() / "moesim-sweep-bench").string();
  job::SweepRunSettings settings;
  settings.threads = static_cast<unsigned>(state.range(0));
  settings.quiet = true;
  if (keep_results) settings.results_dir = dir;
  for (auto _ : state) {
    std::filesystem::remove_all(dir);  // every case runs, none is reused
    const job::SweepRunOutcome out = job::run_sweep_cases(cases, settings);
    benchmark::DoNotOptimize(out.results.data());
  }
  std::filesystem::remove_all(dir);
  state.counters["cases"] = static_cast<double>(cases.size());
  state.counters["cases_per_s"] = benchmark::Counter(
      static_cast<double>(cases.size() * state.iterations()), benchmark::Counter::kIsRate);
}

void BM_SweepInMemory(benchmark::State& state) { run_slice(state, false); }
void BM_SweepWithResultsDir(benchmark::State& state) { run_slice(state, true); }

BENCHMARK(BM_SweepInMemory)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SweepWithResultsDir)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
