// NCCL's per-size channel and thread choice (nccl_work_shape.hpp: NVIDIA/nccl src/enqueue.cc,
// the ring/tree thread-threshold loop) and what it changes: across nodes a collective NCCL runs
// on fewer channels than NICs reaches only that many NICs, in the argmin and the flow lowering
// alike. Expected values are the loop worked by hand (bytes per channel = threads x threshold).
#include "sim/network/nccl_work_shape.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/network/nccl_cost_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

TEST(NcclWorkShape, RingLlDropsAChannelPerMissing32KiBOnEightRanks) {
  // Ring LL over 8 ranks: 8 B x 8 ranks = 64 B per thread, 512 threads: 32 KiB per channel.
  EXPECT_EQ(nccl_work_shape(256 << 10, Algorithm::ring, Protocol::ll, 24, 8).channels, 8);
  EXPECT_EQ(nccl_work_shape(64 << 10, Algorithm::ring, Protocol::ll, 24, 8).channels, 2);
  // Below one channel's worth the threads halve: 16 KiB -> 256 threads, 4 KiB -> 64.
  const NcclWorkShape small = nccl_work_shape(16 << 10, Algorithm::ring, Protocol::ll, 24, 8);
  EXPECT_EQ(small.channels, 1);
  EXPECT_EQ(small.threads, 256);
  EXPECT_EQ(nccl_work_shape(4 << 10, Algorithm::ring, Protocol::ll, 24, 8).threads, 64);
}

TEST(NcclWorkShape, LargeCollectivesKeepEveryChannelAndThread) {
  const NcclWorkShape big = nccl_work_shape(16 << 20, Algorithm::ring, Protocol::simple, 24, 8);
  EXPECT_EQ(big.channels, 24);
  EXPECT_EQ(big.threads, 512);
  EXPECT_EQ(nccl_work_shape(4 << 20, Algorithm::ring, Protocol::ll128, 24, 8).channels, 24);
}

TEST(NcclWorkShape, TreeLlThresholdIsNotScaledByRanksAndLl128StopsOffMultiplesOf128) {
  // Tree LL: 8 B x 512 threads = 4 KiB per channel.
  EXPECT_EQ(nccl_work_shape(16 << 10, Algorithm::tree, Protocol::ll, 24, 16).channels, 4);
  // LL128: 640 threads -> 320, which is no multiple of 128: the loop stops there.
  EXPECT_EQ(nccl_work_shape(100, Algorithm::ring, Protocol::ll128, 24, 8).threads, 320);
}

TEST(NcclWorkShape, SmallAllReduceAcrossNodesReachesFewerNicsInBothModels) {
  // 2 x DGX H100 (8 NICs a node), 16 ranks, ring/Simple at 64 KiB: 64 B x 512 threads =
  // 32 KiB per channel, so NCCL runs 2 channels, and so 2 of the 8 NICs.
  const Topology h = test_support::preset_cluster("dgx-h100", 2);
  std::vector<std::uint32_t> all(16);
  for (std::uint32_t r = 0; r < 16; ++r) all[r] = r;
  const CommOp op = test_support::comm_op_over(CommKind::all_reduce, all, 64 << 10);
  EXPECT_EQ(nccl_network_work_channels(8, 64 << 10, Algorithm::ring, Protocol::simple, 16), 2);

  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::ring;
  const FlowPlan plan = lower_ring(h, op, cfg, Protocol::simple);
  ASSERT_FALSE(plan.stages.empty());
  // The lowering of 2 forced channels (16 hops each, plus the PXN legs of hops that leave a node
  // off the channel's rail, flow_plan.hpp ring_hop_flows).
  CollectiveConfig two = cfg;
  two.channels = 2;
  EXPECT_EQ(plan.stages.front().flows.size(),
            lower_ring(h, op, two, Protocol::simple).stages.front().flows.size());

  // The argmin: the same latency as with all 8 channels forced, the bus bytes 2 (n-1)/n S
  // through 2 NIC ports at 48.5 GB/s (50 GB/s x 0.97) instead of the 8 ports' 388 GB/s, which
  // the NVLink hop (450 x 0.822 = 369.9 GB/s, topologies/dgx-h100.json) bounds.
  auto simple_us = [&](const CollectiveConfig& c) {
    for (const AlgoTime& a : nccl_candidates(h, op, c)) {
      if (a.protocol == Protocol::simple) return a.time_us;
    }
    return -1.0;
  };
  CollectiveConfig forced = cfg;
  forced.channels = 8;
  const double bus_bytes = 2.0 * 15.0 / 16.0 * (64 << 10);
  const double port_bps = 50e9 * 0.97;
  const double nvlink_bps = 450e9 * 0.822;
  const double expected_extra_us =
      bus_bytes / (2 * port_bps) * 1e6 - bus_bytes / std::min(8 * port_bps, nvlink_bps) * 1e6;
  EXPECT_NEAR(simple_us(cfg) - simple_us(forced), expected_extra_us, 0.01 * expected_extra_us);

  // 32 MiB keeps all 8 NICs: 8 channels in the lowering, the same price as forced.
  const CommOp big = test_support::comm_op_over(CommKind::all_reduce, all, 32 << 20);
  CollectiveConfig eight = cfg;
  eight.channels = 8;
  EXPECT_EQ(lower_ring(h, big, cfg, Protocol::simple).stages.front().flows.size(),
            lower_ring(h, big, eight, Protocol::simple).stages.front().flows.size());
}

}  // namespace
}  // namespace moesim::network
