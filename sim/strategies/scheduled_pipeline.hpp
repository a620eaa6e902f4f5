// The default pipeline driver: the items of pipeline_schedule.hpp (GPipe or 1F1B over
// micro-batches, job.layout.pp_schedule), each item's layers emitted by a LayerSchedule, and
// send_recv between neighbouring stages on stream "pp". Each item's Chain starts from its inputs
// (the forward's end for a backward, the neighbouring stage's transfer).
#pragma once

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

class ScheduledPipeline final : public PipelineDriver {
 public:
  ScheduledPipeline(EmissionContext& ctx, LayerSchedule& layers) : ctx_(ctx), layers_(layers) {}
  Chain emit() override;

 private:
  EmissionContext& ctx_;
  LayerSchedule& layers_;
};

}  // namespace moesim::strategies
