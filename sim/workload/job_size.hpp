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
  double bytes_per_iteration = 0;  ///< memory of that graph while it is simulated
  double routing_cells = 0;        ///< moe_layers x sources x experts counts per iteration
};

/// Upper-end estimate for a resolved layout. Per rank, layer of its stage, micro-batch and pass
/// (forward, backward): 10 tasks for a dense layer; for an MoE layer 27 (attention, gate,
/// permutes, the EP/TP collectives) plus 9 per expert the rank runs (routed experts / ep, plus
/// every shared expert, which each rank runs whole); MTP layers (ModelSpec::mtp_layers) count
/// as one more layer plus its projection and head on the last stage's ranks. Measured task counts
/// (0.85x actual <= estimate
/// <= 2x actual, checked in tests/sim/strategies/job_size_test.cpp): GPT2-S-MoE ep=8 3032..4328
/// over all strategies, uniform routing (estimate 5280); fastermoe 5896 under zipf 1.2 routing,
/// which shadows hot experts everywhere (the one case above the estimate); with 64 experts
/// 5336..8648, fastermoe 10056 under zipf (10560); ep=8,pp=2,mb=8 23792..24048 (43008); DeepSeek-V3
/// with 16 layers, 1,024 GPUs, ep=64,pp=16,mb=32 2425728 with the model's ends (4.0e6);
/// DeepSeek-V3 with its 61 layers and MTP on 2,048 GPUs, last_stage_layers=1, dualpipe 19.65e6
/// (3.5e7; 19.25e6 with mtp_layers=0).
JobSizeEstimate estimate_job_size(const ModelSpec& model, const ParallelLayout& layout);

/// Peak memory per task of a simulated graph (the task, its edges and comm records, the
/// executor's per-task state and record, the vectors' growth). Measured with /usr/bin/time
/// (2026-12-04, 16-byte record entries, 24-byte tasks with their kernels interned): DeepSeek-V3
/// with its 61 layers and MTP on 2,048 H800 GPUs, dualpipe, analytical network, 22.60e6 tasks,
/// 1,625 MiB peak RSS, 75 bytes per task; with 16 layers on 1,024 GPUs under the flow network,
/// 3.00e6 tasks, 243 MiB, 83 bytes per task. The constant is applied to the estimate, which may
/// be 0.85x the actual count (fastermoe under zipf routing, above): 100 bytes keeps 0.85 x 100
/// above the 83 measured.
inline constexpr double kBytesPerTask = 100;

/// Structural limits: task ids are 32-bit (the memory check, in the job layer, usually refuses
/// first). The run limit keeps a mistyped --iterations from running for hours: 1e9 estimated
/// tasks is about 0.65e9 actual ones (the estimate is about 1.55x DeepSeek-V3's count), some
/// 5 minutes at the 0.48 us per task measured on the 22.60e6-task job above (10.9 s wall, graph
/// build and simulation, 2026-12-04). 1e8 routing counts are 0.8 GB.
inline constexpr double kMaxTasksPerIteration = 4e9;
inline constexpr double kMaxTasksPerRun = 1e9;
inline constexpr double kMaxRoutingCells = 1e8;

/// InputError naming `flag` when the whole run (iterations x tasks) exceeds kMaxTasksPerRun.
void check_job_work(const ModelSpec& model, const ParallelLayout& layout, std::int64_t iterations,
                    std::string_view flag);

/// InputError naming `flag` when the estimate exceeds a limit.
void check_job_size(const ModelSpec& model, const ParallelLayout& layout, std::string_view flag);

}  // namespace moesim
