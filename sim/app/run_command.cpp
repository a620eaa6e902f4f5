// moesim run: simulates training iterations of an MoE model on a cluster with a strategy, and
// prints the iteration time, tokens/s, MFU, a breakdown (compute; communication per group,
// exposed vs overlapped) and the per-rank skew; writes a Chrome trace and a summary JSON.
#include <fmt/format.h>

#include <algorithm>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/app/result_json.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/chrome_trace.hpp"
#include "sim/io/output_file.hpp"
#include "sim/job/progress.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {
namespace {

struct RunOptions {
  JobOptions job;
  std::string strategy = "deepspeed-moe";
  std::string trace_file;
  std::string json_file;
};

/// What the profile priced: the share of kernel time (each kernel alone) from measured and
/// interpolated rows, and the largest groups the fallback priced instead.
void print_coverage(const compute::CalibrationCoverage& c) {
  using calibration::EstimateSource;
  const std::int64_t from_profile = c.tasks[static_cast<std::size_t>(EstimateSource::measured)] +
                                    c.tasks[static_cast<std::size_t>(EstimateSource::interpolated)];
  fmt::print(
      "calibration          {:>11.1f} % of kernel time from the profile (measured {:.1f} %, "
      "interpolated {:.1f} %), {} of {} kernel tasks\n",
      100.0 * c.profile_share(), 100.0 * c.time_share(EstimateSource::measured),
      100.0 * c.time_share(EstimateSource::interpolated), from_profile, c.total_tasks());
  constexpr std::size_t kShown = 5;
  for (std::size_t i = 0; i < c.uncovered.size() && i < kShown; ++i) {
    const compute::UncoveredKernels& u = c.uncovered[i];
    fmt::print("  fallback {:>10.1f} % {} ({} tasks)\n", 100.0 * c.share_of(u), u.label(), u.tasks);
  }
  if (c.uncovered.size() > kShown) {
    fmt::print("  fallback: {} more kinds (--json lists every one)\n", c.uncovered.size() - kShown);
  }
}

void print_run(const StrategyResult& r, const PreparedJob& job) {
  const double mean = r.mean_iteration_us();
  fmt::print("\n== strategy {} ==\n", r.name);
  for (const auto& [k, v] : r.last.decisions) {
    fmt::print("  decision  {:<32} {}\n", k, v.text());
  }
  if (r.iteration_us.size() > 1) {
    std::string list;
    for (double t : r.iteration_us) {
      list += fmt::format("{}{:.3f}", list.empty() ? "" : ", ", t / 1e3);
    }
    fmt::print("iteration times      {} ms\n", list);
  }
  fmt::print("iteration time       {:>12.3f} ms{}\n", mean / 1e3,
             r.iteration_us.size() > 1 ? " (mean)" : "");
  fmt::print("throughput           {:>12.0f} tokens/s\n", r.tokens_per_s(job.tokens_per_iteration));
  fmt::print("MFU                  {:>12.1f} %\n", 100.0 * r.mfu(job));
  const report::IterationSummary& s = r.summary;
  fmt::print("ranks / tasks        {:>12} / {} tasks, {} comm ops\n", s.ranks, s.tasks, s.comm_ops);
  fmt::print("compute (mean/rank)  {:>12.3f} ms\n", s.mean_compute().ms());
  fmt::print("comm exposed (mean)  {:>12.3f} ms\n", s.mean_exposed_comm().ms());
  fmt::print("  {:<10} {:>8} {:>14} {:>14} {:>16}\n", "group", "ops", "exposed ms", "overlapped ms",
             "bytes/op");
  for (const auto& [name, g] : r.groups) {
    fmt::print("  {:<10} {:>8} {:>14.3f} {:>14.3f} {:>16}\n", name, g.operations,
               g.exposed_us / 1e3, g.overlapped_us / 1e3,
               g.operations ? g.bytes / g.operations : 0);
  }
  SimTime lo = SimTime::max();
  SimTime hi = SimTime::zero();
  for (const auto& pr : s.per_rank) {
    lo = std::min(lo, pr.compute_busy);
    hi = std::max(hi, pr.compute_busy);
  }
  fmt::print("rank skew            {:>12.3f} ms end-to-end, compute {:.3f}..{:.3f} ms\n",
             s.rank_skew().ms(), lo.ms(), hi.ms());
  if (r.calibration_coverage) print_coverage(*r.calibration_coverage);
}

void run(const RunOptions& o) {
  io::check_outputs({{"--trace", o.trace_file}, {"--json", o.json_file}}, job_input_paths(o.job));
  // Strategies first: a typo fails before any loading.
  const auto chosen = parse_strategies(o.strategy, "--strategy");
  if (chosen.size() > 1 && (!o.trace_file.empty() || !o.json_file.empty())) {
    throw input_error("", "--strategy", "--trace and --json need a single strategy", o.strategy,
                      "one name (moesim compare writes tables for several)");
  }
  const PreparedJob p = prepare_job(o.job);
  for (const auto& strategy : chosen) strategy->check_job(*p.first);  // before any output
  print_job(p);
  std::vector<StrategyResult> runs;
  job::Progress progress("run", "iterations",
                         chosen.size() * static_cast<std::size_t>(p.iterations), false);
  for (const auto& strategy : chosen) {
    runs.push_back(simulate_strategy(p, *strategy, &progress));
    print_run(runs.back(), p);
  }
  if (runs.size() > 1) {
    // The name column fits the longest name (options included).
    std::size_t name_width = 16;
    for (const auto& r : runs) name_width = std::max(name_width, r.name.size());
    fmt::print("\n{:<{}} {:>14} {:>14} {:>8}\n", "strategy", name_width, "iteration ms", "tokens/s",
               "speedup");
    const double base = runs.front().mean_iteration_us();
    for (const auto& r : runs) {
      fmt::print("{:<{}} {:>14.3f} {:>14.0f} {:>7.2f}x\n", r.name, name_width,
                 r.mean_iteration_us() / 1e3, r.tokens_per_s(p.tokens_per_iteration),
                 base / r.mean_iteration_us());
    }
  }
  const StrategyResult& only = runs.front();
  io::write_outputs({{"--trace", o.trace_file,
                      o.trace_file.empty() ? "" : io::chrome_trace(only.last.graph, only.record)},
                     {"--json", o.json_file,
                      o.json_file.empty() ? "" : strategy_result_json(p, only).dump(2) + "\n"}});
}

}  // namespace

void register_run_command(CLI::App& root) {
  auto o = std::make_shared<RunOptions>();
  const std::string names = strategies::strategy_names_help();
  CLI::App* cmd = root.add_subcommand(
      "run", "Simulate training iterations of an MoE model with one scheduling strategy");
  cmd->footer(
      "Builds each iteration's task graph (every kernel and collective of every rank), runs it\n"
      "over the topology's network model with a roofline compute model, and prints the\n"
      "iteration time, tokens/s, MFU, communication per group (exposed vs overlapped) and the\n"
      "per-rank skew. --parallel sizes: dp (inferred if omitted), tp, ep, esp (expert sharding),\n"
      "pp, mb (micro-batches), schedule (gpipe|1f1b), split (layers, or ends: megatron* only,\n"
      "the embedding and loss each take a layer's place, so pp x vp divides layers + 2),\n"
      "first_stage_layers=N / last_stage_layers=M (uneven stages: the other layers split\n"
      "evenly over the middle stages; without them pp must divide the layers);\n"
      "edp = dp*tp/(ep*esp). Model fields via --set (head_dim, vocab_size, sliding_window,\n"
      "gemm_dtype=fp8|<dtype>, mtp_layers (megatron*, dualpipe*), node_limit (each token\n"
      "to at most M nodes, a strategy's node_limit=M overrides), attention_kernel=dense_masked|\n"
      "flash_causal (causal tiles computed or skipped; unset: every key, megatron*:\n"
      "flash_causal, Transformer Engine's causal attention), ...:\n"
      "traces/models/README.md). Attention on H100/H200/H800 runs at measured rates\n"
      "(unfused PyTorch for dense_masked, cuDNN's fused kernel otherwise), elsewhere at\n"
      "half the tensor peak: topologies/gpus/README.md.\n"
      "Size: a job is refused before anything runs or is written (exit 2) when its estimated\n"
      "graph does not fit in this machine's memory (about 100 bytes per task;\n"
      "MOESIM_MEMORY_LIMIT_MB sets the limit) or the run passes 1e9 tasks. DeepSeek-V3 on\n"
      "2,048 GPUs (below) is 22.6 M tasks, about 10 s and 1.6 GB on the analytical network.\n"
      "A run over 2 s reports on stderr: the graph's tasks as it is built, then as they are\n"
      "simulated, with an ETA.\n"
      "Example (4 DGX-H100 nodes):\n"
      "  moesim run --model mixtral-8x7b --topology dgx-h100 --nodes 4 \\\n"
      "      --parallel tp=4,ep=8 --strategy tutel --routing zipf:1.2 --trace trace.json\n"
      "DeepSeek-V3's 61 layers on 16 stages (Megatron-Bridge's recipe: 15 x 4, then 1):\n"
      "  moesim run --model deepseek-v3 --topology hgx-h800 --nodes 256 --network analytical \\\n"
      "      --parallel ep=64,pp=16,mb=32,last_stage_layers=1 --strategy dualpipe");
  add_job_options(*cmd, o->job);
  cmd->add_option("--strategy,-s", o->strategy,
                  "Strategy, a comma list (each strategy once), or 'all': " + names +
                      ". Options follow the name, ':'-separated, e.g. "
                      "deepspeed-ted:dtd=on:cac=off" +
                      strategies::strategy_options_help())
      ->capture_default_str();
  cmd->add_option("--trace", o->trace_file, "Write the last iteration's Chrome/Perfetto trace");
  cmd->add_option("--json", o->json_file, "Write the summary JSON here ('-' = stdout)");
  cmd->callback([o]() { run(*o); });
}

}  // namespace moesim::app
