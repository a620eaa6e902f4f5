// NCCL's LL ceiling (llMaxBw, NVIDIA/nccl src/graph/tuning.cc) in both network models: the argmin
// caps LL's bus bandwidth with it and the flow lowerings give every LL stage at least its payload
// over it (Stage::min_transfer), so a lone one-node LL ring costs the same in both.
// Band, set from the mechanism before the runs: within 2% (the same step latencies and the same
// ceiling; left is max-min sharing on the ring's links). Before: 8x V100 ring all-reduce at
// 1 MiB flow 78.4 us against 94.9 us analytical (-17%), the flow ring moving LL at half the
// NVLink rate.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/nccl_release.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

TEST(FlowLlCeiling, LoneOneNodeLlRingsMatchTheArgmin) {
  for (const std::string preset : {"dgx1-v100", "dgx-a100", "dgx-h100"}) {
    for (const std::int64_t bytes : {std::int64_t{256} << 10, std::int64_t{1} << 20}) {
      SCOPED_TRACE(preset + " " + std::to_string(bytes));
      const Topology t = test_support::preset_cluster(preset, 1);
      std::vector<std::uint32_t> ranks(t.gpu_count());
      for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
      const CommOp op = test_support::comm_op_over(CommKind::all_reduce, ranks, bytes);
      CollectiveConfig cfg;
      cfg.algorithm = CollectiveConfig::Choice::ring;
      cfg.nccl = parse_nccl_release("2.4.8", "test");  // LL or Simple only (no LL128)
      const AlgoTime planned = nccl_best(t, op, cfg);
      if (bytes == (std::int64_t{256} << 10)) {
        EXPECT_EQ(planned.protocol, Protocol::ll);
      }
      const double flow_us = FlowNetworkModel(t, cfg).estimate(op).us();
      EXPECT_NEAR(flow_us, planned.time_us, 0.02 * planned.time_us);
    }
  }
}

TEST(FlowLlCeiling, OnlyLlHasAFloor) {
  const NcclTuning t;
  EXPECT_EQ(t.protocol_min_transfer(Protocol::simple, GpuGeneration::volta, 1, false, 1e6),
            SimTime::zero());
  EXPECT_EQ(t.protocol_min_transfer(Protocol::ll128, GpuGeneration::volta, 1, false, 1e6),
            SimTime::zero());
  // 1 MB at Volta's 39 GB/s one-node ceiling: 25.64 us.
  EXPECT_NEAR(t.protocol_min_transfer(Protocol::ll, GpuGeneration::volta, 1, false, 1e6).us(),
              1e6 / 39e9 * 1e6, 1e-3);
  // Across nodes the host CPU and the node count decide, whatever the generation
  // (tuning.cc llMaxBws): Intel 39.0 / 20.4 GB/s, AMD 22.5 / 19.0 on two / more nodes.
  EXPECT_NEAR(t.protocol_min_transfer(Protocol::ll, GpuGeneration::hopper, 2, false, 1e6).us(),
              1e6 / 39e9 * 1e6, 1e-3);
  EXPECT_NEAR(t.protocol_min_transfer(Protocol::ll, GpuGeneration::hopper, 4, false, 1e6).us(),
              1e6 / 20.4e9 * 1e6, 1e-3);
  EXPECT_NEAR(t.protocol_min_transfer(Protocol::ll, GpuGeneration::ampere, 2, true, 1e6).us(),
              1e6 / 22.5e9 * 1e6, 1e-3);
  EXPECT_NEAR(t.protocol_min_transfer(Protocol::ll, GpuGeneration::ampere, 3, true, 1e6).us(),
              1e6 / 19.0e9 * 1e6, 1e-3);
}

}  // namespace
}  // namespace moesim::network
