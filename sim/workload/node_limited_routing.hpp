// Node-limited routing and the distinct tokens an expert-parallel exchange moves.
//
// Routing counts (routing.hpp) say how many of a source's T tokens go to each expert (k per
// token), not which tokens share destinations. A DeepEP-style exchange sends a token once per
// destination GPU (however many of its experts live there) and once per destination node over
// the network, so its bytes depend on how many distinct tokens reach each GPU and node. This is
// the expected value under independent picks [R: a reconstruction; the counts carry no
// token-level data]: with p_j = a_j / (k T) the share of picks landing on GPU j (a_j routed
// assignments) and P_b = sum of p_j over node b,
//   unlimited:    distinct(j) = T (1 - (1 - p_j)^k),  distinct(b) = T (1 - (1 - P_b)^k);
//   node limit M: DeepSeek-V3 (arXiv 2412.19437, section 2.1.2) first picks M nodes per token,
//                 then its k experts inside them; with k >= M each chosen node receives at least
//                 one (the nodes are chosen by their best experts' scores), so every token
//                 visits min(M, k) nodes: q_b = min(1, lambda P_b) with sum q_b = min(M, k)
//                 (water-filling), distinct(b) = T q_b, and inside node b a visiting token
//                 places k_b = k P_b / q_b picks: distinct(j) = T q_b (1 - (1 - p_j/P_b)^k_b).
// Every value is capped by the assignments it covers (a token counts once per destination).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace moesim {

struct DistinctTokens {
  std::vector<double> per_gpu;   ///< expected distinct tokens to each destination
  std::vector<double> per_node;  ///< expected distinct tokens to each destination node
};

/// One source of `tokens` tokens, each routed to `top_k` experts; assignments[j] = tokens x
/// experts it routes to destination j, which sits on node node_of[j] (0 <= node < nodes).
/// node_limit 0 (or >= nodes): unlimited. Throws std::invalid_argument on mismatched sizes.
DistinctTokens expected_distinct_tokens(std::span<const std::int64_t> assignments,
                                        std::span<const int> node_of, int nodes,
                                        std::int64_t tokens, std::int64_t top_k, int node_limit);

}  // namespace moesim
