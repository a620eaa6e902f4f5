// FlowPlan: a communication operation lowered into point-to-point flows, the way NCCL runs it.
//
// A plan is a sequence of stages. A stage starts `latency` after the previous stage's last flow
// arrived (NCCL's per-step software latency; stage 0's includes the base latency), and all its
// flows start together and share links with every other running flow. A flow goes from rank
// `src` to rank `dst` along the topology's route (`segment` = full), or only over the first
// hop of that route (GPU -> switch, NVLS multimem stores/reads) or its last hop (switch -> GPU).
// `bytes` are wire bytes: payload divided by the protocol's bandwidth factor.
// Pipelined algorithms (broadcast/reduce chains, trees) run all their hops in one stage: in a
// pipeline every link carries the whole buffer at once.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/network/nccl_release.hpp"
#include "sim/network/nccl_tuning.hpp"
#include "sim/network/topology.hpp"
#include "sim/workload/comm_op.hpp"

namespace moesim::network {

enum class Segment : std::uint8_t { full, first_hop, last_hop };

struct FlowSpec {
  std::uint32_t src = 0;  ///< global rank
  std::uint32_t dst = 0;  ///< global rank
  double bytes = 0.0;     ///< wire bytes
  Segment segment = Segment::full;
};

struct Stage {
  SimTime latency;
  std::vector<FlowSpec> flows;
  /// The stage's transfer (after `latency`) takes at least this long, however fast its flows'
  /// links are: a protocol's payload ceiling that is not a link's (NCCL's LL cap,
  /// NcclTuning::protocol_min_transfer), so that the flow model charges what the argmin prices.
  SimTime min_transfer = SimTime::zero();
  /// A uniform exchange kept as its ranks (the direct all-to-all of a large group: 24 bytes a
  /// pair less, 25 MB at 1,024 GPUs): after `flows`, a full-route flow of `exchange_bytes` from
  /// every rank of `exchange_ranks` to every other, destination by destination (for each j, each
  /// i != j: exchange_ranks[i] -> exchange_ranks[j]), the order the pairs are listed in otherwise.
  std::vector<std::uint32_t> exchange_ranks{};
  double exchange_bytes = 0.0;

  std::size_t exchange_flows() const {
    const std::size_t n = exchange_ranks.size();
    return n < 2 ? 0 : n * (n - 1);
  }
  std::size_t flow_count() const { return flows.size() + exchange_flows(); }
  /// Flow k, 0 <= k < flow_count(): `flows` first, then the exchange's.
  FlowSpec flow(std::size_t k) const {
    if (k < flows.size()) return flows[k];
    k -= flows.size();
    const std::size_t n = exchange_ranks.size();
    const std::size_t j = k / (n - 1);
    const std::size_t i = k % (n - 1);
    return FlowSpec{exchange_ranks[i < j ? i : i + 1], exchange_ranks[j], exchange_bytes,
                    Segment::full};
  }
  /// Calls visit(const FlowSpec&) for every flow, in flow() order.
  template <class Visit>
  void for_each_flow(Visit visit) const {
    for (const FlowSpec& f : flows) visit(f);
    const std::size_t n = exchange_ranks.size();
    if (n < 2) return;
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t i = 0; i < n; ++i) {
        if (i != j)
          visit(FlowSpec{exchange_ranks[i], exchange_ranks[j], exchange_bytes, Segment::full});
      }
    }
  }
};

struct FlowPlan {
  Algorithm algorithm = Algorithm::ring;
  Protocol protocol = Protocol::simple;
  std::vector<Stage> stages;
  /// Whether a flow arrives its route's link latencies (wire, switch) after its last byte. The
  /// lowered collectives turn it off: their stage latencies are NCCL's per-step latencies
  /// (nccl_tuning.hpp, NVIDIA/nccl src/graph/tuning.cc hwLat), end-to-end costs of a step that
  /// already hold the hop's wire and switch latency, so adding the links' own would charge the
  /// hop twice (8x A100 ring all-reduce: 14 steps x 2 x 150 ns through the NVSwitch = 4.2 us,
  /// +10% at 4 KiB against nccl-tests). A plan of raw transfers built by hand (no NCCL step
  /// latency) keeps the links' latencies.
  bool adds_link_latency = true;
  std::size_t flow_count() const;
};

enum class Level : std::uint8_t { intra_node, inter_node };

/// A measured alpha-beta fit of one collective (sim/calibration/collective_fit.hpp):
///   time = alpha_us + size * busbw_factor(op, n) / beta      (beta = busbw, GB/s)
struct AlphaBeta {
  double alpha_us = 0.0;
  double beta_gbps = 0.0;  ///< busbw, GB/s (1e9 B/s), > 0
};

/// Which operations a fit applies to: one collective at one level; `ranks` = the group size it
/// was measured at, or 0 for any group size of that level.
struct FitKey {
  CommKind kind = CommKind::all_reduce;
  Level level = Level::intra_node;
  std::size_t ranks = 0;
  auto operator<=>(const FitKey&) const = default;
};

/// Forced choices; `automatic` = the NCCL model's argmin (never `hierarchical`: not NCCL's).
struct CollectiveConfig {
  enum class Choice : std::uint8_t { automatic, ring, tree, nvls, direct, hierarchical };
  Choice algorithm = Choice::automatic;
  /// Ring/tree channels; 0 = one per NIC of a node when the group spans nodes, else 1.
  int channels = 0;
  NcclTuning tuning;
  /// Calibrated fits (moesim calibrate). The analytical model charges them directly; the flow
  /// model turns them into size-dependent latency and bandwidth factors of the lowered plan
  /// (calibrated_plan.cpp), so contention still applies. Lookup: the exact group size first,
  /// then the level's any-size fit.
  std::map<FitKey, AlphaBeta> calibrated;
  const AlphaBeta* find_fit(CommKind kind, Level level, std::size_t ranks) const;
  /// PXN (NCCL >= 2.12, on unless NCCL_PXN_DISABLE=1): an all-to-all's cross-node transfers
  /// leave through the NIC on the destination's rail, reached over NVLink (pxn_proxy).
  bool pxn = true;
  /// The NCCL release it runs under (default: today's): gates the protocols and algorithms the
  /// argmin may pick (nccl_release.hpp), so a published sweep runs the release it was measured
  /// with.
  NcclRelease nccl;
  /// PXN as this release runs it: asked for and shipped.
  bool uses_pxn() const { return pxn && nccl.has_pxn(); }
  /// GPUs of a node one host thread drives (nccl-tests -g; 1 = one process or thread per GPU,
  /// as training frameworks run). A thread driving g GPUs launches their kernels one after the
  /// other and the collective cannot start before the last launch: every collective then pays
  /// (g - 1) x Topology::group_launch_us more start-up (collective_startup_us).
  int gpus_per_thread = 1;
};

/// intra_node if every rank of `op` is on one node.
Level level_of(const Topology& topo, const CommOp& op);

/// Group geometry shared by the lowerings.
struct GroupLayout {
  std::vector<std::uint32_t> ranks;  ///< global ranks, op order
  /// Positions in `ranks` per node, nodes by first appearance; inside a node in the ring order
  /// NCCL's search would pick (fastest slowest hop, flow_plan.cpp), else op order.
  std::vector<std::vector<std::uint32_t>> nodes;
  std::size_t nodes_spanned() const { return nodes.size(); }
  std::size_t per_node_max() const;
};
GroupLayout make_layout(const Topology& topo, const CommOp& op);

/// Channels of a ring or tree over `layout` when none is forced: one per NIC of a node (capped
/// at the group's GPUs per node) when the group spans nodes, so every NIC carries a share, as
/// NCCL's graph search spreads channels over NICs; 1 inside one node.
int network_channels(const Topology& topo, const GroupLayout& layout);

/// The network a ring or tree over `layout` reaches: per node, the NICs its members leave the
/// node by (each member's own NIC, the first network link of its route to the next node), and
/// the slowest node's sum of their ports (effective bytes/s); 0 inside one node. NCCL builds a
/// communicator's topology from its own ranks only (src/graph/topo.cc, ncclTopoGetSystem adds
/// the GPUs of the communicator's local ranks), so PXN, which relays through another GPU of the
/// communicator next to the NIC (src/graph/paths.cc, ncclTopoComputePaths: "Check whether we
/// can access the NIC through another NVLink-connected GPU"), finds no relay for a NIC whose
/// GPU is outside the group, and the other NICs sit at PATH_SYS/PHB, which the graph search
/// (src/graph/search.cc) only relaxes to when no channel is found at the nearest NIC's type.
/// So a group with one GPU per node runs over one NIC per node: measured, 2 x 1 H100 with 4
/// NICs allowed (NCCL_IB_HCA) reaches 41 GB/s busbw at 32 MiB, one 400 Gb/s NIC, not four
/// (NVIDIA/nccl#1357 / nccl-tests#232). The argmin prices rings and trees over this
/// (nccl_cost_model.cpp) and the flow lowering runs network_channels (one per member up to
/// the NIC count) over the same NICs, so both see the same network.
struct GroupNetwork {
  std::size_t nics_per_node = 0;  ///< fewest distinct NICs the members of one node leave by
  double bytes_per_s = 0;         ///< slowest node's sum of those NICs' ports
};
GroupNetwork group_network(const Topology& topo, const GroupLayout& layout);

/// The slowest link class between two ranks (NET if the route crosses a network link).
LinkClass link_class(const Topology& topo, std::uint32_t src, std::uint32_t dst);

/// Where each channel of a ring or tree over `layout` enters every node: entries[c][m] is the
/// position, in layout.nodes[m], of channel c's first GPU on node m (the ring visits the node
/// from there on, rotated). NCCL's inter-node ring is NET n -> GPU a -> ... -> GPU x -> NET n
/// (NVIDIA/nccl src/graph/search.cc, "Search Patterns"; crossNic is tried only after PXN paths,
/// ncclTopoCompute), one NIC per channel, entered at the GPU nearest it: channel c takes the
/// node's (c mod N)-th NIC of the N its members leave by (numbered by first appearance in node
/// order) and enters at the (c div N)-th member next to it (mod their count, so channels
/// sharing a NIC still start apart). Every node numbers its NICs alike, so each inter-node hop
/// goes from NIC n to NIC n: one rail of a rail-optimized fabric. On a node with a NIC per GPU
/// this is the rotation by c; with fewer NICs than GPUs (aws-p4de: 4 NICs, a pair of GPUs on
/// each) the channels spread over every NIC instead of the first GPUs' few. Inside one node
/// (no NIC): rotation by c.
/// Where several members share a NIC, the entry is the one whose way to the NIC is fastest
/// (`ChannelExit::predecessor`: the slower of its and the ring's exit member's, the member
/// before it), as NCCL's search scores GPU-NIC paths by bandwidth; ties keep node order.
enum class ChannelExit { entry_only, predecessor };
std::vector<std::vector<std::size_t>> channel_entries(const Topology& topo,
                                                      const GroupLayout& layout, int channels,
                                                      ChannelExit exit);

/// Appends the flows of one ring hop of `bytes` wire bytes from `src` to `dst` (global ranks of
/// the group `members`): one flow, except where the hop leaves a node from a GPU whose NIC is
/// not the channel's (the NIC of the receiver's local rank, channel_entries). NCCL's ring then
/// reaches the channel's NIC from its last GPU through PXN (`pxn`, cfg.pxn; NVIDIA/nccl
/// src/graph/paths.cc, ncclTopoComputePaths: a NIC reached through an NVLink-connected GPU next
/// to it): the bytes go over NVLink to the sender node's GPU with the receiver's local rank
/// (pxn_proxy; a member, NCCL's graph holds only the communicator's GPUs) and out through its
/// NIC, both legs at once (the proxy forwards as data arrives). Without such a GPU (one NIC per
/// node, no NVLink between the two, the proxy outside the group) the sender sends itself.
void ring_hop_flows(const Topology& topo, const std::unordered_set<std::uint32_t>& members,
                    bool pxn, std::uint32_t src, std::uint32_t dst, double bytes,
                    std::vector<FlowSpec>& flows);

/// The rings NCCL runs a ring collective of `op` on (ring.cpp), one per channel, each as
/// positions in layout.ranks: inside one node (no forced count) the node's ring set
/// (ring_search.hpp); across nodes (or a forced count) one ring per channel, every node entered
/// at channel_entries', on as many channels as NCCL runs this size with (nccl_work_shape.hpp).
std::vector<std::vector<std::uint32_t>> ring_channel_orders(const Topology& topo,
                                                            const GroupLayout& layout,
                                                            const CommOp& op,
                                                            const CollectiveConfig& cfg,
                                                            Protocol protocol);

/// NCCL's LL ceiling on `topo` over `nodes` nodes: NcclTuning::ll_max_bps with the topology's
/// GPU generation and host CPU (cpu_vendor). The argmin caps LL with it and every flow lowering
/// floors its LL stages with ll_min_transfer, so both read the one choice of table entry.
double ll_max_bps(const Topology& topo, const NcclTuning& t, std::size_t nodes);
/// The shortest time a flow stage moving `bus_bytes` per GPU takes under `protocol` on `topo`
/// (NcclTuning::protocol_min_transfer at ll_max_bps): bus_bytes over the LL ceiling, none for
/// LL128 and Simple.
SimTime ll_min_transfer(const Topology& topo, const NcclTuning& t, Protocol protocol,
                        std::size_t nodes, double bus_bytes);

/// The slowest intra-node hop class of a channel's ring (`order`: positions in layout.ranks),
/// the class NCCL's ring latency charges its intra-node steps at (nccl_ring_latency.hpp).
LinkClass ring_intra_class(const Topology& topo, const GroupLayout& layout,
                           const std::vector<std::uint32_t>& order);

// One lowering per collective (sim/network/collectives/*.cpp). `protocol` scales wire bytes and
// picks latencies.
FlowPlan lower_ring(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol);
FlowPlan lower_tree_all_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                               Protocol protocol);
FlowPlan lower_nvls_all_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);
FlowPlan lower_broadcast(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                         Protocol protocol);
FlowPlan lower_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                      Protocol protocol);
FlowPlan lower_send_recv(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);
FlowPlan lower_all_to_all(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);
FlowPlan lower_hierarchical_all_to_all(const Topology& topo, const CommOp& op,
                                       const CollectiveConfig& cfg);
/// DeepEP-style exchange of an op with a relay (CommOp::relay).
FlowPlan lower_node_relay_all_to_all(const Topology& topo, const CommOp& op,
                                     const CollectiveConfig& cfg);

/// busbw / algbw of nccl-tests for `kind` over n ranks (2(n-1)/n all-reduce, (n-1)/n
/// all-gather, reduce-scatter, all-to-all; 1 otherwise).
double busbw_factor(CommKind kind, std::size_t n);

/// Time of `op` by a calibrated fit: alpha + size * busbw_factor / beta, in us.
double fit_time_us(const AlphaBeta& fit, const CommOp& op);

/// SimGrid-style network factors from a calibrated fit: rescales `plan` (lowered for `op`, whose
/// contention-free model time is `model_us`) so that, alone on an idle network, it takes the
/// fit's time: every flow's bytes x bandwidth factor = fit transfer / model transfer, and the
/// stage latencies shifted (or scaled down) so that they sum to the fit's alpha. Both factors
/// depend on the size, as SimGrid's piecewise factors do; under contention the flows still share
/// links. Returns false (plan unchanged) when no fit applies.
bool apply_calibration(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                       double model_us, FlowPlan& plan);

/// PXN, PCI x NVLink (NCCL >= 2.12: src/graph/paths.cc ncclTopoGetIntermediateRank /
/// ncclTopoGetPxnRanks, src/transport/net.cc proxy connections): a GPU sending to a GPU of
/// another node whose NIC (rail) differs from its own moves the data over NVLink to the GPU of
/// its own node with the destination's local rank, which sends it through its NIC, so the
/// transfer stays on the destination's rail (one leaf switch on a rail-optimized fabric, no
/// spine). Returns that GPU (a global rank), or nothing when src sends itself: same node, the
/// same NIC already, no such GPU, or no NVLink between the two.
std::optional<std::uint32_t> pxn_proxy(const Topology& topo, std::uint32_t src, std::uint32_t dst);

/// True if NVLS all-reduce applies: the whole group inside one node that has an NVSwitch with
/// NVLink SHARP (Hopper-class GPUs, gpu_generation.hpp; an A100 node's NVSwitch has none).
bool nvls_available(const Topology& topo, const CommOp& op);

}  // namespace moesim::network
