// Megatron-Core's pipeline driver: 1F1B, the interleaved virtual pipeline (vp > 1) and the
// combined 1F1B steps of megatron-a2a-overlap (pipeline_schedule.hpp); each step's layers in
// virtual stage v = chunk x pp + stage, transfers to the neighbouring virtual stage. Its gradient
// sync reduces every chunk's layers, the later chunks first.
#pragma once

#include "sim/strategies/megatron_builder.hpp"

namespace moesim::strategies {

class MegatronPipeline final : public PipelineDriver {
 public:
  MegatronPipeline(EmissionContext& ctx, MegatronMoeBlock& moe, LayerSchedule& layers)
      : ctx_(ctx), moe_(moe), layers_(layers) {}
  Chain emit() override;

 private:
  EmissionContext& ctx_;
  MegatronMoeBlock& moe_;
  LayerSchedule& layers_;
};

class MegatronGradientSync final : public GradientSync {
 public:
  MegatronGradientSync(EmissionContext& ctx, const MegatronMoeBlock& moe) : ctx_(ctx), moe_(moe) {}
  void emit(Chain& after_backward) override;

 private:
  EmissionContext& ctx_;
  const MegatronMoeBlock& moe_;
};

}  // namespace moesim::strategies
