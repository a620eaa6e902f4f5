// AttentionRateTable: the published convention converted to the catalogue's work, the derived
// causal backward, interpolation and clamping, and the roofline using a GPU's table.
#include "sim/compute/attention_rate_table.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/workload/model_spec.hpp"

namespace moesim::compute {
namespace {

constexpr std::int64_t kTile = 128;

AttentionRateSeries series(AttentionPass pass, std::int64_t head_dim, bool causal,
                           std::vector<double> tflops) {
  return {pass, head_dim, causal, {1024, 4096}, std::move(tflops)};
}

/// A two-point table: forward non-causal and causal at head dims 64 and 128, backward non-causal
/// at 64 only.
AttentionRateTable small_table(bool skips_masked_tiles = true) {
  return AttentionRateTable("t", {DType::bf16},
                            {series(AttentionPass::forward, 64, false, {300, 400}),
                             series(AttentionPass::forward, 64, true, {200, 360}),
                             series(AttentionPass::forward, 128, false, {500, 600}),
                             series(AttentionPass::backward, 64, false, {250, 420})},
                            skips_masked_tiles, kTile);
}

double causal_factor(std::int64_t seq) {
  const double s = static_cast<double>(seq);
  return static_cast<double>(causal_tile_pairs(seq, 0, kTile)) / (s * s / 2.0);
}

TEST(AttentionRateTable, MeasuredPointsInTheCataloguesConvention) {
  const AttentionRateTable t = small_table();
  // Forward, non-causal: the published rate.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, false, 4096), 400e12);
  // Forward, causal: the convention counts S^2/2 pairs, the kernel (and the catalogue) whole
  // diagonal tiles: 32 x 33 / 2 tiles of 128^2 over 4096^2 / 2 = 1.03125.
  EXPECT_DOUBLE_EQ(causal_factor(4096), 1.03125);
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, true, 4096),
                   360e12 * 1.03125);
  // Backward: the convention counts 2.5 forward passes of work, the catalogue 2.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::backward, 64, false, 4096), 420e12 * 0.8);
}

TEST(AttentionRateTable, AnUnfusedKernelComputesEveryMaskedPair) {
  // Computing all S^2 pairs of a causal sequence, it does twice the convention's S^2 / 2 work.
  const AttentionRateTable t = small_table(false);
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, true, 4096), 720e12);
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, false, 4096), 400e12);
}

TEST(AttentionRateTable, CausalBackwardPaysWhatTheMaskCostsTheForward) {
  const AttentionRateTable t = small_table();
  // No causal backward series: non-causal backward x forward causal / non-causal.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::backward, 64, true, 4096),
                   420e12 * (360.0 / 400.0) * 1.03125 * 0.8);
  // Head dim 128 has neither a backward nor a causal series: its forward non-causal curve.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::backward, 128, false, 4096),
                   600e12 * 0.8);
}

TEST(AttentionRateTable, InterpolatesInLogSpaceAndClampsAtTheMeasuredEnds) {
  const AttentionRateTable t = small_table();
  // 2048 is halfway between 1024 and 4096 in log2.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, false, 2048), 350e12);
  // Head dim 90.5 (2^6.5) is halfway between 64 and 128.
  EXPECT_NEAR(t.catalogue_flops_per_s(AttentionPass::forward, 91, false, 4096),
              400e12 + (std::log2(91.0) - 6.0) * 200e12, 1e6);
  // No extrapolation: shorter sequences and larger head dims keep the nearest measured rate.
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 64, false, 256), 300e12);
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 192, false, 65536), 600e12);
  EXPECT_DOUBLE_EQ(t.catalogue_flops_per_s(AttentionPass::forward, 32, false, 4096), 400e12);
  EXPECT_TRUE(t.covers(DType::bf16));
  EXPECT_FALSE(t.covers(DType::fp8));
}

TEST(AttentionRateTable, RejectsTablesItCannotLookUp) {
  const auto make = [](std::vector<AttentionRateSeries> s) {
    return AttentionRateTable("t", {DType::bf16}, std::move(s), true, kTile);
  };
  // Sequence lengths not ascending.
  EXPECT_THROW(make({{AttentionPass::forward, 64, false, {4096, 1024}, {1, 2}}}),
               std::invalid_argument);
  // As many rates as lengths.
  EXPECT_THROW(make({{AttentionPass::forward, 64, false, {1024}, {1, 2}}}), std::invalid_argument);
  // One series per (pass, head dim, mask).
  EXPECT_THROW(make({series(AttentionPass::forward, 64, false, {1, 2}),
                     series(AttentionPass::forward, 64, false, {1, 2})}),
               std::invalid_argument);
  // Every head dim needs its forward non-causal curve (the fallback of the others).
  EXPECT_THROW(make({series(AttentionPass::forward, 64, false, {1, 2}),
                     series(AttentionPass::backward, 128, false, {1, 2})}),
               std::invalid_argument);
  EXPECT_THROW(make({series(AttentionPass::forward, 64, false, {0, 2})}), std::invalid_argument);
}

ComputeTask attention(std::int64_t seq, std::int64_t keys, std::int64_t head_dim,
                      std::int64_t heads, bool causal, OpDirection direction) {
  ComputeTask t;
  t.kind = KernelKind::attention;
  t.dtype = DType::bf16;
  t.shape = {seq, keys, head_dim, heads};
  const double forward = 4.0 * static_cast<double>(seq * keys * head_dim * heads);
  t.flops = Flops{direction == OpDirection::backward ? 2.0 * forward : forward};
  t.op.direction = direction;
  t.op.sequence = seq;
  t.op.causal = causal;
  return t;
}

TEST(AttentionRateTable, H100RunsCudnnsMeasuredKernel) {
  const GpuSpec h100 = io::load_gpu_spec("h100");
  ASSERT_NE(h100.kernel_model.attention_rates, nullptr);
  const RooflineComputeModel model(h100);
  const double launch_s = h100.kernel_model.launch_us * 1e-6;
  // FlashAttention-3 Fig. 5, cuDNN, head dim 128, 16 heads of 4096 tokens, causal: 518 TFLOP/s
  // in the convention's count (4 S^2 D H / 2). The catalogue's task counts the diagonal tiles
  // whole (keys per query 2112); its time is the convention's work at the published rate.
  const std::int64_t keys = causal_tile_pairs(4096, 0, kTile) / 4096;
  const ComputeTask fwd = attention(4096, keys, 128, 16, true, OpDirection::forward);
  const double convention = 4.0 * 4096.0 * 4096.0 * 128 * 16 / 2.0;
  EXPECT_NEAR(model.duration(fwd, {}).seconds() - launch_s, convention / 518e12, 1e-9);
  // Fig. 6, backward, head dim 64, 32 heads, non-causal: 417 TFLOP/s for 2.5 x the forward work.
  const ComputeTask bwd = attention(4096, 4096, 64, 32, false, OpDirection::backward);
  EXPECT_NEAR(model.duration(bwd, {}).seconds() - launch_s,
              2.5 * 4.0 * 4096.0 * 4096.0 * 64 * 32 / 417e12, 1e-9);
  // Unfused (attention_kernel=dense_masked: every pair computed, then masked): Fig. 5's
  // 'Standard attention', head dim 128, causal, 4096 tokens: 35 TFLOP/s on the convention's half.
  ComputeTask unfused = attention(4096, 4096, 128, 16, true, OpDirection::forward);
  unfused.op.fused = false;
  EXPECT_NEAR(model.duration(unfused, {}).seconds() - launch_s, convention / 35e12, 1e-9);
  // A GPU without a table keeps the prior: attention_efficiency of the tensor peak.
  const GpuSpec a100 = io::load_gpu_spec("a100");
  EXPECT_EQ(a100.kernel_model.attention_rates, nullptr);
  const RooflineComputeModel prior(a100);
  EXPECT_NEAR(prior.duration(fwd, {}).seconds() - a100.kernel_model.launch_us * 1e-6,
              fwd.flops.count / (a100.peak_tflops.at(DType::bf16) * 1e12 * 0.5), 1e-9);
}

TEST(AttentionRateTable, GpuSpecRoundTripKeepsTheTableAndUnknownNamesAreInputErrors) {
  const GpuSpec h100 = io::load_gpu_spec("h100");
  const GpuSpec back = io::gpu_spec_from_json_text(io::gpu_spec_to_json(h100).dump(), "h.json");
  ASSERT_NE(back.kernel_model.attention_rates, nullptr);
  EXPECT_EQ(back.kernel_model.attention_rates->name(), "sm90-cudnn-fused");
  nlohmann::json doc = io::gpu_spec_to_json(h100);
  doc["kernel_model"]["attention_rates"] = "no-such-table";
  EXPECT_THROW(io::gpu_spec_from_json_text(doc.dump(), "h.json"), InputError);
  // Each key names its kind of kernel: a fused table where the unfused one belongs is refused.
  doc = io::gpu_spec_to_json(h100);
  ASSERT_EQ(doc["kernel_model"]["unfused_attention_rates"], "sm90-pytorch-unfused");
  doc["kernel_model"]["unfused_attention_rates"] = "sm90-cudnn-fused";
  EXPECT_THROW(io::gpu_spec_from_json_text(doc.dump(), "h.json"), InputError);
}

}  // namespace
}  // namespace moesim::compute
