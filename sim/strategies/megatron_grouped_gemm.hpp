// The dropless grouped GEMM of Megatron-Core's MoE experts (--moe-grouped-gemm; MegaBlocks, Gale
// et al., MLSys 2023, arXiv 2211.15841, Sec. 5): every local expert's FFN runs as one kernel per
// GEMM, with no capacity and no dropped tokens. Built from the catalogue's per-expert lists
// (LayerOps::experts), so the work is the catalogue's and only the kernel count changes:
//  - token-row GEMMs (forward and dX: m = tokens) pad each expert's rows to the 128-row block the
//    grouped kernel computes (MegaBlocks' block size), m = sum of the padded counts, and charge the
//    padded rows (flops = 2 m n k of the padded shape);
//  - weight-gradient GEMMs (k = tokens) become `batch` = local-expert products of the mean k,
//    flops = the exact sum;
//  - activations are one elementwise kernel over all rows; HBM bytes are the per-expert sums
//    (every expert's weights are read once).
// The per-expert counts travel in ComputeOp::tokens_per_expert for the hardware lowering.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/strategies/layer_ops.hpp"

namespace moesim::strategies {

/// Rows of one block of the grouped kernel.
inline constexpr std::int64_t kGroupedGemmBlockRows = 128;

/// The experts block of `ops` for `tokens_per_expert` (one entry per local expert) as grouped
/// kernels, in the catalogue's issue order (empty when no expert gets a token).
BlockWork grouped_experts(const LayerOps& ops, Pass pass,
                          const std::vector<std::int64_t>& tokens_per_expert);

}  // namespace moesim::strategies
