#include "sim/exec/simulated_executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim {
namespace {

// 1 TFLOP/s compute: a kernel of 1e6 flops takes exactly 1 us (memory is never the bound here).
compute::FixedRateParams one_tflops() {
  compute::FixedRateParams p;
  p.flop_rate = FlopRate::from_tflops(1.0);
  p.memory = Bandwidth::from_gbps(1e9);
  return p;
}

ComputeTask kernel_us(double us) {
  ComputeTask c;
  c.kind = KernelKind::gemm;
  c.flops.count = us * 1e6;
  return c;
}

CommOp all_reduce(std::vector<RankId> ranks, Bytes bytes) {
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.ranks = std::move(ranks);
  op.bytes = bytes;
  return op;
}

struct Fixture {
  compute::FixedRateComputeModel compute{one_tflops()};
  // 1 GB/s (1e9 B/s) links, 1 us latency per step.
  network::IdealNetworkModel network{Bandwidth::from_gbps(1.0), SimTime::from_us(1)};
  SimulatedExecutor executor{compute, network};
};

double start_us(const ExecutionRecord& r, TaskId t) { return r.tasks[t.index()].start.us(); }
double end_us(const ExecutionRecord& r, TaskId t) { return r.tasks[t.index()].end.us(); }

}  // namespace

TEST(SimulatedExecutor, StreamRunsTasksInOrder) {
  // One stream: 2 us then 3 us kernels -> [0,2] and [2,5].
  Fixture f;
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId a = g.add_compute("a", RankId{0}, s, kernel_us(2));
  const TaskId b = g.add_compute("b", RankId{0}, s, kernel_us(3));
  const ExecutionRecord r = f.executor.run(g);
  EXPECT_DOUBLE_EQ(end_us(r, a), 2.0);
  EXPECT_DOUBLE_EQ(start_us(r, b), 2.0);
  EXPECT_DOUBLE_EQ(end_us(r, b), 5.0);
  EXPECT_DOUBLE_EQ(r.makespan().us(), 5.0);
}

TEST(SimulatedExecutor, ThreeStreamsWithCrossStreamDependencies) {
  // Rank 0, streams compute / comm / copy:
  //   compute: k1 [0,4]          k2 [4,6]
  //   comm:    d1 (delay 3, after k1) [4,7]
  //   copy:    d2 (delay 1, after d1 and k2) [7,8]
  //   compute: k3 (after d2) [8,10] - waits for d2 although its stream is free at 6.
  Fixture f;
  TaskGraph g;
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm");
  const StreamId copy = g.stream("copy");
  const TaskId k1 = g.add_compute("k1", RankId{0}, compute, kernel_us(4));
  const TaskId d1 = g.add_delay("d1", RankId{0}, comm, SimTime::from_us(3));
  const TaskId k2 = g.add_compute("k2", RankId{0}, compute, kernel_us(2));
  const TaskId d2 = g.add_delay("d2", RankId{0}, copy, SimTime::from_us(1));
  const TaskId k3 = g.add_compute("k3", RankId{0}, compute, kernel_us(2));
  g.depend(k1, d1);
  g.depend(d1, d2);
  g.depend(k2, d2);
  g.depend(d2, k3);
  const ExecutionRecord r = f.executor.run(g);
  EXPECT_DOUBLE_EQ(start_us(r, d1), 4.0);
  EXPECT_DOUBLE_EQ(end_us(r, d1), 7.0);
  EXPECT_DOUBLE_EQ(end_us(r, k2), 6.0);
  EXPECT_DOUBLE_EQ(start_us(r, d2), 7.0);
  EXPECT_DOUBLE_EQ(start_us(r, k3), 8.0);
  EXPECT_DOUBLE_EQ(end_us(r, k3), 10.0);
}

TEST(SimulatedExecutor, CollectiveStartsWhenTheLastMemberArrives) {
  // Rank 0 computes 1 us, rank 1 computes 5 us, then both all-reduce 1e6 bytes over 2 ranks:
  // ideal ring time = 2(n-1) * 1 us + 2(n-1)/n * 1e6 B / 1e9 B/s = 2 us + 1000 us = 1002 us.
  // It starts at 5 us (rank 1 arrives last) and ends at 1007 us on both ranks.
  Fixture f;
  TaskGraph g;
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm");
  const TaskId k0 = g.add_compute("k", RankId{0}, compute, kernel_us(1));
  const TaskId k1 = g.add_compute("k", RankId{1}, compute, kernel_us(5));
  const auto ar = g.add_collective("ar", all_reduce({RankId{0}, RankId{1}}, {1'000'000}), comm);
  g.depend(k0, ar[0]);
  g.depend(k1, ar[1]);
  const ExecutionRecord r = f.executor.run(g);
  EXPECT_DOUBLE_EQ(start_us(r, ar[0]), 5.0);
  EXPECT_DOUBLE_EQ(start_us(r, ar[1]), 5.0);
  EXPECT_DOUBLE_EQ(end_us(r, ar[0]), 1007.0);
  EXPECT_DOUBLE_EQ(end_us(r, ar[1]), 1007.0);
}

TEST(SimulatedExecutor, YieldingCollectiveWaitsForTheOtherCommunicationOfItsRanks) {
  // "a2a" (1002 us, as above) starts at 0 on ranks 0 and 1; "grad" over ranks 1 and 2 is ready
  // at 0 but yields: it starts when a2a ends on rank 1 (1002 us). "late" over ranks 0 and 1
  // becomes ready at 2 us, while grad is parked, and runs at once: a yielding operation holds
  // nobody back. "grad2" over ranks 2 and 3 (its own stream), with no other communication
  // running there (grad is parked, and yields anyway), starts at 0.
  Fixture f;
  TaskGraph g;
  const StreamId comm = g.stream("comm");
  const StreamId grad_stream = g.stream("grad");
  const StreamId side = g.stream("side");
  const auto a2a = g.add_collective("a2a", all_reduce({RankId{0}, RankId{1}}, {1'000'000}), comm);
  const auto grad =
      g.add_collective("grad", all_reduce({RankId{1}, RankId{2}}, {1'000'000}), grad_stream);
  g.set_yields(*g.comm_of(grad[0]));
  const TaskId k0 = g.add_compute("k", RankId{0}, side, kernel_us(2));
  const TaskId k1 = g.add_compute("k", RankId{1}, side, kernel_us(2));
  const auto late = g.add_collective("late", all_reduce({RankId{0}, RankId{1}}, {1000}), side);
  g.depend(k0, late[0]);
  g.depend(k1, late[1]);
  const auto grad2 =
      g.add_collective("grad2", all_reduce({RankId{2}, RankId{3}}, {1'000'000}), g.stream("grad2"));
  g.set_yields(*g.comm_of(grad2[0]));
  const ExecutionRecord r = f.executor.run(g);
  EXPECT_DOUBLE_EQ(start_us(r, a2a[0]), 0.0);
  EXPECT_DOUBLE_EQ(start_us(r, late[0]), 2.0);
  const double late_end = end_us(r, late[0]);
  EXPECT_DOUBLE_EQ(start_us(r, grad[0]), std::max(1002.0, late_end));
  EXPECT_DOUBLE_EQ(start_us(r, grad[1]), start_us(r, grad[0]));
  EXPECT_DOUBLE_EQ(start_us(r, grad2[0]), 0.0);
}

TEST(SimulatedExecutor, KernelOverlappingCommunicationIsSlowedDown) {
  // A 10 us kernel that starts while an all-reduce runs on its GPU takes 10 * 1.5 = 15 us.
  compute::FixedRateParams p = one_tflops();
  p.overlap_slowdown = 1.5;
  compute::FixedRateComputeModel compute(p);
  network::IdealNetworkModel network(Bandwidth::from_gbps(1.0), SimTime::from_us(1));
  SimulatedExecutor executor(compute, network);
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  g.add_collective("ar", all_reduce({RankId{0}, RankId{1}}, {1'000'000}), ms);
  const TaskId k = g.add_compute("k", RankId{0}, cs, kernel_us(10));
  const ExecutionRecord r = executor.run(g);
  EXPECT_DOUBLE_EQ(end_us(r, k) - start_us(r, k), 15.0);
}

TEST(SimulatedExecutor, OppositeCollectiveOrderIsReportedAsDeadlock) {
  // Rank 0 issues A then B on one stream, rank 1 issues B then A: neither can start.
  Fixture f;
  TaskGraph g;
  const StreamId s = g.stream("comm");
  const CommId a = g.add_comm("A", all_reduce({RankId{0}, RankId{1}}, {8}));
  const CommId b = g.add_comm("B", all_reduce({RankId{0}, RankId{1}}, {8}));
  g.add_comm_member(a, RankId{0}, s);
  g.add_comm_member(b, RankId{0}, s);
  g.add_comm_member(b, RankId{1}, s);
  g.add_comm_member(a, RankId{1}, s);
  try {
    f.executor.run(g);
    FAIL() << "expected SimulationError";
  } catch (const SimulationError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dependency cycle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'A'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'B'"), std::string::npos) << msg;
  }
}

TEST(SimulatedExecutor, SameGraphTwiceGivesIdenticalRecords) {
  Fixture f1;
  Fixture f2;
  TaskGraph g;
  const StreamId cs = g.stream("compute");
  const StreamId ms = g.stream("comm");
  for (std::uint32_t r = 0; r < 4; ++r) {
    for (int i = 0; i < 10; ++i) g.add_compute("k", RankId{r}, cs, kernel_us(1.0 + r + i));
  }
  g.add_collective("ar", all_reduce({RankId{0}, RankId{1}, RankId{2}, RankId{3}}, {4096}), ms);
  const ExecutionRecord a = f1.executor.run(g);
  const ExecutionRecord b = f2.executor.run(g);
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    EXPECT_EQ(a.tasks[i].start, b.tasks[i].start);
    EXPECT_EQ(a.tasks[i].end, b.tasks[i].end);
  }
}

}  // namespace moesim

namespace moesim {
namespace {

struct RecordingListener final : ExecutionProgressListener {
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  void tasks_finished(std::size_t finished, std::size_t total) override {
    calls.emplace_back(finished, total);
  }
};

}  // namespace

// A listener hears every kProgressTasks finished tasks and once at the end, with the graph's
// size; the run is the same with or without one.
TEST(SimulatedExecutor, AListenerHearsOfTheTasksAsTheyFinish) {
  const std::size_t n = 2 * SimulatedExecutor::kProgressTasks + 5;
  TaskGraph g;
  const StreamId s = g.stream("compute");
  for (std::size_t i = 0; i < n; ++i) g.add_compute("k", RankId{0}, s, kernel_us(1));
  compute::FixedRateComputeModel compute{one_tflops()};
  network::IdealNetworkModel network{Bandwidth::from_gbps(1.0), SimTime::from_us(1)};
  RecordingListener listener;
  const ExecutionRecord heard = SimulatedExecutor(compute, network, &listener).run(g);
  const std::vector<std::pair<std::size_t, std::size_t>> expected = {
      {SimulatedExecutor::kProgressTasks, n}, {2 * SimulatedExecutor::kProgressTasks, n}, {n, n}};
  EXPECT_EQ(listener.calls, expected);
  const ExecutionRecord quiet = SimulatedExecutor(compute, network).run(g);
  EXPECT_EQ(heard.makespan(), quiet.makespan());
  EXPECT_DOUBLE_EQ(heard.makespan().us(), static_cast<double>(n));
}

namespace {

/// A 1 TFLOP/s model that counts its calls and says it reads the rank or not, as told.
class CountingModel final : public compute::ComputeModel {
 public:
  explicit CountingModel(bool reads_rank) : reads_rank_(reads_rank) {}
  std::string_view name() const override { return "counting"; }
  SimTime duration(const ComputeTask& task, const compute::ComputeContext& context) const override {
    ++calls;
    return inner_.duration(task, context);
  }
  bool reads_rank() const override { return reads_rank_; }
  mutable int calls = 0;

 private:
  compute::FixedRateComputeModel inner_{one_tflops()};
  bool reads_rank_;
};

}  // namespace

// Four tasks of one kernel on two ranks, nothing communicating: a model that ignores the rank is
// asked once for the kernel, one that may read it once per task; the record is the same.
TEST(SimulatedExecutor, AKernelAloneIsAskedOnceWhenTheModelIgnoresTheRank) {
  TaskGraph g(2);
  const StreamId s = g.stream("compute");
  for (std::uint32_t r = 0; r < 2; ++r) {
    g.add_compute("k", RankId{r}, s, kernel_us(2));
    g.add_compute("k", RankId{r}, s, kernel_us(2));
  }
  network::IdealNetworkModel network{Bandwidth::from_gbps(1.0), SimTime::from_us(1)};
  const CountingModel ignores(false);
  const CountingModel reads(true);
  const ExecutionRecord once = SimulatedExecutor(ignores, network).run(g);
  const ExecutionRecord each = SimulatedExecutor(reads, network).run(g);
  EXPECT_EQ(ignores.calls, 1);
  EXPECT_EQ(reads.calls, 4);
  ASSERT_EQ(once.tasks.size(), each.tasks.size());
  for (std::size_t i = 0; i < once.tasks.size(); ++i) {
    EXPECT_EQ(once.tasks[i].start, each.tasks[i].start);
    EXPECT_EQ(once.tasks[i].end, each.tasks[i].end);
  }
  EXPECT_DOUBLE_EQ(once.makespan().us(), 4.0);
}

}  // namespace moesim
