#include "sim/workload/job_size.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/errors.hpp"

namespace moesim {
namespace {
// Tasks per (rank, layer, micro-batch, pass): attention and FFN kernels, gate, permutes and the
// TP/EP collectives; plus, per expert a rank holds, its GEMMs and activations.
constexpr double kTasksPerLayer = 32.0;
constexpr double kTasksPerLocalExpert = 10.0;
}  // namespace

JobSizeEstimate estimate_job_size(const ModelSpec& model, const ParallelLayout& layout) {
  JobSizeEstimate e;
  const double ranks = static_cast<double>(std::max<std::int64_t>(1, layout.world()));
  const double stage_layers =
      static_cast<double>(model.layers) / static_cast<double>(std::max<std::int64_t>(1, layout.pp));
  const double local_experts = static_cast<double>(model.experts + model.shared_experts) /
                               static_cast<double>(std::max<std::int64_t>(1, layout.ep));
  const double micro_batches = static_cast<double>(std::max<std::int64_t>(1, layout.micro_batches));
  e.tasks_per_iteration = ranks * stage_layers * micro_batches * 2.0 *
                          (kTasksPerLayer + kTasksPerLocalExpert * local_experts);
  e.routing_cells = static_cast<double>(model.layers) *
                    static_cast<double>(std::max<std::int64_t>(1, layout.dp)) *
                    static_cast<double>(model.experts);
  return e;
}

void check_job_work(const ModelSpec& model, const ParallelLayout& layout, std::int64_t iterations,
                    std::string_view flag) {
  const double total =
      estimate_job_size(model, layout).tasks_per_iteration * static_cast<double>(iterations);
  if (total > kMaxTasksPerRun) {
    throw input_error(
        "", flag, "too much work to simulate",
        fmt::format("about {:.3g} tasks ({} iterations)", total, iterations),
        fmt::format("at most {:.3g} tasks per run: fewer iterations", kMaxTasksPerRun));
  }
}

void check_job_size(const ModelSpec& model, const ParallelLayout& layout, std::string_view flag) {
  const JobSizeEstimate e = estimate_job_size(model, layout);
  if (e.tasks_per_iteration > kMaxTasksPerIteration) {
    throw input_error(
        "", flag, "job too large to simulate",
        fmt::format("about {:.3g} tasks per iteration ({} GPUs x {} layers x {} micro-batches, "
                    "{} experts)",
                    e.tasks_per_iteration, layout.world(), model.layers, layout.micro_batches,
                    model.experts),
        fmt::format("at most {:.3g}: fewer layers (--set layers=N), micro-batches, GPUs or experts",
                    kMaxTasksPerIteration));
  }
  if (e.routing_cells > kMaxRoutingCells) {
    throw input_error(
        "", flag, "job too large to simulate",
        fmt::format("{:.3g} routing counts per iteration (layers x dp x experts)", e.routing_cells),
        fmt::format("at most {:.3g}", kMaxRoutingCells));
  }
}

}  // namespace moesim
