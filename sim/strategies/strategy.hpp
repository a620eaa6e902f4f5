// Strategy: a scheduling strategy turns a TrainingJob into the task graph of one iteration.
// One file per strategy in sim/strategies/; registry.cpp holds the only list of names.
// Strategies are pure: same job and cost models, same graph (and same decisions).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "sim/strategies/cost_models.hpp"
#include "sim/strategies/decision.hpp"
#include "sim/workload/task_graph.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::strategies {

struct BuildResult {
  TaskGraph graph;
  /// What the strategy's planner chose and estimated ("tutel.degree" -> 4), sorted by key.
  Decisions decisions;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view name() const = 0;
  /// One line for `moesim run --help`.
  virtual std::string_view summary() const = 0;
  virtual BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const = 0;
};

}  // namespace moesim::strategies
