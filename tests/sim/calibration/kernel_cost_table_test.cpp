#include "sim/calibration/kernel_cost_table.hpp"

#include <gtest/gtest.h>

namespace moesim::calibration {
namespace {

// A gemm table over n = k = 1: work = 2 m, so (m=256, 1 us) has rate 512 and (m=1024, 2 us) has
// rate 1024 FLOP/us.
KernelCostTable line_table() {
  KernelCostTable t(KernelKind::gemm, DType::bf16, 1);
  t.add({256, 1, 1, 1.0, 0});
  t.add({1024, 1, 1, 2.0, 0});
  t.finalize();
  return t;
}

TEST(KernelCostTable, MeasuredShapeReturnsItsTime) {
  const auto e = line_table().lookup(1024, 1, 1);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->time_us, 2.0);
  EXPECT_EQ(e->source, EstimateSource::measured);
}

TEST(KernelCostTable, InterpolatesRateInLogM) {
  // m = 512 is halfway between 256 and 1024 in log space: rate (512 + 1024) / 2 = 768, work
  // 2 * 512 = 1024 FLOP -> 1024 / 768 = 1.3333 us.
  const auto e = line_table().lookup(512, 1, 1);
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->time_us, 1024.0 / 768.0, 1e-12);
  EXPECT_EQ(e->source, EstimateSource::interpolated);
}

TEST(KernelCostTable, OutsideTheMeasuredRangeGivesNothing) {
  const KernelCostTable t = line_table();
  EXPECT_FALSE(t.lookup(128, 1, 1));
  EXPECT_FALSE(t.lookup(2048, 1, 1));
  EXPECT_FALSE(t.lookup(512, 2, 1));  // n never measured
}

TEST(KernelCostTable, RepeatsMergeIntoTheirMedian) {
  // Three repeats 3, 1, 2 us of one shape: the median 2 us is kept.
  KernelCostTable t(KernelKind::layernorm, DType::bf16, 1);
  t.add({8, 8, 0, 3.0, 0});
  t.add({8, 8, 0, 1.0, 1});
  t.add({8, 8, 0, 2.0, 2});
  t.finalize();
  ASSERT_EQ(t.points().size(), 1U);
  EXPECT_EQ(t.lookup(8, 8, 0)->time_us, 2.0);
}

TEST(KernelCostTable, InterpolatesAcrossNAndK) {
  // Four corners (m fixed at 1) with rates: n=1,k=1 -> 2 (1 us); n=4,k=1 -> 8 (1 us);
  // n=1,k=4 -> 8 (1 us); n=4,k=4 -> 32 (1 us). Query n=2, k=2 (log midpoints): rate along n at
  // k=1: (2+8)/2 = 5, at k=4: (8+32)/2 = 20; along k: (5+20)/2 = 12.5; work = 2*1*2*2 = 8 FLOP ->
  // 8 / 12.5 = 0.64 us.
  KernelCostTable t(KernelKind::gemm, DType::bf16, 1);
  t.add({1, 1, 1, 1.0, 0});
  t.add({1, 4, 1, 1.0, 0});
  t.add({1, 1, 4, 1.0, 0});
  t.add({1, 4, 4, 1.0, 0});
  t.finalize();
  const auto e = t.lookup(1, 2, 2);
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->time_us, 0.64, 1e-12);
}

TEST(KernelCostTable, NominalWork) {
  // gemm 2mnk*batch; attention 4mnk*batch; others m*n*batch elements.
  EXPECT_EQ(nominal_work(KernelKind::gemm, {2, 3, 4, 5}), 240.0);
  EXPECT_EQ(nominal_work(KernelKind::attention, {2, 3, 4, 1}), 96.0);
  EXPECT_EQ(nominal_work(KernelKind::permute, {2, 3, 0, 1}), 6.0);
}

}  // namespace
}  // namespace moesim::calibration
