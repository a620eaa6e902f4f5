#include "sim/calibration/calibration_profile.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "tests/sim/calibration/measured_row.hpp"

namespace moesim::calibration {
namespace {

CollectiveMeasurement ab_row(std::int64_t size, double alpha_us, double busbw_gbps) {
  // 8-rank all_reduce: busbw factor 2(n-1)/n = 1.75. Exact alpha-beta time, with the algbw and
  // busbw columns nccl-tests would print for it.
  const double t = alpha_us + static_cast<double>(size) * 1.75 / (busbw_gbps * 1e3);
  const double algbw = static_cast<double>(size) / (t * 1e3);
  return {CommKind::all_reduce, 8, 1, size, t, algbw, algbw * 1.75, 0};
}

TEST(CollectiveFit, RecoversAlphaAndBusbw) {
  // Rows from alpha = 10 us, busbw = 100 GB/s, 1 KiB .. 256 MiB. The tail's largest busbw is at
  // 256 MiB: t = 10 + 268435456*1.75/1e5 = 4707.7 us, busbw = 100 * 4697.6/4707.6 = 99.79 GB/s;
  // alpha is the median over <= 64 KiB of t - S*1.75/busbw = 10 us within 0.01 us.
  std::vector<CollectiveMeasurement> rows;
  for (std::int64_t s = 1024; s <= (256LL << 20); s *= 4) rows.push_back(ab_row(s, 10.0, 100.0));
  const CollectiveFit f = fit_collective(rows, 3);
  EXPECT_NEAR(f.busbw_gbps, 99.79, 0.01);
  EXPECT_NEAR(f.alpha_us, 10.0, 0.01);
  EXPECT_NEAR(f.bus_factor, 1.75, 1e-9);
  EXPECT_EQ(f.level, TopologyLevel::intra_node);
  EXPECT_EQ(f.source, 3);
  EXPECT_EQ(f.min_size_bytes, 1024);
  EXPECT_LT(f.mape, 0.003);
}

TEST(CollectiveFit, InterNodeLevel) {
  std::vector<CollectiveMeasurement> rows{ab_row(1024, 5.0, 50.0)};
  rows[0].nodes = 2;
  EXPECT_EQ(fit_collective(rows, 0).level, TopologyLevel::inter_node);
}

MeasurementSet small_set() {
  MeasurementSet s;
  s.provenance.source = "test";
  // 1 us at 256x256x256 (2*256^3 / 1e6 = 33.55 TFLOP/s), 10 us at 512^3 (26.8 TFLOP/s).
  s.kernels.push_back(
      {KernelKind::gemm, {256, 256, 256, 1}, DType::bf16, 1.0, Verification::pass, "", {}});
  s.kernels.push_back(
      {KernelKind::gemm, {512, 256, 256, 1}, DType::bf16, 1.5, Verification::pass, "", {}});
  // A failed verification never enters the tables.
  s.kernels.push_back(
      {KernelKind::gemm, {1024, 256, 256, 1}, DType::bf16, 0.1, Verification::fail, "", {}});
  s.contention.push_back({"gemm", "all_reduce", {256, 256, 256, 1}, 1 << 20, 10.0, 11.0});
  s.contention.push_back({"gemm", "all_gather", {256, 256, 256, 1}, 1 << 20, 10.0, 13.0});
  s.contention.push_back({"gemm", "memcpy", {256, 256, 256, 1}, 1 << 20, 10.0, 19.0});
  s.contention.push_back({"all_reduce", "gemm", {}, 1 << 20, 10.0, 30.0});  // not a GEMM victim
  return s;
}

TEST(FitProfile, TablesRooflineContention) {
  const std::vector<MeasurementSet> sets{small_set()};
  const CalibrationProfile p = fit_profile(sets);
  ASSERT_EQ(p.kernel_tables.size(), 1U);
  EXPECT_EQ(p.kernel_tables[0].points().size(), 2U);  // the failed row is left out
  // Peak = the faster of 33.554 and 2*512*256*256/1.5e6 = 44.739 TFLOP/s.
  EXPECT_NEAR(p.roofline.peak_tflops, 2.0 * 512 * 256 * 256 / 1.5e6, 1e-9);
  // Floor = the shortest kept time, 1 us (the failed 0.1 us row does not count).
  EXPECT_EQ(p.roofline.floor_us, 1.0);
  // Fallback for 4096 x 256 x 256: work 2*4096*256*256 = 536.9 MFLOP at 44.739 TFLOP/s = 12 us,
  // above the floor and the memory term.
  EXPECT_NEAR(roofline_time_us(p.roofline, KernelKind::gemm, DType::bf16, {4096, 256, 256, 1}),
              12.0, 1e-9);
  // Median of the GEMM-victim slowdowns under collectives, 1.1 and 1.3 = 1.2 (the memcpy row
  // and the collective-victim row are not communication slowing a GEMM).
  EXPECT_NEAR(p.contention.gemm_slowdown, 1.2, 1e-12);
  EXPECT_EQ(p.contention.rows, 2);
}

TEST(CalibratedComputeModel, MeasuredExactInterpolatedFallbackAndContention) {
  const std::vector<MeasurementSet> sets{small_set()};
  const CalibrationProfile p = fit_profile(sets);
  const compute::FixedRateComputeModel fallback(
      {FlopRate::from_tflops(1.0), Bandwidth::from_gbps(1.0), SimTime::zero(), 2.0, std::nullopt});
  const compute::CalibratedComputeModel model(p, fallback);
  ComputeTask t{KernelKind::gemm, {256, 256, 256, 1}, DType::bf16, Flops{2.0 * 256 * 256 * 256},
                Bytes{0},         ComputeOp{}};
  // Measured shape: exactly 1 us; with communication beside it 1.2 us.
  EXPECT_EQ(model.duration(t, {RankId{0}, 0}), SimTime::from_us(1.0));
  EXPECT_EQ(model.duration(t, {RankId{0}, 1}), SimTime::from_us(1.2));
  EXPECT_EQ(model.source_of(t), EstimateSource::measured);
  // Outside the measured m range: the fallback's roofline, 2*4096*256*256 / 1e12 s = 536.87 us.
  t.shape.m = 4096;
  t.flops = Flops{2.0 * 4096 * 256 * 256};
  EXPECT_EQ(model.source_of(t), EstimateSource::fallback);
  EXPECT_EQ(model.duration(t, {RankId{0}, 0}), fallback.duration(t, {RankId{0}, 0}));
}

// The profile measures GEMM victims only: a memory-bound table kernel beside communication takes
// the fallback's own factor for it (here 3x), a GEMM the measured 1.2.
TEST(CalibratedComputeModel, MemoryBoundTableKernelsTakeTheFallbacksContention) {
  MeasurementSet s = small_set();
  s.kernels.push_back(
      {KernelKind::layernorm, {1024, 1024, 0, 1}, DType::bf16, 4.0, Verification::pass, "", {}});
  const std::vector<MeasurementSet> sets{s};
  const CalibrationProfile p = fit_profile(sets);
  const compute::FixedRateComputeModel fallback(
      {FlopRate::from_tflops(1.0), Bandwidth::from_gbps(1.0), SimTime::zero(), 2.0, 3.0});
  const compute::CalibratedComputeModel model(p, fallback);
  ComputeOp forward;
  forward.direction = OpDirection::forward;
  ComputeTask norm{KernelKind::layernorm,
                   {1024, 1024, 0, 1},
                   DType::bf16,
                   Flops{0},
                   Bytes{4 * 1024 * 1024},
                   forward};
  ASSERT_EQ(model.source_of(norm), EstimateSource::measured);
  EXPECT_EQ(model.duration(norm, {RankId{0}, 0}), SimTime::from_us(4.0));
  EXPECT_EQ(model.duration(norm, {RankId{0}, 1}), SimTime::from_us(12.0));
  const ComputeTask g{KernelKind::gemm, {256, 256, 256, 1},
                      DType::bf16,      Flops{2.0 * 256 * 256 * 256},
                      Bytes{0},         ComputeOp{}};
  EXPECT_EQ(model.duration(g, {RankId{0}, 1}), SimTime::from_us(1.2));
}

// A table holds the rows of one pass (and for attention one mask and one fusion): a backward or
// causal task is never priced from a forward or non-causal row of its shape, and rows that
// differ in traits are not merged into one median.
TEST(CalibratedComputeModel, TasksArePricedOnlyFromRowsOfTheirOwnTraits) {
  MeasurementSet s;
  const KernelShape attn{1024, 1024, 128, 32};
  using moesim::testing::measured_row;
  s.kernels.push_back(
      measured_row(KernelKind::attention, attn, 100.0, {OpDirection::forward, false, false}));
  s.kernels.push_back(
      measured_row(KernelKind::attention, attn, 60.0, {OpDirection::forward, true, false}));
  s.kernels.push_back(
      measured_row(KernelKind::attention, attn, 250.0, {OpDirection::backward, false, false}));
  s.kernels.push_back(measured_row(KernelKind::layernorm, {1024, 1024, 0, 1}, 4.0,
                                   {OpDirection::forward, false, true}));
  // A GEMM row keeps no traits: a "backward" GEMM is the same table as a forward one.
  s.kernels.push_back(measured_row(KernelKind::gemm, {256, 256, 256, 1}, 1.0,
                                   {OpDirection::backward, true, false}));
  const std::vector<MeasurementSet> sets{s};
  const CalibrationProfile p = fit_profile(sets);
  ASSERT_EQ(p.kernel_tables.size(), 5U);  // gemm, 3 attention, layernorm forward
  const compute::FixedRateComputeModel fallback(
      {FlopRate::from_tflops(1.0), Bandwidth::from_gbps(1.0), SimTime::zero(), 2.0, std::nullopt});
  const compute::CalibratedComputeModel model(p, fallback);
  ComputeTask t{KernelKind::attention,
                attn,
                DType::bf16,
                Flops{4.0 * 1024 * 1024 * 128 * 32},
                Bytes{0},
                ComputeOp{}};
  t.op.direction = OpDirection::forward;
  t.op.fused = false;
  EXPECT_EQ(model.duration(t, {RankId{0}, 0}), SimTime::from_us(100.0));
  t.op.causal = true;
  EXPECT_EQ(model.duration(t, {RankId{0}, 0}), SimTime::from_us(60.0));
  // As the catalogue emits it: 8 heads x 4 sequences of 1024 queries, n = the causal mask's mean
  // keys (544 at 64-token tiles): per sequence the measured 1024 x 1024 x 128, batch 32.
  ComputeTask causal = t;
  causal.shape = KernelShape{4096, 544, 128, 8};
  causal.op.sequence = 1024;
  EXPECT_EQ(model.duration(causal, {RankId{0}, 0}), SimTime::from_us(60.0));
  t.op.causal = false;
  t.op.direction = OpDirection::backward;
  EXPECT_EQ(model.duration(t, {RankId{0}, 0}), SimTime::from_us(250.0));
  // No causal backward row, no fused row, no pass said: the fallback prices them.
  t.op.causal = true;
  EXPECT_EQ(model.source_of(t), EstimateSource::fallback);
  t.op.causal = false;
  t.op.fused = true;
  EXPECT_EQ(model.source_of(t), EstimateSource::fallback);
  t.op.direction = OpDirection::none;
  t.op.fused = false;
  EXPECT_EQ(model.source_of(t), EstimateSource::fallback);
  // The backward layernorm moves twice the forward's bytes: the forward row does not price it.
  ComputeTask norm{
      KernelKind::layernorm, {1024, 1024, 0, 1}, DType::bf16, Flops{0}, Bytes{0}, ComputeOp{}};
  norm.op.direction = OpDirection::forward;
  EXPECT_EQ(model.source_of(norm), EstimateSource::measured);
  norm.op.direction = OpDirection::backward;
  EXPECT_EQ(model.source_of(norm), EstimateSource::fallback);
  // A GEMM of any role and any ComputeOp finds the GEMM table.
  ComputeTask gemm{KernelKind::gemm, {256, 256, 256, 1}, DType::bf16, Flops{2.0 * 256 * 256 * 256},
                   Bytes{0},         ComputeOp{}};
  gemm.op.gemm_role = GemmRole::weight_gradient;
  EXPECT_EQ(model.duration(gemm, {RankId{0}, 0}), SimTime::from_us(1.0));
}

TEST(CheckHoldout, SameSeedSameRowsAndFraction) {
  MeasurementSet s;
  for (int m = 64; m <= 8192; m *= 2) {
    s.kernels.push_back({KernelKind::gemm,
                         {m, 512, 512, 1},
                         DType::bf16,
                         1.0 + m / 1000.0,
                         Verification::pass,
                         "",
                         {}});
  }
  const std::vector<MeasurementSet> sets{s};
  // 8 rows, holdout 0.25 -> 2 held out, 6 fitted; the same seed picks the same rows.
  const HoldoutReport a = check_holdout(sets, 0.25, 7);
  const HoldoutReport b = check_holdout(sets, 0.25, 7);
  ASSERT_EQ(a.rows.size(), 2U);
  EXPECT_EQ(a.fitted_rows, 6);
  EXPECT_EQ(a.rows[0].row.shape, b.rows[0].row.shape);
  EXPECT_EQ(a.rows[1].row.shape, b.rows[1].row.shape);
  EXPECT_THROW(check_holdout(sets, 1.5, 7), InputError);
}

}  // namespace
}  // namespace moesim::calibration
