// Up-front size estimate of a training job, so that a job too large to simulate on this machine
// is refused with the estimate and the limit instead of running out of memory (std::bad_alloc)
// or running for hours. Checked once the layout is resolved, before routing is drawn or a task
// graph is built.
#pragma once

#include <cstdint>
#include <string>

#include "sim/workload/model_spec.hpp"
#include "sim/workload/parallel_layout.hpp"

namespace moesim {

struct JobSizeEstimate {
  double tasks_per_iteration = 0;  ///< tasks of one iteration's graph, over all ranks
  double routing_cells = 0;        ///< moe_layers x sources x experts counts per iteration
};

/// Upper-end estimate for a resolved layout: per rank, layer, micro-batch and pass (forward,
/// backward), 32 kernels and collectives plus 10 per expert the rank holds. Measured maxima over
/// every strategy (moesim run --strategy all, analytical network): GPT2-S-MoE ep=8 5912 tasks
/// (estimate 9984), with 64 experts 8648 (21504), with mb=4 23336 (39936); Mixtral-8x7B
/// tp=2,ep=4,pp=2,mb=4 32456 (53248); DeepSeek-V3-style ep=8 with 4 layers 17640 (22608).
JobSizeEstimate estimate_job_size(const ModelSpec& model, const ParallelLayout& layout);

/// Limits. Measured: ~430 bytes of memory and ~11 us of simulation per task (DeepSeek-V3-style
/// ep=8, 16 layers: 37128 tasks, 16 MB, 0.42 s with the analytical network), so 5e6 tasks are
/// ~2 GB and about a minute per iteration; 1e8 routing counts are 0.8 GB.
inline constexpr double kMaxTasksPerIteration = 5e6;
inline constexpr double kMaxTasksPerRun = 5e7;
inline constexpr double kMaxRoutingCells = 1e8;

/// InputError naming `flag` when the whole run (iterations x tasks) exceeds kMaxTasksPerRun.
void check_job_work(const ModelSpec& model, const ParallelLayout& layout, std::int64_t iterations,
                    std::string_view flag);

/// InputError naming `flag` when the estimate exceeds a limit.
void check_job_size(const ModelSpec& model, const ParallelLayout& layout, std::string_view flag);

}  // namespace moesim
