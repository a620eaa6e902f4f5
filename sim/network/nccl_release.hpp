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
  // The ring latency of src/graph/tuning.cc across nodes (nccl_ring_latency.hpp), pinned on
  // NVIDIA/nccl's own history: tuning.cc read at the commit whose makefiles/version.mk names the
  // release (2.7.5 01afd20a, 2.8.3 920dbe5b, 2.10.3 7e515921, 2.12.7 24ee899a, 2.15.1 da8152e5,
  // 2.17.1 5d3ab08b, 2.18.1 d97a32fa, 2.18.3 ea383122, 2.20.3 b6475625, 2.21.5 ab2b89c4,
  // 2.22.3 178b6b75, 2.23.4 a6979c9f, 2.24.3 6aae3792, 2.29.2 ebd1e929).
  /// From 2.18 (2.18.1; 2.17.1 has neither) every intra-node step of a ring across nodes costs
  /// at least the network post overhead (getNetOverhead, x3 for Simple), and LL's intra-node
  /// latency is no longer multiplied by 1.8 across nodes.
  bool ring_latency_has_net_overhead() const { return at_least(2, 18); }
  bool ll_intra_latency_x1_8_across_nodes() const { return !ring_latency_has_net_overhead(); }
  /// A ring all-reduce across nodes counts 2 x nodes network steps, not 2 (nodes - 1), from
  /// 2.12 (2.12.7; 2.10.3 has the old count, 2.11 was not read: NVIDIA/nccl PR #625, January
  /// 2022, changed it and was ported to 2.12) through 2.22 (2.22.3); 2.23 (2.23.4, PAT's
  /// release) returns to 2 (nodes - 1), as 2.24.3 and 2.29.2 have it.
  bool ring_all_reduce_counts_2n_inter_steps() const { return at_least(2, 12) && !at_least(2, 23); }
};

/// "latest", "X.Y" or "X.Y.Z" (major 2: NCCL 1 has none of this model's algorithms); anything
/// else throws the InputError "<flag>: ... (got X, expected Y)".
NcclRelease parse_nccl_release(std::string_view text, std::string_view flag);
std::string to_string(const NcclRelease& r);

}  // namespace moesim::network
