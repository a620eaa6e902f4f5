#include "sim/network/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <limits>
#include <map>
#include <numeric>

#include "sim/core/errors.hpp"
#include "sim/network/collectives/pxn_relays.hpp"
#include "sim/network/collectives/ring_search.hpp"
#include "sim/network/shortest_path_router.hpp"

namespace moesim::network {

std::string_view to_string(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::gpu:
      return "gpu";
    case DeviceKind::nvswitch:
      return "nvswitch";
    case DeviceKind::pcie_switch:
      return "pcie_switch";
    case DeviceKind::cpu:
      return "cpu";
    case DeviceKind::nic:
      return "nic";
    case DeviceKind::leaf_switch:
      return "leaf_switch";
    case DeviceKind::spine_switch:
      return "spine_switch";
    case DeviceKind::host_memory:
      return "host_memory";
  }
  return "?";
}

std::optional<DeviceKind> parse_device_kind(std::string_view name) {
  for (auto k : {DeviceKind::gpu, DeviceKind::nvswitch, DeviceKind::pcie_switch, DeviceKind::cpu,
                 DeviceKind::nic, DeviceKind::leaf_switch, DeviceKind::spine_switch,
                 DeviceKind::host_memory}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view to_string(LinkKind kind) {
  switch (kind) {
    case LinkKind::nvlink:
      return "nvlink";
    case LinkKind::pcie:
      return "pcie";
    case LinkKind::cpu:
      return "cpu";
    case LinkKind::network:
      return "network";
  }
  return "?";
}

std::optional<LinkKind> parse_link_kind(std::string_view name) {
  for (auto k : {LinkKind::nvlink, LinkKind::pcie, LinkKind::cpu, LinkKind::network}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

Topology::Topology(std::string name, std::string gpu_model)
    : name_(std::move(name)), gpu_model_(std::move(gpu_model)) {}
void Topology::reserve(std::size_t devices, std::size_t links) {
  devices_.reserve(devices);
  by_name_.reserve(devices);
  links_.reserve(links);
}

DeviceIndex Topology::add_device(Device device) {
  MOESIM_CHECK(!finalized(), "add_device after finalize");
  const auto index = static_cast<DeviceIndex>(devices_.size());
  MOESIM_CHECK(by_name_.emplace(device.name, index).second, "duplicate device name {}",
               device.name);
  devices_.push_back(std::move(device));
  return index;
}

LinkIndex Topology::add_link(DeviceIndex a, DeviceIndex b, LinkSpec spec) {
  MOESIM_CHECK(!finalized(), "add_link after finalize");
  MOESIM_CHECK(a < devices_.size() && b < devices_.size() && a != b, "bad link {} - {}", a, b);
  MOESIM_CHECK(spec.bandwidth.bytes_per_s > 0 && spec.efficiency > 0 && spec.efficiency <= 1,
               "bad link spec");
  links_.push_back(Link{a, b, spec});
  return static_cast<LinkIndex>(links_.size() - 1);
}

void Topology::add_source(std::string key, std::string text) {
  sources_.emplace_back(std::move(key), std::move(text));
}

std::optional<DeviceIndex> Topology::find_device(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

DeviceIndex Topology::head_of(DirectedLinkId d) const {
  const Link& l = links_[d / 2];
  return d % 2 == 0 ? l.b : l.a;
}

DeviceIndex Topology::tail_of(DirectedLinkId d) const {
  const Link& l = links_[d / 2];
  return d % 2 == 0 ? l.a : l.b;
}

bool Topology::node_has_nvswitch(int node) const {
  return node >= 0 && static_cast<std::size_t>(node) < node_has_nvswitch_.size() &&
         node_has_nvswitch_[static_cast<std::size_t>(node)] != 0;
}

void Topology::set_router(std::shared_ptr<const Router> router) {
  MOESIM_CHECK(finalized() && router != nullptr, "set_router before finalize");
  router_ = std::move(router);
}

void Topology::finalize(std::string_view origin) {
  ring_set_memo_ = std::make_shared<RingSetMemo>();
  pxn_relay_memo_ = std::make_shared<PxnRelayMemo>();
  MOESIM_CHECK(!finalized(), "finalize twice");
  gpus_.clear();
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    const Device& d = devices_[i];
    if (d.kind != DeviceKind::gpu) continue;
    if (d.node < 0) {
      throw input_error(origin, fmt::format("/devices/{}", i), "GPU outside any node",
                        fmt::format("node {}", d.node), "node >= 0");
    }
    gpus_.push_back(static_cast<DeviceIndex>(i));
  }
  if (gpus_.empty()) {
    throw input_error(origin, "/devices", "no GPU", "0 devices of kind \"gpu\"", "at least one");
  }
  // Nodes: dense 0..k-1, same GPU count each.
  std::map<int, std::size_t> per_node;
  for (DeviceIndex g : gpus_) ++per_node[devices_[g].node];
  node_count_ = per_node.size();
  if (per_node.rbegin()->first != static_cast<int>(node_count_) - 1) {
    throw input_error(
        origin, "/devices", "node numbers are not dense",
        fmt::format("{} nodes numbered up to {}", node_count_, per_node.rbegin()->first),
        fmt::format("nodes 0..{}", node_count_ - 1));
  }
  const std::size_t per = per_node.begin()->second;
  for (const auto& [node, count] : per_node) {
    if (count != per) {
      throw input_error(origin, "/devices", fmt::format("node {} has a different GPU count", node),
                        fmt::format("{}", count), fmt::format("{} as node 0", per));
    }
  }
  local_rank_.assign(gpus_.size(), 0);
  std::map<int, std::uint32_t> seen;
  for (std::size_t r = 0; r < gpus_.size(); ++r) local_rank_[r] = seen[devices_[gpus_[r]].node]++;

  node_has_nvswitch_.assign(node_count_, 0);
  network_injection_.assign(node_count_, 0.0);
  node_network_effective_.assign(node_count_, 0.0);
  std::vector<double> device_injection(devices_.size(), 0.0);
  for (const Link& l : links_) {
    device_injection[l.a] += l.spec.bandwidth.bytes_per_s;
    device_injection[l.b] += l.spec.bandwidth.bytes_per_s;
    if (l.spec.kind != LinkKind::network) continue;
    for (DeviceIndex end : {l.a, l.b}) {
      const Device& d = devices_[end];
      if (d.kind == DeviceKind::nic && d.node >= 0 &&
          static_cast<std::size_t>(d.node) < node_count_) {
        network_injection_[static_cast<std::size_t>(d.node)] += l.spec.bandwidth.bytes_per_s;
        node_network_effective_[static_cast<std::size_t>(d.node)] += l.spec.effective().bytes_per_s;
      }
    }
  }
  for (double& v : network_injection_) v /= static_cast<double>(per);
  for (const Device& d : devices_) {
    if (d.kind == DeviceKind::nvswitch && d.node >= 0 &&
        static_cast<std::size_t>(d.node) < node_count_) {
      node_has_nvswitch_[static_cast<std::size_t>(d.node)] = 1;
    }
  }
  gpu_injection_.resize(gpus_.size());
  for (std::size_t r = 0; r < gpus_.size(); ++r) gpu_injection_[r] = device_injection[gpus_[r]];
  check_gpus_reach_each_other(origin);
  index_host_memory(origin);
  router_ = std::make_shared<ShortestPathRouter>(devices_, links_);
  check_shm_routes(origin);
}

void Topology::index_host_memory(std::string_view origin) {
  host_memory_in_.assign(devices_.size(), kNoLink);
  cpu_uplink_.assign(devices_.size(), kNoLink);
  node_uses_shm_.assign(node_count_, 0);
  std::vector<int> links_of(devices_.size(), 0);
  for (const Link& l : links_) {
    ++links_of[l.a];
    ++links_of[l.b];
  }
  for (LinkIndex i = 0; i < links_.size(); ++i) {
    const Link& l = links_[i];
    const DeviceKind ka = devices_[l.a].kind;
    const DeviceKind kb = devices_[l.b].kind;
    // Directed link 2i runs a -> b, 2i + 1 runs b -> a.
    if (kb == DeviceKind::host_memory || ka == DeviceKind::host_memory) {
      const bool b_is_memory = kb == DeviceKind::host_memory;
      const DeviceIndex memory = b_is_memory ? l.b : l.a;
      const DeviceIndex cpu = b_is_memory ? l.a : l.b;
      if (devices_[cpu].kind != DeviceKind::cpu || links_of[memory] != 1) {
        throw input_error(
            origin, fmt::format("/devices/{}", memory),
            fmt::format("host_memory \"{}\" must hang off one CPU", devices_[memory].name),
            fmt::format("{} link(s), to a {}", links_of[memory], to_string(devices_[cpu].kind)),
            "exactly one link, to a device of kind cpu");
      }
      host_memory_in_[cpu] = b_is_memory ? 2 * i : 2 * i + 1;
      const int node = devices_[memory].node;
      if (node >= 0 && static_cast<std::size_t>(node) < node_count_) {
        node_uses_shm_[static_cast<std::size_t>(node)] = 1;
      }
    }
    if (ka == DeviceKind::pcie_switch && kb == DeviceKind::cpu && cpu_uplink_[l.a] == kNoLink) {
      cpu_uplink_[l.a] = 2 * i;
    }
    if (kb == DeviceKind::pcie_switch && ka == DeviceKind::cpu && cpu_uplink_[l.b] == kNoLink) {
      cpu_uplink_[l.b] = 2 * i + 1;
    }
  }
  if (std::none_of(node_uses_shm_.begin(), node_uses_shm_.end(), [](char c) { return c != 0; })) {
    node_uses_shm_.clear();  // route() then skips the SHM test with one check
  }
  for (std::size_t d = 0; d < devices_.size(); ++d) {
    if (devices_[d].kind == DeviceKind::host_memory && links_of[d] == 0) {
      throw input_error(origin, fmt::format("/devices/{}", d),
                        fmt::format("host_memory \"{}\" is not cabled", devices_[d].name),
                        "no link", "one link to a device of kind cpu");
    }
  }
}

// Every SHM pair of node 0 (all nodes of a generated cluster are copies of it) must reach a CPU
// with host memory: otherwise its transfers would silently keep a P2P route.
void Topology::check_shm_routes(std::string_view origin) const {
  if (!node_uses_shm(0)) return;
  const std::size_t per = gpus_per_node();
  std::vector<DirectedLinkId> path;
  for (std::uint32_t a = 0; a < per; ++a) {
    for (std::uint32_t b = 0; b < per; ++b) {
      if (a == b || !is_shm_pair(RankId{a}, RankId{b})) continue;
      path.clear();
      router_->route(RankId{a}, RankId{b}, path);
      if (divert_through_host(path, 0)) continue;
      throw input_error(origin, fmt::format("/devices/{}", gpus_[a]),
                        fmt::format("GPUs \"{}\" and \"{}\" have no P2P (the node has "
                                    "host_memory) but their route reaches no CPU with host memory",
                                    devices_[gpus_[a]].name, devices_[gpus_[b]].name),
                        "a P2P-only route", "a host_memory device on the CPU above them");
    }
  }
}

bool Topology::divert_through_host(std::vector<DirectedLinkId>& out, std::size_t begin) const {
  // The destination's local CPU: the last CPU the route enters...
  DeviceIndex cpu = ~DeviceIndex{0};
  for (std::size_t i = begin; i < out.size(); ++i) {
    const DeviceIndex v = head_of(out[i]);
    if (devices_[v].kind == DeviceKind::cpu) cpu = v;
  }
  if (cpu == ~DeviceIndex{0}) {
    // ...or, for a pair under one PCIe switch, the CPU above the switch where the route turns:
    // up to it and back down (NCCL's addInterStep through the CPU).
    for (std::size_t i = begin; i < out.size(); ++i) {
      const DeviceIndex v = head_of(out[i]);
      if (cpu_uplink_[v] == kNoLink) continue;
      const DirectedLinkId up = cpu_uplink_[v];
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i) + 1, {up, up ^ 1u});
      cpu = head_of(up);
      break;
    }
  }
  if (cpu == ~DeviceIndex{0} || host_memory_in_[cpu] == kNoLink) return false;
  // The sender's write into the SHM buffer and the receiver's read from it.
  out.push_back(host_memory_in_[cpu]);
  out.push_back(host_memory_in_[cpu]);
  return true;
}

bool Topology::node_uses_shm(int node) const {
  return node >= 0 && static_cast<std::size_t>(node) < node_uses_shm_.size() &&
         node_uses_shm_[static_cast<std::size_t>(node)] != 0;
}

bool Topology::is_shm_pair(RankId src, RankId dst) const {
  if (src == dst || !node_uses_shm(node_of(src)) || node_of(src) != node_of(dst)) return false;
  std::vector<DirectedLinkId> path;
  router_->route(src, dst, path);
  return !std::all_of(path.begin(), path.end(), [&](DirectedLinkId d) {
    return links_[d / 2].spec.kind == LinkKind::nvlink;
  });
}

// Two GPUs reach each other without passing through a third GPU iff they share a link or touch
// the same connected part of the graph of non-GPU devices (union-find over devices + links).
void Topology::check_gpus_reach_each_other(std::string_view origin) const {
  std::vector<DeviceIndex> parent(devices_.size());
  std::iota(parent.begin(), parent.end(), DeviceIndex{0});
  auto root = [&](DeviceIndex v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  };
  const auto is_gpu = [&](DeviceIndex v) { return devices_[v].kind == DeviceKind::gpu; };
  for (const Link& l : links_) {
    if (!is_gpu(l.a) && !is_gpu(l.b)) parent[root(l.a)] = root(l.b);
  }
  // Per GPU: the parts it touches and its GPU neighbours, sorted.
  std::vector<std::vector<DeviceIndex>> parts(gpus_.size());
  std::vector<std::vector<DeviceIndex>> direct(gpus_.size());
  std::vector<std::int64_t> rank_of(devices_.size(), -1);
  for (std::size_t r = 0; r < gpus_.size(); ++r) rank_of[gpus_[r]] = static_cast<std::int64_t>(r);
  for (const Link& l : links_) {
    for (auto [from, to] : {std::pair{l.a, l.b}, std::pair{l.b, l.a}}) {
      if (!is_gpu(from)) continue;
      auto& list = is_gpu(to) ? direct[static_cast<std::size_t>(rank_of[from])]
                              : parts[static_cast<std::size_t>(rank_of[from])];
      list.push_back(is_gpu(to) ? to : root(to));
    }
  }
  for (auto& p : parts) {
    std::sort(p.begin(), p.end());
    p.erase(std::unique(p.begin(), p.end()), p.end());
  }
  // Common case: one part every GPU touches.
  std::vector<DeviceIndex> common = parts[0];
  for (std::size_t r = 1; r < parts.size() && !common.empty(); ++r) {
    std::vector<DeviceIndex> both;
    std::set_intersection(common.begin(), common.end(), parts[r].begin(), parts[r].end(),
                          std::back_inserter(both));
    common.swap(both);
  }
  if (!common.empty()) return;
  const auto reach = [&](std::size_t a, std::size_t b) {
    if (a == b) return true;
    if (std::find(direct[a].begin(), direct[a].end(), gpus_[b]) != direct[a].end()) return true;
    std::vector<DeviceIndex> both;
    std::set_intersection(parts[a].begin(), parts[a].end(), parts[b].begin(), parts[b].end(),
                          std::back_inserter(both));
    return !both.empty();
  };
  for (std::size_t dst = 0; dst < gpus_.size(); ++dst) {
    for (std::size_t src = 0; src < gpus_.size(); ++src) {
      if (reach(src, dst)) continue;
      throw input_error(origin, fmt::format("/devices/{}", gpus_[src]),
                        fmt::format("GPU \"{}\" cannot reach GPU \"{}\"", devices_[gpus_[src]].name,
                                    devices_[gpus_[dst]].name),
                        "no path that avoids passing through other GPUs",
                        "every GPU connected to every other");
    }
  }
}

void Topology::route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const {
  MOESIM_CHECK(finalized(), "route before finalize");
  MOESIM_CHECK(src.index() < gpus_.size() && dst.index() < gpus_.size(), "rank out of range");
  const std::size_t begin = out.size();
  router_->route(src, dst, out);
  if (node_uses_shm_.empty() || src == dst) return;
  const int node = node_of(src);
  if (!node_uses_shm(node) || node != node_of(dst)) return;
  const bool nvlink_only =
      std::all_of(out.begin() + static_cast<std::ptrdiff_t>(begin), out.end(),
                  [&](DirectedLinkId d) { return links_[d / 2].spec.kind == LinkKind::nvlink; });
  if (!nvlink_only) divert_through_host(out, begin);
}

std::vector<DirectedLinkId> Topology::route(RankId src, RankId dst) const {
  std::vector<DirectedLinkId> out;
  route(src, dst, out);
  return out;
}

SimTime Topology::route_latency(RankId src, RankId dst) const {
  SimTime total = SimTime::zero();
  for (DirectedLinkId d : route(src, dst)) total += links_[d / 2].spec.latency;
  return total;
}

// A link crossed k times (an SHM route's host memory) gives the flow capacity / k.
Bandwidth Topology::route_bandwidth(RankId src, RankId dst) const {
  double best = std::numeric_limits<double>::infinity();
  const std::vector<DirectedLinkId> path = route(src, dst);
  for (DirectedLinkId d : path) {
    const auto times = std::count(path.begin(), path.end(), d);
    best = std::min(best, capacity(d) / static_cast<double>(times));
  }
  return {best};
}

Bandwidth Topology::gpu_injection(RankId rank) const { return {gpu_injection_[rank.index()]}; }

Bandwidth Topology::gpu_network_injection(RankId rank) const {
  return {network_injection_[static_cast<std::size_t>(node_of(rank))]};
}

namespace {

// The max-flow network of bisection_bandwidth() as a compressed sparse row graph: arcs stored
// by source in flat arrays (an adjacency_list allocates every edge's properties on its own:
// 1.7 M allocations for a 16,384-GPU cluster).
struct FlowArc;
using FlowGraph =
    boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, FlowArc,
                                       boost::no_property, std::uint32_t, std::uint32_t>;
struct FlowArc {
  std::int64_t capacity = 0;
  std::int64_t residual = 0;
  boost::graph_traits<FlowGraph>::edge_descriptor reverse;
};

}  // namespace

Bandwidth Topology::bisection_bandwidth() const {
  if (gpus_.size() < 2) return {0.0};
  const std::size_t n = devices_.size();
  const auto source = static_cast<std::uint32_t>(n);
  const auto sink = static_cast<std::uint32_t>(n + 1);
  // Capacities in MB/s as integers so the max flow is exact (links are 1 MB/s to 1e9 MB/s).
  // Boost's push-relabel wants every arc paired with a reverse arc of capacity 0: its
  // preflow-to-flow conversion returns excess only along capacity-0 arcs, so a full-duplex link
  // written as two capacity-c arcs that are each other's reverse leaves excess stranded and
  // fails the algorithm's own is_flow() check (the value was right, the flow was not).
  struct Arc {
    std::uint32_t from;
    std::uint32_t to;
    std::int64_t capacity;
  };
  std::vector<Arc> arcs;  // arc 2k and 2k+1 are each other's reverse
  arcs.reserve(4 * links_.size() + 2 * gpus_.size());
  const auto add_arc = [&](std::uint32_t from, std::uint32_t to, std::int64_t capacity) {
    arcs.push_back({from, to, capacity});
    arcs.push_back({to, from, 0});
  };
  std::vector<std::int64_t> incident(n, 0);
  for (const Link& l : links_) {
    const auto c = static_cast<std::int64_t>(std::llround(l.spec.bandwidth.bytes_per_s / 1e6));
    add_arc(l.a, l.b, c);
    add_arc(l.b, l.a, c);
    incident[l.a] += c;
    incident[l.b] += c;
  }
  // A GPU cannot send or receive more than its links carry, so that sum is an unbinding source
  // and sink capacity; a fixed "infinite" one would overflow Boost's int64 excess sum on large
  // clusters (2^50 per GPU passes int64 beyond 8192 GPUs).
  const std::size_t half = gpus_.size() / 2;
  for (std::size_t r = 0; r < gpus_.size(); ++r) {
    const DeviceIndex gpu = gpus_[r];
    if (r < half) {
      add_arc(source, gpu, incident[gpu]);
    } else {
      add_arc(gpu, sink, incident[gpu]);
    }
  }
  // Counting sort of the arcs by source (stable, so the search order is the arc order), and
  // where each arc lands, to pair it with its reverse.
  std::vector<std::uint32_t> offset(n + 3, 0);
  for (const Arc& a : arcs) ++offset[a.from + 1];
  for (std::size_t v = 0; v + 1 < offset.size(); ++v) offset[v + 1] += offset[v];
  std::vector<std::uint32_t> position(arcs.size());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sorted(arcs.size());
  {
    std::vector<std::uint32_t> fill(offset.begin(), offset.end() - 1);
    for (std::size_t k = 0; k < arcs.size(); ++k) {
      position[k] = fill[arcs[k].from]++;
      sorted[position[k]] = {arcs[k].from, arcs[k].to};
    }
  }
  std::vector<FlowArc> props(arcs.size());
  for (std::size_t k = 0; k < arcs.size(); ++k) {
    FlowArc& p = props[position[k]];
    p.capacity = arcs[k].capacity;
    const std::uint32_t partner = position[k ^ 1];
    p.reverse = boost::graph_traits<FlowGraph>::edge_descriptor(arcs[k ^ 1].from, partner);
  }
  arcs = {};
  FlowGraph g(boost::edges_are_sorted, sorted.begin(), sorted.end(), props.begin(), n + 2);
  sorted = {};
  props = {};
  const std::int64_t flow = boost::push_relabel_max_flow(
      g, source, sink, boost::get(&FlowArc::capacity, g), boost::get(&FlowArc::residual, g),
      boost::get(&FlowArc::reverse, g), boost::get(boost::vertex_index, g));
  return {static_cast<double>(flow) * 1e6};
}

}  // namespace moesim::network
