#include "sim/strategies/megatron_builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sim/core/errors.hpp"
#include "sim/strategies/megatron_grouped_gemm.hpp"

namespace moesim::strategies {

TokenPlanOptions megatron_tokens(const TrainingJob& job) {
  TokenPlanOptions t;
  t.pad_to_capacity = false;                   // all-to-all-v of the routed counts
  t.apply_capacity = false;                    // dropless: no capacity, nothing dropped
  t.split_tokens_over_tp = job.layout.tp > 1;  // sequence parallel
  return t;
}

namespace {

std::int64_t sum(const std::vector<std::int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}

/// `work`'s kernels of one direction kind: the weight gradients (`wgrad` = true) or the rest.
BlockWork filter_wgrad(const BlockWork& work, bool wgrad) {
  BlockWork out{work.block, {}};
  for (const LayerOp& op : work.ops) {
    const auto* k = std::get_if<KernelOp>(&op);
    const bool is_wgrad = k != nullptr && k->direction == Direction::weight_gradient;
    if (is_wgrad == wgrad) out.ops.push_back(op);
  }
  return out;
}

}  // namespace

void check_megatron_layout(const TrainingJob& job, const MegatronOptions& options) {
  if (options.a2a_overlap && job.layout.pp > 1 && options.vp == 1) {
    // Fused steps of neighbouring stages would wait for each other in turn (each needs the
    // other's previous step): Megatron-Core runs the combined 1F1B without PP or interleaved.
    throw input_error("", "--strategy", "megatron-a2a-overlap with pp > 1 needs vp >= 2",
                      fmt::format("pp={}, vp=1", job.layout.pp),
                      "pp=1, or vp=N with N >= 2 (interleaved stages)");
  }
  if (options.vp > 1 && job.layout.pp > 1 && job.layout.micro_batches % job.layout.pp != 0) {
    // Megatron-Core's interleaved schedule asserts the same (schedules.py): its table walks
    // groups of pp micro-batches.
    throw input_error("", "--strategy", "vp > 1 needs micro-batches divisible by pp",
                      fmt::format("mb={}, pp={}", job.layout.micro_batches, job.layout.pp),
                      "mb a multiple of pp");
  }
  job.layout.check_chunks(options.vp, "--strategy");
}

MegatronMoeBlock::MegatronMoeBlock(EmissionContext& ctx, MegatronOptions options)
    : ctx_(ctx),
      options_megatron_(options),
      wgrad_after_(static_cast<std::size_t>(ctx.job().layout.world())) {
  check_megatron_layout(ctx.job(), options);
}

std::string MegatronMoeBlock::layers_per_chunk() const {
  const ParallelLayout& l = ctx_.job().layout;
  const std::int64_t vp = options_megatron_.vp;
  if (!l.uneven_stages()) {
    // Slots of the split (layers, plus the embedding and the loss with split=ends).
    const std::int64_t slots = l.model_layers + (l.ends_in_split ? 2 : 0);
    return fmt::format("{} layers per chunk", slots / (l.pp * vp));
  }
  return fmt::format("layers per chunk: first stage {}, middle {}, last {}",
                     l.layers_of_stage(0) / vp, l.pp > 2 ? l.layers_of_stage(1) / vp : 0,
                     l.layers_of_stage(l.pp - 1) / vp);
}

MegatronMoeBlock::ChunkLayers MegatronMoeBlock::chunk_layers(std::int64_t virtual_stage) const {
  const std::int64_t pp = ctx_.job().layout.pp;
  const ParallelLayout::LayerRange r =
      ctx_.job().layout.chunk_layers(virtual_stage % pp, virtual_stage / pp, options_megatron_.vp);
  return ChunkLayers{r.first, r.count};
}

std::int64_t MegatronMoeBlock::local_tokens() const {
  // Every rank of a tp group routes the same share up to one token; the first rank's share.
  return split_share(ctx_.tokens(), ctx_.job().layout.tp, 0);
}

std::int64_t MegatronMoeBlock::received_tokens(const MoeLayerPlan& p, RankId r) const {
  return sum(p.expert_tokens[r.index()]);
}

BlockWork MegatronMoeBlock::shared_part(Pass pass, bool first) const {
  // Forward: fc1 + activation beside the dispatch, fc2 (+ TP reduction) beside the combine.
  // Backward: fc2 dX/dW + activation beside the combine gradient, fc1 beside the dispatch's.
  const BlockWork all = ctx_.ops().shared_experts(pass, ctx_.tokens());
  const std::string_view split = pass == Pass::forward ? "shared2" : "shared1.dX";
  BlockWork out{all.block, {}};
  bool before = true;
  for (const LayerOp& op : all.ops) {
    if (const auto* k = std::get_if<KernelOp>(&op); k != nullptr && k->name == split) {
      before = false;
    }
    if (before == first) out.ops.push_back(op);
  }
  return out;
}

void MegatronMoeBlock::emit_side(const Step& s, const BlockWork& work, Chain& side) {
  Step side_step = s;
  side_step.chain = &side;
  ctx_.emit_work(side_step, work, ctx_.compute());
  for (RankId r : *s.ranks) s.chain->join(r, side[r]);
}

void MegatronMoeBlock::emit_local_sort(const Step& s, const MoeLayerPlan& p,
                                       std::string_view name) {
  for (RankId r : *s.ranks) {
    const std::int64_t rows = received_tokens(p, r);
    if (rows <= 0) continue;
    KernelOp copy = ctx_.ops().token_slice(name, rows);
    if (s.phase == Phase::backward) copy.task.op.direction = OpDirection::backward;
    ctx_.kernel(*s.chain, r, copy.name, copy.task);
  }
}

void MegatronMoeBlock::emit_allgather_exchange(const Step& s, bool gather, std::string_view name) {
  const CommKind kind = gather ? CommKind::all_gather : CommKind::reduce_scatter;
  const std::int64_t token_bytes = ctx_.job().model.hidden * ctx_.elem_bytes();
  // Every member's tokens, gathered (or reduced back): over EP, then over esp.
  std::int64_t rows = local_tokens();
  const auto over = [&](GroupKind g, CommGroup label, std::int64_t size) {
    if (size <= 1) return;
    rows *= size;
    ctx_.group_collective(s, g, name, kind, label, Bytes{rows * token_bytes});
  };
  if (gather) {
    over(GroupKind::ep, CommGroup::ep, ctx_.job().layout.ep);
    over(GroupKind::esp, CommGroup::esp, ctx_.job().layout.esp);
  } else {
    // Reduce-scatter in the reverse order: esp first (on the fully gathered buffer), then EP.
    const std::int64_t full = local_tokens() * ctx_.job().layout.ep * ctx_.job().layout.esp;
    if (ctx_.job().layout.esp > 1) {
      ctx_.group_collective(s, GroupKind::esp, name, kind, CommGroup::esp,
                            Bytes{full * token_bytes});
    }
    if (ctx_.job().layout.ep > 1) {
      ctx_.group_collective(s, GroupKind::ep, name, kind, CommGroup::ep,
                            Bytes{full / ctx_.job().layout.esp * token_bytes});
    }
  }
}

// --- forward sub-blocks ---

void MegatronMoeBlock::forward_attention_router(const Step& s) {
  ctx_.set_info(s);
  if (s.moe_index < 0) {
    ctx_.emit_attention_forward(s);
    return;
  }
  ctx_.emit_attention_forward(s);
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r,
                        ctx_.ops().gate_permute(Pass::forward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
}

void MegatronMoeBlock::emit_exchange(const Step& s, const ExchangeStep& x) {
  ctx_.set_info(s);
  if (s.moe_index < 0) return;  // a dense layer has no exchange
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const bool overlap =
      options_megatron_.shared_expert_overlap && ctx_.job().model.shared_experts > 0;
  Chain side = overlap ? *s.chain : Chain{};
  if (options_megatron_.dispatcher == MegatronDispatcher::alltoall) {
    // Toward the experts: all-to-all-v, then the esp all-gather; back: the reverse.
    if (x.toward_experts) {
      ctx_.emit_expert_exchange(s, p, x.combine_buffer, x.alltoall_name, ctx_.comm());
      ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm());
    } else {
      ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm());
      ctx_.emit_expert_exchange(s, p, x.combine_buffer, x.alltoall_name, ctx_.comm());
    }
  } else {
    emit_allgather_exchange(s, x.toward_experts, x.allgather_name);
  }
  if (overlap) emit_side(s, shared_part(x.pass, x.toward_experts), side);
}

void MegatronMoeBlock::forward_dispatch(const Step& s) {
  emit_exchange(s, {Pass::forward, true, false, "ep.dispatch", "ep.allgather"});
}

void MegatronMoeBlock::forward_experts(const Step& s) {
  ctx_.set_info(s);
  if (s.moe_index < 0) {
    ctx_.emit_dense_ffn_forward(s);
    return;
  }
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const bool alltoall = options_megatron_.dispatcher == MegatronDispatcher::alltoall;
  const bool sort = !alltoall || ctx_.local_experts() > 1;
  if (sort) emit_local_sort(s, p, alltoall ? "sort_chunks" : "allgather.select");
  for (RankId r : *s.ranks) {
    ctx_.emit_rank_work(s, r,
                        grouped_experts(ctx_.ops(), Pass::forward, p.expert_tokens[r.index()]),
                        ctx_.compute());
  }
  if (sort) emit_local_sort(s, p, alltoall ? "sort_chunks.back" : "allgather.scatter");
}

void MegatronMoeBlock::forward_combine(const Step& s) {
  emit_exchange(s, {Pass::forward, false, true, "ep.combine", "ep.reducescatter"});
}

void MegatronMoeBlock::forward_unpermute(const Step& s) {
  ctx_.set_info(s);
  if (s.moe_index < 0) return;  // a dense layer has no exchange
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r, ctx_.ops().unpermute(Pass::forward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
  if (!options_megatron_.shared_expert_overlap) ctx_.emit_shared_experts_forward(s);
}

// --- backward sub-blocks ---

void MegatronMoeBlock::emit_recompute(const Step& s) {
  if (options_megatron_.recompute_norms) {
    ctx_.emit_work(s, ctx_.ops().norm_recompute(ctx_.tokens()), ctx_.compute());
  }
  if (!options_megatron_.recompute_moe_act || s.moe_index < 0) return;
  // The grouped experts' activation kernel (the fused bias + GLU activation of TEGroupedMLP),
  // forward again before the fc2 backward needs its output.
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const BlockWork fwd = grouped_experts(ctx_.ops(), Pass::forward, p.expert_tokens[r.index()]);
    for (const KernelOp* k : fwd.kernels()) {
      if (k->name != "expert.act") continue;
      ComputeTask t = k->task;
      t.op.direction = OpDirection::backward;
      ctx_.kernel(*s.chain, r, "expert.act.recompute", t, ctx_.compute());
    }
  }
}

void MegatronMoeBlock::backward_unpermute(const Step& s) {
  ctx_.set_info(s);
  emit_recompute(s);            // the first sub-block of every layer's backward
  if (s.moe_index < 0) return;  // a dense layer has no exchange
  if (!options_megatron_.shared_expert_overlap) ctx_.emit_shared_experts_backward(s);
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r, ctx_.ops().unpermute(Pass::backward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
}

void MegatronMoeBlock::backward_combine(const Step& s) {
  // The combine's gradient travels the dispatch's way: all-to-all-v, then the esp gather.
  emit_exchange(s, {Pass::backward, true, false, "ep.combine.bwd", "ep.allgather.bwd"});
}

void MegatronMoeBlock::backward_experts(const Step& s) {
  ctx_.set_info(s);
  if (s.moe_index < 0) {
    ctx_.emit_dense_ffn_backward(s);
    return;
  }
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const bool alltoall = options_megatron_.dispatcher == MegatronDispatcher::alltoall;
  const bool sort = !alltoall || ctx_.local_experts() > 1;
  if (sort) emit_local_sort(s, p, alltoall ? "sort_chunks.grad" : "allgather.select.grad");
  for (RankId r : *s.ranks) {
    const BlockWork work = grouped_experts(ctx_.ops(), Pass::backward, p.expert_tokens[r.index()]);
    ctx_.emit_rank_work(s, r, options_megatron_.delay_wgrad ? filter_wgrad(work, false) : work,
                        ctx_.compute());
  }
  if (sort) emit_local_sort(s, p, alltoall ? "sort_chunks.back.grad" : "allgather.scatter.grad");
  if (options_megatron_.delay_wgrad) {
    wgrad_after_ = *s.chain;
    wgrad_plan_ = &p;
    wgrad_layer_ = s.layer;
  }
}

void MegatronMoeBlock::backward_dispatch(const Step& s) {
  emit_exchange(s, {Pass::backward, false, true, "ep.dispatch.bwd", "ep.reducescatter.bwd"});
  if (s.moe_index < 0) return;
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  if (options_megatron_.delay_wgrad && wgrad_layer_ == s.layer && wgrad_plan_ == &p) {
    // The delayed expert dW GEMMs: after the dX chain, beside the dispatch-gradient exchange;
    // they feed only the gradient sync (which follows the rank's whole backward).
    for (RankId r : *s.ranks) {
      const BlockWork dw = filter_wgrad(
          grouped_experts(ctx_.ops(), Pass::backward, p.expert_tokens[r.index()]), true);
      for (const KernelOp* k : dw.kernels()) {
        ctx_.kernel(wgrad_after_, r, k->name, k->task, ctx_.compute());
      }
    }
    wgrad_layer_ = -1;
  }
}

void MegatronMoeBlock::backward_attention_router(const Step& s) {
  ctx_.set_info(s);
  if (s.moe_index < 0) {
    ctx_.emit_attention_backward(s);
    return;
  }
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r,
                        ctx_.ops().gate_permute(Pass::backward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
  ctx_.emit_attention_backward(s);
}

// --- the serial MoE block (megatron) and the paired layers (megatron-a2a-overlap) ---

void MegatronMoeBlock::forward(const Step& s) {
  // Attention has run (StandardLayer); the router onwards.
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r,
                        ctx_.ops().gate_permute(Pass::forward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
  forward_dispatch(s);
  forward_experts(s);
  forward_combine(s);
  forward_unpermute(s);
}

void MegatronMoeBlock::backward(const Step& s) {
  backward_unpermute(s);
  backward_combine(s);
  backward_experts(s);
  backward_dispatch(s);
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  for (RankId r : *s.ranks) {
    const auto& kept = p.kept[r.index()];
    ctx_.emit_rank_work(s, r,
                        ctx_.ops().gate_permute(Pass::backward, local_tokens(), sum(kept), kept),
                        ctx_.compute());
  }
  // StandardLayer emits the attention backward next.
}

void MegatronMoeBlock::emit_layer_pair(const Step& f, const Step& b) {
  // A dense layer's exchange sub-blocks are empty; its FFN takes the MLP's place.
  // Emission order is each stream's order: the communication half of a pair is issued first so
  // that the other micro-batch's compute runs beside it.
  // 1. combine(B) || attention(F)
  backward_unpermute(b);
  backward_combine(b);
  forward_attention_router(f);
  // 2. dispatch(F) || MLP(B)
  forward_dispatch(f);
  backward_experts(b);
  // 3. dispatch(B) || MLP(F)  (delayed dW of B issued here, beside its dispatch)
  backward_dispatch(b);
  forward_experts(f);
  // 4. combine(F) || attention(B); F's unpermute waits for its combine, after B's attention.
  forward_combine(f);
  backward_attention_router(b);
  forward_unpermute(f);
}

void MegatronMoeBlock::record_decisions() {
  const MegatronOptions& o = options_megatron_;
  ctx_.decisions()["megatron.dispatcher"] =
      Decision::choice(o.dispatcher == MegatronDispatcher::alltoall ? "alltoall" : "allgather",
                       o.dispatcher == MegatronDispatcher::alltoall
                           ? "all-to-all-v over EP, all-gather-v / reduce-scatter-v over expert-TP"
                           : "all-gather over EP x expert-TP, local selection, reduce-scatter");
  ctx_.decisions()["megatron.virtual_pipeline"] =
      Decision::count(o.vp, "chunks", layers_per_chunk());
  ctx_.decisions()["megatron.shared_expert_overlap"] =
      Decision::choice(o.shared_expert_overlap ? "on" : "off",
                       ctx_.job().model.shared_experts > 0 ? "" : "model has no shared experts");
  ctx_.decisions()["megatron.a2a_overlap"] = Decision::choice(
      o.a2a_overlap ? "on" : "off",
      o.a2a_overlap ? "combined 1F1B: forward and backward of two micro-batches paired" : "");
  ctx_.decisions()["megatron.delay_wgrad"] = Decision::choice(o.delay_wgrad ? "on" : "off");
  std::string recompute;
  if (o.recompute_norms) recompute = "layernorm";
  if (o.recompute_moe_act) recompute += recompute.empty() ? "moe_act" : "+moe_act";
  ctx_.decisions()["megatron.recompute"] =
      Decision::choice(recompute.empty() ? "off" : recompute,
                       recompute.empty() ? "" : "selective: forward re-run in the backward");
  if (const std::int64_t mtp = ctx_.job().model.mtp_layers; mtp > 0) {
    ctx_.decisions()["megatron.mtp"] = Decision::count(
        mtp, "layers",
        ctx_.job().layout.pp > 1
            ? "multi-token prediction on the last stage, with a copy of the word embedding"
            : "multi-token prediction after the layers");
  }
}

}  // namespace moesim::strategies
