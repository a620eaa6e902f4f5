// The default gradient sync. After the backward (options.overlap = false): per stage, per layer
// in backward order, the all-reduce over the non-expert DP group and over the expert-DP group
// (layer_ops.hpp gradient_sync), EPLB copies' all-reduces, the embedding's and output head's
// all-reduces (models with a vocab_size), then the optimizer step. With
// options.overlap: PyTorch DDP's buckets (gradient_buckets.hpp), each launched on stream "grad"
// ("grad.expert") once the layers in it have run their last backward kernel; the optimizer
// waits for the backward and its buckets. With options.lina: Lina's fixed-size chunks instead of
// buckets, each chunk's all-reduce marked low priority (CommRecord::yields), so the executor
// holds it while an all-to-all (or any other communication) runs on its ranks.
#pragma once

#include "sim/strategies/gradient_buckets.hpp"
#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

class DdpGradientSync final : public GradientSync {
 public:
  DdpGradientSync(EmissionContext& ctx, GradientSyncOptions options)
      : ctx_(ctx), options_(options) {}
  void emit(Chain& after_backward) override;

 private:
  void emit_after_backward(Chain& chain);
  void emit_bucketed(Chain& chain);

  EmissionContext& ctx_;
  GradientSyncOptions options_;
};

}  // namespace moesim::strategies
