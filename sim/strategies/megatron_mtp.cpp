#include "sim/strategies/megatron_mtp.hpp"

namespace moesim::strategies {
namespace {

Step depth_step(const ModelSpec& m, Step s, std::int64_t depth) {
  s.layer = m.layers + depth;
  s.moe_index = m.moe_index_of(s.layer);
  return s;
}

}  // namespace

void emit_mtp_forward(EmissionContext& ctx, LayerSchedule& layers, Step s) {
  const ModelSpec& m = ctx.job().model;
  for (std::int64_t d = 0; d < m.mtp_layers; ++d) {
    const Step step = depth_step(m, s, d);
    ctx.set_info(step);
    ctx.emit_work(step, ctx.ops().mtp_projection(Pass::forward, ctx.tokens()), ctx.compute());
    layers.emit(step);
  }
}

void emit_mtp_backward(EmissionContext& ctx, LayerSchedule& layers, Step s) {
  const ModelSpec& m = ctx.job().model;
  for (std::int64_t d = m.mtp_layers - 1; d >= 0; --d) {
    const Step step = depth_step(m, s, d);
    layers.emit(step);
    ctx.set_info(step);
    ctx.emit_work(step, ctx.ops().mtp_projection(Pass::backward, ctx.tokens()), ctx.compute());
  }
}

std::int64_t emit_mtp_gradient_sync(EmissionContext& ctx, Step s) {
  const ModelSpec& m = ctx.job().model;
  const LayerOps& ops = ctx.ops();
  std::int64_t params = 0;
  for (std::int64_t d = m.mtp_layers - 1; d >= 0; --d) {
    s.layer = m.layers + d;
    ctx.set_info(s);
    params +=
        ops.dense_params(s.layer) + ops.local_expert_params(s.layer) + ops.mtp_projection_params();
    ctx.emit_work(s, ops.gradient_sync(s.layer), ctx.comm());
    ctx.emit_work(s, ops.mtp_projection_gradient_sync(), ctx.comm());
  }
  if (m.mtp_layers > 0 && ctx.job().layout.pp > 1) {
    // The last stage's copy of the word embedding (GPTModel builds it for the MTP input).
    s.layer = -1;
    ctx.set_info(s);
    params += ops.embedding_params();
    ctx.emit_work(s, ops.end_gradient_sync(Block::embedding), ctx.comm());
  }
  return params;
}

void emit_mtp_embedding_group_sync(EmissionContext& ctx, Chain& chain) {
  const TrainingJob& job = ctx.job();
  if (job.model.mtp_layers == 0 || job.layout.pp == 1) return;
  Step info;
  info.phase = Phase::backward;
  info.layer = -1;
  ctx.set_info(info);
  const Bytes bytes{ctx.ops().embedding_params() * ctx.elem_bytes()};
  for (RankId last : ctx.stage_ranks(job.layout.pp - 1)) {
    const RankCoords& c = job.mapping.coords(last);
    const RankId first = job.mapping.rank_at(c.tp, c.dp, 0);
    ctx.collective(chain, "grad.allreduce.embedding_group",
                   ctx.op(CommKind::all_reduce, CommGroup::pp, {first, last}, bytes), ctx.comm());
  }
}

}  // namespace moesim::strategies
