// CostModels: the cost functions strategy planners decide with (Tutel's degree, FasterMoE's
// shadowing, FSMoE's pipeline degree...). They are the very models the simulated executor charges,
// so a planner's estimate and the simulated time agree for an operation running alone.
#pragma once

#include "sim/compute/compute_model.hpp"
#include "sim/network/communication_model.hpp"

namespace moesim::strategies {

struct CostModels {
  const compute::ComputeModel& compute;
  const network::CommunicationModel& network;

  /// Time of `op` alone on an idle network.
  SimTime estimate(const CommOp& op) const { return network.estimate(op); }
  /// Time of `task` on `rank` with no communication running beside it.
  SimTime duration(const ComputeTask& task, RankId rank = {}) const {
    return compute.duration(task, compute::ComputeContext{rank, 0});
  }
};

}  // namespace moesim::strategies
