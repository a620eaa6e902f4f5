// The start-up of one host thread driving several GPUs (nccl-tests -g; CollectiveConfig::
// gpus_per_thread): it launches the GPUs' kernels one after the other, so every collective pays
// (g - 1) x Topology::group_launch_us more, in both network models and for every collective;
// nothing with a process per GPU or on a preset without a measured launch cost. Also what the
// GPU generation decides (gpu_generation.hpp): no NVLS on A100, NCCL's LL cap per generation.
#include <gtest/gtest.h>

#include <string>

#include "sim/core/errors.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/network_model_factory.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

Topology group_launch_preset(const std::string& name) {
  return io::load_topology(testing::source_path("topologies/" + name + ".json"));
}

CommOp group_launch_op(CommKind kind, std::int64_t bytes, std::uint32_t ranks) {
  CommOp op;
  op.kind = kind;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < ranks; ++r) op.ranks.push_back(RankId{r});
  return op;
}

// Simulated time of `op` alone with one thread driving `gpus_per_thread` GPUs.
double group_launch_us(const Topology& t, NetworkModelKind kind, const CommOp& op,
                       int gpus_per_thread) {
  AnalyticalParams p;
  p.collective.gpus_per_thread = gpus_per_thread;
  return make_communication_model(t, kind, p)->estimate(op).us();
}

TEST(GroupLaunch, BothModelsChargeTheSameLaunchOfEveryGpuAfterTheFirst) {
  const Topology t = group_launch_preset("dgx1-v100");
  ASSERT_DOUBLE_EQ(t.group_launch_us(), 4.4);  // fitted on the V100 sweep (the preset's source)
  for (CommKind kind : {CommKind::all_reduce, CommKind::all_gather, CommKind::all_to_all}) {
    const CommOp op = group_launch_op(kind, 4096, 8);
    for (NetworkModelKind model : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
      SCOPED_TRACE(std::string(to_string(kind)) + " " + std::string(to_string(model)));
      const double one = group_launch_us(t, model, op, 1);
      EXPECT_NEAR(group_launch_us(t, model, op, 8) - one, 7 * 4.4, 1e-3);
      EXPECT_NEAR(group_launch_us(t, model, op, 2) - one, 4.4, 1e-3);
    }
  }
}

TEST(GroupLaunch, AThreadDrivesNoMoreGpusThanTheGroupHas) {
  const Topology t = group_launch_preset("dgx1-v100");
  const CommOp op = group_launch_op(CommKind::all_reduce, 1024, 4);
  const double one = group_launch_us(t, NetworkModelKind::analytical, op, 1);
  EXPECT_NEAR(group_launch_us(t, NetworkModelKind::analytical, op, 8) - one, 3 * 4.4, 1e-3);
}

TEST(GroupLaunch, NothingWhereThePresetMeasuredNoLaunchCost) {
  // The Hopper sweeps were -g 8 too; their 1 KiB rows leave no room for a group launch on top of
  // NVLS's 25 us (traces/reference/nd_h100_v5_all_reduce.csv), so those presets carry none.
  const Topology t = group_launch_preset("dgx-h100");
  EXPECT_EQ(t.group_launch_us(), 0.0);
  const CommOp op = group_launch_op(CommKind::all_reduce, 1024, 8);
  EXPECT_DOUBLE_EQ(group_launch_us(t, NetworkModelKind::flow, op, 8),
                   group_launch_us(t, NetworkModelKind::flow, op, 1));
}

TEST(GroupLaunch, TheLaunchCostRoundTripsThroughTheTopologyFile) {
  const Topology v = group_launch_preset("dgx1-v100");
  EXPECT_NE(io::topology_to_json(v).find("\"group_launch_us\": 4.4"), std::string::npos);
  const Topology back = io::topology_from_json_text(io::topology_to_json(v), "round trip");
  EXPECT_DOUBLE_EQ(back.group_launch_us(), 4.4);
  EXPECT_EQ(io::topology_to_json(group_launch_preset("dgx-h100")).find("group_launch_us"),
            std::string::npos);
}

TEST(GroupLaunch, NoNvlsOnAnA100NodeAndNvlsOnAHopperNode) {
  const CommOp op = group_launch_op(CommKind::all_reduce, 64 << 20, 8);
  CollectiveConfig automatic;
  for (const AlgoTime& a : nccl_candidates(group_launch_preset("dgx-a100"), op, automatic)) {
    EXPECT_NE(a.algorithm, Algorithm::nvls);
  }
  CollectiveConfig nvls;
  nvls.algorithm = CollectiveConfig::Choice::nvls;
  EXPECT_THROW(nccl_candidates(group_launch_preset("dgx-a100"), op, nvls), InputError);
  EXPECT_EQ(nccl_best(group_launch_preset("hgx-h200"), op, nvls).algorithm, Algorithm::nvls);
}

TEST(GroupLaunch, TheLlCapFollowsTheGpuGeneration) {
  const NcclTuning t;
  EXPECT_EQ(nccl_gpu_generation("v100"), GpuGeneration::volta);
  EXPECT_EQ(nccl_gpu_generation("a100"), GpuGeneration::ampere);
  EXPECT_EQ(nccl_gpu_generation("h200"), GpuGeneration::hopper);
  EXPECT_DOUBLE_EQ(t.ll_max_gbps(nccl_gpu_generation("v100")), 39.0);
  EXPECT_DOUBLE_EQ(t.ll_max_gbps(nccl_gpu_generation("a100")), 87.7);
  EXPECT_DOUBLE_EQ(t.ll_max_gbps(nccl_gpu_generation("h100")), 141.0);
}

}  // namespace
}  // namespace moesim::network
