// NcclTuning: NCCL's own analytical cost model (NVIDIA/nccl src/graph/tuning.cc, NCCL 2.30 at
// 5067397c), used as the prior of the analytical
// model and as the per-step software latency of the flow model, so both models charge the same
// latencies and pick the same algorithm and protocol.
//
// NCCL's model, per (algorithm, protocol):
//   time_us = latency_us + bytes / (1000 * bw_GBps)
//   ring (all-reduce 2(n-1) steps, all-gather/reduce-scatter n-1):
//     latency = base + (steps - steps_inter) * max(intra_hw, net_overhead) + steps_inter * inter_hw
//     steps_inter = 2(nodes-1) for all-reduce, nodes-1 otherwise (today's; older releases'
//     counts and LL factor: nccl_ring_latency.hpp)
//   tree all-reduce: base + 2 * ((ppn-1) * intra_hw + log2(nodes) * inter_hw)
//   NVLS all-reduce (one node): intra_hw(NVLS) = 25 us
// On top of NCCL's table moesim charges what it leaves out, with constants fitted on published
// sweeps (never on the rows they are tested against; traces/reference/README.md):
//   - a start-up per collective (kernel launch, host enqueue), every algorithm; when one host
//     thread drives g GPUs of a node (nccl-tests -g, CollectiveConfig::gpus_per_thread) it
//     launches their kernels one after the other and the collective starts after the last:
//     (g - 1) x the preset's Topology::group_launch_us more (fitted on the 8x V100 sweep, 4.4 us;
//     none on the Hopper presets, whose -g 8 sweeps leave no room for it). Older NCCL versions'
//     tables do not explain the V100 sweep's 48 us floor: NCCL 2.5's (tuning.cc, 2019) charged
//     ring LL 3.6 + 0.4 us per NVLink step, below 2.30's 6.6 + 0.6;
//   - for an all-to-all across nodes, the posting of its network p2p operations, one per peer
//     and GPU sharing the NIC (p2p_posts_per_peer, nccl_cost_model.hpp exchange_posting_us);
//   - NVLS pipelining: each of the channels x heads concurrent NVLS operations moves its share in
//     chunks whose size NCCL grows with the message (enqueue.cc, NVLS branch: 128 KiB, halved
//     while bytes < 64 / 8 / 2 x concurrentOps x chunk, down to 16 KiB); every chunk costs a
//     fixed synchronisation overhead, so mid-size messages (many small chunks) run slower:
//       time = startup + 25 us + chunks_per_op * (chunk / (0.85 B / ops) + chunk_overhead)
//     (ops = channels x n; the last chunk of each pipeline counts whole; S (n+1)/n per link)
// LL128 is a candidate only where NCCL enables it by default (tuning.cc: typeIntra <= PATH_NVB,
// typeInter <= PATH_PXB; GroupBandwidth::ll128_paths in nccl_cost_model.hpp).
// NCCL's ncclTopoGetAlgoTime refinements of the argmin (the tree's per-size bandwidth factors,
// the ring/Simple "plateau" latency factor across nodes) only rank the candidates, as in NCCL:
// NcclChoiceCorrections (nccl_choice_corrections.hpp), NcclTuning::choice.
// Bandwidth factors relative to Simple: LL 0.5, LL128 0.92; NVLS moves data at 0.85 of the NVLink
// rate on Hopper (nvlsEfficiency). All latencies in microseconds.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/core/sim_time.hpp"
#include "sim/network/gpu_generation.hpp"
#include "sim/network/nccl_choice_corrections.hpp"

namespace moesim::network {

/// node_relay: DeepEP's normal kernels (CommOp::relay), not an NCCL algorithm.
enum class Algorithm : std::uint8_t { ring, tree, nvls, direct, hierarchical, node_relay };
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
  /// Start-up of every collective beyond NCCL's latency table (launch, enqueue, first
  /// synchronisation). Fitted with nvls_chunk_overhead_us (least squares on the relative time
  /// error, 12 rows 1 KiB - 8 GiB) on the 8x H200 NVLS sweep,
  /// traces/reference/nd_h200_v5_all_reduce.csv: alpha = 27.0 us = 25 (NVLS hw latency) + 2.0.
  /// Held out: the 8x H100 sweep (tests/validation/network_accuracy_test.cpp).
  double startup_us = 2.0;
  /// NVLS channels (CTAs) on SM90: NVLS_NCHANNELS_SM90 16 (NVIDIA/nccl src/transport/nvls.cc).
  int nvls_channels = 16;
  /// Largest NVLS chunk, bytes: maxChunkSize 131072 (NVIDIA/nccl src/enqueue.cc, NVLS branch).
  double nvls_max_chunk_bytes = 131072.0;
  /// Smallest NVLS chunk NCCL halves down to: 16384 bytes (same branch).
  double nvls_min_chunk_bytes = 16384.0;
  /// Fixed cost of one NVLS chunk per (channel, head) pipeline, us. Fitted with startup_us on the
  /// 8x H200 sweep (see startup_us).
  double nvls_chunk_overhead_us = 3.5;
  /// CPU cost of posting a network operation, Intel host; x3 for Simple (tuning.cc).
  double net_overhead_us = 1.0;
  /// AMD hosts cost twice as much per network operation (tuning.cc, getNetOverhead: 1.0 us
  /// Intel, 2.0 AMD); the host is Topology::cpu_vendor (a preset's "cpu_vendor").
  double amd_net_overhead_factor = 2.0;
  /// All-to-all start-up: NCCL runs an all-to-all as grouped ncclSend/ncclRecv, one p2p
  /// operation per peer (src/enqueue.cc, p2p tasks; the network ones are driven by each rank's
  /// proxy thread, src/proxy.cc), and the operations of every GPU sharing a NIC are posted
  /// through it before their data flows ("with PXN enabled all traffic will go through NVLink
  /// to the GPU closer to the NIC, which will also only use a single CPU thread for all
  /// traffic", sjeaugey, NVIDIA/nccl issue #780, on 8 GPUs sharing one NIC). Charged per network
  /// peer of the busiest rank, times the GPUs sharing its NIC, at this many Simple network posts
  /// (net_overhead x 3) each.
  /// Fitted on ONE row: FSMoE's Testbed-A all-to-all alpha (Pan et al., ASPLOS 2025, Fig. 5:
  /// 0.287 ms; 6 nodes, 8 GPUs on one NIC, AMD host: 5 peers x 8 GPUs = 40 posts at 6 us, on top
  /// of the 19 us the rest of the model charges): (287 - 19) / 240 = 1.12, i.e. about one Simple
  /// post per peer, as the mechanism says. Held out: Testbed-B's a2a alpha (0.175 ms, 8 nodes,
  /// 4 GPUs per NIC, host vendor not published so NCCL's Intel default; model 0.112 ms, -36%)
  /// in traces/reference/claims/fsmoe-alpha-beta.json, and nccl-tests alltoall on 8 x 8 H800
  /// at 8 MiB (NVIDIA/nccl issue #1531: 337.8 us; tests/sim/network/all_to_all_startup_test.cpp).
  double p2p_posts_per_peer = 1.12;
  /// LL intra-node latency factor across nodes up to NCCL 2.17 (tuning.cc, `if (nNodes > 1 &&
  /// p == NCCL_PROTO_LL) intraLat *= 1.8`; nccl_ring_latency.hpp).
  double pre_2_18_ll_intra_factor = 1.8;
  double ll_bandwidth_factor = 0.5;      // LL: 8-byte stores carry 4 bytes of data
  double ll128_bandwidth_factor = 0.92;  // ring LL128: min(0.92 * busBw, ...)
  double nvls_efficiency = 0.85;         // Hopper nvlsEfficiency
  /// Tree all-reduce payload rate relative to the link: NCCL converts tree busBw to algbw with
  /// x0.5 and caps it at 0.92 x busBw (tuning.cc), 0.46 in all.
  double tree_bandwidth_factor = 0.46;
  /// Single-node LL cap per GPU generation, GB/s (tuning.cc llMaxBws, one-node column: Volta
  /// 39.0, Ampere 87.7, Hopper 141.0), indexed by GpuGeneration.
  std::array<double, 3> ll_max_gbps_by_generation{39.0, 87.7, 141.0};
  /// LL cap across nodes, GB/s, by host CPU and node count (NVIDIA/nccl src/graph/tuning.cc,
  /// llMaxBws rows 0 and 1, columns N2 / N4, and ncclTopoTuneModel: "for multi-node, we look at
  /// CPU type", index2 = nNodes <= 2 ? nNodes-1 : 2). Intel hosts 39.0 on two nodes and 20.4 on
  /// more; AMD hosts 22.5 and 19.0.
  double ll_max_gbps_intel_two_nodes = 39.0;
  double ll_max_gbps_intel_more_nodes = 20.4;
  double ll_max_gbps_amd_two_nodes = 22.5;
  double ll_max_gbps_amd_more_nodes = 19.0;
  /// The per-size factors NCCL's model applies before its argmin, and only there.
  NcclChoiceCorrections choice;

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
  /// NVLS chunk size for a `bytes` all-reduce over `concurrent_ops` = channels x heads
  /// (enqueue.cc: halve 128 KiB while bytes < 64, 8, 2 x concurrent_ops x chunk).
  double nvls_chunk_bytes(double bytes, double concurrent_ops) const {
    double chunk = nvls_max_chunk_bytes;
    for (double factor : {64.0, 8.0, 2.0}) {
      if (chunk > nvls_min_chunk_bytes && bytes < factor * concurrent_ops * chunk) chunk /= 2.0;
    }
    return chunk;
  }
  /// Chunks each (channel, head) pipeline of an n-GPU NVLS all-reduce of `bytes` moves (>= 1):
  /// every GPU link carries bytes (n+1)/n, split over channels x n heads.
  double nvls_chunks_per_op(double bytes, std::size_t n) const {
    const double ops = static_cast<double>(nvls_channels) * static_cast<double>(n);
    const double per_op = nvls_link_payload(bytes, n) / ops;
    return std::max(1.0, std::ceil(per_op / nvls_chunk_bytes(bytes, ops)));
  }
  /// Payload per GPU link and direction of an n-GPU NVLS all-reduce: bytes (n+1)/n.
  static double nvls_link_payload(double bytes, std::size_t n) {
    const double nd = static_cast<double>(n);
    return bytes * (nd + 1.0) / nd;
  }
  /// What a GPU link carries, in whole chunk steps: the pipelines advance in lockstep steps of
  /// one chunk, so the last, partial chunk of each costs a whole step (the quantisation the
  /// constants were fitted with).
  double nvls_link_bytes(double bytes, std::size_t n) const {
    const double ops = static_cast<double>(nvls_channels) * static_cast<double>(n);
    const double per_op = nvls_link_payload(bytes, n) / ops;
    const double step = std::min(per_op, nvls_chunk_bytes(bytes, ops));
    return nvls_chunks_per_op(bytes, n) * step * ops;
  }
  /// Latency part of an NVLS all-reduce (everything but link bytes / bandwidth), without
  /// startup_us.
  double nvls_fixed_us(double bytes, std::size_t n) const {
    return nvls_latency_us + nvls_chunks_per_op(bytes, n) * nvls_chunk_overhead_us;
  }
  double ll_max_gbps(GpuGeneration g) const {
    return ll_max_gbps_by_generation[static_cast<std::size_t>(g)];
  }
  /// The most a GPU moves per second of a collective's bus bytes under the LL protocol, in B/s:
  /// NCCL's llMaxBw, a ceiling on LL's payload rate whatever the links allow (its flag-per-8-byte
  /// stores and polling loads, not the wire, set it). Both network models charge it: the
  /// analytical argmin caps LL's bus bandwidth with it (nccl_cost_model.cpp) and the flow
  /// lowerings give every LL stage at least its bytes over it (Stage::min_transfer), so the two
  /// agree on LL-sized collectives.
  /// One node: the GPU generation decides; across nodes the host CPU (`amd_host`, the preset's
  /// cpu_vendor) and whether more than two nodes take part.
  double ll_max_bps(GpuGeneration g, std::size_t nodes, bool amd_host) const {
    if (nodes <= 1) return ll_max_gbps(g) * 1e9;
    const bool two = nodes == 2;
    const double gbps = amd_host
                            ? (two ? ll_max_gbps_amd_two_nodes : ll_max_gbps_amd_more_nodes)
                            : (two ? ll_max_gbps_intel_two_nodes : ll_max_gbps_intel_more_nodes);
    return gbps * 1e9;
  }
  /// The shortest time a flow stage that moves `bus_bytes` per GPU (payload, before the
  /// protocol's wire overhead) can take under `p`: bus_bytes / ll_max_bps for LL, none otherwise.
  SimTime protocol_min_transfer(Protocol p, GpuGeneration g, std::size_t nodes, bool amd_host,
                                double bus_bytes) const {
    if (p != Protocol::ll || bus_bytes <= 0.0) return SimTime::zero();
    return SimTime::from_us(bus_bytes / ll_max_bps(g, nodes, amd_host) * 1e6);
  }
  double net_overhead(Protocol p, bool amd_host = false) const {
    const double per_op = amd_host ? net_overhead_us * amd_net_overhead_factor : net_overhead_us;
    return p == Protocol::simple ? 3.0 * per_op : per_op;
  }
};

}  // namespace moesim::network
