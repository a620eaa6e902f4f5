// OverlapSchedule: the planners' list schedule prices a kernel beside communication exactly
// when the simulated executor would (hand-built cases checked against the executor's rules).
#include "sim/strategies/overlap_schedule.hpp"

#include <gtest/gtest.h>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim::strategies {
namespace {

SimTime at_us(double v) { return SimTime::from_us(v); }

// Tutel's one-queue pipeline, comm-bound (comm 10 us per chunk, experts 4 us alone, 5 beside):
// E_i starts as D_i ends, when D_(i+1) (or C_(i-1)) starts on the queue and runs all along: every
// chunk beside communication, 5 us.
TEST(OverlapSchedule, ExpertsBesideTheNextDispatchPayTheContention) {
  OverlapSchedule q;
  const auto d0 = q.comm(0, at_us(10));
  const auto d1 = q.comm(0, at_us(10));
  const auto e0 = q.kernel(at_us(4), at_us(5), {d0});
  q.comm(0, at_us(10), {e0});
  const auto e1 = q.kernel(at_us(4), at_us(5), {d1});
  q.comm(0, at_us(10), {e1});
  EXPECT_TRUE(q.beside_comm(e0));
  EXPECT_TRUE(q.beside_comm(e1));
  EXPECT_EQ(q.end(e0), at_us(15));
  EXPECT_EQ(q.start(e1), at_us(20));
  EXPECT_EQ(q.end(e1), at_us(25));
  EXPECT_EQ(q.span(), at_us(40));  // D0 D1 C0 C1 back to back
  EXPECT_EQ(q.kernels_beside_comm(), 2);
}

// Compute-bound (comm 2 us, experts 10 us alone, 12 beside): E0 starts at 2 beside D1 [2, 4),
// 2 us at the slowed rate leave 10 us at it, 10 * 10/12 = 8.333333 us alone: end 12.333333.
// E1 starts there beside C0 (released by E0) for 2 us: end 22.666666. Picoseconds, rounded.
TEST(OverlapSchedule, AKernelPaysOnlyWhileTheCollectiveBesideItLasts) {
  OverlapSchedule q;
  const auto d0 = q.comm(0, at_us(2));
  const auto d1 = q.comm(0, at_us(2));
  const auto e0 = q.kernel(at_us(10), at_us(12), {d0});
  q.comm(0, at_us(2), {e0});
  const auto e1 = q.kernel(at_us(10), at_us(12), {d1});
  const auto c1 = q.comm(0, at_us(2), {e1});
  EXPECT_TRUE(q.beside_comm(e0));
  EXPECT_TRUE(q.beside_comm(e1));
  EXPECT_EQ(q.end(e0), SimTime::from_ps(12'333'333));
  EXPECT_EQ(q.end(e1), SimTime::from_ps(22'666'666));
  EXPECT_EQ(q.end(c1), SimTime::from_ps(24'666'666));
  EXPECT_EQ(q.kernel_total(), SimTime::from_ps(20'666'666));
}

// A kernel that starts beside a collective on another queue which ends early pays the slowed
// rate until then only: 8 us alone, 12 beside, from 2; the collective until 6: 4 us slowed leave
// 8 us at that rate, 8 * 8/12 = 5.333333 us alone: end 11.333333. A collective that follows on at
// once (adjacent) keeps it slowed all along: 2 + 12.
TEST(OverlapSchedule, ACollectiveEndingEarlySlowsTheKernelUntilItEnds) {
  OverlapSchedule q(2);
  const auto a = q.comm(1, at_us(2));  // [0, 2)
  const auto c = q.comm(0, at_us(6));  // [0, 6)
  const auto k = q.kernel(at_us(8), at_us(12), {a});
  EXPECT_EQ(q.start(k), at_us(2));
  EXPECT_EQ(q.end(k), SimTime::from_ps(11'333'333));
  OverlapSchedule chained(2);
  const auto a2 = chained.comm(1, at_us(2));
  const auto c2 = chained.comm(0, at_us(6));
  chained.comm(0, at_us(10), {c2});  // [6, 16)
  EXPECT_EQ(chained.end(chained.kernel(at_us(8), at_us(12), {a2})), at_us(14));
  (void)c;
}

// A collective added after a kernel may not overlap it: the kernel was priced without it.
TEST(OverlapSchedule, ACollectiveAddedAfterAKernelMustNotOverlapIt) {
  OverlapSchedule q;
  q.kernel(at_us(8), at_us(12));
  EXPECT_THROW(q.comm(0, at_us(1)), std::logic_error);
}

// Two comm queues (FSMoE's IIO): E0 starts as AG0 ends on the intra queue while A2A1 still
// runs on the inter queue: beside. A kernel starting as a collective ends is alone.
TEST(OverlapSchedule, ACollectiveOnAnotherQueueStillRunningCounts) {
  OverlapSchedule q(2);
  const auto a0 = q.comm(0, at_us(10));
  q.comm(0, at_us(10));                                // A2A1: [10, 20)
  const auto g0 = q.comm(1, at_us(4), {a0});           // AG0: [10, 14)
  const auto e0 = q.kernel(at_us(3), at_us(4), {g0});  // starts at 14 inside A2A1
  EXPECT_TRUE(q.beside_comm(e0));
  OverlapSchedule lone;
  const auto c = lone.comm(0, at_us(5));
  const auto k = lone.kernel(at_us(3), at_us(4), {c});
  EXPECT_FALSE(lone.beside_comm(k));
  EXPECT_EQ(lone.end(k), at_us(8));
}

// The planner's schedule and the executor agree to the picosecond on a small graph: Tutel's
// one-queue pipeline of two chunks (dispatch D0 D1, experts E0 after D0 and E1 after D1, combine
// C_i after E_i; 4 us broadcasts, 10 us GEMMs alone, 15 beside). E0 runs beside D1 only for its
// first 4 us, E1 beside C0 for its first 4 us: neither alone nor beside all along.
TEST(OverlapSchedule, MatchesTheExecutorOnAPipeline) {
  compute::FixedRateParams params;
  params.flop_rate = FlopRate::from_tflops(1.0);
  params.memory = Bandwidth::from_gbps(1e9);
  params.overlap_slowdown = 1.5;
  const compute::FixedRateComputeModel compute(params);
  network::IdealNetworkModel network(Bandwidth::from_gbps(1.0), SimTime::from_us(1));
  ComputeTask expert;
  expert.kind = KernelKind::gemm;
  expert.flops.count = 10e6;
  CommOp bcast;
  bcast.kind = CommKind::broadcast;
  bcast.ranks = {RankId{0}, RankId{1}};
  bcast.bytes = Bytes{3'000};  // 1 + 3 us

  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  const TaskId d0 = g.add_collective("d0", bcast, ms)[0];
  const TaskId d1 = g.add_collective("d1", bcast, ms)[0];
  const TaskId e0 = g.add_compute("e0", RankId{0}, cs, expert);
  g.depend(d0, e0);
  const TaskId c0 = g.add_collective("c0", bcast, ms)[0];
  g.depend(e0, c0);
  const TaskId e1 = g.add_compute("e1", RankId{0}, cs, expert);
  g.depend(d1, e1);
  const TaskId c1 = g.add_collective("c1", bcast, ms)[0];
  g.depend(e1, c1);
  SimulatedExecutor executor(compute, network);
  const ExecutionRecord r = executor.run(g);

  const SimTime comm = network.estimate(bcast);
  const SimTime alone = compute.duration(expert, {RankId{0}, 0});
  const SimTime beside = compute.duration(expert, {RankId{0}, 1});
  OverlapSchedule q;
  const auto qd0 = q.comm(0, comm);
  const auto qd1 = q.comm(0, comm);
  const auto qe0 = q.kernel(alone, beside, {qd0});
  const auto qc0 = q.comm(0, comm, {qe0});
  const auto qe1 = q.kernel(alone, beside, {qd1});
  const auto qc1 = q.comm(0, comm, {qe1});
  const auto end_of = [&](TaskId t) { return r.tasks[t.index()].end; };
  EXPECT_EQ(q.end(qe0), end_of(e0));
  EXPECT_EQ(q.end(qc0), end_of(c0));
  EXPECT_EQ(q.end(qe1), end_of(e1));
  EXPECT_EQ(q.end(qc1), end_of(c1));
  // By hand: E0 from 4, beside D1 to 8 (4 us slowed leave 11 of 15, 11 * 10/15 = 7.333333 us
  // alone): end 15.333333; neither the alone end (14) nor the beside one (19).
  EXPECT_EQ(end_of(e0), SimTime::from_ps(15'333'333));
}

}  // namespace
}  // namespace moesim::strategies
