// megatron and megatron-a2a-overlap: Megatron-Core's MoE training (NVIDIA/Megatron-LM,
// megatron/core/transformer/moe/), emitted by MegatronMoeBlock (megatron_builder.hpp, which says
// what each option changes and what is a reconstruction) and MegatronPipeline
// (megatron_pipeline.hpp).
//  megatron             alltoall (or allgather) token dispatcher, dropless grouped GEMM,
//                       optional shared-expert overlap, 1F1B or interleaved virtual pipeline;
//  megatron-a2a-overlap the same layer with the combined 1F1B schedule
//                       (--overlap-moe-expert-parallel-comm), delayed weight gradients by default
//                       (--delay-wgrad-compute).
// All-to-all: the alltoall dispatcher's all_to_all over the EP group is
// torch.distributed.all_to_all_single with split sizes (megatron/core/tensor_parallel/mappings.py
// _AllToAll), NCCL's grouped send/recv: lowered as NCCL's direct exchange (PXN across rails).
// Core attention: Megatron-Core's GPT layer spec with Transformer Engine (the default
// transformer_impl) runs SelfAttention with attn_mask_type causal through TEDotProductAttention
// (megatron/core/models/gpt/gpt_layer_specs.py), i.e. FlashAttention or cuDNN's fused kernel,
// which skip the tiles above the diagonal: a job that does not --set attention_kernel runs
// flash_causal here.
#include <fmt/format.h>

#include <string>

#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/megatron_builder.hpp"
#include "sim/strategies/megatron_pipeline.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

/// The job with Megatron-Core's defaults where the model and the options leave them unset: its
/// core-attention kernel, and a relay dispatch in the model's dtype. Megatron-Core's DeepEP path
/// hands DeepEP the BF16 hidden states even when Transformer Engine runs the expert GEMMs in FP8
/// (TE quantizes after the dispatch), and its Hybrid-EP path asserts `not fp8_dispatch`
/// (NVIDIA/Megatron-LM megatron/core/transformer/moe/fused_a2a.py, FusedDispatch.forward and
/// init_hybrid_ep_buffer, main at 02ad939b); `fp8_dispatch=on` models the forks that quantize
/// first.
TrainingJob as_megatron_core_runs(const TrainingJob& job) {
  TrainingJob out = job;
  if (!out.model.attention_kernel) out.model.attention_kernel = AttentionKernel::flash_causal;
  if (!out.ep_comm.fp8_dispatch) out.ep_comm.fp8_dispatch = false;
  return out;
}

class Megatron final : public Strategy {
 public:
  Megatron(std::string name, MegatronOptions options) : name_(std::move(name)), options_(options) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return options_.a2a_overlap
               ? "Megatron-Core combined 1F1B: one micro-batch's forward beside another's "
                 "backward, EP all-to-all hidden behind compute"
               : "Megatron-Core MoE: alltoall dispatcher (A2A-v over EP), dropless grouped GEMM, "
                 "1F1B / interleaved pipeline";
  }
  /// Megatron builds split=ends; the rest of its checks are MegatronMoeBlock's.
  void check_job(const TrainingJob& job) const override { check_megatron_layout(job, options_); }
  BuildResult build_iteration(const TrainingJob& given, const CostModels& costs) const override {
    const TrainingJob job = as_megatron_core_runs(given);
    EmissionContext ctx(job, costs, megatron_tokens(job));
    MegatronMoeBlock moe(ctx, options_);
    moe.record_decisions();
    StandardLayer layer(ctx, moe);
    MegatronPipeline pipeline(ctx, moe, layer);
    MegatronGradientSync gradients(ctx, moe);
    BuildResult result = emit_iteration(ctx, pipeline, gradients);
    if (job.layout.tp > 1) {
      result.decisions["moe.tokens_in_tp_group"] =
          Decision::choice("split", "sequence parallel: each tp rank routes 1/tp");
    }
    result.decisions["megatron.attention_kernel"] = Decision::choice(
        std::string(to_string(*job.model.attention_kernel)),
        given.model.attention_kernel ? "--set attention_kernel"
                                     : "Transformer Engine's DotProductAttention, causal mask");
    return result;
  }

 private:
  std::string name_;
  MegatronOptions options_;
};

MegatronOptions read_options(StrategyOptions& options, bool a2a_overlap) {
  MegatronOptions o;
  o.a2a_overlap = a2a_overlap;
  o.dispatcher = options.get_choice("dispatcher", "alltoall|allgather", "alltoall") == "allgather"
                     ? MegatronDispatcher::allgather
                     : MegatronDispatcher::alltoall;
  o.shared_expert_overlap = options.get_bool("shared_expert_overlap", false);
  o.vp = options.get_int("vp", 1);
  if (a2a_overlap) o.delay_wgrad = options.get_bool("delay_wgrad", true);
  // --recompute-modules: which forward modules the backward re-runs.
  const std::string recompute =
      options.get_choice("recompute", "off|layernorm|moe_act|layernorm+moe_act", "off");
  o.recompute_norms = recompute.find("layernorm") != std::string::npos;
  o.recompute_moe_act = recompute.find("moe_act") != std::string::npos;
  return o;
}

std::unique_ptr<Strategy> make_named(std::string_view base, StrategyOptions& options,
                                     bool a2a_overlap) {
  const MegatronOptions o = read_options(options, a2a_overlap);
  return std::make_unique<Megatron>(
      options.empty() ? std::string(base) : fmt::format("{}:{}", base, options.text()), o);
}

}  // namespace

std::unique_ptr<Strategy> make_megatron() {
  return std::make_unique<Megatron>("megatron", MegatronOptions{});
}

std::unique_ptr<Strategy> make_megatron_a2a_overlap() {
  MegatronOptions o;
  o.a2a_overlap = true;
  o.delay_wgrad = true;
  return std::make_unique<Megatron>("megatron-a2a-overlap", o);
}

std::unique_ptr<Strategy> configure_megatron(StrategyOptions& options) {
  return make_named("megatron", options, false);
}

std::unique_ptr<Strategy> configure_megatron_a2a_overlap(StrategyOptions& options) {
  return make_named("megatron-a2a-overlap", options, true);
}

}  // namespace moesim::strategies
