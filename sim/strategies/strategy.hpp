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

/// Throws InputError naming --parallel and `strategy` when the layout asks for split=ends.
void require_layer_split(const ParallelLayout& layout, std::string_view strategy);
/// Throws InputError naming --model and `strategy` for a model with multi-token prediction
/// (ModelSpec::mtp_layers > 0), which only megatron*, dualpipe and dualpipev build.
void require_no_mtp(const ModelSpec& model, std::string_view strategy);

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view name() const = 0;
  /// One line for `moesim run --help`.
  virtual std::string_view summary() const = 0;
  virtual BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const = 0;
  /// Throws InputError for a job this strategy cannot build (a layout it does not support),
  /// before anything is built: `moesim run` and `compare` ask every chosen strategy before they
  /// print anything, and build_iteration refuses the same jobs. The default refuses split=ends
  /// (Megatron-Core's split, which only the megatron strategies build) and multi-token
  /// prediction (megatron*, dualpipe*).
  virtual void check_job(const TrainingJob& job) const {
    require_layer_split(job.layout, name());
    require_no_mtp(job.model, name());
  }
};

}  // namespace moesim::strategies
