#include "sim/calibration/profile_estimate_memo.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/sim/calibration/measured_row.hpp"

namespace moesim::calibration {
namespace {

// GEMM rows at 256 and 1024 rows over n = k = 256 (an interpolated m lies between them), and a
// causal forward attention row of one sequence shape.
CalibrationProfile small_profile() {
  MeasurementSet s;
  using moesim::testing::measured_row;
  s.kernels.push_back(measured_row(KernelKind::gemm, {256, 256, 256, 1}, 1.0));
  s.kernels.push_back(measured_row(KernelKind::gemm, {1024, 256, 256, 1}, 3.0));
  s.kernels.push_back(measured_row(KernelKind::attention, {1024, 1024, 128, 32}, 60.0,
                                   {OpDirection::forward, true, false}));
  const std::vector<MeasurementSet> sets{s};
  return fit_profile(sets);
}

ComputeTask gemm(std::int64_t m) {
  return ComputeTask{KernelKind::gemm,           {m, 256, 256, 1}, DType::bf16,
                     Flops{2.0 * m * 256 * 256}, Bytes{0},         ComputeOp{}};
}

void expect_same(const std::optional<KernelEstimate>& a, const std::optional<KernelEstimate>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_EQ(a->time_us, b->time_us);
  EXPECT_EQ(a->source, b->source);
}

TEST(ProfileEstimateMemo, AnswersAsTheProfileDoes) {
  const CalibrationProfile p = small_profile();
  const ProfileEstimateMemo memo(p);
  ComputeTask attention{
      KernelKind::attention, {4096, 544, 128, 8}, DType::bf16, Flops{1.0}, Bytes{0}, ComputeOp{}};
  attention.op.direction = OpDirection::forward;
  attention.op.causal = true;
  attention.op.fused = false;
  attention.op.sequence = 1024;
  ComputeTask no_pass = attention;
  no_pass.op.direction = OpDirection::none;
  // Measured, interpolated, out of the measured range, attention in its per-sequence form, and a
  // task no table may price; each asked twice (the second answer is from memory).
  for (int round = 0; round < 2; ++round) {
    for (const ComputeTask& t : {gemm(256), gemm(512), gemm(8192), attention, no_pass})
      expect_same(memo.estimate(t), p.estimate(t));
  }
  EXPECT_EQ(memo.estimate(gemm(256))->source, EstimateSource::measured);
  EXPECT_EQ(memo.estimate(gemm(512))->source, EstimateSource::interpolated);
  EXPECT_FALSE(memo.estimate(gemm(8192)).has_value());
  EXPECT_EQ(memo.estimate(attention)->time_us, 60.0);
  // Four queries: the task without a pass never reaches the profile.
  EXPECT_EQ(memo.size(), 4U);
}

TEST(ProfileEstimateMemo, TasksThatDifferOnlyInWhatNoTableReadsShareAnEntry) {
  const CalibrationProfile p = small_profile();
  const ProfileEstimateMemo memo(p);
  ComputeTask a = gemm(512);
  ComputeTask b = a;
  b.op.gemm_role = GemmRole::weight_gradient;  // a GEMM's role is a layout, not a table key
  b.op.parameters = 7;
  expect_same(memo.estimate(a), memo.estimate(b));
  EXPECT_EQ(memo.size(), 1U);
  ComputeTask c = a;
  c.dtype = DType::fp16;  // another dtype is another query (and here no table)
  EXPECT_FALSE(memo.estimate(c).has_value());
  EXPECT_EQ(memo.size(), 2U);
}

TEST(ProfileEstimateMemo, ThreadsSharingOneMemoGetTheProfilesAnswers) {
  const CalibrationProfile p = small_profile();
  const ProfileEstimateMemo memo(p);
  constexpr int kThreads = 4;
  std::vector<std::vector<std::optional<KernelEstimate>>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&memo, &seen, i] {
      for (std::int64_t m = 128; m <= 2048; m += 16) seen[i].push_back(memo.estimate(gemm(m)));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    std::size_t j = 0;
    for (std::int64_t m = 128; m <= 2048; m += 16, ++j)
      expect_same(seen[i][j], p.estimate(gemm(m)));
  }
  EXPECT_EQ(memo.size(), seen[0].size());
}

}  // namespace
}  // namespace moesim::calibration
