// The held-out check over several seeds: mean +- sd, and the guard on the published H100
// sample's held-out error (README "moesim calibrate"): mean MAPE over seeds 1-5 within 10%, the
// GEMM band of issue 13 (traces/reference/gemm_accuracy.json).
#include "sim/calibration/holdout_summary.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "sim/io/measurement_json.hpp"
#include "tests/testdata.hpp"

namespace moesim::calibration {
namespace {

TEST(MeanSd, SampleStandardDeviation) {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};
  const MeanSd m = mean_sd(v);
  EXPECT_DOUBLE_EQ(m.mean, 5.0);
  EXPECT_NEAR(m.sd, 2.138, 1e-3);  // sqrt(32 / 7)
  EXPECT_DOUBLE_EQ(mean_sd(std::vector<double>{3.0}).sd, 0.0);
}

TEST(HoldoutSummary, PublishedH100SampleMeanOverFiveSeedsWithinTenPercent) {
  const std::vector<MeasurementSet> sets{io::load_measurements(
      testing::source_path("traces/measured/h100-published/xla_matmul_sm90_bf16.json"))};
  const HoldoutSummary s = check_holdout_seeds(sets, 0.2, 1, 5);
  ASSERT_EQ(s.reports.size(), 5u);
  for (const HoldoutReport& r : s.reports) EXPECT_EQ(r.rows.size(), 75u);
  // Different seeds hold out different rows: the spread is real, not zero.
  EXPECT_GT(s.mape_all().sd, 0.0);
  EXPECT_LE(s.mape_all().mean, 0.10);
  EXPECT_LE(s.mape_covered().mean, 0.10);
}

}  // namespace
}  // namespace moesim::calibration
