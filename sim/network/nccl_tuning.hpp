// NcclTuning: NCCL's own analytical cost model (NVIDIA/nccl src/graph/tuning.cc, NCCL 2.30 at
// 5067397c), used as the prior of the analytical
// model and as the per-step software latency of the flow model, so both models charge the same
// latencies and pick the same algorithm and protocol.
//
// NCCL's model, per (algorithm, protocol):
//   time_us = latency_us + bytes / (1000 * bw_GBps)
//   ring (all-reduce 2(n-1) steps, all-gather/reduce-scatter n-1):
//     latency = base + (steps - steps_inter) * max(intra_hw, net_overhead) + steps_inter * inter_hw
//     steps_inter = 2(nodes-1) for all-reduce, nodes-1 otherwise
//   tree all-reduce: base + 2 * ((ppn-1) * intra_hw + log2(nodes) * inter_hw)
//   NVLS all-reduce (one node): intra_hw(NVLS) = 25 us
// Bandwidth factors relative to Simple: LL 0.5, LL128 0.92; NVLS moves data at 0.85 of the NVLink
// rate on Hopper (nvlsEfficiency). All latencies in microseconds.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace moesim::network {

enum class Algorithm : std::uint8_t { ring, tree, nvls, direct, hierarchical };
enum class Protocol : std::uint8_t { ll, ll128, simple };
/// The slowest kind of link a step crosses (NCCL's NVLink / PCI / NET latency rows).
enum class LinkClass : std::uint8_t { nvlink, pci, net };

std::string_view to_string(Algorithm a);
std::string_view to_string(Protocol p);

struct NcclTuning {
  // baseLat [Tree, Ring] x [LL, LL128, Simple] (tuning.cc).
  std::array<std::array<double, 3>, 2> base_latency_us{{{6.8, 14.0, 8.4}, {6.6, 14.0, 8.4}}};
  // hwLat [NVLink, PCI, NET] x [Tree, Ring] x [LL, LL128, Simple] (tuning.cc).
  std::array<std::array<std::array<double, 3>, 2>, 3> hw_latency_us{{
      {{{0.6, 1.25, 4.0}, {0.6, 1.9, 3.4}}},
      {{{1.0, 1.9, 4.0}, {1.0, 2.5, 5.7}}},
      {{{5.0, 8.5, 14.0}, {2.7, 4.0, 14.0}}},
  }};
  double nvls_latency_us = 25.0;  // hwLat[NVLink][NVLS][Simple]
  /// CPU cost of posting a network operation, Intel host; x3 for Simple (tuning.cc).
  double net_overhead_us = 1.0;
  double ll_bandwidth_factor = 0.5;      // LL: 8-byte stores carry 4 bytes of data
  double ll128_bandwidth_factor = 0.92;  // ring LL128: min(0.92 * busBw, ...)
  double nvls_efficiency = 0.85;         // Hopper nvlsEfficiency
  /// Tree all-reduce payload rate relative to the link: NCCL converts tree busBw to algbw with
  /// x0.5 and caps it at 0.92 x busBw (tuning.cc), 0.46 in all.
  double tree_bandwidth_factor = 0.46;
  /// Single-node LL cap per GPU arch, GB/s (llMaxBws: Volta 39, Ampere 87.7, Hopper 141).
  double ll_max_gbps = 141.0;

  double base(Algorithm a, Protocol p) const {
    return base_latency_us[a == Algorithm::tree ? 0 : 1][static_cast<int>(p)];
  }
  double hw(LinkClass c, Algorithm a, Protocol p) const {
    return hw_latency_us[static_cast<int>(c)][a == Algorithm::tree ? 0 : 1][static_cast<int>(p)];
  }
  double bandwidth_factor(Protocol p) const {
    return p == Protocol::ll ? ll_bandwidth_factor
                             : (p == Protocol::ll128 ? ll128_bandwidth_factor : 1.0);
  }
  double net_overhead(Protocol p) const {
    return p == Protocol::simple ? 3.0 * net_overhead_us : net_overhead_us;
  }
};

}  // namespace moesim::network
