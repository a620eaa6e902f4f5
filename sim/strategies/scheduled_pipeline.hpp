// The default pipeline driver: the items of pipeline_schedule.hpp (GPipe or 1F1B over
// micro-batches, job.layout.pp_schedule), each item's layers emitted by a LayerSchedule, and
// send_recv between neighbouring stages on stream "pp". Each item's Chain starts from its inputs
// (the forward's end for a backward, the neighbouring stage's transfer). Models with a vocab_size
// run their embedding on the first stage and their output head (norm, LM head, loss) on the last,
// around each item's layers.
#pragma once

#include <string_view>

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

class ScheduledPipeline final : public PipelineDriver {
 public:
  /// Throws InputError for split=ends, naming `strategy`: the layers are split evenly over the
  /// stages; and for a model with multi-token prediction, which it does not emit.
  ScheduledPipeline(EmissionContext& ctx, LayerSchedule& layers, std::string_view strategy)
      : ctx_(ctx), layers_(layers) {
    ctx.require_layer_split(strategy);
    require_no_mtp(ctx.job().model, strategy);
  }
  Chain emit() override;

 private:
  EmissionContext& ctx_;
  LayerSchedule& layers_;
};

}  // namespace moesim::strategies
