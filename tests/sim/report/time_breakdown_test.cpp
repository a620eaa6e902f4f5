// Time breakdown and stream timeline on a hand-made two-rank record.
#include "sim/report/time_breakdown.hpp"

#include <gtest/gtest.h>

#include "sim/report/stream_timeline.hpp"
#include "tests/sim/report/timed_record.hpp"

namespace moesim::report {
namespace {

// Rank 0: gemm [0, 10] on compute, all_reduce [6, 14] on comm.
// Rank 1: gemm [0, 4], all_reduce [6, 14] (the same op), then a gemm [14, 20].
// Makespan 20.
//   rank 0: compute alone [0, 6] = 6, overlapped [6, 10] = 4, exposed [10, 14] = 4, idle 6
//   rank 1: compute alone 4 + 6 = 10, overlapped 0, exposed [6, 14] = 8, idle [4, 6] = 2
struct TwoRanks {
  TaskGraph g{2};
  ExecutionRecord r{"simulated", "", {}};
  TwoRanks() {
    ComputeTask mm;
    mm.kind = KernelKind::gemm;
    const StreamId compute = g.stream("compute");
    const TaskId a0 = g.add_compute("mm", RankId{0}, compute, mm);
    const TaskId a1 = g.add_compute("mm", RankId{1}, compute, mm);
    CommOp op;
    op.kind = CommKind::all_reduce;
    op.group = CommGroup::ep;
    op.ranks = {RankId{0}, RankId{1}};
    op.bytes = Bytes{64};
    const auto c = g.add_collective("ar", op, g.stream("comm"));
    const TaskId b1 = g.add_compute("mm2", RankId{1}, compute, mm);
    r = timed_record("simulated",
                     {{a0, 0, 10}, {a1, 0, 4}, {c[0], 6, 14}, {c[1], 6, 14}, {b1, 14, 20}});
  }
};

TEST(TimeBreakdown, PartsOfEachRankAddUpToTheMakespan) {
  const TwoRanks t;
  const IterationSummary s = summarize(t.g, t.r);
  ASSERT_EQ(s.makespan, SimTime::from_us(20));
  const TimeBreakdown r0 = time_breakdown(s.per_rank[0], s.makespan);
  EXPECT_EQ(r0.compute_only, SimTime::from_us(6));
  EXPECT_EQ(r0.overlapped_comm, SimTime::from_us(4));
  EXPECT_EQ(r0.exposed_comm, SimTime::from_us(4));
  EXPECT_EQ(r0.idle, SimTime::from_us(6));
  const TimeBreakdown r1 = time_breakdown(s.per_rank[1], s.makespan);
  EXPECT_EQ(r1.compute_only, SimTime::from_us(10));
  EXPECT_EQ(r1.overlapped_comm, SimTime::zero());
  EXPECT_EQ(r1.exposed_comm, SimTime::from_us(8));
  EXPECT_EQ(r1.idle, SimTime::from_us(2));
  const TimeBreakdown mean = mean_time_breakdown(s);
  EXPECT_EQ(mean.compute_only, SimTime::from_us(8));
  EXPECT_EQ(mean.overlapped_comm, SimTime::from_us(2));
  EXPECT_EQ(mean.exposed_comm, SimTime::from_us(6));
  EXPECT_EQ(mean.idle, SimTime::from_us(4));
  EXPECT_EQ(mean.total(), s.makespan);
  EXPECT_EQ(mean.exposed_comm, s.mean_exposed_comm());
}

TEST(StreamTimeline, RankZeroAndTheLastToFinishStreamByStream) {
  const TwoRanks t;
  const IterationSummary s = summarize(t.g, t.r);
  const std::vector<RankId> ranks = timeline_ranks(s);
  ASSERT_EQ(ranks.size(), 2U);
  EXPECT_EQ(ranks[0], RankId{0});
  EXPECT_EQ(ranks[1], RankId{1});  // ends at 20, rank 0 at 14
  const StreamTimeline tl = stream_timeline(t.g, t.r, ranks);
  ASSERT_EQ(tl.rows.size(), 4U);
  EXPECT_EQ(tl.rows[0].rank, RankId{0});
  EXPECT_EQ(tl.rows[0].stream, "compute");
  EXPECT_EQ(tl.rows[1].stream, "comm");
  EXPECT_EQ(tl.rows[3].rank, RankId{1});
  ASSERT_EQ(tl.spans.size(), 5U);
  EXPECT_EQ(tl.categories, (std::vector<std::string>{"compute", "comm ep"}));
  EXPECT_EQ(tl.names, (std::vector<std::string>{"mm", "ar", "mm2"}));
  const TimelineSpan& last = tl.spans[4];
  EXPECT_EQ(last.row, 2U);  // rank 1, compute
  EXPECT_EQ(last.start, SimTime::from_us(14));
  EXPECT_EQ(last.end, SimTime::from_us(20));
  EXPECT_EQ(tl.names[last.name], "mm2");

  // Only rank 1 asked for: its two rows, its three tasks.
  const StreamTimeline one = stream_timeline(t.g, t.r, {RankId{1}});
  EXPECT_EQ(one.rows.size(), 2U);
  EXPECT_EQ(one.spans.size(), 3U);
}

TEST(StreamTimeline, OneRankWhenRankZeroFinishesLast) {
  IterationSummary s;
  s.per_rank.resize(3);
  s.per_rank[0].end = SimTime::from_us(5);
  s.per_rank[1].end = SimTime::from_us(5);
  s.per_rank[2].end = SimTime::from_us(4);
  EXPECT_EQ(timeline_ranks(s), std::vector<RankId>{RankId{0}});
  EXPECT_TRUE(timeline_ranks(IterationSummary{}).empty());
}

}  // namespace
}  // namespace moesim::report
