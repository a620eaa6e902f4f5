// CPU reference kernels against small hand-computed cases (label unit).
#include "kernels/reference/reference_kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/reference/half_precision.hpp"

namespace moesim::reference {
namespace {

TEST(ReferenceGemm, TwoByTwo) {
  // [[1,2],[3,4]] * [[5,6],[7,8]] = [[19,22],[43,50]].
  const std::vector<float> a{1, 2, 3, 4};
  const std::vector<float> b{5, 6, 7, 8};
  EXPECT_EQ(gemm(2, 2, 2, a, b), (std::vector<double>{19, 22, 43, 50}));
}

TEST(ReferenceGemm, TransposedB) {
  // [1,2] * [[3,4],[5,6]]^T = [1*3+2*4, 1*5+2*6] = [11, 17].
  const std::vector<float> a{1, 2};
  const std::vector<float> b{3, 4, 5, 6};
  EXPECT_EQ(gemm_bt(1, 2, 2, a, b), (std::vector<double>{11, 17}));
}

TEST(ReferenceGemm, RejectsWrongSizes) {
  const std::vector<float> a{1, 2, 3};
  EXPECT_THROW(gemm(2, 2, 2, a, a), std::invalid_argument);
}

TEST(ReferenceSoftmaxTopK, TieGoesToLowerIndexAndNormalizes) {
  // exp(logits) = 1, 2, 3, 2 -> probabilities 1/8, 2/8, 3/8, 2/8. Top-2: expert 2 (0.375), then
  // experts 1 and 3 tie at 0.25 and the lower index (1) wins. Normalized over the kept 0.625:
  // 0.6 and 0.4.
  const std::vector<double> logits{0.0, std::log(2.0), std::log(3.0), std::log(2.0)};
  const TopK raw = softmax_topk(logits, 1, 4, 2, false);
  EXPECT_EQ(raw.expert, (std::vector<int>{2, 1}));
  EXPECT_NEAR(raw.prob[0], 0.375, 1e-12);
  EXPECT_NEAR(raw.prob[1], 0.25, 1e-12);
  const TopK norm = softmax_topk(logits, 1, 4, 2, true);
  EXPECT_NEAR(norm.prob[0], 0.6, 1e-12);
  EXPECT_NEAR(norm.prob[1], 0.4, 1e-12);
}

TEST(ReferenceGate, GemmThenTopOne) {
  // x = [1, 0], w = [[0, 1], [5, 5]] -> logits [0, 1]; top-1 = expert 1 with e/(1+e).
  const std::vector<float> x{1, 0};
  const std::vector<float> w{0, 1, 5, 5};
  const TopK r = gate(x, w, 1, 2, 2, 1, false);
  EXPECT_EQ(r.expert, (std::vector<int>{1}));
  EXPECT_NEAR(r.prob[0], std::exp(1.0) / (1.0 + std::exp(1.0)), 1e-12);
}

// Tokens 0..2 with top-2 choices (0,1), (1,0), (1,2): assignments a = 0..5 go to experts
// 0,1,1,0,1,2 with ranks inside their expert 0,0,1,1,2,0.
const std::vector<int> kChoices{0, 1, 1, 0, 1, 2};

TEST(ReferenceRoute, CapacityKeepsFirstInTokenOrder) {
  // Capacity 1: only rank 0 survives: a0 -> row 0*1+0, a1 -> 1, a5 -> 2; the rest dropped.
  const Routing r = route(kChoices, 3, 2, 3, 1);
  EXPECT_EQ(r.dest_row, (std::vector<int>{0, 1, -1, -1, -1, 2}));
  EXPECT_EQ(r.expert_count, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(r.expert_offset, (std::vector<int>{0, 1, 2, 3}));
}

TEST(ReferenceRoute, DroplessOffsetsArePrefixSums) {
  // Counts 2, 3, 1 -> offsets 0, 2, 5, 6; rows = offset + rank: 0, 2, 3, 1, 4, 5.
  const Routing r = route(kChoices, 3, 2, 3, 0);
  EXPECT_EQ(r.dest_row, (std::vector<int>{0, 2, 3, 1, 4, 5}));
  EXPECT_EQ(r.expert_count, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(r.expert_offset, (std::vector<int>{0, 2, 5, 6}));
}

TEST(ReferenceRoute, RejectsExpertOutOfRange) {
  const std::vector<int> bad{0, 3};
  EXPECT_THROW(route(bad, 1, 2, 3, 0), std::invalid_argument);
}

TEST(ReferencePermute, DroplessAndCapacity) {
  // x rows t0=[1,2], t1=[3,4], t2=[5,6]. Dropless rows: 0<-t0, 2<-t0, 3<-t1, 1<-t1, 4<-t2, 5<-t2.
  const std::vector<float> x{1, 2, 3, 4, 5, 6};
  const std::vector<int> dropless{0, 2, 3, 1, 4, 5};
  EXPECT_EQ(permute(x, 3, 2, 2, dropless, 6),
            (std::vector<double>{1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 5, 6}));
  // Capacity 1 (E=3, C=1): rows 0<-t0, 1<-t0, 2<-t2; an extra unused 4th row stays 0.
  const std::vector<int> capacity{0, 1, -1, -1, -1, 2};
  EXPECT_EQ(permute(x, 3, 2, 2, capacity, 4), (std::vector<double>{1, 2, 1, 2, 5, 6, 0, 0}));
}

TEST(ReferenceUnpermute, WeightedCombineSkipsDropped) {
  // Expert outputs rows r0=[1,1], r1=[2,2], r2=[4,4]. Token 0 takes 0.5*r0 + 0.25*r1 = [1,1];
  // token 1's choices are both dropped -> [0,0]; token 2 takes 1.0*r2 (second dropped) = [4,4].
  const std::vector<float> out{1, 1, 2, 2, 4, 4};
  const std::vector<int> dest{0, 1, -1, -1, 2, -1};
  const std::vector<float> prob{0.5F, 0.25F, 0.5F, 0.5F, 1.0F, 0.7F};
  EXPECT_EQ(unpermute_combine(out, dest, prob, 3, 2, 2), (std::vector<double>{1, 1, 0, 0, 4, 4}));
}

TEST(ReferenceActivations, KnownValues) {
  // gelu(0) = 0; gelu(1) = 0.5 (1 + tanh(0.79788 * 1.044715)) = 0.841192; silu(1) = 1/(1+e^-1).
  EXPECT_EQ(gelu(0.0), 0.0);
  EXPECT_NEAR(gelu(1.0), 0.8411919906, 1e-9);
  EXPECT_NEAR(silu(1.0), 0.7310585786, 1e-9);
}

TEST(ReferenceExpertFfn, GeluPerExpertWeights) {
  // hidden = ffn = 1, two experts owning rows [0,1) and [1,2). Expert 0: W1 = 1, W2 = 3 on x = 2:
  // 3 * gelu(2) = 5.8637930823. Expert 1: W1 = 1, W2 = -2 on x = -1: -2 * gelu(-1) = 0.3176160188.
  const std::vector<float> x{2, -1};
  const std::vector<std::int64_t> offsets{0, 1, 2};
  const std::vector<float> w1{1, 1};
  const std::vector<float> w2{3, -2};
  const std::vector<double> out = expert_ffn(x, offsets, 1, 1, w1, w2, Activation::gelu);
  EXPECT_NEAR(out[0], 5.8637930823, 1e-9);
  EXPECT_NEAR(out[1], 0.3176160188, 1e-9);
}

TEST(ReferenceExpertFfn, SwiGlu) {
  // W1 = [Wg | Wu] = [1 | 2], W2 = 3, x = 1: silu(1) * 2 * 3 = 4.3863514718.
  const std::vector<float> x{1};
  const std::vector<std::int64_t> offsets{0, 1};
  const std::vector<float> w1{1, 2};
  const std::vector<float> w2{3};
  EXPECT_NEAR(expert_ffn(x, offsets, 1, 1, w1, w2, Activation::swiglu)[0], 4.3863514718, 1e-9);
}

TEST(ReferenceSoftmaxRows, CausalMask) {
  // Row 0 sees only column 0 -> [1, 0]. Row 1: exp(0)=1 and exp(ln 3)=3 -> [0.25, 0.75].
  const std::vector<float> in{1.0F, 5.0F, 0.0F, static_cast<float>(std::log(3.0))};
  const std::vector<double> p = softmax_rows(in, 2, 2, 1.0, true, 2);
  EXPECT_NEAR(p[0], 1.0, 1e-12);
  EXPECT_EQ(p[1], 0.0);
  EXPECT_NEAR(p[2], 0.25, 1e-7);
  EXPECT_NEAR(p[3], 0.75, 1e-7);
}

TEST(ReferenceAttention, UniformScoresAverageValues) {
  // q = 0 makes every score 0: non-causal rows average v = [2, 4] -> 3, 3; causal row 0 sees
  // only v0 = 2, row 1 averages both = 3.
  const std::vector<float> q{0, 0};
  const std::vector<float> k{1, -1};
  const std::vector<float> v{2, 4};
  EXPECT_EQ(attention(q, k, v, 1, 2, 1, 1.0, false), (std::vector<double>{3, 3}));
  EXPECT_EQ(attention(q, k, v, 1, 2, 1, 1.0, true), (std::vector<double>{2, 3}));
}

TEST(ReferenceLayernorm, MeanVarianceGammaBeta) {
  // x = [1, 3]: mean 2, population variance 1 -> normalized [-1, 1]; times gamma [1, 2] plus
  // beta [0, 1] -> [-1, 3].
  const std::vector<float> x{1, 3};
  const std::vector<float> gamma{1, 2};
  const std::vector<float> beta{0, 1};
  EXPECT_EQ(layernorm(x, gamma, beta, 1, 2, 0.0), (std::vector<double>{-1, 3}));
}

TEST(ReferenceRelativeError, Norms) {
  // ||[1,0]-[0,1]|| / ||[0,1]|| = sqrt(2); zero reference with nonzero output is infinite.
  const std::vector<double> a{1, 0};
  const std::vector<double> b{0, 1};
  const std::vector<double> zero{0, 0};
  EXPECT_NEAR(relative_error(a, b), std::sqrt(2.0), 1e-15);
  EXPECT_EQ(relative_error(zero, zero), 0.0);
  EXPECT_EQ(relative_error(a, zero), std::numeric_limits<double>::infinity());
}

TEST(HalfPrecision, Bf16RoundsToNearestEven) {
  // 1 = 0x3f80. 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (0x3f80).
  // 1 + 3*2^-8 is halfway between 0x3f81 and 0x3f82: ties to even (0x3f82).
  EXPECT_EQ(float_to_bf16_bits(1.0F), 0x3f80);
  EXPECT_EQ(float_to_bf16_bits(1.0F + 0.00390625F), 0x3f80);
  EXPECT_EQ(float_to_bf16_bits(1.0F + 3 * 0.00390625F), 0x3f82);
  EXPECT_EQ(bf16_bits_to_float(0xc000), -2.0F);
}

TEST(HalfPrecision, Fp16NormalsSubnormalsAndOverflow) {
  // 1 = 0x3c00, -2 = 0xc000, 65504 = largest normal 0x7bff, 70000 overflows to inf 0x7c00.
  // 1e-7 = 1.68 units of 2^-24 -> rounds to subnormal 2 (0x0002).
  EXPECT_EQ(float_to_fp16_bits(1.0F), 0x3c00);
  EXPECT_EQ(float_to_fp16_bits(-2.0F), 0xc000);
  EXPECT_EQ(float_to_fp16_bits(65504.0F), 0x7bff);
  EXPECT_EQ(float_to_fp16_bits(70000.0F), 0x7c00);
  EXPECT_EQ(float_to_fp16_bits(1e-7F), 0x0002);
  EXPECT_EQ(fp16_bits_to_float(0x0001), std::ldexp(1.0F, -24));
  EXPECT_EQ(fp16_bits_to_float(0x3555), 0.333251953125F);
}

}  // namespace
}  // namespace moesim::reference
