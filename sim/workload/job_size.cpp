#include "sim/workload/job_size.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/errors.hpp"

namespace moesim {
namespace {
constexpr double kTasksPerDenseLayer = 10.0;
// 27, not 28, since DDP-bucketed gradient sync (fewer than one all-reduce per layer).
constexpr double kTasksPerMoeLayer = 27.0;
constexpr double kTasksPerLocalExpert = 9.0;
}  // namespace

JobSizeEstimate estimate_job_size(const ModelSpec& model, const ParallelLayout& layout) {
  JobSizeEstimate e;
  const double ranks = static_cast<double>(std::max<std::int64_t>(1, layout.world()));
  const double pp = static_cast<double>(std::max<std::int64_t>(1, layout.pp));
  const double moe_layers = static_cast<double>(model.moe_layer_count());
  const double dense_layers = static_cast<double>(model.layers) - moe_layers;
  const double local_experts = static_cast<double>(model.experts) /
                                   static_cast<double>(std::max<std::int64_t>(1, layout.ep)) +
                               static_cast<double>(model.shared_experts);
  const double micro_batches = static_cast<double>(std::max<std::int64_t>(1, layout.micro_batches));
  const double per_rank_pass =
      (dense_layers * kTasksPerDenseLayer +
       moe_layers * (kTasksPerMoeLayer + kTasksPerLocalExpert * local_experts)) /
      pp;
  // MTP layers (ModelSpec::mtp_layers): one more layer each, on the last stage's ranks only.
  const double mtp_layer_tasks =
      model.is_moe_layer(model.layers)
          ? kTasksPerMoeLayer + kTasksPerLocalExpert * local_experts + kTasksPerDenseLayer
          : 2.0 * kTasksPerDenseLayer;
  const double mtp_per_rank_pass = static_cast<double>(model.mtp_layers) * mtp_layer_tasks / pp;
  e.tasks_per_iteration = ranks * micro_batches * 2.0 * (per_rank_pass + mtp_per_rank_pass);
  e.bytes_per_iteration = e.tasks_per_iteration * kBytesPerTask;
  e.routing_cells = moe_layers * static_cast<double>(std::max<std::int64_t>(1, layout.dp)) *
                    static_cast<double>(model.experts);
  return e;
}

void check_job_work(const ModelSpec& model, const ParallelLayout& layout, std::int64_t iterations,
                    std::string_view flag) {
  const double total =
      estimate_job_size(model, layout).tasks_per_iteration * static_cast<double>(iterations);
  if (total > kMaxTasksPerRun) {
    // With one iteration, fewer iterations is no way out: the job itself is too large.
    const char* remedy =
        iterations > 1 ? "fewer iterations" : "a smaller job (fewer GPUs, layers or micro-batches)";
    throw input_error("", flag, "too much work to simulate",
                      fmt::format("about {:.3g} tasks ({} iterations)", total, iterations),
                      fmt::format("at most {:.3g} tasks per run: {}", kMaxTasksPerRun, remedy));
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
        fmt::format("at most {:.3g} (32-bit task ids): fewer layers (--set layers=N), "
                    "micro-batches, GPUs or experts",
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
