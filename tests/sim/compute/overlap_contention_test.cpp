// rescale_remaining and contended_end: the rate rule the executor and the planners share.
#include "sim/compute/overlap_contention.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace moesim::compute {
namespace {

SimTime rate_us(double v) { return SimTime::from_us(v); }

TEST(RescaleRemaining, KeepsTheWorkLeftAndRoundsToThePicosecond) {
  // 5 us left of a 10 us kernel that now takes 15: 7.5 us.
  EXPECT_EQ(rescale_remaining(rate_us(5), rate_us(10), rate_us(15)), SimTime::from_ps(7'500'000));
  // Nothing run yet: exactly the new duration, however the ratio rounds.
  EXPECT_EQ(rescale_remaining(SimTime::from_ps(7), SimTime::from_ps(7), SimTime::from_ps(11)),
            SimTime::from_ps(11));
  // 1 ps left of 3, to 2: 2/3 ps rounds to 1.
  EXPECT_EQ(rescale_remaining(SimTime::from_ps(1), SimTime::from_ps(3), SimTime::from_ps(2)),
            SimTime::from_ps(1));
  // Seconds-long kernels: the product passes 64 bits and stays exact.
  EXPECT_EQ(rescale_remaining(SimTime::from_seconds(4), SimTime::from_seconds(8),
                              SimTime::from_seconds(12)),
            SimTime::from_seconds(6));
  EXPECT_EQ(rescale_remaining(SimTime::zero(), rate_us(10), rate_us(15)), SimTime::zero());
}

TEST(ContendedEnd, ChargesTheSlowedRateOnlyWhereCommunicationRuns) {
  // 10 us alone, 15 beside.
  const SimTime alone = rate_us(10), beside = rate_us(15);
  const auto end = [&](std::vector<BusyInterval> busy) {
    return contended_end(rate_us(0), alone, beside, busy);
  };
  EXPECT_EQ(end({}), rate_us(10));
  EXPECT_EQ(end({{rate_us(0), rate_us(100)}}), rate_us(15));
  // From halfway: 5 + 7.5.
  EXPECT_EQ(end({{rate_us(5), rate_us(100)}}), SimTime::from_ps(12'500'000));
  // Over [0, 3): 3 + 8.
  EXPECT_EQ(end({{rate_us(0), rate_us(3)}}), rate_us(11));
  // Overlapping intervals count once, [2, 5) in two pieces given out of order: 11.
  EXPECT_EQ(end({{rate_us(3), rate_us(5)}, {rate_us(2), rate_us(4)}}), rate_us(11));
  // Half-open: one that ends at the start or starts at the (alone) end does not touch it.
  EXPECT_EQ(end({{rate_us(-1), rate_us(0)}, {rate_us(10), rate_us(20)}}), rate_us(10));
  // Started before the kernel: only the part after its start counts.
  EXPECT_EQ(
      contended_end(rate_us(4), alone, beside, std::vector<BusyInterval>{{rate_us(0), rate_us(7)}}),
      rate_us(4 + 3 + 8));
}

}  // namespace
}  // namespace moesim::compute
