// Speed of a full training iteration: Mixtral-8x7B, all 32 layers forward and backward, on
// generated DGX-H100 clusters of 32, 256 and 1024 GPUs (tp=4, ep=8), per baseline strategy and
// lancet (the slowest on the flow model):
// graph build (planner included) + simulated execution, with the analytical and the flow
// network model, through the same job runner as `moesim run`. Target: < 10 s at 1024
// GPUs for every strategy (issues 4 and 14). The ".../calibrated" case prices the kernels from
// the published H100 profile (traces/measured/h100-published) over the same roofline: what a
// `run --calibration` costs beside a run without (the profile's lookups are memoized,
// sim/calibration/profile_estimate_memo.hpp). The deepseek_v3 cases: the production scale's
// all-to-alls with PXN relays on both network models.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include "sim/io/calibration_json.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/job/job_runner.hpp"
#include "sim/strategies/registry.hpp"

namespace {

using namespace moesim;

/// The job of a case: Mixtral on DGX-H100 by default, DeepSeek-V3 for the PXN-heavy one.
struct BenchJob {
  const char* model = "mixtral-8x7b";
  std::int64_t layers = 0;  ///< 0: the preset's
  const char* parallel = "tp=4,ep=8";
  const char* node = "dgx-h100";
  const char* gpu = "h100";
  bool zipf = true;  ///< zipf 1.2 routing, else uniform
};

void run_iteration(benchmark::State& state, const char* strategy_name, const char* network_kind,
                   bool calibrated = false, const BenchJob& spec = {}) {
  const auto nodes = static_cast<std::size_t>(state.range(0) / 8);
  job::JobParts parts;
  parts.model = io::load_model(spec.model);
  if (spec.layers > 0) parts.model.layers = spec.layers;
  parts.layout = parse_parallel_layout(spec.parallel, "--parallel");
  parts.routing =
      spec.zipf ? std::make_shared<const GeneratedRouting>(RoutingDistribution::zipf, 1.2, 1)
                : std::make_shared<const GeneratedRouting>(RoutingDistribution::uniform, 0, 1);
  parts.topology =
      std::make_shared<const network::Topology>(job::load_cluster_topology(spec.node, nodes));
  parts.gpu = io::load_gpu_spec(spec.gpu);
  parts.network_kind = *network::parse_network_model_kind(network_kind);
  if (calibrated) {
    parts.profile = std::make_shared<const calibration::CalibrationProfile>(
        io::load_profile(MOESIM_SOURCE_DIR "/traces/measured/h100-published/profile.json"));
  }
  const job::PreparedJob job = job::assemble_job(std::move(parts));
  const auto strategy = strategies::make_strategy(strategy_name);
  std::size_t tasks = 0;
  double makespan_ms = 0.0;
  for (auto _ : state) {
    const strategies::BuildResult built = job::build_graph(job, *strategy, *job.first);
    const ExecutionRecord record = job::simulate_graph(job, built.graph);
    tasks = built.graph.task_count();
    makespan_ms = record.makespan().ms();
    benchmark::DoNotOptimize(makespan_ms);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["iteration_ms"] = makespan_ms;
  rusage self{};
  getrusage(RUSAGE_SELF, &self);  // of the process so far: run one case alone for its own peak
  state.counters["peak_rss_mb"] = static_cast<double>(self.ru_maxrss) / 1024.0;
}

void register_all() {
  for (const char* s : {"deepspeed-moe", "tutel", "fastermoe"}) {
    for (const char* net : {"analytical", "flow"}) {
      benchmark::RegisterBenchmark(fmt::format("mixtral_8x7b/{}/{}", s, net).c_str(),
                                   [s, net](benchmark::State& st) { run_iteration(st, s, net); })
          ->Arg(32)
          ->Arg(256)
          ->Arg(1024)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  }
  // The slowest on the flow model (all-to-all-v flows of uneven sizes ending one at a time next
  // to the gradient rings: ~325 k recomputations at 1024 GPUs).
  benchmark::RegisterBenchmark("mixtral_8x7b/lancet/flow",
                               [](benchmark::State& st) { run_iteration(st, "lancet", "flow"); })
      ->Arg(256)
      ->Arg(1024)
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
  // DeepSeek-V3 with 16 layers (README: the second DeepSeek-V3 command), 1,024 H800 GPUs, ep=64,
  // pp=16, 32 micro-batches: 15,104 all-to-alls over 8-node EP groups, where every cross-rail
  // pair is relayed by PXN (the per-group relay tables, sim/network/collectives/pxn_relays.hpp).
  for (const char* net : {"analytical", "flow"}) {
    const BenchJob v3{"deepseek-v3", 16, "ep=64,pp=16,mb=32", "hgx-h800", "h800", false};
    benchmark::RegisterBenchmark(
        fmt::format("deepseek_v3_16_layers/dualpipe/{}", net).c_str(),
        [net, v3](benchmark::State& st) { run_iteration(st, "dualpipe", net, false, v3); })
        ->Arg(1024)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  benchmark::RegisterBenchmark(
      "mixtral_8x7b/deepspeed-moe/analytical/calibrated",
      [](benchmark::State& st) { run_iteration(st, "deepspeed-moe", "analytical", true); })
      ->Arg(256)
      ->Arg(1024)
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
