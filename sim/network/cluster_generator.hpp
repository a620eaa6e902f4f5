// Cluster generator: N copies of a one-node topology joined by an InfiniBand/Ethernet fabric, for
// hypothetical clusters (`moesim topology generate`).
//
// Fabrics:
//  - rail_optimized (NVIDIA DGX SuperPOD): nodes are grouped into scalable units of
//    `nodes_per_unit` (32 DGX per SU in the DGX H100 SuperPOD reference architecture); NIC i of
//    every node in a unit is cabled to that unit's leaf i ("rail" i). Every leaf connects to every
//    spine; spines = max(1, leaves / 2), as the SuperPOD tables (32 leaves -> 16 spines for 128
//    nodes). Each leaf's uplink capacity is its downlink capacity divided by the
//    oversubscription ratio, split evenly over the spines.
//  - single_switch: every NIC on one non-blocking switch (oversubscription must be 1).
// Devices of node k are named "n<k>.<name in the node file>"; network links get the NIC port rate
// (from the node file's NIC `port_gbit_per_s`, or `nic_gbit_per_s` when given).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "sim/core/sim_time.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

/// Most nodes a generated cluster has (--nodes, topology generate, sweep grids). Generated
/// clusters route from their structure (fabric_router.hpp), so generation grows linearly: 2048
/// DGX-H100 nodes (16,384 GPUs) take 0.06 s and 49 MB of CPU (bench/network_bench.cpp). 4096
/// nodes (32,768 GPUs) bounds it; the memory budget (memory_budget.hpp) refuses a cluster that
/// would not fit before any is built.
inline constexpr std::int64_t kMaxClusterNodes = 4096;

enum class Fabric : std::uint8_t { rail_optimized, single_switch };
std::string_view to_string(Fabric fabric);
std::optional<Fabric> parse_fabric(std::string_view name);

struct ClusterSpec {
  std::size_t nodes = 1;
  Fabric fabric = Fabric::rail_optimized;
  /// Leaf downlink : uplink capacity, e.g. 2.0 for "2:1". 1.0 = non-blocking.
  double oversubscription = 1.0;
  /// Overrides every NIC's port rate (Gb/s, gigabits: NDR = 400).
  std::optional<double> nic_gbit_per_s;
  std::size_t nodes_per_unit = 32;
  /// Per network link traversal: InfiniBand switch latency, HDR 600 ns (stas00 ml-engineering
  /// network/README.md latency table; NDR unpublished, same value assumed).
  SimTime link_latency = SimTime::from_ns(600);
  /// Achievable payload fraction of a port: "up to 48-49GB/s per NIC" on 400 Gb/s NDR (50 GB/s)
  /// (NVIDIA, NVIDIA/nccl-tests#267) -> 48.5 / 50 = 0.97.
  double link_efficiency = 0.97;
};

/// What a generated cluster was generated from.
struct GeneratedFrom {
  Topology node;
  ClusterSpec spec;
};

/// True if `a` and `b` have the same devices and links in the same order with the same route
/// weights, hence the same routes (a cluster file read back, or edited by hand, against its
/// regeneration).
bool same_routing_structure(const Topology& a, const Topology& b);

/// `node` must be a finalized one-node topology with at least one NIC. Returns a finalized
/// cluster. Throws InputError (path = the flag) on a spec that cannot be built.
Topology generate_cluster(const Topology& node, const ClusterSpec& spec);

}  // namespace moesim::network
