// FlowNetworkModel: flow-level network simulation. Every operation is lowered into stages of
// point-to-point flows the way NCCL runs it (collectives/flow_plan.hpp); every flow follows its
// route through the topology; all running flows (of all operations) share every directed link
// max-min fairly (max_min_solver.hpp), and the rates are recomputed whenever a flow starts or
// ends, so between two such events every rate is constant.
//
// Timing of one flow: it transmits at its max-min rate until its bytes are sent, then arrives
// after its route's latency (sum of link latencies). A stage ends when its last flow arrives; the
// next stage starts after its own (NCCL software) latency; the operation completes when its last
// stage ends. Completion instants are integer picoseconds: a flow whose remaining bytes R at rate
// r (bytes/ps) finish at t + R/r is finished at ceil(t + R/r) (values within 1e-9 relative of an
// integer count as that integer, so exact cases stay exact).
//
// Performance: progressive filling costs O(F h log L) per recomputation; all flows starting or
// ending at one instant share one recomputation.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/communication_model.hpp"
#include "sim/network/max_min_solver.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

class FlowNetworkModel final : public CommunicationModel {
 public:
  FlowNetworkModel(const Topology& topology, CollectiveConfig config = {});

  std::string_view name() const override { return "flow"; }
  void start(CommId id, const CommOp& op, SimTime now, CommCompletionListener& listener) override;
  /// Time of `op` alone on the idle network: runs a private copy of the model.
  SimTime estimate(const CommOp& op) const override;
  /// All of `ops` started at once on the idle network (a private copy): their shared links are
  /// split max-min fairly as in a run.
  SimTime estimate_concurrent(const std::vector<CommOp>& ops) const override;
  std::optional<SimTime> next_completion(SimTime now) const override;
  void advance(SimTime from, SimTime to) override;

  /// Runs an already lowered plan (tests, benchmarks).
  void start_plan(CommId id, FlowPlan plan, SimTime now, CommCompletionListener& listener);

  // Counters for tests and benchmarks.
  std::size_t active_flows() const { return remaining_.size(); }
  std::uint64_t recomputations() const { return recomputations_; }
  double bytes_delivered() const { return bytes_delivered_; }
  double bytes_started() const { return bytes_started_; }

 private:
  struct OpState {
    CommId id;
    CommCompletionListener* listener = nullptr;
    FlowPlan plan;
    std::size_t stage = 0;
    std::size_t pending = 0;
    SimTime arrival;
    bool live = false;
  };
  struct Timer {
    SimTime at;
    std::uint64_t seq;
    std::uint32_t slot;
    bool operator>(const Timer& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void sync(SimTime t);
  void recompute() const;
  void start_stage(std::uint32_t slot, SimTime now);
  void stage_done(std::uint32_t slot);
  void remove_flow(std::size_t i);
  void compact_routes();

  const Topology* topo_;
  CollectiveConfig config_;
  std::vector<double> capacity_per_ps_;
  std::vector<SimTime> link_latency_;

  // Running flows, struct of arrays (swap-removed).
  std::vector<double> remaining_;
  mutable std::vector<double> rate_;  // bytes per ps
  mutable std::vector<std::int64_t> finish_ps_;
  std::vector<std::uint32_t> route_begin_;
  std::vector<std::uint16_t> route_len_;
  std::vector<std::int64_t> latency_ps_;
  std::vector<std::uint32_t> owner_;
  std::vector<std::uint32_t> pool_;  // route links
  std::size_t live_pool_ = 0;
  std::vector<std::uint32_t> scratch_;

  std::vector<OpState> ops_;
  std::vector<std::uint32_t> free_slots_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t next_seq_ = 0;
  std::vector<std::pair<CommCompletionListener*, CommId>> done_;

  SimTime synced_;
  mutable bool dirty_ = false;
  mutable std::int64_t earliest_finish_ps_ = 0;
  mutable MaxMinSolver solver_;
  mutable std::uint64_t recomputations_ = 0;
  double bytes_delivered_ = 0;
  double bytes_started_ = 0;
};

}  // namespace moesim::network
