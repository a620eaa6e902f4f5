// MegatronMoeBlock: the MoE block of one iteration of Megatron-Core's MoE training
// (NVIDIA/Megatron-LM, megatron/core/transformer/moe/). A reconstruction from the public code's
// structure and docs; kernel-level details (fused permute, TE grouped linear) are costed through
// the catalogue.
//
// MoE block per layer (moe_layer.py MoELayer.forward; token_dispatcher.py):
//  - sequence parallel (Megatron requires it for MoE with tp > 1): each tp rank routes 1/tp of
//    the micro-batch's tokens; attention keeps the catalogue's TP all-reduce (= the sequence-
//    parallel all-gather + reduce-scatter pair), and no token gather follows the MoE block;
//  - router (gate GEMM, top-k) and permute on the rank's own tokens;
//  - alltoall dispatcher (MoEAlltoAllTokenDispatcher): all-to-all-v over EP with the per-
//    destination counts of the token plan, then all-gather-v over expert-TP (esp), a local sort
//    by expert (sort_chunks_by_idxs) when the rank holds more than one expert; the combine mirrors
//    it (sort back, reduce-scatter-v over esp, all-to-all-v);
//  - allgather dispatcher (MoEAllGatherTokenDispatcher): all-gather of every token over the
//    EP (x esp) group, a local selection of the rows routed to this rank's experts, and a
//    reduce-scatter back;
//  - experts: dropless grouped GEMM over the local experts (megatron_grouped_gemm.hpp);
//  - shared experts: after the routed output (shared_expert_overlap off) or beside the dispatch
//    (--moe-shared-expert-overlap: fc1 and the activation run while the dispatch all-to-all is in
//    flight, fc2 while the combine is; backward likewise).
//
// Pipeline: 1F1B, or with `vp` > 1 Megatron's interleaved virtual pipeline (layers split into
// pp x vp chunks, virtual stage v = chunk x pp + stage; pipeline_schedule.hpp). With
// `a2a_overlap` (megatron-a2a-overlap; combined_1f1b.py, model_chunk_schedule_plan.py) steady-
// state steps fuse one micro-batch's forward and another's backward, layer by layer, into the
// pairs attention(F) || combine(B), dispatch(F) || MLP(B), dispatch(B) || MLP(F),
// combine(F) || attention(B): compute on "compute", communication on "comm", so each pair's two
// halves overlap; like Megatron-Core it needs pp = 1 or vp >= 2 (a dense layer has empty dispatch /
// combine sub-blocks and its FFN in the MLP's place). `delay_wgrad` (--delay-wgrad-compute) issues
// the expert weight-gradient GEMMs after the backward dispatch all-to-all so that it starts after
// dX alone. Gradients are all-reduced after the backward (MegatronGradientSync, the default
// sync over every chunk), layer by layer. `recompute_norms` / `recompute_moe_act`
// (--recompute-modules layernorm moe_act, as Megatron-Bridge's GPT-OSS-120B H100 performance
// config sets: scripts/performance/configs/gpt_oss/gpt_oss_workload_base_configs.py
// GPT_OSS_120B_PRETRAIN_CONFIG_H100_BF16_V1) re-emit those forward kernels at the start of the
// layer's backward (Megatron re-runs each where the backward first needs it: the same kernels on
// the same stream, a little earlier in the layer's backward here).
#pragma once

#include <cstdint>
#include <string>

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

enum class MegatronDispatcher : std::uint8_t { alltoall, allgather };

struct MegatronOptions {
  MegatronDispatcher dispatcher = MegatronDispatcher::alltoall;
  bool shared_expert_overlap = false;
  std::int64_t vp = 1;  ///< model chunks per pipeline stage (virtual pipeline size)
  bool a2a_overlap = false;
  bool delay_wgrad = false;
  /// --recompute-modules (Megatron-Core's selective recomputation): "layernorm" re-runs the
  /// layer's two norms in its backward, "moe_act" the experts' activation (both memory-bound:
  /// their outputs are not kept between the passes).
  bool recompute_norms = false;
  bool recompute_moe_act = false;
};

/// Megatron-Core's token options: dropless all-to-all-v of the routed counts, sequence parallel.
TokenPlanOptions megatron_tokens(const TrainingJob& job);

/// Throws InputError for the layouts Megatron-Core rejects with these options (vp against the
/// pipeline split, the combined 1F1B without vp); Megatron::check_job and MegatronMoeBlock call
/// it.
void check_megatron_layout(const TrainingJob& job, const MegatronOptions& options);

/// Megatron-Core's MoE block (router, token dispatcher, grouped experts, shared experts) and the
/// paired layers of the combined 1F1B; throws InputError for layouts Megatron-Core rejects.
class MegatronMoeBlock final : public MoeBlockSchedule {
 public:
  MegatronMoeBlock(EmissionContext& ctx, MegatronOptions options);

  /// The decisions it emits with (dispatcher, chunks, overlap).
  void record_decisions();
  const MegatronOptions& options() const { return options_megatron_; }
  /// How many layers a model chunk holds, in words (the vp decision's detail).
  std::string layers_per_chunk() const;
  struct ChunkLayers {
    std::int64_t first = 0;
    std::int64_t count = 0;
  };
  /// The layers of virtual stage v = chunk x pp + stage (ParallelLayout::chunk_layers).
  ChunkLayers chunk_layers(std::int64_t virtual_stage) const;

  void forward(const Step& s) override;
  void backward(const Step& s) override;
  /// One forward layer beside one backward layer (combined 1F1B).
  void emit_layer_pair(const Step& f, const Step& b);

 private:
  // Sub-blocks of one MoE layer: what the combined schedule pairs.
  void forward_attention_router(const Step& s);   ///< attention, router, permute
  void forward_dispatch(const Step& s);           ///< dispatch communication [+ shared fc1]
  void forward_experts(const Step& s);            ///< sort, grouped experts, sort back
  void forward_combine(const Step& s);            ///< combine communication [+ shared fc2]
  void forward_unpermute(const Step& s);          ///< unpermute [+ serial shared experts]
  void backward_unpermute(const Step& s);         ///< [serial shared experts] unpermute backward
  void backward_combine(const Step& s);           ///< combine-gradient communication
  void backward_experts(const Step& s);           ///< sort, grouped experts dX [and dW], sort back
  void backward_dispatch(const Step& s);          ///< dispatch-gradient communication
  void backward_attention_router(const Step& s);  ///< permute, router and attention backward
  /// The recomputed forward kernels (norms, expert activation) of the layer's backward.
  void emit_recompute(const Step& s);
  /// Tokens this rank routes (1/tp of the micro-batch under sequence parallelism).
  std::int64_t local_tokens() const;
  /// Tokens the rank's experts receive (sum of its expert_tokens).
  std::int64_t received_tokens(const MoeLayerPlan& p, RankId r) const;
  /// The allgather dispatcher's gather (gather = true) or reduce-scatter over EP, then esp.
  void emit_allgather_exchange(const Step& s, bool gather, std::string_view name);
  /// Device-local row copies (sort_chunks_by_idxs / the allgather selection) on every rank.
  void emit_local_sort(const Step& s, const MoeLayerPlan& p, std::string_view name);
  /// The shared experts' work split at the kernel named `split` (first part: before it).
  BlockWork shared_part(Pass pass, bool first) const;
  /// One exchange sub-block: toward the experts (dispatch, or the combine's gradient) or back
  /// from them, over the chosen dispatcher, with the shared expert's part beside it.
  struct ExchangeStep {
    Pass pass = Pass::forward;
    bool toward_experts = true;
    bool combine_buffer =
        false;  ///< the exchange moves the combine's buffer (emit_expert_exchange)
    std::string_view alltoall_name;
    std::string_view allgather_name;
  };
  void emit_exchange(const Step& s, const ExchangeStep& x);
  void emit_side(const Step& s, const BlockWork& work, Chain& side);

  EmissionContext& ctx_;
  MegatronOptions options_megatron_;
  /// Per rank: the chain right after the expert dX kernels when the weight gradient is delayed.
  Chain wgrad_after_;
  const MoeLayerPlan* wgrad_plan_ = nullptr;
  std::int64_t wgrad_layer_ = -1;
};

}  // namespace moesim::strategies
