// The DeepEP-style exchange of one expert-parallel group (comm_op.hpp NodeRelayExchange) from
// its routed assignments: source i sends each distinct token once to every destination node
// (node_limited_routing.hpp), to the member of that node with i's local index (modulo the node's
// member count: the rail peer DeepEP's RDMA kernels target), which forwards it over NVLink to
// every member of its node the token has experts on. Same-node destinations get it directly.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/workload/comm_op.hpp"

namespace moesim {

/// Hybrid-EP's default dispatch chunk, tokens (deepseek-ai/DeepEP branch hybrid-ep,
/// deep_ep/hybrid_ep_buffer.py: NUM_OF_TOKENS_PER_CHUNK_DISPATCH_API defaults to 128).
inline constexpr int kHybridEpTokensPerChunk = 128;

struct NodeRelayInputs {
  /// assignments[i][j]: tokens x experts member i routes to member j (a row per member).
  std::vector<std::vector<std::int64_t>> assignments;
  std::vector<int> node_of;  ///< node of each member (any ids; compared only)
  std::int64_t tokens = 0;   ///< tokens of every source (T)
  std::int64_t top_k = 1;
  int node_limit = 0;          ///< 0: unlimited
  double bytes_per_token = 0;  ///< wire bytes of one token (hidden x dtype, FP8 scales included)
  int comm_sms = 0;
  /// Hybrid-EP: tokens per chunk of its dispatch pipeline, dealt round-robin to its comm_sms
  /// blocks (NodeRelayExchange::chunk_rounds); 0: DeepEP's normal kernels.
  int chunk_tokens = 0;
};

struct NodeRelayPlan {
  NodeRelayExchange exchange;
  /// (i, j): bytes of the distinct tokens member i delivers to member j (the all-to-all-v
  /// matrix the exchange realises; the diagonal stays on the GPU).
  ByteMatrix delivered;
  /// What DeepEP's benchmarks count (deepseek-ai/DeepEP tests/test_internode.py): per member,
  /// bytes of the distinct (token, node) pairs it sends, its own node included ("RDMA bytes"),
  /// and bytes of the distinct tokens it receives, its own included ("NVL bytes").
  std::vector<double> rdma_bytes;
  std::vector<double> nvl_bytes;
};

NodeRelayPlan make_node_relay_plan(const NodeRelayInputs& in);

/// The combine's exchange: every leg reversed (what a relay gathered, it returns once).
NodeRelayExchange reversed(const NodeRelayExchange& dispatch, double bytes_ratio);

}  // namespace moesim
