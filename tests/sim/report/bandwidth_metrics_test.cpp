#include "sim/report/bandwidth_metrics.hpp"

#include <gtest/gtest.h>

namespace moesim::report {

TEST(BandwidthMetrics, FollowNcclTestsFormulas) {
  // 1 GiB all-reduce over 8 ranks in 4029.3 us (Azure/AI-benchmarking-guide,
  // ND_H100_v5_results.md): algbw = 1073741824 / 4029.3e-6 / 1e9 = 266.48 GB/s; busbw = algbw *
  // 2*7/8 = 466.35 GB/s.
  const SimTime t = SimTime::from_us(4029.3);
  EXPECT_NEAR(algbw_gbps(gib(1), t), 266.48, 0.01);
  EXPECT_NEAR(busbw_gbps(CommKind::all_reduce, 8, gib(1), t), 466.35, 0.02);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommKind::all_to_all, 4), 0.75);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommKind::send_recv, 2), 1.0);
  EXPECT_DOUBLE_EQ(algbw_gbps(mib(1), SimTime::zero()), 0.0);
}

}  // namespace moesim::report
