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
#include "sim/network/topology.hpp"

namespace moesim::network {

enum class Level : std::uint8_t { intra_node, inter_node };

struct AlphaBeta {
  double alpha_us = 0.0;
  double beta_gbps = 0.0;  ///< busbw, GB/s (1e9 B/s), > 0
};

struct AnalyticalParams {
  CollectiveConfig collective;  ///< NCCL tuning constants and forced algorithm
  /// Calibrated overrides; missing entries use the NCCL prior.
  std::map<std::pair<CommKind, Level>, AlphaBeta> calibrated;
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
  std::uint64_t next_sequence_ = 0;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
};

}  // namespace moesim::network
