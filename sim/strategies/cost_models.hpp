// CostModels: the cost functions strategy planners decide with (Tutel's degree, FasterMoE's
// shadowing, FSMoE's pipeline degree...). They are the very models the simulated executor charges,
// so a planner's estimate is what the simulator will charge: a kernel alone on its GPU, and a
// collective together with every other group of the stage that runs it at the same time
// (estimate_together: on one-NIC nodes the g EP groups of a stage share the NIC). With an
// `estimates` cache (the job library gives one to flow-model jobs, shared by a sweep's cases on
// the same model), each distinct question is priced once; the answers are the model's own.
#pragma once

#include <span>
#include <vector>

#include "sim/compute/compute_model.hpp"
#include "sim/network/communication_model.hpp"
#include "sim/network/estimate_cache.hpp"
#include "sim/strategies/trial_runner.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::strategies {

struct CostModels {
  const compute::ComputeModel& compute;
  const network::CommunicationModel& network;
  /// Remembered estimates of `network` (null: every estimate is computed).
  network::EstimateCache* estimates = nullptr;
  /// Runs candidate graphs on the executor (null: planners decide on their estimates alone).
  const TrialRunner* trials = nullptr;
  /// Told as the iteration's graph grows (null: nobody), so the job layer can show a long build.
  TaskGraphGrowthListener* build_progress = nullptr;

  /// Time of `op` alone on an idle network.
  SimTime estimate(const CommOp& op) const {
    auto price = [&] { return network.estimate(op); };
    return estimates ? estimates->get_or_compute(std::span(&op, 1), price) : price();
  }
  /// When the last of `ops`, started together on an idle network, ends: the price of one
  /// collective step of a stage (every EP, ESP, DP or TP group of it running at once).
  SimTime estimate_together(const std::vector<CommOp>& ops) const {
    if (ops.empty()) return SimTime::zero();
    if (ops.size() == 1) return estimate(ops.front());
    auto price = [&] { return network.estimate_concurrent(ops); };
    return estimates ? estimates->get_or_compute(ops, price) : price();
  }
  /// Time of `task` on `rank` with no communication running beside it.
  SimTime duration(const ComputeTask& task, RankId rank = {}) const {
    return compute.duration(task, compute::ComputeContext{rank, 0});
  }
  /// Time of `task` on `rank` when it starts while a communication operation runs on the same
  /// GPU: what the executor charges then (the kernels share SMs and HBM: overlap contention).
  SimTime duration_beside_comm(const ComputeTask& task, RankId rank = {}) const {
    return compute.duration(task, compute::ComputeContext{rank, 1});
  }
};

}  // namespace moesim::strategies
