#include "sim/strategies/pipeline_schedule.hpp"

#include <algorithm>
#include <utility>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule) {
  // Each stage's own sequence.
  std::vector<std::vector<PipelineItem>> seq(static_cast<std::size_t>(stages));
  for (std::int64_t s = 0; s < stages; ++s) {
    auto& q = seq[static_cast<std::size_t>(s)];
    if (schedule == PipelineSchedule::gpipe) {
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, true});
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, false});
    } else {
      const std::int64_t warmup = std::min(stages - s - 1, micro_batches);
      for (std::int64_t m = 0; m < warmup; ++m) q.push_back({s, m, true});
      for (std::int64_t i = 0; i < micro_batches - warmup; ++i) {
        q.push_back({s, warmup + i, true});
        q.push_back({s, i, false});
      }
      for (std::int64_t m = micro_batches - warmup; m < micro_batches; ++m) {
        q.push_back({s, m, false});
      }
    }
  }
  // Merge: round-robin over stages, taking each stage's next item once its inputs are emitted.
  const auto idx = [&](std::int64_t s, std::int64_t m) {
    return static_cast<std::size_t>(s * micro_batches + m);
  };
  std::vector<bool> fwd_done(static_cast<std::size_t>(stages * micro_batches), false);
  std::vector<bool> bwd_done(fwd_done.size(), false);
  std::vector<std::size_t> next(static_cast<std::size_t>(stages), 0);
  std::vector<PipelineItem> order;
  const std::size_t total = static_cast<std::size_t>(2 * stages * micro_batches);
  while (order.size() < total) {
    bool progress = false;
    for (std::int64_t s = 0; s < stages; ++s) {
      auto& n = next[static_cast<std::size_t>(s)];
      const auto& q = seq[static_cast<std::size_t>(s)];
      if (n >= q.size()) continue;
      const PipelineItem it = q[n];
      const bool ready = it.forward ? (s == 0 || fwd_done[idx(s - 1, it.micro_batch)])
                                    : (s == stages - 1 || bwd_done[idx(s + 1, it.micro_batch)]);
      if (!ready) continue;
      (it.forward ? fwd_done : bwd_done)[idx(s, it.micro_batch)] = true;
      order.push_back(it);
      ++n;
      progress = true;
    }
    MOESIM_CHECK(progress, "pipeline schedule cannot progress ({} of {} items)", order.size(),
                 total);
  }
  return order;
}

namespace {

/// (micro-batch, chunk) of every forward of a rank in Megatron's order (get_schedule_table):
/// micro-batches in groups of `group`, each group run chunk by chunk.
std::vector<std::pair<std::int64_t, std::int64_t>> schedule_table(std::int64_t micro_batches,
                                                                  std::int64_t chunks,
                                                                  std::int64_t group) {
  std::vector<std::pair<std::int64_t, std::int64_t>> table;
  for (std::int64_t first = 0; first < micro_batches; first += group) {
    const std::int64_t size = std::min(group, micro_batches - first);
    for (std::int64_t c = 0; c < chunks; ++c) {
      for (std::int64_t m = first; m < first + size; ++m) table.emplace_back(m, c);
    }
  }
  return table;
}

/// Each stage's own sequence of steps; `combined` fuses the steady state's pairs.
std::vector<std::vector<PipelineStep>> interleaved_sequences(std::int64_t stages,
                                                             std::int64_t chunks,
                                                             std::int64_t micro_batches,
                                                             bool combined) {
  MOESIM_CHECK(stages >= 1 && chunks >= 1 && micro_batches >= 1,
               "interleaved schedule needs positive sizes ({} stages, {} chunks, {} micro-batches)",
               stages, chunks, micro_batches);
  const auto table = schedule_table(micro_batches, chunks, stages);
  const auto total = static_cast<std::int64_t>(table.size());
  std::vector<std::vector<PipelineStep>> seq(static_cast<std::size_t>(stages));
  for (std::int64_t s = 0; s < stages; ++s) {
    std::int64_t warmup = 0;
    if (chunks == 1) {
      warmup = std::min(stages - s - 1, micro_batches);
    } else if (micro_batches == stages) {
      warmup = total;
    } else {
      warmup = std::min((stages - s - 1) * 2 + (chunks - 1) * stages, total);
    }
    if (combined) warmup = std::min(warmup + 1, total);
    const auto fwd = [&](std::int64_t k) {
      const auto [m, c] = table[static_cast<std::size_t>(k)];
      return PipelineItem{s, m, true, c};
    };
    const auto bwd = [&](std::int64_t k) {
      const auto [m, c] = table[static_cast<std::size_t>(k)];
      return PipelineItem{s, m, false, chunks - 1 - c};
    };
    auto& q = seq[static_cast<std::size_t>(s)];
    for (std::int64_t k = 0; k < warmup; ++k) q.push_back({fwd(k), std::nullopt});
    for (std::int64_t i = 0; i < total - warmup; ++i) {
      if (combined) {
        q.push_back({fwd(warmup + i), bwd(i)});
      } else {
        q.push_back({fwd(warmup + i), std::nullopt});
        q.push_back({std::nullopt, bwd(i)});
      }
    }
    for (std::int64_t k = std::max<std::int64_t>(0, total - warmup); k < total; ++k) {
      q.push_back({std::nullopt, bwd(k)});
    }
  }
  return seq;
}

/// Merges the stages' sequences round-robin, taking a stage's next step once its inputs are
/// emitted: F(v,m) after F(v-1,m); B(v,m) after B(v+1,m) and F(v,m), v = chunk * stages + stage.
std::vector<PipelineStep> merge_sequences(const std::vector<std::vector<PipelineStep>>& seq,
                                          std::int64_t stages, std::int64_t chunks,
                                          std::int64_t micro_batches) {
  const std::int64_t virtual_stages = stages * chunks;
  const auto idx = [&](std::int64_t v, std::int64_t m) {
    return static_cast<std::size_t>(v * micro_batches + m);
  };
  const auto vstage = [&](const PipelineItem& it) { return it.chunk * stages + it.stage; };
  std::vector<bool> fwd_done(static_cast<std::size_t>(virtual_stages * micro_batches), false);
  std::vector<bool> bwd_done(fwd_done.size(), false);
  std::size_t total = 0;
  for (const auto& q : seq) total += q.size();
  std::vector<std::size_t> next(seq.size(), 0);
  std::vector<PipelineStep> order;
  order.reserve(total);
  while (order.size() < total) {
    bool progress = false;
    for (std::size_t s = 0; s < seq.size(); ++s) {
      if (next[s] >= seq[s].size()) continue;
      const PipelineStep& step = seq[s][next[s]];
      bool ready = true;
      if (step.forward) {
        const std::int64_t v = vstage(*step.forward);
        ready = v == 0 || fwd_done[idx(v - 1, step.forward->micro_batch)];
      }
      if (ready && step.backward) {
        const std::int64_t v = vstage(*step.backward);
        const std::int64_t m = step.backward->micro_batch;
        ready = fwd_done[idx(v, m)] && (v == virtual_stages - 1 || bwd_done[idx(v + 1, m)]);
      }
      if (!ready) continue;
      if (step.forward) fwd_done[idx(vstage(*step.forward), step.forward->micro_batch)] = true;
      if (step.backward) bwd_done[idx(vstage(*step.backward), step.backward->micro_batch)] = true;
      order.push_back(step);
      ++next[s];
      progress = true;
    }
    MOESIM_CHECK(progress, "interleaved pipeline schedule cannot progress ({} of {} steps)",
                 order.size(), total);
  }
  return order;
}

}  // namespace

std::vector<PipelineItem> interleaved_pipeline_order(std::int64_t stages, std::int64_t chunks,
                                                     std::int64_t micro_batches) {
  std::vector<PipelineItem> out;
  for (const PipelineStep& step :
       merge_sequences(interleaved_sequences(stages, chunks, micro_batches, false), stages, chunks,
                       micro_batches)) {
    out.push_back(step.forward ? *step.forward : *step.backward);
  }
  return out;
}

std::vector<PipelineStep> combined_pipeline_order(std::int64_t stages, std::int64_t chunks,
                                                  std::int64_t micro_batches) {
  return merge_sequences(interleaved_sequences(stages, chunks, micro_batches, true), stages, chunks,
                         micro_batches);
}

}  // namespace moesim::strategies
