// deepspeed-moe: DeepSpeed-MoE's schedule (deepspeed/moe/sharded_moe.py): everything serial, no
// communication/computation overlap. gate -> dispatch einsum into (E, C, M) -> [drop_tokens when
// non-experts are TP and experts are not] -> all-to-all over EP -> [ESP all-gather when experts
// are sharded] -> experts -> [ESP reduce-scatter] -> all-to-all -> [gather_tokens] -> combine.
// With MP+EP+ESP the tokens stay duplicated on every rank of the MP group (the redundancy Parm
// removes, Parm, INFOCOM 2024). Gradient all-reduces: after the whole backward by default, as
// DeepSpeed runs MoE training: its MoE examples use ZeRO stage 1
// (microsoft/Megatron-DeepSpeed examples_deepspeed/MoE/ds_pretrain_gpt_1.3B_MoE128.sh) and leave
// overlap_comm at its default, false (microsoft/DeepSpeed deepspeed/runtime/zero/config.py), so
// the engine reduces the gradients at the accumulation boundary, after the backward. Option
// grad_sync=overlap reduces from backward hooks in DDP-style buckets instead (ZeRO-1/2 with
// overlap_comm; gradient_buckets.hpp). Option tokens=split|duplicated overrides the token layout
// (token_layout.hpp).
// All-to-all as DeepSpeed runs it: sharded_moe.py _AllToAll is dist.all_to_all_single over the
// EP group (microsoft/DeepSpeed deepspeed/moe/sharded_moe.py), NCCL's grouped send/recv per peer:
// the network models' automatic choice (direct, PXN across rails; never the 2D exchange).
#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"
#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {
namespace {

class DeepSpeedMoe final : public Strategy {
 public:
  DeepSpeedMoe(std::string name, TokenLayout tokens, GradientSyncOptions grad_sync)
      : name_(std::move(name)), tokens_(tokens), grad_sync_(grad_sync) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return "DeepSpeed-MoE: serial A2A -> experts -> A2A, capacity-padded, no overlap";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    EmissionContext::Options options;
    options.pad_to_capacity = true;
    // DeepSpeed drops the tp-duplicated tokens only when the experts themselves are not sharded.
    options.split_tokens_over_tp = split_tokens_over_tp(tokens_, job.layout.tp, job.layout.esp);
    EmissionContext ctx(job, costs, options);
    // Nothing to plan: every piece is the default.
    DeepSpeedMoeBlock moe(ctx);
    StandardLayer layer(ctx, moe);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, grad_sync_);
    return emit_iteration(ctx, pipeline, gradients);
  }

 private:
  std::string name_;
  TokenLayout tokens_;
  GradientSyncOptions grad_sync_;
};

/// DeepSpeed's default: no overlap_comm, the gradients reduced after the backward.
GradientSyncOptions deepspeed_gradient_sync() {
  GradientSyncOptions after;
  after.overlap = false;
  return after;
}

}  // namespace

std::unique_ptr<Strategy> make_deepspeed_moe() {
  return std::make_unique<DeepSpeedMoe>("deepspeed-moe", TokenLayout::real_system,
                                        deepspeed_gradient_sync());
}

std::unique_ptr<Strategy> configure_deepspeed_moe(StrategyOptions& options) {
  const TokenLayout tokens = read_token_layout(options);
  const GradientSyncOptions grad_sync = read_gradient_sync(options, deepspeed_gradient_sync());
  return std::make_unique<DeepSpeedMoe>(
      options.empty() ? "deepspeed-moe" : "deepspeed-moe:" + options.text(), tokens, grad_sync);
}

}  // namespace moesim::strategies
