#include "sim/compute/calibration_coverage.hpp"

#include <gtest/gtest.h>

#include "sim/calibration/calibration_profile.hpp"
#include "sim/compute/fixed_rate_compute_model.hpp"
#include "tests/sim/calibration/measured_row.hpp"

namespace moesim::compute {
namespace {

using calibration::EstimateSource;
using calibration::KernelTraits;

// Profile: one GEMM (2 us) and a forward layernorm (4 us). Graph on two ranks: the GEMM on both
// (measured), the forward layernorm (measured), its backward (fallback: no backward row) and a
// layernorm that does not say its pass (fallback). Fallback: 1 TB/s, so 8 MB take 8 us and 2 MB
// take 2 us.
TEST(CalibrationCoverage, SharesOfKernelTimeAndWhatTheFallbackPriced) {
  calibration::MeasurementSet s;
  using moesim::testing::measured_row;
  s.kernels.push_back(measured_row(KernelKind::gemm, {256, 256, 256, 1}, 2.0));
  s.kernels.push_back(measured_row(KernelKind::layernorm, {1024, 1024, 0, 1}, 4.0,
                                   {OpDirection::forward, false, true}));
  const std::vector<calibration::MeasurementSet> sets{s};
  const calibration::CalibrationProfile profile = calibration::fit_profile(sets);
  const FixedRateComputeModel fallback({FlopRate::from_tflops(1.0), Bandwidth::from_gbps(1000.0),
                                        SimTime::zero(), 2.0, std::nullopt});
  const CalibratedComputeModel model(profile, fallback);

  TaskGraph g;
  const StreamId st = g.stream("compute");
  const ComputeTask gemm{KernelKind::gemm, {256, 256, 256, 1},
                         DType::bf16,      Flops{2.0 * 256 * 256 * 256},
                         Bytes{0},         ComputeOp{}};
  ComputeTask norm{KernelKind::layernorm, {1024, 1024, 0, 1}, DType::bf16, Flops{0},
                   Bytes{8'000'000},      ComputeOp{}};
  g.add_compute("mm", RankId{0}, st, gemm);
  g.add_compute("mm", RankId{1}, st, gemm);
  norm.op.direction = OpDirection::forward;
  g.add_compute("ln", RankId{0}, st, norm);
  norm.op.direction = OpDirection::backward;
  g.add_compute("ln.bwd", RankId{0}, st, norm);
  norm.op.direction = OpDirection::none;
  norm.bytes = Bytes{2'000'000};
  g.add_compute("ln.unsaid", RankId{0}, st, norm);

  const CalibrationCoverage c = calibration_coverage(g, model);
  EXPECT_EQ(c.total_tasks(), 5);
  EXPECT_EQ(c.tasks[static_cast<std::size_t>(EstimateSource::measured)], 3);
  EXPECT_EQ(c.tasks[static_cast<std::size_t>(EstimateSource::fallback)], 2);
  // Measured 2 + 2 + 4 = 8 us, fallback 8 + 2 = 10 us.
  EXPECT_EQ(c.total_time(), SimTime::from_us(18.0));
  EXPECT_NEAR(c.time_share(EstimateSource::measured), 8.0 / 18.0, 1e-12);
  EXPECT_NEAR(c.time_share(EstimateSource::fallback), 10.0 / 18.0, 1e-12);
  ASSERT_EQ(c.uncovered.size(), 2U);
  EXPECT_EQ(c.uncovered[0].label(), "layernorm backward");
  EXPECT_EQ(c.uncovered[0].time, SimTime::from_us(8.0));
  EXPECT_EQ(c.uncovered[1].label(), "layernorm (pass unset)");
  EXPECT_EQ(c.uncovered[1].tasks, 1);
}

}  // namespace
}  // namespace moesim::compute
