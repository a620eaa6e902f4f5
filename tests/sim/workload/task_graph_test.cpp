#include "sim/workload/task_graph.hpp"

#include <gtest/gtest.h>

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

}  // namespace moesim
