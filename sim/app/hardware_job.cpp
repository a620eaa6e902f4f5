#include "sim/app/hardware_job.hpp"

#include <algorithm>
#include <map>

#include "kernels/runtime/graph_lowering.hpp"
#include "sim/app/cli_checks.hpp"
#include "sim/app/hardware_library.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/task_graph_json.hpp"

namespace moesim::app {

void add_hardware_job_options(CLI::App* cmd, HardwareJobOptions& o) {
  cmd->add_option("--graph", o.graph_file, "Task graph JSON file (docs/task-graph.md)")
      ->check(existing_file());
  add_job_options(*cmd, o.job, JobFlags{.required = false, .iterations = false});
  cmd->add_option("--strategy,-s", o.strategy, "Strategy building the graph (with --model)")
      ->capture_default_str();
  cmd->add_option("--iterations", o.iterations, "Timed iterations (per-task median)")
      ->check(count_in(1, 100000))
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Warm-up iterations, not timed")
      ->check(count_in(0, 100000))
      ->capture_default_str();
  cmd->add_option("--launch-headroom-us", o.launch_headroom_us,
                  "GPU-side wait before each iteration so the host enqueues ahead")
      ->check(number_in(0.0, 1e6))
      ->capture_default_str();
}

HardwareJob build_hardware_job(const HardwareJobOptions& o) {
  HardwareJob job;
  if (!o.graph_file.empty() && !o.job.model.empty()) {
    throw input_error("", "--graph", "give a task graph file or a job (--model ...), not both",
                      o.graph_file, "one of them");
  }
  if (!o.job.model.empty()) {
    const auto strategies = parse_strategies(o.strategy, "--strategy");
    if (strategies.size() != 1) {
      throw input_error("", "--strategy", "one strategy is executed at a time", o.strategy,
                        "one name");
    }
    job.prepared = std::make_unique<PreparedJob>(prepare_job(o.job));
    job.graph = build_graph(*job.prepared, *strategies.front(), *job.prepared->first).graph;
    return job;
  }
  if (o.graph_file.empty()) {
    throw input_error("", "--graph", "no job given", "nothing",
                      "--graph FILE, or --model M --parallel ... --strategy S");
  }
  job.graph = io::load_task_graph(o.graph_file);
  job.graph.validate();
  return job;
}

runtime::ExecutionPlan plan_job(const HardwareJobOptions& o, const TaskGraph& graph) {
  try {
    return runtime::lower_graph(graph);
  } catch (const InputError& e) {
    throw InputError(o.graph_file.empty() ? std::string(e.what()) : o.graph_file + ": " + e.what());
  }
}

runtime::HardwareRunOptions run_options(const HardwareJobOptions& o) {
  runtime::HardwareRunOptions r;
  r.iterations = o.iterations;
  r.warmup = o.warmup;
  r.launch_headroom_us = o.launch_headroom_us;
  return r;
}

std::unique_ptr<runtime::HardwareRunner> acquire_hardware_runner() {
  runtime::HardwareAvailability a = load_hardware_executor();
  if (!a.runner) throw InputError(a.reason);
  return std::move(a.runner);
}

void split_substituted(const TaskGraph& graph, const runtime::ExecutionPlan& plan,
                       const ExecutionRecord& predicted, const ExecutionRecord& measured,
                       std::vector<report::ComparisonRow>& per_kind) {
  std::map<std::string, report::ComparisonRow> moved;
  for (const runtime::RankPlan& rank : plan.ranks) {
    for (const runtime::Launch& l : rank.launches) {
      if (!l.compute || !l.compute->substituted) continue;
      const auto& c = *graph.compute_of(l.task);
      report::ComparisonRow& row = moved[std::string(to_string(c.kind))];
      ++row.tasks;
      row.predicted += predicted.tasks[l.task.index()].end - predicted.tasks[l.task.index()].start;
      row.measured += measured.tasks[l.task.index()].end - measured.tasks[l.task.index()].start;
    }
  }
  for (auto& [kind, sub] : moved) {
    for (report::ComparisonRow& row : per_kind) {
      if (row.key != kind) continue;
      row.tasks -= sub.tasks;
      row.predicted -= sub.predicted;
      row.measured -= sub.measured;
    }
    sub.key = kind + std::string(kSubstitutedMark);
    per_kind.push_back(sub);
  }
  std::erase_if(per_kind, [](const report::ComparisonRow& r) { return r.tasks == 0; });
  std::sort(
      per_kind.begin(), per_kind.end(),
      [](const report::ComparisonRow& a, const report::ComparisonRow& b) { return a.key < b.key; });
}

}  // namespace moesim::app
