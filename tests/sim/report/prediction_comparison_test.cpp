// Predicted vs measured comparison on two hand-made records of one graph (no GPU needed).
#include "sim/report/prediction_comparison.hpp"

#include <gtest/gtest.h>

#include "tests/sim/report/timed_record.hpp"

namespace moesim::report {
namespace {

TEST(PredictionComparison, KindsStreamsIterationAndExposedComm) {
  // One rank: a GEMM on "compute" and an all_reduce (group {0}) on "comm".
  //   predicted: gemm [0, 10], all_reduce [0, 10]  -> fully hidden, exposed 0, makespan 10
  //   measured:  gemm [0, 20], all_reduce [5, 30]  -> exposed [20, 30] = 10, makespan 30
  // Errors: gemm (10-20)/20 = -0.5; all_reduce (10-25)/25 = -0.6; iteration (10-30)/30 = -2/3;
  // exposed comm (0-10)/10 = -1.
  TaskGraph g;
  ComputeTask mm;
  mm.kind = KernelKind::gemm;
  mm.shape = KernelShape{8, 8, 8, 1};
  const TaskId a = g.add_compute("mm", RankId{0}, g.stream("compute"), mm);
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.ranks = {RankId{0}};
  op.bytes = Bytes{64};
  const TaskId c = g.add_collective("ar", op, g.stream("comm"))[0];
  const ExecutionRecord predicted = timed_record("simulated", {{a, 0, 10}, {c, 0, 10}});
  const ExecutionRecord measured = timed_record("measured", {{a, 0, 20}, {c, 5, 30}});
  const PredictionComparison cmp = compare_predictions(g, predicted, measured);
  ASSERT_EQ(cmp.per_kind.size(), 2U);
  EXPECT_EQ(cmp.per_kind[0].key, "all_reduce");
  EXPECT_EQ(cmp.per_kind[0].tasks, 1);
  EXPECT_EQ(cmp.per_kind[0].predicted, SimTime::from_us(10));
  EXPECT_EQ(cmp.per_kind[0].measured, SimTime::from_us(25));
  EXPECT_DOUBLE_EQ(*cmp.per_kind[0].error(), -0.6);
  EXPECT_EQ(cmp.per_kind[1].key, "gemm");
  EXPECT_DOUBLE_EQ(*cmp.per_kind[1].error(), -0.5);
  ASSERT_EQ(cmp.per_stream.size(), 2U);
  EXPECT_EQ(cmp.per_stream[0].key, "comm");
  EXPECT_EQ(cmp.per_stream[0].measured, SimTime::from_us(25));
  EXPECT_EQ(cmp.per_stream[1].key, "compute");
  EXPECT_EQ(cmp.per_stream[1].measured, SimTime::from_us(20));
  EXPECT_EQ(cmp.iteration.predicted, SimTime::from_us(10));
  EXPECT_EQ(cmp.iteration.measured, SimTime::from_us(30));
  EXPECT_DOUBLE_EQ(*cmp.iteration.error(), -2.0 / 3.0);
  EXPECT_EQ(cmp.exposed_comm.predicted, SimTime::zero());
  EXPECT_EQ(cmp.exposed_comm.measured, SimTime::from_us(10));
  EXPECT_DOUBLE_EQ(*cmp.exposed_comm.error(), -1.0);
}

TEST(PredictionComparison, SumsOverRanksAndHasNoErrorForZeroMeasurement) {
  // Two ranks each with a 1 us delay predicted, 2 us measured on "host": delay row 2 vs 4 us,
  // error -0.5. A zero measurement gives no error (not a division by zero).
  TaskGraph g;
  const StreamId h = g.stream("host");
  const TaskId d0 = g.add_delay("d", RankId{0}, h, SimTime::from_us(1));
  const TaskId d1 = g.add_delay("d", RankId{1}, h, SimTime::from_us(1));
  const ExecutionRecord p = timed_record("simulated", {{d0, 0, 1}, {d1, 0, 1}});
  const ExecutionRecord m = timed_record("measured", {{d0, 0, 2}, {d1, 1, 3}});
  const PredictionComparison cmp = compare_predictions(g, p, m);
  ASSERT_EQ(cmp.per_kind.size(), 1U);
  EXPECT_EQ(cmp.per_kind[0].key, "delay");
  EXPECT_EQ(cmp.per_kind[0].tasks, 2);
  EXPECT_EQ(cmp.per_kind[0].predicted, SimTime::from_us(2));
  EXPECT_EQ(cmp.per_kind[0].measured, SimTime::from_us(4));
  EXPECT_DOUBLE_EQ(*cmp.per_kind[0].error(), -0.5);
  EXPECT_FALSE(relative_error(SimTime::from_us(1), SimTime::zero()).has_value());
  EXPECT_DOUBLE_EQ(*relative_error(SimTime::from_us(3), SimTime::from_us(2)), 0.5);
  // No communication at all: exposed comm 0 vs 0, no error.
  EXPECT_FALSE(cmp.exposed_comm.error().has_value());
}

}  // namespace
}  // namespace moesim::report
