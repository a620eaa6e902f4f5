#pragma once
// The NCCL release a collective runs under, for the features that decide what NCCL can pick on
// the topologies moesim models. A published measurement ran one release; checking it against
// today's protocol set would compare a configuration that was never measured.
#include <string>
#include <string_view>

namespace moesim::network {

struct NcclRelease {
  /// 0.0.0: today's NCCL (every feature below). Otherwise the release, e.g. 2.4.8.
  int major = 0;
  int minor = 0;
  int patch = 0;

  bool is_latest() const { return major == 0; }
  bool at_least(int want_major, int want_minor) const {
    return is_latest() || major > want_major || (major == want_major && minor >= want_minor);
  }
  /// LL128 first shipped in 2.5.6: NVIDIA/nccl v2.5.6 src/include/devcomm.h defines
  /// NCCL_PROTO_LL128 (three protocols); v2.4.8's init.cc and enqueue.cc know only the LL
  /// threshold (llThreshold) and Simple.
  bool has_ll128() const { return at_least(2, 5); }
  /// NCCL 2.4 (v2.4.8 src/init.cc, ncclTreeThreshold) sets the tree threshold to 0 when the
  /// communicator has fewer than two nodes: its tree all-reduce ran only across nodes. 2.5
  /// replaced the thresholds by the cost model of src/graph/tuning.cc, which moesim's argmin
  /// follows for every later release (nccl_tuning.hpp).
  bool has_intra_node_tree() const { return at_least(2, 5); }
  /// PXN: NCCL 2.12 (release notes; flow_plan.hpp CollectiveConfig::pxn).
  bool has_pxn() const { return at_least(2, 12); }
  /// NVLink SHARP (NVLS): NCCL 2.17 (release notes: "Add support for NVLink SHARP").
  bool has_nvls() const { return at_least(2, 17); }
  /// The ring latency of tuning.cc across nodes (nccl_ring_latency.hpp). From 2.19 (assumed:
  /// the copies read are 2.17, without it, and 2.23+ with PAT, with it; the release in between
  /// that added getNetOverhead was not pinned) every intra-node step costs at least the
  /// network post overhead and LL's intra latency loses its x1.8.
  bool ring_latency_has_net_overhead() const { return at_least(2, 19); }
  /// A ring all-reduce across nodes counts 2 x nodes network steps, not 2 (nodes - 1): in the
  /// tuning.cc copies of the single NCCL_ALGO_COLLNET era (graph->speedIntra) and of 2.17 (NVLS,
  /// no NVLS tree), not in the 2.7/2.8 copy (ncclCollAllReduce, compCap80). First release
  /// assumed 2.9 (not pinned between 2.8 and the COLLNET-era copy); gone from 2.19 on.
  bool ring_all_reduce_counts_2n_inter_steps() const {
    return at_least(2, 9) && !ring_latency_has_net_overhead();
  }
};

/// "latest", "X.Y" or "X.Y.Z" (major 2: NCCL 1 has none of this model's algorithms); anything
/// else throws the InputError "<flag>: ... (got X, expected Y)".
NcclRelease parse_nccl_release(std::string_view text, std::string_view flag);
std::string to_string(const NcclRelease& r);

}  // namespace moesim::network
