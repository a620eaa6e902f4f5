// AnalyticalNetworkModel: alpha-beta time per collective, no contention between operations.
//
// Prior: NCCL's own tuning model (nccl_cost_model.hpp: base and per-hop latencies per algorithm
// and protocol from NCCL's tuning.cc, bandwidths from the topology's bottlenecks, argmin over
// algorithm x protocol as NCCL chooses). A calibration profile may replace alpha and beta per
// collective and per level (intra-node: the group inside one node; inter-node: it spans nodes):
//   time = alpha_us + size * busbw_factor(op, n) / beta          (beta = busbw, GB/s)
// so beta is directly the plateau busbw nccl-tests reports, and alpha its small-size time.
#pragma once

#include <map>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/communication_model.hpp"
#include "sim/network/operation_time_memo.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

struct AnalyticalParams {
  /// NCCL tuning constants, forced algorithm, and calibrated fits per level and group size.
  CollectiveConfig collective;
  /// Calibrated fits per level for any group size (the same as collective.calibrated entries
  /// with ranks = 0); missing entries use the NCCL prior. Both network models use them.
  std::map<std::pair<CommKind, Level>, AlphaBeta> calibrated;
  /// collective, with `calibrated` merged in as any-size fits (exact-size fits win).
  CollectiveConfig merged_collective() const;
};

class AnalyticalNetworkModel final : public CommunicationModel {
 public:
  AnalyticalNetworkModel(const Topology& topology, AnalyticalParams params = {});

  std::string_view name() const override { return "analytical"; }
  void start(CommId id, const CommOp& op, SimTime now, CommCompletionListener& listener) override;
  SimTime estimate(const CommOp& op) const override;
  std::optional<SimTime> next_completion(SimTime now) const override;
  void advance(SimTime from, SimTime to) override;

  Level level_of(const CommOp& op) const;
  /// Distinct operations start() has priced (the rest were remembered).
  std::size_t distinct_started() const { return started_.size(); }

 private:
  struct Pending {
    SimTime end;
    std::uint64_t sequence;
    CommId id;
    CommCompletionListener* listener;
    bool operator>(const Pending& o) const {
      return end != o.end ? end > o.end : sequence > o.sequence;
    }
  };
  const Topology* topo_;
  AnalyticalParams params_;
  CollectiveConfig config_;  ///< params_.merged_collective()
  std::uint64_t next_sequence_ = 0;
  OperationTimeMemo started_;  ///< estimate() of every distinct operation start() has seen
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
};

}  // namespace moesim::network
