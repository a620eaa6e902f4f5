#include "sim/workload/task_graph.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "sim/core/errors.hpp"

namespace moesim {

TEST(TaskGraph, InternsNamesAndStreams) {
  TaskGraph g;
  const StreamId a = g.stream("compute");
  const StreamId b = g.stream("comm");
  EXPECT_EQ(g.stream("compute"), a);
  EXPECT_NE(a, b);
  g.add_compute("gemm", RankId{0}, a, {});
  g.add_compute("gemm", RankId{3}, a, {});
  EXPECT_EQ(g.names().size(), 1u) << "the same name on two ranks is stored once";
  EXPECT_EQ(g.rank_count(), 4u);
}

TEST(TaskGraph, EqualKernelsAreStoredOnceAndEachTaskReadsItsOwn) {
  TaskGraph g;
  const StreamId s = g.stream("compute");
  ComputeTask gemm;
  gemm.kind = KernelKind::gemm;
  gemm.shape = {4096, 7168, 2048, 1};
  gemm.flops = Flops{2.0 * 4096 * 7168 * 2048};
  gemm.op.gemm_role = GemmRole::forward;
  ComputeTask permute;
  permute.kind = KernelKind::permute;
  permute.op.tokens_per_expert = std::vector<std::int64_t>{3, 1, 4};
  ComputeTask other_counts = permute;
  other_counts.op.tokens_per_expert = std::vector<std::int64_t>{3, 1, 5};
  ComputeTask wgrad = gemm;
  wgrad.op.gemm_role = GemmRole::weight_gradient;  // same cost, another kernel
  std::vector<TaskId> ids;
  for (std::uint32_t r = 0; r < 64; ++r) {
    ids.push_back(g.add_compute("fc1", RankId{r}, s, gemm));
    ids.push_back(g.add_compute("permute", RankId{r}, s, permute));
  }
  const TaskId changed = g.add_compute("permute", RankId{0}, s, other_counts);
  const TaskId dw = g.add_compute("fc1.dw", RankId{0}, s, wgrad);
  const TaskId delay = g.add_delay("launch", RankId{1}, s, SimTime::from_us(5));
  EXPECT_EQ(g.distinct_kernel_count(), 4u) << "128 tasks of 2 kernels, then 2 new kernels";
  for (std::size_t i = 0; i < ids.size(); i += 2) {
    EXPECT_EQ(*g.compute_of(ids[i]), gemm);
    EXPECT_EQ(*g.compute_of(ids[i + 1]), permute);
    EXPECT_EQ(g.task(ids[i]).rank.value, i / 2);
  }
  EXPECT_EQ(g.compute_of(changed)->op.tokens_per_expert[2], 5);
  EXPECT_EQ(g.compute_of(dw)->op.gemm_role, GemmRole::weight_gradient);
  EXPECT_EQ(g.flops_of(dw).count, gemm.flops.count);
  EXPECT_EQ(g.compute_of(delay), nullptr);
  EXPECT_FALSE(g.comm_of(delay).has_value());
  EXPECT_EQ(*g.delay_of(delay), SimTime::from_us(5));
  EXPECT_FALSE(g.delay_of(dw).has_value());
}

TEST(TaskGraph, CollectiveCreatesOneMemberPerRank) {
  TaskGraph g;
  const StreamId s = g.stream("comm");
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.ranks = {RankId{2}, RankId{0}, RankId{1}};
  op.bytes = mib(1);
  const auto members = g.add_collective("ar", op, s);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(g.task(members[0]).rank, RankId{2});
  EXPECT_EQ(g.bytes_of(members[1]).count, mib(1).count);
  EXPECT_NO_THROW(g.validate());
}

TEST(TaskGraph, ValidateRejectsIncompleteCommunication) {
  TaskGraph g;
  const StreamId s = g.stream("comm");
  CommOp op;
  op.kind = CommKind::all_gather;
  op.ranks = {RankId{0}, RankId{1}};
  op.bytes = kib(4);
  const CommId c = g.add_comm("ag", op);
  g.add_comm_member(c, RankId{0}, s);
  try {
    g.validate();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "comm 'ag': not every rank of the group has a member task (got 1, expected 2)");
  }
}

TEST(TaskGraph, ValidateRejectsMatrixOfWrongSize) {
  TaskGraph g;
  const StreamId s = g.stream("comm");
  CommOp op;
  op.kind = CommKind::all_to_all_v;
  op.ranks = {RankId{0}, RankId{1}};
  op.matrix = std::make_shared<ByteMatrix>(3);
  g.add_collective("a2av", op, s);
  EXPECT_THROW(g.validate(), InputError);
}

TEST(ByteMatrix, SizeFollowsNcclTestsAlltoallv) {
  // Rank 0 sends 10 to rank 1, rank 1 sends 30 to rank 0 and keeps 5: size = max(35, 30, ...).
  ByteMatrix m(2);
  m.set(0, 1, 10);
  m.set(1, 0, 30);
  m.set(1, 1, 5);
  EXPECT_EQ(m.sent_by(1), 35);
  EXPECT_EQ(m.received_by(0), 30);
  EXPECT_EQ(all_to_all_v_size(m).count, 35);
}

namespace {
struct GrowthCounts final : TaskGraphGrowthListener {
  std::vector<std::size_t> heard;
  void tasks_added(std::size_t tasks) override { heard.push_back(tasks); }
};
}  // namespace

// The listener hears of every 2^20 tasks while attached, and nothing once detached.
TEST(TaskGraph, AGrowthListenerHearsOfEveryMillionTasks) {
  TaskGraph g(1);
  const StreamId s = g.stream("host");
  GrowthCounts counts;
  g.set_growth_listener(&counts);
  const std::size_t step = TaskGraph::kGrowthReportTasks;
  for (std::size_t i = 0; i < 2 * step + 5; ++i) g.add_delay("d", RankId{0}, s, SimTime::zero());
  EXPECT_EQ(counts.heard, (std::vector<std::size_t>{step, 2 * step}));
  g.set_growth_listener(nullptr);
  for (std::size_t i = 0; i < step; ++i) g.add_delay("d", RankId{0}, s, SimTime::zero());
  EXPECT_EQ(counts.heard.size(), 2u);
}

}  // namespace moesim
