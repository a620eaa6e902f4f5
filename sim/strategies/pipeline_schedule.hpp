// The pipeline schedule: in which order the (stage, micro-batch, direction) items of one
// iteration are emitted. GPipe or 1F1B per stage, merged into one order that respects every
// dependency (F(s,m) after F(s-1,m); B(s,m) after B(s+1,m) and F(s,m)).
//
// Megatron-Core's interleaved schedule (virtual pipeline) adds a model chunk to each item: stage
// s holds chunks c = 0..V-1, virtual stage v = c * stages + s, and F(v,m) follows F(v-1,m),
// B(v,m) follows B(v+1,m). Its combined form pairs one micro-batch's forward with another's
// backward in one step (Megatron's combined 1F1B with EP all-to-all overlap).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/workload/parallel_layout.hpp"

namespace moesim::strategies {

struct PipelineItem {
  std::int64_t stage = 0;
  std::int64_t micro_batch = 0;
  bool forward = true;
  std::int64_t chunk = 0;  ///< model chunk of the stage (interleaved schedules; else 0)
};

/// One step of a stage: a forward, a backward, or (combined 1F1B) a forward and a backward of
/// different micro-batches emitted together.
struct PipelineStep {
  std::optional<PipelineItem> forward;
  std::optional<PipelineItem> backward;
  std::int64_t stage() const { return forward ? forward->stage : backward->stage; }
};

/// Every item once; each stage's items appear in that stage's own GPipe or 1F1B order.
std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule);

/// Megatron-Core's interleaved 1F1B over `chunks` model chunks per stage
/// (megatron/core/pipeline_parallel/schedules.py, forward_backward_pipelining_with_interleaving
/// and get_schedule_table): the k-th forward of a rank runs (micro-batch, chunk) = table[k], the
/// table walking groups of `stages` micro-batches chunk by chunk; the k-th backward runs the same
/// entry with the chunk mirrored (chunks - 1 - c). Rank s warms up with
/// (stages - s - 1) * 2 + (chunks - 1) * stages forwards (every forward when micro_batches ==
/// stages), then alternates one forward and one backward, then drains. chunks = 1 is plain 1F1B.
std::vector<PipelineItem> interleaved_pipeline_order(std::int64_t stages, std::int64_t chunks,
                                                     std::int64_t micro_batches);

/// The combined 1F1B of Megatron-Core's EP-overlap schedule
/// (megatron/core/pipeline_parallel/combined_1f1b.py): the interleaved order above with one more
/// warm-up forward per rank (a backward can only pair with a forward of a later micro-batch), then
/// each steady-state forward and backward fused into one step. For one stage and 4 micro-batches:
/// F1 | B1+F2 | B2+F3 | B3+F4 | B4.
std::vector<PipelineStep> combined_pipeline_order(std::int64_t stages, std::int64_t chunks,
                                                  std::int64_t micro_batches);

}  // namespace moesim::strategies
