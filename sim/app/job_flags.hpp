// The job flags of `moesim run`, `compare`, `sweep`, `execute` and `validate`: one registration,
// so the same flag means the same thing in every subcommand. What a job is and how it runs lives
// in the job library (sim/job); the subcommands use its names unqualified, as declared below.
#pragma once

#include <CLI/CLI.hpp>

#include "sim/job/job_runner.hpp"

namespace moesim::app {

using job::analytical_params_from;
using job::assemble_job;
using job::build_graph;
using job::JobOptions;
using job::JobParts;
using job::load_cluster_topology;
using job::parse_strategies;
using job::prepare_job;
using job::PreparedJob;
using job::simulate_graph;
using job::simulate_strategy;
using job::StrategyResult;

/// Which job flags a subcommand takes. `execute`/`validate` accept either a graph file or a job,
/// so nothing is required there, and they time iterations themselves (no --iterations).
struct JobFlags {
  bool required = true;
  bool iterations = true;
};

/// Adds the job flags to a subcommand (--model, --set, --topology, --nodes, --network, --gpu,
/// --parallel, --order, --expert-order, --routing, --seed, --iterations, --calibration).
void add_job_options(CLI::App& cmd, JobOptions& options, JobFlags flags = {});

}  // namespace moesim::app
