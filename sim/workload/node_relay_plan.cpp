#include "sim/workload/node_relay_plan.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "sim/workload/node_limited_routing.hpp"

namespace moesim {

NodeRelayPlan make_node_relay_plan(const NodeRelayInputs& in) {
  const std::size_t n = in.assignments.size();
  if (in.node_of.size() != n) throw std::invalid_argument("make_node_relay_plan: node_of size");
  // Dense node indices by first appearance, and each member's local index on its node.
  std::map<int, int> index_of;
  std::vector<int> node(n);
  std::vector<std::vector<std::size_t>> members;
  std::vector<std::size_t> local(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, added] = index_of.emplace(in.node_of[i], static_cast<int>(members.size()));
    if (added) members.emplace_back();
    node[i] = it->second;
    local[i] = members[static_cast<std::size_t>(node[i])].size();
    members[static_cast<std::size_t>(node[i])].push_back(i);
  }
  const int nodes = static_cast<int>(members.size());
  NodeRelayPlan out;
  out.exchange.network = ByteMatrix(n);
  out.exchange.local = ByteMatrix(n);
  out.exchange.comm_sms = in.comm_sms;
  out.exchange.nodes = nodes;
  if (in.chunk_tokens > 0) {
    const std::int64_t chunks = (in.tokens + in.chunk_tokens - 1) / in.chunk_tokens;
    const std::int64_t blocks = std::max(1, in.comm_sms);
    out.exchange.chunk_rounds = static_cast<int>((chunks + blocks - 1) / blocks);
  }
  out.delivered = ByteMatrix(n);
  out.rdma_bytes.assign(n, 0.0);
  out.nvl_bytes.assign(n, 0.0);
  std::vector<double> network(n * n, 0.0), local_bytes(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (in.assignments[i].size() != n) throw std::invalid_argument("make_node_relay_plan: row");
    const DistinctTokens d = expected_distinct_tokens(in.assignments[i], node, nodes, in.tokens,
                                                      in.top_k, in.node_limit);
    for (int b = 0; b < nodes; ++b) {
      const double bytes = d.per_node[static_cast<std::size_t>(b)] * in.bytes_per_token;
      out.rdma_bytes[i] += bytes;
      if (b == node[i] || bytes <= 0) continue;
      const auto& there = members[static_cast<std::size_t>(b)];
      const std::size_t relay = there[local[i] % there.size()];
      network[i * n + relay] += bytes;
      for (std::size_t j : there) {
        if (j != relay) local_bytes[relay * n + j] += d.per_gpu[j] * in.bytes_per_token;
      }
    }
    for (std::size_t j = 0; j < n; ++j) {
      out.delivered.set(i, j, std::llround(d.per_gpu[j] * in.bytes_per_token));
      out.nvl_bytes[j] += d.per_gpu[j] * in.bytes_per_token;
      if (node[j] == node[i] && j != i) local_bytes[i * n + j] += d.per_gpu[j] * in.bytes_per_token;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      out.exchange.network.set(i, j, std::llround(network[i * n + j]));
      out.exchange.local.set(i, j, std::llround(local_bytes[i * n + j]));
    }
  }
  return out;
}

NodeRelayExchange reversed(const NodeRelayExchange& dispatch, double bytes_ratio) {
  const std::size_t n = dispatch.network.size();
  // Hybrid-EP's combine runs the dispatch's pipeline backwards (chunks reduced over NVLink,
  // then sent over RDMA as they fill): the same rounds, a fill instead of a drain.
  NodeRelayExchange out{ByteMatrix(n), ByteMatrix(n), dispatch.comm_sms, dispatch.chunk_rounds,
                        dispatch.nodes};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      out.network.set(j, i,
                      std::llround(static_cast<double>(dispatch.network.at(i, j)) * bytes_ratio));
      out.local.set(j, i, std::llround(static_cast<double>(dispatch.local.at(i, j)) * bytes_ratio));
    }
  }
  return out;
}

}  // namespace moesim
