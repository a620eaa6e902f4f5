#include "sim/network/flow_network_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "sim/core/errors.hpp"
#include "sim/network/memory_budget.hpp"
#include "sim/network/nccl_cost_model.hpp"

namespace moesim::network {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::uint32_t kNoCover = std::numeric_limits<std::uint32_t>::max();
// A link covers another whose capacity is at least this many times its own (see link_flow).
constexpr double kCoverMargin = 1.01;
// Stages this large take seconds: say on stderr what the model is doing (progress).
constexpr std::size_t kProgressFlows = std::size_t{4} << 20;

// ceil(x), treating x within 1e-9 relative (or 1e-6 absolute) of an integer as that integer.
// Called once per flow per recomputation: for 0 <= x < 2^51 the integer conversions give exactly
// std::round / std::ceil (no tie at .5 is within the tolerance) without a libm call.
// Inlined: its division's latency otherwise stalls a call per flow (9% of lancet at 1,024 GPUs).
[[gnu::always_inline]] inline std::int64_t ceil_ps(double x) {
  if (!(x >= 0.0 && x < 0x1p51)) {
    const double r = std::round(x);
    if (std::fabs(x - r) <= std::max(1e-6, std::fabs(x) * 1e-9)) {
      return static_cast<std::int64_t>(r);
    }
    return static_cast<std::int64_t>(std::ceil(x));
  }
  const auto r = static_cast<std::int64_t>(x + 0.5);
  if (std::fabs(x - static_cast<double>(r)) <= std::max(1e-6, x * 1e-9)) return r;
  const auto t = static_cast<std::int64_t>(x);
  return static_cast<double>(t) < x ? t + 1 : t;
}

class NullListener final : public CommCompletionListener {
 public:
  void on_comm_complete(CommId, SimTime at) override { last = at; }
  SimTime last;
};

}  // namespace

FlowNetworkModel::FlowNetworkModel(const Topology& topology, CollectiveConfig config)
    : topo_(&topology), config_(std::move(config)) {
  MOESIM_CHECK(topology.finalized(), "topology not finalized");
  capacity_per_ps_.resize(topology.directed_link_count());
  link_latency_.resize(topology.directed_link_count());
  for (DirectedLinkId d = 0; d < topology.directed_link_count(); ++d) {
    capacity_per_ps_[d] = topology.capacity(d) * 1e-12;
    link_latency_[d] = topology.link_of(d).spec.latency;
  }
  ops_on_link_.resize(topology.directed_link_count());
  link_stamp_.assign(topology.directed_link_count(), 0);
  link_flows_.resize(topology.directed_link_count());
  link_seen_.assign(topology.directed_link_count(), 0);
  changed_mark_.assign(topology.directed_link_count(), 0);
  cover_.assign(topology.directed_link_count(), kNoCover);
}

void FlowNetworkModel::start(CommId id, const CommOp& op, SimTime now,
                             CommCompletionListener& listener) {
  for (RankId r : op.ranks) {
    if (r.index() >= topo_->gpu_count()) {
      throw SimulationError(fmt::format("rank {} outside topology {} ({} GPUs)", r.value,
                                        topo_->name(), topo_->gpu_count()));
    }
  }
  start_plan(id, lower_collective(*topo_, op, config_), now, listener);
}

void FlowNetworkModel::start_plan(CommId id, FlowPlan plan, SimTime now,
                                  CommCompletionListener& listener) {
  sync(now);
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(ops_.size());
    ops_.emplace_back();
  }
  OpState& op = ops_[slot];
  op = OpState{id, &listener, std::move(plan), 0, 0, now, true, {}};
  const SimTime first = op.plan.stages.empty() ? SimTime::zero() : op.plan.stages[0].latency;
  timers_.push(Timer{now + first, next_seq_++, slot});
}

// A timer fires either the start of ops_[slot].stage or, past the last stage, the completion.
void FlowNetworkModel::start_stage(std::uint32_t slot, SimTime now) {
  OpState& op = ops_[slot];
  if (op.stage >= op.plan.stages.size()) {
    done_.emplace_back(op.listener, op.id);
    op = OpState{};
    free_slots_.push_back(slot);
    return;
  }
  Stage& stage = op.plan.stages[op.stage];
  op.arrival = now + stage.min_transfer;  // a protocol ceiling (Stage::min_transfer)
  op.pending = 0;
  op.links.clear();
  if (++stamp_ == 0) {  // wrapped: restart the stamps
    std::fill(link_stamp_.begin(), link_stamp_.end(), 0);
    stamp_ = 1;
  }
  // Grow once per stage rather than per flow (an all-to-all at 1024 GPUs starts a million flows
  // here), geometrically so that many small stages stay amortised O(1).
  const std::size_t stage_flows = stage.flow_count();
  const std::size_t flows = remaining_.size() + stage_flows;
  if (stage_flows > (std::size_t{1} << 20)) {
    // ~110 bytes per running flow (state, route links, the solver's link-to-flow lists): the
    // 4096-GPU all-to-all measures 1.69 GB for 16.8 M flows (101 B/flow with the process; the
    // estimate keeps a margin). Refused before allocating them.
    check_memory_budget(flows * 110, "--network",
                        fmt::format("flow-level simulation of {} concurrent flows (use the "
                                    "analytical model or fewer GPUs)",
                                    flows));
  }
  if (lists_on_ && flows > list_limit_) drop_link_lists();
  const auto grow = [flows](auto& v) {
    if (v.capacity() < flows) v.reserve(std::max(flows, 2 * v.capacity()));
  };
  grow(remaining_);
  grow(rate_);
  grow(finish_ps_);
  grow(route_begin_);
  grow(route_len_);
  grow(owner_);
  if (stage_flows >= kProgressFlows) {
    fmt::print(stderr, "flow model: routing {} flows at {:.3f} us simulated\n", stage_flows,
               now.us());
  }
  // Route links: reserve from the mean hop count of a sample of the stage's routes, so that a
  // million-flow stage does not hold the old and the doubled pool at once.
  if (stage_flows > 65536) {
    constexpr std::size_t kSample = 4096;
    std::size_t sampled_hops = 0;
    const std::size_t step = stage_flows / kSample;
    for (std::size_t k = 0; k < kSample; ++k) {
      const FlowSpec f = stage.flow(k * step);
      scratch_.clear();
      topo_->route(RankId{f.src}, RankId{f.dst}, scratch_);
      sampled_hops += f.segment == Segment::full ? scratch_.size() : 1;
    }
    // 1/16 of margin: a sample's mean is not the stage's (beyond it, the pool doubles).
    const std::size_t want =
        pool_.size() + stage_flows * sampled_hops * 17 / (16 * kSample) + kSample;
    if (pool_.capacity() < want) pool_.reserve(want);
  }
  stage.for_each_flow([&](const FlowSpec& f) {
    const std::size_t begin = pool_.size();
    if (f.segment == Segment::full) {
      topo_->route(RankId{f.src}, RankId{f.dst}, pool_);
    } else {
      scratch_.clear();
      topo_->route(RankId{f.src}, RankId{f.dst}, scratch_);
      if (!scratch_.empty()) {
        pool_.push_back(f.segment == Segment::first_hop ? scratch_.front() : scratch_.back());
      }
    }
    const std::size_t len = pool_.size() - begin;
    bytes_started_ += f.bytes;
    if (len == 0 || f.bytes <= 0) {
      // Nothing to transmit: arrives after the route latency (if the plan charges it).
      bytes_delivered_ += f.bytes;
      std::int64_t lat = 0;
      if (op.plan.adds_link_latency) {
        for (std::size_t k = begin; k < pool_.size(); ++k) lat += link_latency_[pool_[k]].ps();
      }
      op.arrival = std::max(op.arrival, now + SimTime::from_ps(lat));
      pool_.resize(begin);
      return;
    }
    remaining_.push_back(f.bytes);
    rate_.push_back(0.0);
    finish_ps_.push_back(kNever);
    if (lists_on_) dur_ps_.push_back(0);
    route_begin_.push_back(static_cast<std::uint32_t>(begin));
    route_len_.push_back(static_cast<std::uint16_t>(len));
    owner_.push_back(slot);
    live_pool_ += len;
    ++op.pending;
    for (std::size_t k = begin; k < pool_.size(); ++k) {
      if (link_stamp_[pool_[k]] != stamp_) {
        link_stamp_[pool_[k]] = stamp_;
        op.links.push_back(pool_[k]);
      }
    }
    if (lists_on_) {
      link_flow(remaining_.size() - 1);
    } else {
      unite_route(begin, pool_.size());
    }
  });
  stage.flows.clear();
  stage.flows.shrink_to_fit();
  stage.exchange_ranks.clear();
  stage.exchange_ranks.shrink_to_fit();
  for (DirectedLinkId l : op.links) ops_on_link_[l].push_back(slot);
  for (DirectedLinkId l : op.links) note_changed(l);
  if (!op.links.empty()) {
    ++registered_ops_;
    op_graph_changed_ = true;
  }
  dirty_ops_.push_back(slot);
  dirty_ = true;
  if (op.pending == 0) stage_done(slot);
}

void FlowNetworkModel::unregister_links(std::uint32_t slot) {
  OpState& op = ops_[slot];
  for (DirectedLinkId l : op.links) {
    auto& on = ops_on_link_[l];
    const auto it = std::find(on.begin(), on.end(), slot);
    MOESIM_CHECK(it != on.end(), "operation not registered on link {}", l);
    *it = on.back();
    on.pop_back();
    dirty_links_.push_back(l);  // its other users gain bandwidth
  }
  if (!op.links.empty()) {
    --registered_ops_;
    op_graph_changed_ = true;
  }
  op.links.clear();
}

void FlowNetworkModel::stage_done(std::uint32_t slot) {
  unregister_links(slot);
  OpState& op = ops_[slot];
  ++op.stage;
  const SimTime next =
      op.stage < op.plan.stages.size() ? op.arrival + op.plan.stages[op.stage].latency : op.arrival;
  timers_.push(Timer{next, next_seq_++, slot});
}

// Remaining bytes are lazy (as SimGrid's lazy update): remaining_[i] is valid at the instant the
// flow's rate was last set and brought forward only when it changes, so advancing time costs
// O(1). That instant is not stored (8 bytes a flow, 8 MB at 1,024 GPUs): finish_ps_ was set then
// to it + ceil_ps(remaining / rate) from the same remaining and rate, so it is exactly
// finish_ps_ - ceil_ps(remaining / rate). A flow that never had a rate (rate 0) sent nothing.
void FlowNetworkModel::sync(SimTime t) {
  if (t <= synced_) return;
  if (dirty_) recompute();  // rates valid from synced_ on
  synced_ = t;
}

void FlowNetworkModel::set_finish(std::size_t i) const {
  const std::int64_t dur = ceil_ps(remaining_[i] / rate_[i]);
  finish_ps_[i] = synced_.ps() + dur;
  if (lists_on_) dur_ps_[i] = dur;
}

void FlowNetworkModel::bring_forward(std::size_t i) const {
  if (rate_[i] == 0.0) return;
  const std::int64_t dur = lists_on_ ? dur_ps_[i] : ceil_ps(remaining_[i] / rate_[i]);
  const std::int64_t updated = finish_ps_[i] - dur;
  const auto now = synced_.ps();
  const double sent = std::min(remaining_[i], rate_[i] * static_cast<double>(now - updated));
  bytes_delivered_ += sent;
  remaining_[i] -= sent;
}

// One epoch for both marks (links and flows): on a wrap both restart, or a flow marked 2^32
// epochs ago would count as marked now.
void FlowNetworkModel::next_seen_epoch() const {
  if (++seen_epoch_ != 0) return;
  std::fill(link_seen_.begin(), link_seen_.end(), 0);
  std::fill(flow_seen_.begin(), flow_seen_.end(), 0);
  seen_epoch_ = 1;
}

// Labels the connected components of the operations-share-a-link graph (ops grouped by label
// in comp_ops_ from comp_begin_[label]). The graph changes only when a stage starts or ends;
// most recomputations follow a flow's end within a stage (at 1,024 GPUs, lancet: 19 k of 325 k
// follow a change), so the labels are reused and marking costs O(marked operations).
void FlowNetworkModel::label_op_components() const {
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  op_comp_.assign(ops_.size(), kNone);
  comp_ops_.clear();
  comp_begin_.clear();
  next_seen_epoch();
  std::uint32_t* const link_seen = link_seen_.data();
  const std::uint32_t epoch = seen_epoch_;
  for (std::uint32_t slot = 0; slot < ops_.size(); ++slot) {
    if (ops_[slot].links.empty() || op_comp_[slot] != kNone) continue;  // unregistered or done
    const auto label = static_cast<std::uint32_t>(comp_begin_.size());
    comp_begin_.push_back(static_cast<std::uint32_t>(comp_ops_.size()));
    op_comp_[slot] = label;
    comp_ops_.push_back(slot);
    for (std::size_t q = comp_begin_.back(); q < comp_ops_.size(); ++q) {
      for (DirectedLinkId l : ops_[comp_ops_[q]].links) {
        if (link_seen[l] == epoch) continue;
        link_seen[l] = epoch;
        for (std::uint32_t other : ops_on_link_[l]) {
          if (op_comp_[other] != kNone) continue;
          op_comp_[other] = label;
          comp_ops_.push_back(other);
        }
      }
    }
  }
  comp_begin_.push_back(static_cast<std::uint32_t>(comp_ops_.size()));
  comp_picked_.assign(comp_begin_.size(), 0);
  labels_valid_ = true;
}

void FlowNetworkModel::search_marked_ops() const {
  std::uint32_t* const visited = visit_.data();
  std::uint32_t* const link_seen = link_seen_.data();
  const std::uint32_t stamp = visit_stamp_;
  const auto visit = [&](std::uint32_t slot) {  // slot is registered (has links)
    if (visited[slot] == stamp) return;
    visited[slot] = stamp;
    component_.push_back(slot);
  };
  for (std::uint32_t slot : dirty_ops_) {
    if (!ops_[slot].links.empty()) visit(slot);
  }
  for (DirectedLinkId l : dirty_links_) {
    for (std::uint32_t slot : ops_on_link_[l]) visit(slot);
  }
  next_seen_epoch();
  const std::uint32_t epoch = seen_epoch_;
  for (std::size_t q = 0; q < component_.size() && component_.size() < registered_ops_; ++q) {
    for (DirectedLinkId l : ops_[component_[q]].links) {
      if (link_seen[l] == epoch) continue;
      link_seen[l] = epoch;
      for (std::uint32_t slot : ops_on_link_[l]) visit(slot);
    }
  }
  dirty_ops_.clear();
  dirty_links_.clear();
}

// Right after the graph changed, the marked operations are found by a breadth-first search
// from the changed ones (each link's operations once); the labels are rebuilt at the next
// recomputation on an unchanged graph, so a graph that changes at every recomputation costs one
// search each time, not a relabelling. Both give the same set.
bool FlowNetworkModel::mark_component() const {
  if (visit_.size() < ops_.size()) visit_.resize(ops_.size(), 0);
  if (++visit_stamp_ == 0) {
    std::fill(visit_.begin(), visit_.end(), 0);
    std::fill(comp_picked_.begin(), comp_picked_.end(), 0);
    visit_stamp_ = 1;
  }
  component_.clear();
  const std::uint32_t stamp = visit_stamp_;
  if (op_graph_changed_) {
    op_graph_changed_ = false;
    labels_valid_ = false;
    search_marked_ops();
    return component_.size() < registered_ops_;
  }
  if (!labels_valid_) label_op_components();
  // The whole component of a registered operation (one with links).
  const auto pick = [&](std::uint32_t slot) {
    const std::uint32_t label = op_comp_[slot];
    if (comp_picked_[label] == stamp) return;
    comp_picked_[label] = stamp;
    for (std::uint32_t k = comp_begin_[label]; k < comp_begin_[label + 1]; ++k) {
      visit_[comp_ops_[k]] = stamp;
      component_.push_back(comp_ops_[k]);
    }
  };
  for (std::uint32_t slot : dirty_ops_) {
    if (!ops_[slot].links.empty()) pick(slot);
  }
  for (DirectedLinkId l : dirty_links_) {
    for (std::uint32_t slot : ops_on_link_[l]) pick(slot);
  }
  dirty_ops_.clear();
  dirty_links_.clear();
  return component_.size() < registered_ops_;
}

// Each link once (a million flows ending at one instant name every NIC link thousands of times).
void FlowNetworkModel::note_changed(DirectedLinkId l) {
  if (changed_mark_[l]) return;
  changed_mark_[l] = 1;
  changed_links_.push_back(l);
}

// Covered links. Let every flow on link b also cross link a, b once, and C_b >= kCoverMargin C_a.
// Progressive filling subtracts the same rates from b as from a for b's flows, and a's other
// flows' rates from a only, so at any point (share = remaining / unfrozen count, n_b <= n_a)
//   C_b - C_a <= n_b (share_b - share_a):
// b's share stays above a's by at least (C_b - C_a) / n_b, 1% of a's share or more. The solver
// takes a link only when its share is within 1e-12 (relative) of the smallest stored share,
// which is at most a's stored share (a is live, so it has an entry) and that at most a's share
// up to rounding (~1e-12 per freeze, far below 1%), so b is never taken: its entry is only ever
// re-inserted or dropped once dead, which changes no other link's state, and the heap's total
// order then pops every other link in the same sequence without it. Leaving b out gives the
// same rates to the bit; with several covered links, leave them out by decreasing capacity
// (each one's cover, smaller, is still there). The full solve keeps every link: the tests
// compare both. A DGX H100 route crosses two PCIe links at each end (55 GB/s) that carry
// exactly the flows of their NIC's port (48.5 GB/s): 4 of its 8 hops are covered.
//
// A link's cover is chosen when its first flow arrives: the nearest hop of that flow's route
// with capacity at most 1/kCoverMargin of the link's; a later flow that does not cross it (or
// crosses the link twice) makes the link uncovered until its list is empty again.
void FlowNetworkModel::link_flow(std::size_t i) {
  const std::uint32_t owner = owner_[i];
  if (op_flows_.size() <= owner) op_flows_.resize(ops_.size());
  if (op_pos_.size() <= i) op_pos_.resize(i + 1);
  if (core_len_.size() <= i) core_len_.resize(i + 1);
  op_pos_[i] = static_cast<std::uint32_t>(op_flows_[owner].size());
  op_flows_[owner].push_back(static_cast<std::uint32_t>(i));
  const std::uint32_t begin = route_begin_[i];
  const std::size_t len = route_len_[i];
  std::uint32_t* const r = pool_.data() + begin;
  for (std::size_t k = 0; k < len; ++k) {
    const DirectedLinkId b = r[k];
    const bool once = std::count(r, r + len, b) == 1;
    if (link_flows_[b].empty()) {
      cover_[b] = kNoCover;
      const double most = capacity_per_ps_[b] / kCoverMargin;
      for (std::size_t d = 1; once && d < len && cover_[b] == kNoCover; ++d) {
        if (k >= d && capacity_per_ps_[r[k - d]] <= most) {
          cover_[b] = r[k - d];
        } else if (k + d < len && capacity_per_ps_[r[k + d]] <= most) {
          cover_[b] = r[k + d];
        }
      }
    } else if (cover_[b] != kNoCover && (!once || std::find(r, r + len, cover_[b]) == r + len)) {
      uncover(b);
    }
  }
  // Uncovered hops first, each part in route order.
  std::size_t core = 0;
  for (std::size_t k = 0; k < len; ++k) {
    if (cover_[r[k]] != kNoCover) continue;
    std::rotate(r + core, r + k, r + k + 1);
    ++core;
  }
  core_len_[i] = static_cast<std::uint16_t>(core);
  if (hop_pos_.size() < pool_.size()) hop_pos_.resize(pool_.size());
  for (std::uint32_t k = begin; k < begin + len; ++k) {
    auto& on = link_flows_[pool_[k]];
    hop_pos_[k] = static_cast<std::uint32_t>(on.size());
    on.push_back(static_cast<std::uint32_t>(i));
  }
}

// Each flow on l crosses it once, among its covered hops: moved to the end of its uncovered ones.
void FlowNetworkModel::uncover(DirectedLinkId l) {
  for (const std::uint32_t g : link_flows_[l]) {
    const std::uint32_t core_end = route_begin_[g] + core_len_[g];
    for (std::uint32_t h = core_end; h < route_begin_[g] + route_len_[g]; ++h) {
      if (pool_[h] != l) continue;
      std::swap(pool_[h], pool_[core_end]);
      std::swap(hop_pos_[h], hop_pos_[core_end]);
      ++core_len_[g];
      break;
    }
  }
  cover_[l] = kNoCover;
}

// Swap-removes flow i from the list of each of its links; the entry moved into its place has its
// position updated: the hop of the moved flow that sat at the list's end. A route may cross a link
// twice (NCCL's SHM path crosses the CPU's memory port twice, so the flow is listed twice), so the
// hop is found by its position, not by its link alone, and may be another hop of i itself.
void FlowNetworkModel::unlink_flow(std::size_t i) {
  auto& mine = op_flows_[owner_[i]];
  const std::uint32_t moved_flow = mine.back();
  mine[op_pos_[i]] = moved_flow;
  op_pos_[moved_flow] = op_pos_[i];
  mine.pop_back();
  const std::uint32_t begin = route_begin_[i];
  for (std::uint32_t k = begin; k < begin + route_len_[i]; ++k) {
    const DirectedLinkId l = pool_[k];
    auto& on = link_flows_[l];
    const std::uint32_t pos = hop_pos_[k];
    const auto back = static_cast<std::uint32_t>(on.size() - 1);
    const std::uint32_t moved = on[back];
    on[pos] = moved;
    on.pop_back();
    hop_pos_[k] = std::numeric_limits<std::uint32_t>::max();  // gone: never matched below
    if (pos == back) continue;
    const std::uint32_t mb = route_begin_[moved];
    for (std::uint32_t h = mb; h < mb + route_len_[moved]; ++h) {
      if (pool_[h] == l && hop_pos_[h] == back && h != k) {
        hop_pos_[h] = pos;
        break;
      }
    }
  }
}

void FlowNetworkModel::drop_link_lists() {
  for (auto& on : link_flows_) std::vector<std::uint32_t>().swap(on);
  std::vector<std::uint32_t>().swap(hop_pos_);
  std::vector<std::int64_t>().swap(dur_ps_);
  for (auto& on : op_flows_) std::vector<std::uint32_t>().swap(on);
  std::vector<std::uint32_t>().swap(op_pos_);
  std::vector<std::uint16_t>().swap(core_len_);
  op_min_valid_ = false;
  lists_on_ = false;
  link_parent_.resize(capacity_per_ps_.size());
  for (DirectedLinkId l = 0; l < link_parent_.size(); ++l) link_parent_[l] = l;
  for (std::size_t i = 0; i < route_begin_.size(); ++i) {
    unite_route(route_begin_[i], route_begin_[i] + route_len_[i]);
  }
}

// Path halving: the sets of a stage's routes stay a step or two deep.
DirectedLinkId FlowNetworkModel::link_root(DirectedLinkId l) const {
  DirectedLinkId* const parent = link_parent_.data();
  while (parent[l] != l) {
    parent[l] = parent[parent[l]];
    l = parent[l];
  }
  return l;
}

void FlowNetworkModel::unite_route(std::size_t begin, std::size_t end) {
  if (begin == end) return;
  const DirectedLinkId root = link_root(pool_[begin]);
  for (std::size_t k = begin + 1; k < end; ++k) {
    if (link_parent_[pool_[k]] == root) continue;  // most hops, once a stage's routes are in
    const DirectedLinkId other = link_root(pool_[k]);
    if (other != root) link_parent_[other] = root;
  }
}

void FlowNetworkModel::build_link_lists() {
  compact_routes();  // hop_pos_ parallels pool_: not over the routes of the flows that ended
  hop_pos_.assign(pool_.size(), 0);
  dur_ps_.assign(remaining_.size(), 0);
  for (auto& on : op_flows_) on.clear();
  op_pos_.assign(remaining_.size(), 0);
  core_len_.assign(remaining_.size(), 0);
  op_min_valid_ = false;
  for (std::size_t i = 0; i < remaining_.size(); ++i) {
    link_flow(i);
    // What bring_forward would derive (a flow without a rate has none).
    if (rate_[i] != 0.0) dur_ps_[i] = ceil_ps(remaining_[i] / rate_[i]);
  }
  lists_on_ = true;
}

// The marked operations are a union of components of the operations-share-a-link graph, which
// joins every flow of an operation; the flows-share-a-link graph splits them further (a ring's
// or an all-to-all's flows each use their own NICs). Max-min decomposes over the latter too, so
// only the flows connected (through shared links, transitively) to a changed link can get new
// rates: a breadth-first search over the per-link flow lists from the changed links finds them
// (all within the marked operations: a changed link is one of a marked operation's). Work is
// proportional to that component, not to the marked flows.
void FlowNetworkModel::collect_component() const {
  if (flow_seen_.size() < remaining_.size()) flow_seen_.resize(remaining_.size(), 0);
  next_seen_epoch();
  comp_links_.clear();
  comp_flows_.clear();
  // Raw pointers: the compiler cannot tell that the pushes leave these arrays be.
  std::uint32_t* const link_seen = link_seen_.data();
  std::uint32_t* const flow_seen = flow_seen_.data();
  const std::uint32_t* const pool = pool_.data();
  const std::uint32_t* const route_begin = route_begin_.data();
  const std::uint16_t* const core_len = core_len_.data();
  const std::vector<std::uint32_t>* const link_flows = link_flows_.data();
  const std::uint32_t epoch = seen_epoch_;
  // Covered links are not constraints (link_flow) and join no flows that their covers do not.
  const auto add_flow = [&](std::uint32_t i) {
    if (flow_seen[i] == epoch) return;
    flow_seen[i] = epoch;
    comp_flows_.push_back(i);
    const std::uint32_t* r = pool + route_begin[i];
    for (std::uint16_t h = 0; h < core_len[i]; ++h) {
      if (link_seen[r[h]] != epoch) {
        link_seen[r[h]] = epoch;
        comp_links_.push_back(r[h]);
      }
    }
  };
  for (DirectedLinkId l : changed_links_) {
    if (link_flows[l].empty() || link_seen[l] == epoch) continue;
    link_seen[l] = epoch;
    if (cover_[l] != kNoCover) {
      for (std::uint32_t i : link_flows[l]) add_flow(i);
    } else {
      comp_links_.push_back(l);
    }
  }
  for (std::size_t q = 0; q < comp_links_.size(); ++q) {
    for (std::uint32_t i : link_flows[comp_links_[q]]) add_flow(i);
  }
}

void FlowNetworkModel::recompute() const {
  ++recomputations_;
  const bool part = mark_component();
  if (!full_recomputation_ && lists_on_) {
    collect_component();
    for (DirectedLinkId l : changed_links_) changed_mark_[l] = 0;
    changed_links_.clear();
    // The component's flows are brought forward before the solve overwrites their rates; then
    // every marked flow is brought forward and its finish re-derived, solved or not (those not
    // solved keep their rate, which a solve would give bit for bit): the same lazy updates as
    // re-solving all marked operations, so the same completion instants to the picosecond.
    for (std::uint32_t i : comp_flows_) bring_forward(i);
    if (!comp_flows_.empty()) {
      solver_.solve_component(capacity_per_ps_, comp_links_, link_flows_, comp_flows_.size(),
                              route_begin_, core_len_, pool_, rate_);
    }
    // flow_seen_ marks the component's flows (already brought forward). The marked operations
    // (all registered ones when !part) hold every flow whose rate or bookkeeping changed, so
    // the others' earliest finish per operation stands.
    if (op_min_finish_.size() < ops_.size()) op_min_finish_.resize(ops_.size(), kNever);
    // bring_forward and set_finish, written out over raw arrays (the loop runs for ~800 flows
    // per recomputation at 1,024 GPUs); the bytes sent are summed locally.
    std::int64_t* const finish = finish_ps_.data();
    std::int64_t* const dur = dur_ps_.data();
    double* const remaining = remaining_.data();
    const double* const rate = rate_.data();
    const std::uint32_t* const seen = flow_seen_.data();
    const std::uint32_t epoch = seen_epoch_;
    const std::int64_t now = synced_.ps();
    double delivered = 0;
    for (std::uint32_t slot : component_) {
      std::int64_t earliest = kNever;
      for (std::uint32_t i : op_flows_[slot]) {
        if (seen[i] != epoch && rate[i] != 0.0) {
          const double sent =
              std::min(remaining[i], rate[i] * static_cast<double>(now - (finish[i] - dur[i])));
          delivered += sent;
          remaining[i] -= sent;
        }
        const std::int64_t d = ceil_ps(remaining[i] / rate[i]);
        finish[i] = now + d;
        dur[i] = d;
        earliest = std::min(earliest, now + d);
      }
      op_min_finish_[slot] = earliest;
    }
    bytes_delivered_ += delivered;
    if (!op_min_valid_) {  // first recomputation with the lists: every operation's minimum
      std::fill(op_min_finish_.begin(), op_min_finish_.end(), kNever);
      for (std::size_t i = 0; i < owner_.size(); ++i) {
        op_min_finish_[owner_[i]] = std::min(op_min_finish_[owner_[i]], finish_ps_[i]);
      }
      op_min_valid_ = true;
    }
    std::int64_t earliest = kNever;
    for (std::uint32_t slot = 0; slot < op_flows_.size(); ++slot) {
      if (!op_flows_[slot].empty()) earliest = std::min(earliest, op_min_finish_[slot]);
    }
    earliest_finish_ps_ = earliest;
    solved_flows_ += comp_flows_.size();
  } else if (!full_recomputation_) {
    solve_changed_components(part);
  } else {
    op_min_valid_ = false;  // (the reference: every flow re-derived)
    for (DirectedLinkId l : changed_links_) changed_mark_[l] = 0;
    changed_links_.clear();
    if (remaining_.size() >= kProgressFlows) {
      fmt::print(stderr, "flow model: max-min over {} flows at {:.3f} us simulated\n",
                 remaining_.size(), synced_.us());
    }
    for (std::size_t i = 0; i < remaining_.size(); ++i) bring_forward(i);
    solver_.solve(capacity_per_ps_, route_begin_, route_len_, pool_, rate_);
    // Keep the solver's buffers while the running flows still need most of them (the next
    // full solve would fault the same tens of MB in again: 3 solves of ~1 M flows at 1,024
    // GPUs); free them once the flows have shrunk to less than half.
    solver_.release_if_larger_than(std::max(std::size_t{1} << 22, 2 * live_pool_));
    for (std::size_t i = 0; i < remaining_.size(); ++i) set_finish(i);
    solved_flows_ += remaining_.size();
    earliest_finish_ps_ = kNever;
    for (std::int64_t f : finish_ps_) earliest_finish_ps_ = std::min(earliest_finish_ps_, f);
  }
  dirty_ = false;
}

// No lists (too many flows): of the marked operations' flows (all when !part), those in a
// union-find set with a changed link are solved; every marked flow is brought forward and its
// finish re-derived, solved or not (an unsolved one keeps its rate, which a solve would give bit
// for bit), as when all of them were solved.
void FlowNetworkModel::solve_changed_components(bool part) const {
  op_min_valid_ = false;
  next_seen_epoch();
  const std::uint32_t epoch = seen_epoch_;
  for (DirectedLinkId l : changed_links_) {
    changed_mark_[l] = 0;
    link_seen_[link_root(l)] = epoch;
  }
  changed_links_.clear();
  const auto marked = [&](std::size_t i) { return !part || visit_[owner_[i]] == visit_stamp_; };
  // A route's links are all in one set: its first link's set is the flow's.
  const auto changed = [&](std::size_t i) {
    return link_seen_[link_root(pool_[route_begin_[i]])] == epoch;
  };
  // Most of the flows: all of them in place instead (no copies of their routes' bounds, 18
  // bytes a flow; the count stops there). Solving more sets than needed changes no rate; only
  // without unmarked operations, whose flows are not to be brought forward.
  std::size_t solve = 0;
  for (std::size_t i = 0; i < remaining_.size(); ++i) {
    if (marked(i) && changed(i)) ++solve;
    if (!part && 2 * solve > remaining_.size()) {
      solve = remaining_.size();
      break;
    }
  }
  if (solve >= kProgressFlows) {
    fmt::print(stderr, "flow model: max-min over {} flows at {:.3f} us simulated\n", solve,
               synced_.us());
  }
  if (solve == remaining_.size()) {
    for (std::size_t i = 0; i < remaining_.size(); ++i) bring_forward(i);
    solver_.solve(capacity_per_ps_, route_begin_, route_len_, pool_, rate_);
    for (std::size_t i = 0; i < remaining_.size(); ++i) set_finish(i);
  } else {
    sub_flow_.clear();
    sub_begin_.clear();
    sub_len_.clear();
    for (std::size_t i = 0; i < remaining_.size(); ++i) {
      if (!marked(i)) continue;
      bring_forward(i);
      if (changed(i)) {
        sub_flow_.push_back(static_cast<std::uint32_t>(i));
        sub_begin_.push_back(route_begin_[i]);
        sub_len_.push_back(route_len_[i]);
      } else {
        set_finish(i);
      }
    }
    sub_rate_.resize(sub_begin_.size());
    if (!sub_flow_.empty()) solver_.solve(capacity_per_ps_, sub_begin_, sub_len_, pool_, sub_rate_);
    for (std::size_t k = 0; k < sub_flow_.size(); ++k) {
      const std::uint32_t i = sub_flow_[k];
      rate_[i] = sub_rate_[k];
      set_finish(i);
    }
  }
  // As after a full solve: keep the solver's buffers while the running flows need most of them.
  solver_.release_if_larger_than(std::max(std::size_t{1} << 22, 2 * live_pool_));
  solved_flows_ += solve;
  earliest_finish_ps_ = kNever;
  for (std::int64_t f : finish_ps_) earliest_finish_ps_ = std::min(earliest_finish_ps_, f);
}

std::optional<SimTime> FlowNetworkModel::next_completion(SimTime /*now*/) const {
  if (dirty_) recompute();
  std::optional<SimTime> best;
  if (!remaining_.empty()) best = SimTime::from_ps(earliest_finish_ps_);
  if (!timers_.empty() && (!best || timers_.top().at < *best)) best = timers_.top().at;
  return best;
}

// Summed when the flow ends rather than stored: 8 bytes less per flow (16.8 M flows at 4096 GPUs).
std::int64_t FlowNetworkModel::route_latency_ps(std::size_t i) const {
  std::int64_t lat = 0;
  for (std::uint32_t k = route_begin_[i]; k < route_begin_[i] + route_len_[i]; ++k) {
    lat += link_latency_[pool_[k]].ps();
  }
  return lat;
}

void FlowNetworkModel::remove_flow(std::size_t i) {
  live_pool_ -= route_len_[i];
  const std::size_t last = remaining_.size() - 1;
  if (lists_on_) {
    unlink_flow(i);
    if (i != last) {  // the last flow takes index i: rename it in its links' and op's lists
      for (std::uint32_t k = route_begin_[last]; k < route_begin_[last] + route_len_[last]; ++k) {
        link_flows_[pool_[k]][hop_pos_[k]] = static_cast<std::uint32_t>(i);
      }
      op_flows_[owner_[last]][op_pos_[last]] = static_cast<std::uint32_t>(i);
      op_pos_[i] = op_pos_[last];
      core_len_[i] = core_len_[last];
    }
    op_pos_.pop_back();
    core_len_.pop_back();
  }
  if (i != last) {
    remaining_[i] = remaining_[last];
    rate_[i] = rate_[last];
    finish_ps_[i] = finish_ps_[last];
    if (lists_on_) dur_ps_[i] = dur_ps_[last];
    route_begin_[i] = route_begin_[last];
    route_len_[i] = route_len_[last];
    owner_[i] = owner_[last];
  }
  remaining_.pop_back();
  rate_.pop_back();
  finish_ps_.pop_back();
  if (lists_on_) dur_ps_.pop_back();
  route_begin_.pop_back();
  route_len_.pop_back();
  owner_.pop_back();
}

void FlowNetworkModel::compact_routes() {
  std::vector<std::uint32_t> pool;
  std::vector<std::uint32_t> hop_pos;
  pool.reserve(live_pool_);
  if (lists_on_) hop_pos.reserve(live_pool_);
  for (std::size_t i = 0; i < route_begin_.size(); ++i) {
    const std::uint32_t begin = route_begin_[i];
    route_begin_[i] = static_cast<std::uint32_t>(pool.size());
    pool.insert(pool.end(), pool_.begin() + begin, pool_.begin() + begin + route_len_[i]);
    if (lists_on_) {
      hop_pos.insert(hop_pos.end(), hop_pos_.begin() + begin,
                     hop_pos_.begin() + begin + route_len_[i]);
    }
  }
  pool_ = std::move(pool);
  hop_pos_ = std::move(hop_pos);
}

void FlowNetworkModel::advance(SimTime from, SimTime to) {
  MOESIM_CHECK(from <= to, "advance backwards");
  sync(from);
  sync(to);  // rates of [from, to) are those computed at `from`
  for (;;) {
    if (dirty_) recompute();
    bool progressed = false;
    if (!remaining_.empty() && earliest_finish_ps_ <= to.ps()) {
      // Flows finishing by `to` (never earlier: advance stops at next_completion).
      std::vector<std::uint32_t> finished_slots;
      const std::int64_t until = to.ps();
      const auto finish_flow = [&](std::size_t i) {
        OpState& op = ops_[owner_[i]];
        const std::int64_t latency_ps = op.plan.adds_link_latency ? route_latency_ps(i) : 0;
        op.arrival = std::max(op.arrival, SimTime::from_ps(finish_ps_[i] + latency_ps));
        bytes_delivered_ += remaining_[i];  // the rounding residue
        if (--op.pending == 0) finished_slots.push_back(owner_[i]);
        // Once per run of one operation's flows (a million flows ending at one instant would
        // list their one operation a million times; the marking visits each once anyway).
        if (dirty_ops_.empty() || dirty_ops_.back() != owner_[i]) dirty_ops_.push_back(owner_[i]);
        for (std::uint32_t k = route_begin_[i]; k < route_begin_[i] + route_len_[i]; ++k) {
          note_changed(pool_[k]);
        }
        remove_flow(i);
      };
      // In index order; a removed flow's place is taken by the last, looked at next.
      if (lists_on_ && op_min_valid_) {
        // The finished flows, found through the operations whose earliest finish is due (not a
        // pass over every running flow), then taken in the same order: ascending index, each
        // place re-examined after its flow is removed (only the place just emptied receives a
        // flow, so a finished flow is either still where it was found or was taken already).
        finished_flows_.clear();
        for (std::uint32_t slot = 0; slot < op_flows_.size(); ++slot) {
          if (op_flows_[slot].empty() || op_min_finish_[slot] > until) continue;
          for (std::uint32_t i : op_flows_[slot]) {
            if (finish_ps_[i] <= until) finished_flows_.push_back(i);
          }
        }
        std::sort(finished_flows_.begin(), finished_flows_.end());
        for (std::uint32_t i : finished_flows_) {
          while (i < finish_ps_.size() && finish_ps_[i] <= until) finish_flow(i);
        }
      } else {
        // The search for the next finished flow is a loop over local copies (the stores in
        // finish_flow could alias the vectors' members as far as the compiler knows).
        for (std::size_t i = 0;;) {
          const std::int64_t* const finish = finish_ps_.data();
          const std::size_t n = finish_ps_.size();
          while (i < n && finish[i] > until) ++i;
          if (i == n) break;
          finish_flow(i);
        }
      }
      dirty_ = true;
      // The rates are all current and the changed links still noted: the lists can come back
      // between any two recomputations.
      if (!lists_on_ && remaining_.size() <= list_limit_ / 2) build_link_lists();
      for (std::uint32_t slot : finished_slots) stage_done(slot);
      progressed = true;
    }
    while (!timers_.empty() && timers_.top().at <= to) {
      const Timer t = timers_.top();
      timers_.pop();
      start_stage(t.slot, t.at);
      progressed = true;
    }
    if (!progressed) break;
  }
  if (pool_.size() > 2 * live_pool_ + (1u << 20)) compact_routes();
  // Report after the state is consistent: listeners may start new operations.
  std::vector<std::pair<CommCompletionListener*, CommId>> done;
  done.swap(done_);
  for (const auto& [listener, id] : done) listener->on_comm_complete(id, to);
}

SimTime FlowNetworkModel::estimate(const CommOp& op) const { return estimate_concurrent({op}); }

SimTime FlowNetworkModel::estimate_concurrent(const std::vector<CommOp>& ops) const {
  FlowNetworkModel copy(*topo_, config_);
  NullListener listener;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    copy.start(CommId{static_cast<std::uint32_t>(i)}, ops[i], SimTime::zero(), listener);
  }
  SimTime now = SimTime::zero();
  while (auto t = copy.next_completion(now)) {
    copy.advance(now, *t);
    now = *t;
  }
  return listener.last;
}

}  // namespace moesim::network
