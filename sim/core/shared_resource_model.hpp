// SharedResourceModel: continuous activities that share a capacity (flows on links, kernels on
// SMs). Between two events their rates are constant, so the engine only needs to know when the
// next activity completes and to move every activity forward to a given time (SimGrid's
// next_occurring_event / update_actions_state split).
#pragma once

#include <optional>

#include "sim/core/sim_time.hpp"

namespace moesim {

class SharedResourceModel {
 public:
  virtual ~SharedResourceModel() = default;
  /// Earliest time >= now at which one of the model's running activities completes; nullopt if
  /// nothing runs.
  virtual std::optional<SimTime> next_completion(SimTime now) const = 0;
  /// Moves all activities from `from` to `to` (never past next_completion(from)). Activities
  /// that complete exactly at `to` are finished and reported to whoever started them; those
  /// reports may start new activities at `to`.
  virtual void advance(SimTime from, SimTime to) = 0;
};

}  // namespace moesim
