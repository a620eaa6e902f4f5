// FlowNetworkModel: flow-level network simulation. Every operation is lowered into stages of
// point-to-point flows the way NCCL runs it (collectives/flow_plan.hpp); every flow follows its
// route through the topology; all running flows (of all operations) share every directed link
// max-min fairly (max_min_solver.hpp), and the rates are recomputed whenever a flow starts or
// ends, so between two such events every rate is constant.
//
// Timing of one flow: it transmits at its max-min rate until its bytes are sent, then arrives
// after its route's latency (sum of link latencies) where its plan charges it
// (FlowPlan::adds_link_latency: not for the lowered collectives, whose NCCL step latencies hold
// the hops'). A stage ends when its last flow arrives; the
// next stage starts after its own (NCCL software) latency; the operation completes when its last
// stage ends. Completion instants are integer picoseconds: a flow whose remaining bytes R at rate
// r (bytes/ps) finish at t + R/r is finished at ceil(t + R/r) (values within 1e-9 relative of an
// integer count as that integer, so exact cases stay exact).
//
// Performance (selective update, after SimGrid's lazy/selective max-min update): max-min rates
// decompose over connected components of the flows-share-a-link graph, so a recomputation
// re-solves only the operations connected (through shared directed links, transitively) to an
// operation whose flows started or ended since the last one; every other flow keeps its rate,
// which is bit-identical to what a full solve would give (progressive filling of one component
// does the same floating-point operations in the same order). Components are tracked per
// operation stage (the links its flows use), not per flow, so the bookkeeping is O(links of a
// stage), not O(flow hops); within those operations, only the flows connected flow by flow to a
// link whose flows changed are solved (a breadth-first search over per-link lists of the running
// flows, kept as flows start and end, which the solver reads directly: no per-solve link-to-flow
// table), the others keep their rates and are brought forward as if re-solved (found through
// per-operation flow lists; each operation's earliest finish is kept, so the next completion
// needs no pass over the flows of the unmarked operations, nor the search for the flows that are
// due). A link all of whose flows also cross one at most 1/1.01 of its capacity (a DGX H100's
// PCIe hops behind its NIC port) never limits a rate: the search and the solve skip it (proof at
// link_flow), 4 of the 8 hops of a cross-node route. Above 2^18 running flows the lists
// are dropped (8 bytes a hop, 8 a flow); of the marked operations' flows, those whose route lies
// in a set of links (a union-find over the routes, 4 bytes a link) with a changed link are
// solved.
// Remaining bytes are lazy: brought forward only when a flow's rate changes, so time advances in
// O(1). Progressive filling costs O(F h log L) over the re-solved flows; all flows starting or
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
  /// Flows re-solved over all recomputations (a full re-solve each time would be the sum of
  /// active_flows() at every recomputation).
  std::uint64_t solved_flows() const { return solved_flows_; }
  /// Forces every recomputation to re-solve all flows (the reference the tests compare with).
  void set_full_recomputation(bool full) { full_recomputation_ = full; }
  /// Running flows above which the per-link flow lists are dropped (tests: the switch both ways).
  void set_flow_list_limit(std::size_t flows) { list_limit_ = flows; }
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
    std::vector<DirectedLinkId> links;  ///< directed links of the current stage's flows
  };
  struct Timer {
    SimTime at;
    std::uint64_t seq;
    std::uint32_t slot;
    bool operator>(const Timer& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void sync(SimTime t);
  void recompute() const;
  void bring_forward(std::size_t i) const;
  /// finish_ps_[i] (and dur_ps_[i]) from the flow's remaining bytes and rate, now.
  void set_finish(std::size_t i) const;
  void start_stage(std::uint32_t slot, SimTime now);
  void stage_done(std::uint32_t slot);
  void unregister_links(std::uint32_t slot);
  /// Marks the operations to re-solve (visit_ == visit_stamp_); false if that is all of them.
  bool mark_component() const;
  void label_op_components() const;
  void next_seen_epoch() const;
  /// Appends to component_ (and stamps in visit_) the operations connected to the changed ones.
  void search_marked_ops() const;
  /// Fills comp_flows_ / comp_links_: the flows connected to a changed link, and their links.
  void collect_component() const;
  void link_flow(std::size_t i);
  /// Makes link l a constraint again for every flow on it (a flow arrived without its cover).
  void uncover(DirectedLinkId l);
  void unlink_flow(std::size_t i);
  void drop_link_lists();
  void build_link_lists();
  void note_changed(DirectedLinkId l);
  void remove_flow(std::size_t i);
  std::int64_t route_latency_ps(std::size_t i) const;
  void compact_routes();
  /// Without the lists: the union-find of links joined by running flows' routes.
  DirectedLinkId link_root(DirectedLinkId l) const;
  void unite_route(std::size_t begin, std::size_t end);
  void solve_changed_components(bool part) const;

  const Topology* topo_;
  CollectiveConfig config_;
  std::vector<double> capacity_per_ps_;
  std::vector<SimTime> link_latency_;

  // Running flows, struct of arrays (swap-removed).
  mutable std::vector<double> remaining_;  // bytes, valid when the rate was last set
  mutable std::vector<double> rate_;       // bytes per ps
  mutable std::vector<std::int64_t> finish_ps_;
  // While lists_on_: ceil_ps(remaining / rate) as set with finish_ps_ (the flow's finish is
  // finish_ps_ - dur_ps_ + that), saving bring_forward a division; not kept above 2^18 flows.
  mutable std::vector<std::int64_t> dur_ps_;
  std::vector<std::uint32_t> route_begin_;
  std::vector<std::uint16_t> route_len_;
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
  mutable std::uint64_t solved_flows_ = 0;
  bool full_recomputation_ = false;

  // Selective update: which operations use which directed link, and what changed.
  std::vector<std::vector<std::uint32_t>> ops_on_link_;
  std::vector<std::uint32_t> link_stamp_;
  std::uint32_t stamp_ = 0;
  std::size_t registered_ops_ = 0;
  mutable std::vector<std::uint32_t> dirty_ops_;
  mutable std::vector<DirectedLinkId> dirty_links_;
  mutable std::vector<std::uint32_t> visit_;
  mutable std::uint32_t visit_stamp_ = 0;
  mutable std::vector<std::uint32_t> component_;
  // Components of the operations-share-a-link graph, relabelled after it changed (a stage
  // started or ended): per slot its label; the slots of label c are
  // comp_ops_[comp_begin_[c] .. comp_begin_[c + 1]); comp_picked_: marked (== visit_stamp_).
  mutable bool op_graph_changed_ = true;  ///< since the last recomputation
  mutable bool labels_valid_ = false;
  mutable std::vector<std::uint32_t> op_comp_;
  mutable std::vector<std::uint32_t> comp_ops_;
  mutable std::vector<std::uint32_t> comp_begin_;
  mutable std::vector<std::uint32_t> comp_picked_;
  mutable std::vector<std::uint32_t> sub_flow_;
  mutable std::vector<std::uint32_t> sub_begin_;
  mutable std::vector<std::uint16_t> sub_len_;
  mutable std::vector<double> sub_rate_;
  // Flow-level narrowing: links whose set of flows changed since the last recomputation (the
  // routes of started and of finished flows), each once; the running flows on each directed
  // link (swap-removed; hop_pos_, parallel to pool_, is each route hop's position in its
  // link's list), while lists_on_; the component search's marks (== seen_epoch_).
  mutable std::vector<DirectedLinkId> changed_links_;
  mutable std::vector<char> changed_mark_;  ///< per link: in changed_links_
  std::vector<std::vector<std::uint32_t>> link_flows_;
  std::vector<std::uint32_t> hop_pos_;
  // Covered links (while lists_on_): link l is covered by cover_[l] (kNoCover: none) when every
  // flow on l also crosses cover_[l], l at most once, and l's capacity is at least
  // kCoverMargin times the cover's. Such a link never limits a rate (see link_flow), so the
  // component search and the solver skip it: each route keeps its hops over uncovered links
  // first, core_len_[i] of them, then its covered hops (hop order changes nothing else).
  std::vector<std::uint32_t> cover_;
  std::vector<std::uint16_t> core_len_;
  // While lists_on_, also per operation slot: its running flows (swap-removed; op_pos_, per
  // flow, is its position there) and the earliest finish among them (valid for every slot when
  // op_min_valid_), so a recomputation re-derives the marked flows without a pass over all.
  std::vector<std::vector<std::uint32_t>> op_flows_;
  std::vector<std::uint32_t> op_pos_;
  mutable std::vector<std::int64_t> op_min_finish_;
  std::vector<std::uint32_t> finished_flows_;  ///< advance: the flows due, by index
  mutable bool op_min_valid_ = false;
  bool lists_on_ = true;
  // Per-link flow lists cost 8 bytes a route hop (the list entry and its position), the
  // per-operation ones 8 bytes a flow: above this many running flows they are dropped and the
  // marked operations are solved whole (the
  // 1,024-GPU all-to-all's million flows share the fabric anyway; the lists would add ~40 MB to
  // its 120 MB). Rebuilt once the flows are down to half of it. Either way, the same rates.
  std::size_t list_limit_ = std::size_t{1} << 18;
  mutable std::vector<std::uint32_t> link_seen_;
  mutable std::vector<std::uint32_t> flow_seen_;
  mutable std::uint32_t seen_epoch_ = 0;
  mutable std::vector<DirectedLinkId> comp_links_;
  mutable std::vector<std::uint32_t> comp_flows_;
  // While the lists are off: a union-find over directed links, two links joined when a running
  // flow's route crosses both (4 bytes a link, none a flow). Never split when flows end, so its
  // sets are unions of the flows-share-a-link components: a recomputation re-solves only the
  // flows in a set with a changed link (a million-flow all-to-all's NVLink flows end first and
  // leave the network flows' rates as they were), the same rates bit for bit.
  mutable std::vector<DirectedLinkId> link_parent_;
  mutable double bytes_delivered_ = 0;
  double bytes_started_ = 0;
};

}  // namespace moesim::network
