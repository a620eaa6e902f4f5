#include "sim/core/sim_time.hpp"

#include <gtest/gtest.h>

#include "sim/core/units.hpp"

namespace moesim {

TEST(SimTime, ConversionsRoundToNearestPicosecond) {
  EXPECT_EQ(SimTime::from_us(1.5).ps(), 1'500'000);
  EXPECT_EQ(SimTime::from_ns(0.0004).ps(), 0);  // 0.4 ps rounds down
  EXPECT_EQ(SimTime::from_ns(0.0006).ps(), 1);  // 0.6 ps rounds up
  EXPECT_DOUBLE_EQ(SimTime::from_ms(2).us(), 2000.0);
}

TEST(SimTime, TransferTimeUsesDecimalGigabytes) {
  // 1e6 bytes over 100 GB/s (1e11 B/s) take 10 us.
  EXPECT_EQ(transfer_time(Bytes{1'000'000}, Bandwidth::from_gbps(100)).ps(), 10'000'000);
  // NDR 400 Gb/s is 50 GB/s.
  EXPECT_DOUBLE_EQ(Bandwidth::from_gbit_per_s(400).gbps(), 50.0);
}

}  // namespace moesim
