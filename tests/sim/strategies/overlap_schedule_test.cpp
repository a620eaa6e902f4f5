// OverlapSchedule: the planners' list schedule prices a kernel beside communication exactly
// when the simulated executor would (hand-built cases checked against the executor's rules).
#include "sim/strategies/overlap_schedule.hpp"

#include <gtest/gtest.h>

namespace moesim::strategies {
namespace {

SimTime at_us(double v) { return SimTime::from_us(v); }

// Tutel's one-queue pipeline, comm-bound (comm 10 us per chunk, experts 4 us alone, 5 beside):
// E_i starts as D_i ends, before D_(i+1) starts on the queue: every chunk alone.
TEST(OverlapSchedule, ExpertsReleasedByTheirDispatchStartAheadOfTheNextCollective) {
  OverlapSchedule q;
  const auto d0 = q.comm(0, at_us(10));
  const auto d1 = q.comm(0, at_us(10));
  const auto e0 = q.kernel(at_us(4), at_us(5), {d0});
  q.comm(0, at_us(10), {e0});
  const auto e1 = q.kernel(at_us(4), at_us(5), {d1});
  q.comm(0, at_us(10), {e1});
  EXPECT_FALSE(q.beside_comm(e0));
  EXPECT_FALSE(q.beside_comm(e1));
  EXPECT_EQ(q.start(e1), at_us(20));
  EXPECT_EQ(q.span(), at_us(40));  // D0 D1 C0 C1 back to back
  EXPECT_EQ(q.kernels_beside_comm(), 0);
}

// Compute-bound (comm 2 us, experts 10 us alone, 12 beside): E1 starts as E0 ends, when C0
// (released by E0) starts first: beside. E0 starts as D0 ends, ahead of D1: alone.
TEST(OverlapSchedule, AKernelBehindAKernelRunsBesideTheCollectiveItReleased) {
  OverlapSchedule q;
  const auto d0 = q.comm(0, at_us(2));
  const auto d1 = q.comm(0, at_us(2));
  const auto e0 = q.kernel(at_us(10), at_us(12), {d0});
  q.comm(0, at_us(2), {e0});
  const auto e1 = q.kernel(at_us(10), at_us(12), {d1});
  const auto c1 = q.comm(0, at_us(2), {e1});
  EXPECT_FALSE(q.beside_comm(e0));
  EXPECT_TRUE(q.beside_comm(e1));
  EXPECT_EQ(q.end(e0), at_us(12));
  EXPECT_EQ(q.end(e1), at_us(24));
  EXPECT_EQ(q.end(c1), at_us(26));
  EXPECT_EQ(q.kernel_total(), at_us(22));
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

}  // namespace
}  // namespace moesim::strategies
