// The pipeline schedule: in which order the (stage, micro-batch, direction) items of one
// iteration are emitted. GPipe or 1F1B per stage, merged into one order that respects every
// dependency (F(s,m) after F(s-1,m); B(s,m) after B(s+1,m) and F(s,m)).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/workload/parallel_layout.hpp"

namespace moesim::strategies {

struct PipelineItem {
  std::int64_t stage = 0;
  std::int64_t micro_batch = 0;
  bool forward = true;
};

/// Every item once; each stage's items appear in that stage's own GPipe or 1F1B order.
std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule);

}  // namespace moesim::strategies
