// The flow model's selective update (re-solving only the operations connected to a change) on a
// 256-GPU cluster: identical completion times to re-solving every flow at every change, and to
// an independent reference (a plain event loop in continuous time over a naive progressive
// filling written here, sharing no code with MaxMinSolver or FlowNetworkModel).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"

namespace moesim::network {
namespace {

struct CompletionRecorder final : CommCompletionListener {
  std::vector<std::pair<CommId, SimTime>> done;
  void on_comm_complete(CommId id, SimTime at) override { done.emplace_back(id, at); }
};

const Topology& cluster_256() {
  static const Topology t = [] {
    ClusterSpec spec;
    spec.nodes = 32;
    spec.nodes_per_unit = 8;  // four units: traffic crosses the spines
    return generate_cluster(io::load_topology("dgx-h100"), spec);
  }();
  return t;
}

struct Timed {
  SimTime at;
  FlowPlan plan;
};

// Starts each plan at its time, runs to the end, returns completions in order.
std::vector<std::pair<CommId, SimTime>> run(FlowNetworkModel& m, std::vector<Timed> plans) {
  CompletionRecorder rec;
  SimTime now;
  std::size_t next = 0;
  for (;;) {
    while (next < plans.size() && plans[next].at <= now) {
      m.start_plan(CommId{static_cast<std::uint32_t>(next)}, std::move(plans[next].plan), now, rec);
      ++next;
    }
    std::optional<SimTime> t = m.next_completion(now);
    if (next < plans.size() && (!t || plans[next].at < *t)) t = plans[next].at;
    if (!t) break;
    m.advance(now, *t);
    now = *t;
  }
  return rec.done;
}

FlowPlan all_to_all(std::uint32_t first, std::uint32_t stride, std::uint32_t n, double bytes) {
  FlowPlan p;
  p.stages.push_back(Stage{SimTime::zero(), {}});
  for (std::uint32_t a = 0; a < n; ++a) {
    for (std::uint32_t b = 0; b < n; ++b) {
      if (a != b) p.stages[0].flows.push_back({first + a * stride, first + b * stride, bytes});
    }
  }
  return p;
}

// A mix whose components change over time: a full all-to-all, node-local rings, strided groups.
std::vector<Timed> workload() {
  const Topology& t = cluster_256();
  std::vector<Timed> w;
  w.push_back({SimTime::zero(), all_to_all(0, 1, 256, 1 << 20)});
  for (std::uint32_t node = 0; node < 8; ++node) {
    CommOp op;
    op.kind = CommKind::all_reduce;
    op.bytes = Bytes{64 << 20};
    for (std::uint32_t r = 0; r < 8; ++r) op.ranks.push_back(RankId{node * 8 + r});
    w.push_back({SimTime::from_us(40 * (node + 1)), lower_collective(t, op, {})});
  }
  for (std::uint32_t g = 0; g < 4; ++g) {
    w.push_back({SimTime::from_us(1000 + 300 * g), all_to_all(128 + g, 4, 32, 4 << 20)});
  }
  return w;
}

TEST(SelectiveUpdate, SameCompletionTimesAsAFullResolveAtEveryChange) {
  FlowNetworkModel selective(cluster_256());
  FlowNetworkModel full(cluster_256());
  full.set_full_recomputation(true);
  const auto got = run(selective, workload());
  const auto want = run(full, workload());
  ASSERT_EQ(got.size(), 13u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(selective.recomputations(), full.recomputations());
  // Not vacuous: the selective runs re-solved fewer flows.
  EXPECT_LT(selective.solved_flows(), full.solved_flows());
}

// The per-link flow lists dropped while the 256-GPU all-to-all's 65,280 flows run (limit 1,000)
// and rebuilt once fewer than 500 are left, with operations starting on both sides of the
// switch: still the full re-solve's completion instants to the picosecond.
TEST(SelectiveUpdate, SameCompletionTimesWhenTheFlowListsAreDroppedAndRebuilt) {
  FlowNetworkModel selective(cluster_256());
  FlowNetworkModel full(cluster_256());
  selective.set_flow_list_limit(1000);
  full.set_full_recomputation(true);
  const auto got = run(selective, workload());
  const auto want = run(full, workload());
  ASSERT_EQ(got.size(), 13u);
  EXPECT_EQ(got, want);
  EXPECT_LT(selective.solved_flows(), full.solved_flows());
}

// GPUs without PCIe peer-to-peer (a6000-8gpu) exchange through host memory: every such route
// crosses its CPU's memory port twice, so a flow is listed twice on that link. Flows of unequal
// sizes end one by one while others share the port: the lists stay consistent (this crashed once
// in the swap-removal) and the completion instants are the full re-solve's.
TEST(SelectiveUpdate, RoutesThatCrossALinkTwiceEndConsistently) {
  const Topology node = io::load_topology("a6000-8gpu");
  std::vector<Timed> w;
  for (std::uint32_t g = 0; g < 6; ++g) {
    FlowPlan p = all_to_all(0, 1, 8, static_cast<double>((g + 1) << 20));
    for (std::size_t f = 0; f < p.stages[0].flows.size(); ++f) {
      p.stages[0].flows[f].bytes *= 1.0 + 0.01 * static_cast<double>(f % 7);
    }
    w.push_back({SimTime::from_us(150 * g), std::move(p)});
  }
  FlowNetworkModel selective(node);
  FlowNetworkModel full(node);
  full.set_full_recomputation(true);
  const auto got = run(selective, w);
  const auto want = run(full, w);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got, want);
}

// One operation whose two flows share no link (GPU 0 -> 1 and GPU 2 -> 3 through the NVSwitch):
// when the smaller ends, the operation is re-marked but its other flow is not connected to the
// freed links, so nothing is re-solved; the completion instant is the full re-solve's.
// Two flows of one operation on disjoint links, run selectively (with the per-link lists, or
// without them: limit 1 drops them at the start) and fully re-solved: the same instants, and the
// selective run solves each flow once (start: 2; first end: none; second end: no flow left).
void expect_disjoint_flows_solved_once(bool with_lists) {
  const auto plan = [] {
    FlowPlan p;
    p.stages.push_back(Stage{SimTime::zero(), {{0, 1, 1 << 20}, {2, 3, 4 << 20}}});
    return p;
  };
  FlowNetworkModel selective(cluster_256());
  FlowNetworkModel full(cluster_256());
  if (!with_lists) selective.set_flow_list_limit(1);
  full.set_full_recomputation(true);
  std::vector<Timed> a, b;
  a.push_back({SimTime::zero(), plan()});
  b.push_back({SimTime::zero(), plan()});
  EXPECT_EQ(run(selective, std::move(a)), run(full, std::move(b)));
  EXPECT_EQ(selective.solved_flows(), 2u);
  EXPECT_EQ(full.solved_flows(), 3u);
}

TEST(SelectiveUpdate, FlowsOfOneOperationOnDisjointLinksAreNotReSolved) {
  expect_disjoint_flows_solved_once(true);
}

// Covered links: a DGX H100 route's PCIe hops carry exactly the flows of their NIC's slower port,
// so the selective solve leaves them out. Flows that cross only one of them (a first or last
// hop alone, as a proxy's copy does) arrive while cross-node flows run on it and make it a
// constraint again (the first-hop flow gets what the NIC leaves of the PCIe link); once those
// are gone and the link is empty, a new all-to-all covers it again. Every instant is the full
// re-solve's, which keeps every link.
TEST(SelectiveUpdate, LinksThatStopBeingCoveredAreSolvedAgain) {
  const auto gpu0s = [](double bytes) { return all_to_all(0, 8, 32, bytes); };
  const auto hops = [] {
    FlowPlan p;
    p.stages.push_back(Stage{
        SimTime::zero(),
        {FlowSpec{0, 8, 8 << 20, Segment::first_hop}, FlowSpec{8, 16, 2 << 20, Segment::last_hop},
         FlowSpec{24, 0, 3 << 20, Segment::last_hop}}});
    return p;
  };
  const auto plans = [&] {
    std::vector<Timed> w;
    w.push_back({SimTime::zero(), gpu0s(4 << 20)});
    w.push_back({SimTime::from_us(20), hops()});
    w.push_back({SimTime::from_us(6000), gpu0s(1 << 20)});
    return w;
  };
  FlowNetworkModel selective(cluster_256());
  FlowNetworkModel full(cluster_256());
  full.set_full_recomputation(true);
  const auto got = run(selective, plans());
  const auto want = run(full, plans());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got, want);
}

// The same without the per-link lists (limit 1: dropped at the start): the union-find of the
// routes' links keeps the two flows apart, so the first end re-solves nothing either.
TEST(SelectiveUpdate, WithoutTheListsFlowsOnDisjointLinksAreNotReSolved) {
  expect_disjoint_flows_solved_once(false);
}

// A 256-GPU all-to-all on one unit (every pair's network flow crosses its own two NICs and a
// leaf): its NVLink flows end first, then every network flow at one instant. Without the lists
// the network flows, on links of their own, keep their rates when the NVLink ones end: 65,280
// flows solved once, as with the lists, not twice; the completion instant is the full
// re-solve's.
TEST(SelectiveUpdate, WithoutTheListsAnAllToAllIsSolvedOnce) {
  ClusterSpec spec;
  spec.nodes = 32;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  FlowNetworkModel no_lists(topo);
  FlowNetworkModel lists(topo);
  FlowNetworkModel full(topo);
  no_lists.set_flow_list_limit(1000);
  full.set_full_recomputation(true);
  std::vector<Timed> a, b, c;
  a.push_back({SimTime::zero(), all_to_all(0, 1, 256, 1 << 20)});
  b.push_back({SimTime::zero(), all_to_all(0, 1, 256, 1 << 20)});
  c.push_back({SimTime::zero(), all_to_all(0, 1, 256, 1 << 20)});
  const auto want = run(full, std::move(c));
  EXPECT_EQ(run(no_lists, std::move(a)), want);
  EXPECT_EQ(run(lists, std::move(b)), want);
  EXPECT_EQ(no_lists.solved_flows(), 256u * 255u);
  EXPECT_EQ(lists.solved_flows(), 256u * 255u);
  EXPECT_GT(full.solved_flows(), 256u * 255u);
}

// A stage kept as an exchange's ranks (Stage::exchange_ranks) is the same flows in the same
// order as their listing destination by destination (as lower_all_to_all lists them), and runs
// to the same completion instant.
TEST(CompactExchange, SameFlowsAndCompletionAsTheListedPairs) {
  FlowPlan listed;
  listed.stages.push_back(Stage{SimTime::zero(), {}});
  for (std::uint32_t dst = 0; dst < 256; ++dst) {
    for (std::uint32_t src = 0; src < 256; ++src) {
      if (src != dst) listed.stages[0].flows.push_back({src, dst, 1 << 20});
    }
  }
  FlowPlan compact;
  compact.stages.push_back(Stage{SimTime::zero(), {}});
  for (std::uint32_t r = 0; r < 256; ++r) compact.stages[0].exchange_ranks.push_back(r);
  compact.stages[0].exchange_bytes = 1 << 20;
  ASSERT_EQ(compact.flow_count(), listed.flow_count());
  std::size_t k = 0;
  compact.stages[0].for_each_flow([&](const FlowSpec& f) {
    const FlowSpec& want = listed.stages[0].flows[k];
    const FlowSpec at = compact.stages[0].flow(k++);
    EXPECT_TRUE(f.src == want.src && f.dst == want.dst && f.bytes == want.bytes) << k;
    EXPECT_TRUE(at.src == want.src && at.dst == want.dst && at.bytes == want.bytes) << k;
  });
  EXPECT_EQ(k, listed.flow_count());
  FlowNetworkModel a(cluster_256());
  FlowNetworkModel b(cluster_256());
  std::vector<Timed> wa, wb;
  wa.push_back({SimTime::zero(), std::move(listed)});
  wb.push_back({SimTime::zero(), std::move(compact)});
  EXPECT_EQ(run(a, std::move(wa)), run(b, std::move(wb)));
}

// The direct all-to-all of 1,024 GPUs without PXN is lowered compact (65,536 pairs and more);
// with PXN, or smaller, its flows are listed.
TEST(CompactExchange, LargeDirectAllToAllWithoutPxnKeepsItsRanks) {
  ClusterSpec spec;
  spec.nodes = 128;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  CommOp op;
  op.kind = CommKind::all_to_all;
  for (std::uint32_t r = 0; r < 1024; ++r) op.ranks.push_back(RankId{r});
  op.bytes = Bytes{1024 * 1024 * 1024};
  CollectiveConfig cfg;
  cfg.pxn = false;
  const FlowPlan plan = lower_all_to_all(topo, op, cfg);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_TRUE(plan.stages[0].flows.empty());
  EXPECT_EQ(plan.flow_count(), 1024u * 1023u);
  const FlowSpec f = plan.stages[0].flow(1023 * 5 + 7);  // destination 5, its 8th sender: 8
  EXPECT_EQ(f.src, 8u);
  EXPECT_EQ(f.dst, 5u);
  EXPECT_EQ(plan.stages[0].flow(1023 * 5 + 4).src, 4u);  // the senders skip the destination
  EXPECT_EQ(plan.stages[0].flow(1023 * 5 + 5).src, 6u);
  EXPECT_EQ(f.bytes, 1024.0 * 1024.0);
  cfg.pxn = true;
  EXPECT_TRUE(lower_all_to_all(topo, op, cfg).stages[0].exchange_ranks.empty());
  op.ranks.resize(256);
  op.bytes = Bytes{256 * 1024 * 1024};
  cfg.pxn = false;
  EXPECT_EQ(lower_all_to_all(topo, op, cfg).stages[0].flows.size(), 256u * 255u);
}

// ---- independent reference ----

// Max-min fair rates by progressive filling, the obvious way: repeatedly saturate the link with
// the smallest fair share among the flows not yet fixed.
std::vector<double> naive_max_min(const std::vector<double>& capacity,
                                  const std::vector<std::vector<DirectedLinkId>>& routes) {
  std::vector<double> rate(routes.size(), 0.0);
  std::vector<char> fixed(routes.size(), 0);
  std::vector<double> left = capacity;
  std::vector<std::vector<std::size_t>> on(capacity.size());
  for (std::size_t f = 0; f < routes.size(); ++f) {
    for (DirectedLinkId l : routes[f]) on[l].push_back(f);
  }
  std::vector<std::size_t> unfixed(capacity.size());
  for (std::size_t l = 0; l < capacity.size(); ++l) unfixed[l] = on[l].size();
  for (;;) {
    double best = std::numeric_limits<double>::infinity();
    std::size_t bottleneck = capacity.size();
    for (std::size_t l = 0; l < capacity.size(); ++l) {
      if (unfixed[l] == 0) continue;
      const double share = left[l] / static_cast<double>(unfixed[l]);
      if (share < best) {
        best = share;
        bottleneck = l;
      }
    }
    if (bottleneck == capacity.size()) return rate;
    for (std::size_t f : on[bottleneck]) {
      if (fixed[f]) continue;
      fixed[f] = 1;
      rate[f] = best;
      for (DirectedLinkId l : routes[f]) {
        left[l] -= best;
        --unfixed[l];
      }
    }
  }
}

TEST(SelectiveUpdate, AllToAllsMatchAnIndependentReference) {
  const Topology& t = cluster_256();
  // The full all-to-all at 0 and four strided group all-to-alls later (one stage each).
  std::vector<Timed> w = workload();
  w.erase(w.begin() + 1, w.begin() + 9);
  std::vector<double> capacity(t.directed_link_count());
  for (DirectedLinkId d = 0; d < capacity.size(); ++d) capacity[d] = t.capacity(d) * 1e-12;

  struct Flow {
    std::size_t op;
    std::vector<DirectedLinkId> route;
    double remaining;
    double latency_ps;
  };
  std::vector<double> completion(w.size(), 0.0);
  std::vector<Flow> active;
  double now = 0.0;
  std::size_t next = 0;
  while (next < w.size() || !active.empty()) {
    while (next < w.size() && static_cast<double>(w[next].at.ps()) <= now) {
      for (const FlowSpec& f : w[next].plan.stages[0].flows) {
        Flow flow{next, t.route(RankId{f.src}, RankId{f.dst}), f.bytes, 0.0};
        for (DirectedLinkId d : flow.route) flow.latency_ps += t.link_of(d).spec.latency.ps();
        active.push_back(std::move(flow));
      }
      ++next;
    }
    std::vector<std::vector<DirectedLinkId>> routes;
    for (const Flow& f : active) routes.push_back(f.route);
    const std::vector<double> rate = naive_max_min(capacity, routes);
    double dt = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < active.size(); ++i) {
      dt = std::min(dt, active[i].remaining / rate[i]);
    }
    if (next < w.size()) dt = std::min(dt, static_cast<double>(w[next].at.ps()) - now);
    now += dt;
    std::vector<Flow> still;
    for (std::size_t i = 0; i < active.size(); ++i) {
      Flow& f = active[i];
      if (f.remaining / rate[i] <= dt * (1 + 1e-12)) {
        completion[f.op] = std::max(completion[f.op], now + f.latency_ps);
      } else {
        f.remaining -= rate[i] * dt;
        still.push_back(std::move(f));
      }
    }
    active.swap(still);
  }

  FlowNetworkModel model(t);
  const auto got = run(model, std::move(w));
  ASSERT_EQ(got.size(), completion.size());
  for (const auto& [id, at] : got) {
    SCOPED_TRACE(id.value);
    const double want = completion[id.index()];
    EXPECT_NEAR(static_cast<double>(at.ps()), want, want * 1e-9);
  }
}

}  // namespace
}  // namespace moesim::network
