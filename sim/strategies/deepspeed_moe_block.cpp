#include "sim/strategies/deepspeed_moe_block.hpp"

namespace moesim::strategies {
namespace {

/// `w` with the capacity of `p`'s padded dispatch set on its permute / unpermute kernels, so the
/// hardware lowering builds the (experts, capacity, hidden) buffer the simulator charges.
BlockWork with_capacity(BlockWork w, std::int64_t capacity) {
  for (LayerOp& op : w.ops) {
    if (auto* k = std::get_if<KernelOp>(&op)) {
      if (k->task.kind == KernelKind::permute || k->task.kind == KernelKind::unpermute) {
        k->task.op.capacity = capacity;
      }
    }
  }
  return w;
}

/// The gate and permute (`gate_side`) or the un-permute of every rank of the stage, in `pass`,
/// each rank with its own kept tokens of `p`.
void emit_token_order(EmissionContext& ctx, const Step& s, const MoeLayerPlan& p, bool gate_side,
                      Pass pass) {
  const std::int64_t x = ctx.tokens();
  const std::int64_t slots = ctx.permuted_slots(p);
  const std::int64_t capacity = ctx.dispatch_capacity(p);
  for (RankId r : *s.ranks) {
    const std::vector<std::int64_t>& kept = p.kept[r.index()];
    BlockWork w = gate_side ? ctx.ops().gate_permute(pass, x, slots, kept)
                            : ctx.ops().unpermute(pass, x, slots, kept);
    ctx.emit_rank_work(s, r, with_capacity(std::move(w), capacity), ctx.compute());
  }
}

}  // namespace

void DeepSpeedMoeBlock::forward(const Step& s) {
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const std::int64_t slots = ctx_.permuted_slots(p);
  emit_token_order(ctx_, s, p, true, Pass::forward);
  core_.forward(s, p);
  if (p.split_over_tp) {
    ctx_.group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                          Bytes{slots * ctx_.job().model.hidden * ctx_.elem_bytes()});
  }
  emit_token_order(ctx_, s, p, false, Pass::forward);
  ctx_.emit_shared_experts_forward(s);
}

void DeepSpeedMoeCore::forward(const Step& s, const MoeLayerPlan& p) {
  ctx_.emit_expert_exchange(s, p, false, "ep.dispatch", ctx_.comm());
  ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm());
  for (RankId r : *s.ranks)
    ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, ctx_.compute());
  ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm());
  ctx_.emit_expert_exchange(s, p, true, "ep.combine", ctx_.comm());
}

void DeepSpeedMoeBlock::backward(const Step& s) {
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const std::int64_t slots = ctx_.permuted_slots(p);
  ctx_.emit_shared_experts_backward(s);
  emit_token_order(ctx_, s, p, false, Pass::backward);
  if (p.split_over_tp) {
    // Backward of gather_tokens is drop_tokens: a local slice, no communication.
    const KernelOp slice = ctx_.ops().token_slice("drop_tokens", slots / ctx_.job().layout.tp);
    for (RankId r : *s.ranks) ctx_.kernel(*s.chain, r, slice.name, slice.task);
  }
  core_.backward(s, p);
  if (p.split_over_tp) {
    // Backward of drop_tokens is gather_tokens.
    ctx_.group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                          Bytes{slots * ctx_.job().model.hidden * ctx_.elem_bytes()});
  }
  emit_token_order(ctx_, s, p, true, Pass::backward);
}

void DeepSpeedMoeCore::backward(const Step& s, const MoeLayerPlan& p) {
  // Gradients flow back along the combine (now a dispatch-shaped exchange) and the dispatch.
  ctx_.emit_expert_exchange(s, p, false, "ep.combine.bwd", ctx_.comm());
  ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm());
  for (RankId r : *s.ranks) {
    ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::backward, ctx_.compute());
  }
  ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm());
  ctx_.emit_expert_exchange(s, p, true, "ep.dispatch.bwd", ctx_.comm());
}

}  // namespace moesim::strategies
