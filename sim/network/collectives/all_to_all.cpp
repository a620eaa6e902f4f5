// All-to-all and all-to-all-v as NCCL runs them (ncclSend/ncclRecv in a group): every pair's
// transfer is a concurrent point-to-point flow; they share links max-min fairly. all_to_all:
// S/n from every rank to every other (the self part stays on the GPU); all_to_all_v: matrix(i, j)
// bytes. Latency: one Simple step of the slowest link class any pair crosses, plus the posting
// of the network p2p operations when the group spans nodes (exchange_posting_us).
// PXN (cfg.pxn, NCCL's default since 2.12; pxn_proxy in flow_plan.hpp, tabulated per group in
// pxn_relays.hpp): a cross-node transfer whose destination sits on another rail goes over NVLink
// to the sender node's GPU on that rail, which sends it through its own NIC; NCCL aggregates
// there (one network message per proxy and destination, one NVLink message per sender and
// proxy), and both legs run in the one stage (the proxy forwards as data arrives): time = the
// slower leg, under contention with the rest.
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/collectives/pxn_relays.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

FlowPlan lower_all_to_all(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::direct;
  plan.protocol = Protocol::simple;
  const std::size_t n = op.ranks.size();
  if (n < 2) return plan;
  const bool v = traits_of(op.kind).size == SizeConvention::matrix;
  const double each = op.bytes.as_double() / static_cast<double>(n);
  Stage stage;
  bool crosses_nodes = false;
  bool has_pci = false;
  const int node0 = topo.node_of(op.ranks[0]);
  for (std::size_t i = 0; i < n; ++i) {
    crosses_nodes = crosses_nodes || topo.node_of(op.ranks[i]) != node0;
  }
  // PXN relays only through GPUs of the group (NCCL's proxy rank is one of the communicator's).
  const bool pxn = cfg.uses_pxn() && crosses_nodes;
  std::shared_ptr<const PxnRelays> relays;
  if (pxn) {
    std::vector<std::uint32_t> ranks;
    ranks.reserve(n);
    for (RankId r : op.ranks) ranks.push_back(r.value);
    relays = pxn_relays(topo, ranks);
  }
  // Without PXN every pair sends S/n: a large group's stage keeps only its ranks (the flows
  // are listed from them as the loop below would); small ones list their flows.
  constexpr std::size_t kCompactPairs = std::size_t{1} << 16;
  if (!v && !pxn && each > 0 && n * (n - 1) >= kCompactPairs) {
    stage.exchange_ranks.reserve(n);
    for (RankId r : op.ranks) stage.exchange_ranks.push_back(r.value);
    stage.exchange_bytes = each;
  } else {
    stage.flows.reserve(n * (n - 1));
  }
  std::map<std::pair<std::uint32_t, std::uint32_t>, double> nvlink_legs;  // (sender, proxy)
  // Destination-major: routes are tables per destination, so the flows to one destination
  // route through the same (cache-resident) table. At 1024 GPUs this halves routing time.
  for (std::size_t j = 0; j < n && stage.exchange_ranks.empty(); ++j) {
    const std::uint32_t dst = op.ranks[j].value;
    std::map<std::uint32_t, double> relayed;  // proxy -> bytes it sends to dst for others
    const std::size_t first = stage.flows.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i == j) continue;
      const double bytes = v ? static_cast<double>(op.matrix->at(i, j)) : each;
      if (bytes <= 0) continue;
      const std::uint32_t src = op.ranks[i].value;
      if (relays) {
        if (const auto p = relays->proxy_of(i, j)) {
          const std::uint32_t proxy = op.ranks[*p].value;
          nvlink_legs[{src, proxy}] += bytes;
          relayed[proxy] += bytes;
          continue;
        }
      }
      stage.flows.push_back(FlowSpec{src, dst, bytes, Segment::full});
    }
    // The proxy's own transfer to dst, if any, is one message with what it relays.
    for (std::size_t f_index = first; f_index < stage.flows.size() && !relayed.empty(); ++f_index) {
      FlowSpec& f = stage.flows[f_index];
      if (auto it = relayed.find(f.src); it != relayed.end()) {
        f.bytes += it->second;
        relayed.erase(it);
      }
    }
    for (const auto& [proxy, bytes] : relayed) {
      stage.flows.push_back(FlowSpec{proxy, dst, bytes, Segment::full});
    }
  }
  for (const auto& [pair, bytes] : nvlink_legs) {
    stage.flows.push_back(FlowSpec{pair.first, pair.second, bytes, Segment::full});
  }
  if (!crosses_nodes) {
    has_pci = link_class(topo, op.ranks[0].value, op.ranks[1].value) == LinkClass::pci;
  }
  const LinkClass c =
      crosses_nodes ? LinkClass::net : (has_pci ? LinkClass::pci : LinkClass::nvlink);
  stage.latency = SimTime::from_us(cfg.tuning.hw(c, Algorithm::ring, Protocol::simple) +
                                   exchange_posting_us(topo, op, cfg.tuning, false));
  plan.stages.push_back(std::move(stage));
  return plan;
}

}  // namespace moesim::network
