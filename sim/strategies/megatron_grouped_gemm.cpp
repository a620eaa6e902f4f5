#include "sim/strategies/megatron_grouped_gemm.hpp"

#include <algorithm>
#include <string_view>

namespace moesim::strategies {

BlockWork grouped_experts(const LayerOps& ops, Pass pass,
                          const std::vector<std::int64_t>& tokens_per_expert) {
  std::int64_t experts_with_tokens = 0;
  std::int64_t rows = 0;
  std::int64_t padded_rows = 0;
  std::int64_t first = -1;
  for (std::size_t e = 0; e < tokens_per_expert.size(); ++e) {
    const std::int64_t t = tokens_per_expert[e];
    if (t <= 0) continue;
    if (first < 0) first = static_cast<std::int64_t>(e);
    ++experts_with_tokens;
    rows += t;
    padded_rows += (t + kGroupedGemmBlockRows - 1) / kGroupedGemmBlockRows * kGroupedGemmBlockRows;
  }
  BlockWork out{Block::experts, {}};
  if (experts_with_tokens == 0) return out;
  // One expert's list gives the names, directions and the n/k of each GEMM; the sums over all
  // experts give bytes and exact flops.
  const BlockWork one = ops.expert(pass, tokens_per_expert[static_cast<std::size_t>(first)]);
  const BlockWork all = ops.experts(pass, tokens_per_expert);
  const std::size_t per_expert = one.ops.size();
  for (std::size_t i = 0; i < per_expert; ++i) {
    const KernelOp& shape_of = std::get<KernelOp>(one.ops[i]);
    KernelOp grouped = shape_of;
    ComputeTask& t = grouped.task;
    t.bytes = Bytes{0};
    t.flops = Flops{0.0};
    for (std::size_t j = i; j < all.ops.size(); j += per_expert) {
      const KernelOp& k = std::get<KernelOp>(all.ops[j]);
      t.bytes += k.task.bytes;
      t.flops = Flops{t.flops.count + k.task.flops.count};
    }
    if (t.kind == KernelKind::gemm) {
      if (t.op.gemm_role == GemmRole::weight_gradient) {
        // (f, M, x_e) per expert: experts_with_tokens output grids of the mean depth.
        t.shape.batch = experts_with_tokens;
        t.shape.k = std::max<std::int64_t>(1, rows / experts_with_tokens);
      } else {
        t.shape.m = padded_rows;
        const double n = static_cast<double>(t.shape.n);
        const double k = static_cast<double>(t.shape.k);
        t.flops = Flops{2.0 * static_cast<double>(padded_rows) * n * k};
      }
    } else {
      t.shape.m = rows;
    }
    t.op.tokens_per_expert = tokens_per_expert;
    out.ops.push_back(std::move(grouped));
  }
  return out;
}

}  // namespace moesim::strategies
