// The DeepSeek-V3 preset and the catalogue's multi-head latent attention (layer_ops.hpp): the
// GEMM shapes of MLA from deepseek-ai/DeepSeek-V3 config.json, and the model's parameter count
// against the technical report (arXiv 2412.19437, section 1 and Table 1: 671B total parameters,
// of which the 1 + 1 x 129280 x 7168 embedding and output head are not part of ModelSpec).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sim/io/model_json.hpp"
#include "sim/strategies/layer_ops.hpp"

namespace moesim::strategies {
namespace {

std::map<std::string, KernelShape> gemm_shapes(const BlockWork& w) {
  std::map<std::string, KernelShape> out;
  for (const KernelOp* k : w.kernels()) {
    if (k->task.kind == KernelKind::gemm) out[std::string(k->name)] = k->task.shape;
  }
  return out;
}

TEST(DeepSeekV3Preset, LayersAndParametersMatchTheReport) {
  const ModelSpec m = io::load_model("deepseek-v3");
  EXPECT_EQ(m.layers, 61);
  EXPECT_FALSE(m.is_moe_layer(2));  // first_k_dense_replace = 3
  EXPECT_TRUE(m.is_moe_layer(3));
  EXPECT_EQ(m.moe_layer_count(), 58);
  EXPECT_TRUE(m.is_mla());
  // Every layer's parameters as the catalogue counts them (tp = 1, ep = 1: all experts local).
  ParallelLayout one;
  one.dp = 1;
  const LayerOps ops(m, one);
  double total = 0;
  for (std::int64_t l = 0; l < m.layers; ++l) {
    total += static_cast<double>(ops.dense_params(l) + ops.local_expert_params(l));
  }
  // 671B minus embedding and head (2 x 129280 x 7168 = 1.853B); the report's count leaves out the
  // 14B multi-token-prediction module. Band: 1% both ways (norms and rounding in the report).
  const double expected = 671e9 - 2.0 * 129280.0 * 7168.0;
  EXPECT_GT(total, 0.99 * expected) << total;
  EXPECT_LT(total, 1.01 * expected) << total;
  // With the embedding and the LM head (vocab_size 129280): the report's 671B.
  EXPECT_EQ(m.vocab_size, 129280);
  const double with_ends =
      total + static_cast<double>(ops.embedding_params() + ops.output_head_params());
  EXPECT_GT(with_ends, 0.99 * 671e9) << with_ends;
  EXPECT_LT(with_ends, 1.01 * 671e9) << with_ends;
}

TEST(MlaAttention, GemmShapesFollowTheConfig) {
  const ModelSpec m = io::load_model("deepseek-v3");
  ParallelLayout layout;
  layout.dp = 1;
  layout.tp = 2;
  const std::int64_t x = 4096;
  const LayerOps ops(m, layout);
  const auto fwd = gemm_shapes(ops.attention(Pass::forward, x));
  // q_a: 7168 -> 1536 (replicated over tp); q_b: 1536 -> 64 heads x (128 + 64); kv_a: 7168 ->
  // 512 + 64; kv_b: 512 -> 64 heads x (128 + 128); out: 64 x 128 -> 7168.
  EXPECT_EQ(fwd.at("q_a"), (KernelShape{x, 1536, 7168, 1}));
  EXPECT_EQ(fwd.at("q_b"), (KernelShape{x, 64 * 192, 1536, 1}));
  EXPECT_EQ(fwd.at("kv_a"), (KernelShape{x, 576, 7168, 1}));
  EXPECT_EQ(fwd.at("kv_b"), (KernelShape{x, 64 * 256, 512, 1}));
  EXPECT_EQ(fwd.at("attn.proj"), (KernelShape{x, 7168, 64 * 128, 1}));
  EXPECT_EQ(fwd.size(), 5u);
  // The backward has one dX and one dW GEMM per forward GEMM, of the same FLOPs.
  const BlockWork bwd = ops.attention(Pass::backward, x);
  double f = 0, dx = 0, dw = 0;
  const BlockWork fwd_work = ops.attention(Pass::forward, x);
  for (const KernelOp* k : fwd_work.kernels()) {
    if (k->task.kind == KernelKind::gemm) f += k->task.flops.count;
  }
  for (const KernelOp* k : bwd.kernels()) {
    if (k->task.kind != KernelKind::gemm) continue;
    (k->direction == Direction::weight_gradient ? dw : dx) += k->task.flops.count;
  }
  EXPECT_DOUBLE_EQ(dx, f);
  EXPECT_DOUBLE_EQ(dw, f);
  // Without tensor parallelism every attention parameter is used once per token: 2 x params.
  ParallelLayout one;
  one.dp = 1;
  double full = 0;
  const BlockWork untiled = LayerOps(m, one).attention(Pass::forward, x);
  for (const KernelOp* k : untiled.kernels()) {
    if (k->task.kind == KernelKind::gemm) full += k->task.flops.count;
  }
  EXPECT_DOUBLE_EQ(full, 2.0 * static_cast<double>(x) * static_cast<double>(m.attention_params()));
}

}  // namespace
}  // namespace moesim::strategies
