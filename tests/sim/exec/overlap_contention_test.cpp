// Overlap contention over a kernel's whole duration: the executor charges a kernel the slowdown
// only for the time communication runs beside it, re-rating it when communication starts or
// ends, with each kernel kind's own factor. Every expected end is computed by hand.
#include <gtest/gtest.h>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim {
namespace {

// 1 TFLOP/s: a kernel of 1e6 flops takes exactly 1 us. Beside communication GEMMs run 1.5x
// slower, memory-bound kinds 2x.
compute::FixedRateParams contention_params() {
  compute::FixedRateParams p;
  p.flop_rate = FlopRate::from_tflops(1.0);
  p.memory = Bandwidth::from_gbps(1e9);
  p.overlap_slowdown = 1.5;
  p.memory_bound_overlap_slowdown = 2.0;
  return p;
}

ComputeTask contention_kernel(KernelKind kind, double us) {
  ComputeTask c;
  c.kind = kind;
  c.flops.count = us * 1e6;
  return c;
}

// Ideal network, 1 GB/s and 1 us per step: a two-rank broadcast of S bytes takes 1 + S/1000 us.
CommOp contention_broadcast(Bytes bytes) {
  CommOp op;
  op.kind = CommKind::broadcast;
  op.ranks = {RankId{0}, RankId{1}};
  op.bytes = bytes;
  return op;
}

struct ContentionRun {
  compute::FixedRateComputeModel compute{contention_params()};
  network::IdealNetworkModel network{Bandwidth::from_gbps(1.0), SimTime::from_us(1)};
  ExecutionRecord run(const TaskGraph& g) {
    SimulatedExecutor executor(compute, network);
    return executor.run(g);
  }
};

SimTime contention_end(const ExecutionRecord& r, TaskId t) { return r.tasks[t.index()].end; }

// A 10 us GEMM alone from 0; a broadcast starts at 5 us (after a 5 us delay on rank 0's comm
// stream) and runs 21 us. Half the work is done alone; the other half (5 us alone) takes
// 5 * 1.5 = 7.5 us: end 12.5 us, not 15 (a snapshot at the start would charge nothing: 10 us).
TEST(OverlapContention, KernelPaysOnlyForTheHalfCommunicationOverlaps) {
  ContentionRun f;
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  const TaskId k = g.add_compute("k", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
  g.add_delay("wait", RankId{0}, ms, SimTime::from_us(5));
  const std::vector<TaskId> bc = g.add_collective("bc", contention_broadcast(Bytes{20'000}), ms);
  const ExecutionRecord r = f.run(g);
  EXPECT_EQ(r.tasks[bc[0].index()].start, SimTime::from_us(5));
  EXPECT_EQ(contention_end(r, bc[0]), SimTime::from_us(26));
  EXPECT_EQ(contention_end(r, k), SimTime::from_ps(12'500'000));
}

// A 10 us GEMM beside a 3 us broadcast, both from 0: 3 us at 1.5x does 2 us of its work; the
// 8 us left run alone: end 11 us (a snapshot would charge 15). Whichever of the two the
// executor starts first at that instant.
TEST(OverlapContention, KernelBesideCommunicationThatEndsEarlyRunsAloneAfterIt) {
  for (const bool kernel_first : {true, false}) {
    ContentionRun f;
    TaskGraph g;
    const StreamId cs = g.stream("compute");
    const StreamId ms = g.stream("comm");
    TaskId k;
    if (kernel_first)
      k = g.add_compute("k", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
    const std::vector<TaskId> bc = g.add_collective("bc", contention_broadcast(Bytes{2'000}), ms);
    if (!kernel_first) {
      k = g.add_compute("k", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
    }
    const ExecutionRecord r = f.run(g);
    EXPECT_EQ(contention_end(r, bc[0]), SimTime::from_us(3));
    EXPECT_EQ(contention_end(r, k), SimTime::from_us(11)) << "kernel first: " << kernel_first;
  }
}

// Communication that starts and ends inside a 10 us GEMM, over [2, 5): 2 us alone (2 us of
// work), 3 us at 1.5x (2 us of work), the 6 us left alone: end 11 us.
TEST(OverlapContention, CommunicationInsideAKernelCostsItsOverlapOnly) {
  ContentionRun f;
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  const TaskId k = g.add_compute("k", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
  g.add_delay("wait", RankId{0}, ms, SimTime::from_us(2));
  const std::vector<TaskId> bc = g.add_collective("bc", contention_broadcast(Bytes{2'000}), ms);
  const ExecutionRecord r = f.run(g);
  EXPECT_EQ(contention_end(r, bc[0]), SimTime::from_us(5));
  EXPECT_EQ(contention_end(r, k), SimTime::from_us(11));
}

// Beside a 101 us broadcast, a 10 us GEMM on rank 0 takes 15 us (1.5x) and a 10 us elementwise
// kernel on rank 1 20 us (the memory-bound factor, 2x).
TEST(OverlapContention, ComputeAndMemoryBoundKindsPayTheirOwnFactor) {
  ContentionRun f;
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  g.add_collective("bc", contention_broadcast(Bytes{100'000}), ms);
  const TaskId gemm = g.add_compute("gemm", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
  const TaskId add =
      g.add_compute("add", RankId{1}, cs, contention_kernel(KernelKind::elementwise, 10));
  const ExecutionRecord r = f.run(g);
  EXPECT_EQ(contention_end(r, gemm), SimTime::from_us(15));
  EXPECT_EQ(contention_end(r, add), SimTime::from_us(20));
}

// A re-rated kernel ends once, and its stream successor starts at the re-rated end: a 10 us
// GEMM slowed from 5 us on (end 12.5 us) then a 1 us one beside the broadcast (1.5 us).
TEST(OverlapContention, TheSuccessorOfAReratedKernelStartsAtItsNewEnd) {
  ContentionRun f;
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  const TaskId a = g.add_compute("a", RankId{0}, cs, contention_kernel(KernelKind::gemm, 10));
  const TaskId b = g.add_compute("b", RankId{0}, cs, contention_kernel(KernelKind::gemm, 1));
  g.add_delay("wait", RankId{0}, ms, SimTime::from_us(5));
  g.add_collective("bc", contention_broadcast(Bytes{20'000}), ms);
  const ExecutionRecord r = f.run(g);
  EXPECT_EQ(r.tasks[b.index()].start, contention_end(r, a));
  EXPECT_EQ(contention_end(r, a), SimTime::from_ps(12'500'000));
  EXPECT_EQ(contention_end(r, b), SimTime::from_ps(14'000'000));
}

}  // namespace
}  // namespace moesim
