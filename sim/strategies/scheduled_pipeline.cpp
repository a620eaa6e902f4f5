#include "sim/strategies/scheduled_pipeline.hpp"

#include "sim/strategies/pipeline_schedule.hpp"

namespace moesim::strategies {

Chain ScheduledPipeline::emit() {
  const ModelSpec& m = ctx_.job().model;
  const std::int64_t pp = ctx_.job().layout.pp;
  const std::int64_t mbs = ctx_.job().layout.micro_batches;
  std::vector<std::int64_t> moe_index(static_cast<std::size_t>(m.layers), -1);
  for (std::int64_t l = 0, n = 0; l < m.layers; ++l) {
    if (m.is_moe_layer(l)) moe_index[static_cast<std::size_t>(l)] = n++;
  }
  const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
  const StreamId pp_stream = pp > 1 ? ctx_.graph().stream("pp") : StreamId{};
  // Per (micro-batch): the chain at the end of each rank's forward, and the transfer each
  // rank receives before its next forward / backward of that micro-batch.
  std::vector<std::vector<std::vector<TaskId>>> forward_end(
      static_cast<std::size_t>(mbs), std::vector<std::vector<TaskId>>(world));
  std::vector<std::vector<TaskId>> inbox_fwd(static_cast<std::size_t>(mbs),
                                             std::vector<TaskId>(world, TaskId{~0u}));
  std::vector<std::vector<TaskId>> inbox_bwd = inbox_fwd;
  const TaskId none{~0u};
  const std::int64_t act_bytes = ctx_.tokens() * m.hidden * ctx_.elem_bytes();

  // Each item's chain starts from its inputs; a rank's entry after its last item is where the
  // gradient sync starts.
  Chain chain(world);
  for (const PipelineItem& item : pipeline_order(pp, mbs, ctx_.job().layout.pp_schedule)) {
    const auto& ranks = ctx_.stage_ranks(item.stage);
    const auto mb = static_cast<std::size_t>(item.micro_batch);
    for (RankId r : ranks) {
      auto& f = chain[r];
      f.clear();
      if (!item.forward) f = forward_end[mb][r.index()];
      const TaskId in = (item.forward ? inbox_fwd : inbox_bwd)[mb][r.index()];
      if (in != none) f.push_back(in);
    }
    Step step;
    step.stage = item.stage;
    step.micro_batch = item.micro_batch;
    step.phase = item.forward ? Phase::forward : Phase::backward;
    step.ranks = &ranks;
    step.chain = &chain;
    const std::int64_t first = ctx_.job().layout.first_layer_of_stage(item.stage);
    const std::int64_t per_stage = ctx_.job().layout.layers_of_stage(item.stage);
    ctx_.emit_model_ends(step, item.stage == 0, item.stage == pp - 1, true);
    for (std::int64_t i = 0; i < per_stage; ++i) {
      step.layer = item.forward ? first + i : first + per_stage - 1 - i;
      step.moe_index = moe_index[static_cast<std::size_t>(step.layer)];
      layers_.emit(step);
    }
    ctx_.emit_model_ends(step, item.stage == 0, item.stage == pp - 1, false);
    if (item.forward) {
      for (RankId r : ranks) forward_end[mb][r.index()] = chain[r];
    }
    // Send activations forward / gradients backward to the neighbouring stage.
    const std::int64_t to = item.forward ? item.stage + 1 : item.stage - 1;
    if (to >= 0 && to < pp) {
      ctx_.set_info(TaskInfo{step.phase, -1});
      for (const auto& [peer, received] :
           ctx_.emit_stage_transfer(ranks, to, item.forward, Bytes{act_bytes}, pp_stream, chain)) {
        (item.forward ? inbox_fwd : inbox_bwd)[mb][peer.index()] = received;
      }
    }
  }
  return chain;
}

}  // namespace moesim::strategies
