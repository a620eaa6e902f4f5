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

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
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
};

struct FlowPlan {
  Algorithm algorithm = Algorithm::ring;
  Protocol protocol = Protocol::simple;
  std::vector<Stage> stages;
  std::size_t flow_count() const;
};

/// Choices a caller may force; `automatic` lets the NCCL model choose (argmin of its time).
struct CollectiveConfig {
  enum class Choice : std::uint8_t { automatic, ring, tree, nvls, direct, hierarchical };
  Choice algorithm = Choice::automatic;
  /// Ring/tree channels; 0 = one per NIC of a node when the group spans nodes, else 1.
  int channels = 0;
  NcclTuning tuning;
};

/// Group geometry shared by the lowerings.
struct GroupLayout {
  std::vector<std::uint32_t> ranks;               ///< global ranks, op order
  std::vector<std::vector<std::uint32_t>> nodes;  ///< positions in `ranks` per node, op order
  std::size_t nodes_spanned() const { return nodes.size(); }
  std::size_t per_node_max() const;
};
GroupLayout make_layout(const Topology& topo, const CommOp& op);

/// The slowest link class between two ranks (NET if the route crosses a network link).
LinkClass link_class(const Topology& topo, std::uint32_t src, std::uint32_t dst);

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

/// True if NVLS all-reduce applies: the whole group inside one node that has an NVSwitch.
bool nvls_available(const Topology& topo, const CommOp& op);

}  // namespace moesim::network
