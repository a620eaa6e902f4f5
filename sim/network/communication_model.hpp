// CommunicationModel: how long communication operations take, in simulated time.
//
// The executor starts an operation once every member rank has reached it; the model runs it
// (alone or sharing links with others, depending on the model) and reports its completion to the
// listener given at start. Models are SharedResourceModels so the engine can ask when the next
// operation ends. estimate() gives the time of an operation alone on an idle network and
// estimate_concurrent() that of several started together (the groups of a pipeline stage that run
// the same collective at once): strategy planners use them, so they decide with the same costs
// the simulator charges.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/shared_resource_model.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/workload/comm_op.hpp"

namespace moesim::network {

class CommCompletionListener {
 public:
  virtual ~CommCompletionListener() = default;
  virtual void on_comm_complete(CommId comm, SimTime at) = 0;
};

class CommunicationModel : public SharedResourceModel {
 public:
  virtual std::string_view name() const = 0;
  /// Starts `op` at `now`. The op object must stay alive until its completion is reported.
  virtual void start(CommId id, const CommOp& op, SimTime now,
                     CommCompletionListener& listener) = 0;
  /// Duration of `op` alone on an idle network.
  virtual SimTime estimate(const CommOp& op) const = 0;
  /// When the last of `ops`, all started together on an idle network, completes: what the
  /// executor charges a stage whose groups run the same collective at once (all EP groups
  /// through one NIC). Models without shared resources: the slowest one alone.
  virtual SimTime estimate_concurrent(const std::vector<CommOp>& ops) const {
    SimTime last = SimTime::zero();
    for (const CommOp& op : ops) last = std::max(last, estimate(op));
    return last;
  }
};

}  // namespace moesim::network
