// The automatic choice of an all-to-all is what NCCL runs: ncclAllToAll / all_to_all_single is a
// grouped ncclSend/ncclRecv per peer (with PXN across rails), NCCL has no hierarchical
// all-to-all. The 2D exchange stays available when forced, as a what-if. The cases are the ones
// where the 2D lowering prices below the direct one (small messages: it posts one network
// operation per other node instead of one per remote peer), so an argmin over both would take it.
#include <gtest/gtest.h>

#include "sim/io/topology_json.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/network_model_factory.hpp"
#include "tests/sim/network/preset_cluster.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

using test_support::preset_cluster;

CommOp all_to_all(const Topology& t, std::int64_t bytes) {
  CommOp op;
  op.kind = CommKind::all_to_all;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < t.gpu_count(); ++r) op.ranks.push_back(RankId{r});
  return op;
}

double forced_us(const Topology& t, const CommOp& op, CollectiveConfig::Choice c) {
  CollectiveConfig cfg;
  cfg.algorithm = c;
  return nccl_best(t, op, cfg).time_us;
}

TEST(AllToAllChoice, AutoIsNcclsDirectExchangeWhereTheHierarchicalPricesLower) {
  for (const char* preset : {"dgx-h100", "aws-p4de"}) {
    SCOPED_TRACE(preset);
    const Topology t = preset_cluster(preset, 4);
    const CommOp op = all_to_all(t, 256 << 10);  // 8 KiB per pair: the start-up dominates
    using C = CollectiveConfig::Choice;
    // The premise: an argmin over both would take the 2D exchange here.
    ASSERT_LT(forced_us(t, op, C::hierarchical), forced_us(t, op, C::direct));
    for (const AlgoTime& a : nccl_candidates(t, op, {})) {
      EXPECT_NE(a.algorithm, Algorithm::hierarchical);
    }
    const AlgoTime best = nccl_best(t, op, {});
    EXPECT_EQ(best.algorithm, Algorithm::direct);
    EXPECT_DOUBLE_EQ(best.time_us, forced_us(t, op, C::direct));
    EXPECT_EQ(lower_collective(t, op, {}).algorithm, Algorithm::direct);
  }
}

TEST(AllToAllChoice, BothModelsChargeTheDirectExchangeByDefault) {
  const Topology t = preset_cluster("dgx-h100", 4);
  const CommOp op = all_to_all(t, 256 << 10);
  AnalyticalParams direct;
  direct.collective.algorithm = CollectiveConfig::Choice::direct;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    const double by_default = make_communication_model(t, kind)->estimate(op).us();
    const double forced = make_communication_model(t, kind, direct)->estimate(op).us();
    EXPECT_DOUBLE_EQ(by_default, forced);
  }
}

TEST(AllToAllChoice, HierarchicalStaysSelectableAndIsTheOnlyCandidateThen) {
  const Topology t = preset_cluster("dgx-h100", 2);
  const CommOp op = all_to_all(t, 16 << 20);
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::hierarchical;
  const std::vector<AlgoTime> c = nccl_candidates(t, op, cfg);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].algorithm, Algorithm::hierarchical);
  const FlowPlan plan = lower_collective(t, op, cfg);
  EXPECT_EQ(plan.algorithm, Algorithm::hierarchical);
  EXPECT_EQ(plan.stages.size(), 2u);
  // Inside one node there is nothing to aggregate across nodes: not available.
  const Topology one = io::load_topology(testing::source_path("topologies/dgx-h100.json"));
  EXPECT_ANY_THROW(nccl_candidates(one, all_to_all(one, 16 << 20), cfg));
}

}  // namespace
}  // namespace moesim::network
