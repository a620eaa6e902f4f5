// The pieces a strategy composes into one iteration (docs/architecture-strategies.md). Each is a
// small interface; a piece is constructed with the EmissionContext it emits into (and with the
// pieces it drives), so what a piece reads and writes is named at its construction and nothing
// is shared through a base class. Defaults: DeepSpeedMoeCore / DeepSpeedMoeBlock
// (deepspeed_moe_block.hpp), StandardLayer (standard_layer.hpp), ScheduledPipeline
// (scheduled_pipeline.hpp), DdpGradientSync (ddp_gradient_sync.hpp); emit_iteration()
// (emit_iteration.hpp) runs a pipeline driver and a gradient sync and returns the result.
#pragma once

#include "sim/strategies/emission_context.hpp"

namespace moesim::strategies {

/// The dispatch -> experts -> combine core of one MoE layer (Tutel's chunks, FasterMoE's steps,
/// FSMoE's streams replace only this).
class MoeCore {
 public:
  virtual ~MoeCore() = default;
  virtual void forward(const Step& s, const MoeLayerPlan& p) = 0;
  virtual void backward(const Step& s, const MoeLayerPlan& p) = 0;
};

/// The whole MoE block of one layer: gate, permute, the core, un-permute, shared experts.
class MoeBlockSchedule {
 public:
  virtual ~MoeBlockSchedule() = default;
  virtual void forward(const Step& s) = 0;
  virtual void backward(const Step& s) = 0;
};

/// Activation checkpointing: what a layer's backward re-emits before its gradient kernels.
class Recompute {
 public:
  virtual ~Recompute() = default;
  virtual void before_backward(const Step& s) = 0;
};

/// One layer of one (stage, micro-batch) item in one direction.
class LayerSchedule {
 public:
  virtual ~LayerSchedule() = default;
  virtual void emit(const Step& s) = 0;
};

/// Walks the pipeline schedule's items and emits them; returns, per rank, what its last task of
/// the forward / backward passes is (where the gradient sync starts).
class PipelineDriver {
 public:
  virtual ~PipelineDriver() = default;
  virtual Chain emit() = 0;
};

/// Gradient all-reduces and the optimizer step, after (or overlapping) the backward.
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  /// `after_backward`: each rank's last backward task(s); updated to each rank's last task.
  virtual void emit(Chain& after_backward) = 0;
};

}  // namespace moesim::strategies
