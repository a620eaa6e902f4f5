// Calibrated collective fits reach both network models: the analytical model charges the fit, the
// flow model rescales its lowered flows so that alone it takes the fit's time and still shares
// links under contention; an exact group-size fit wins over the level's any-size fit.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/io/topology_json.hpp"
#include "sim/network/network_model_factory.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

CommOp all_reduce(std::int64_t bytes, std::uint32_t n) {
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < n; ++r) op.ranks.push_back(RankId{r});
  return op;
}

class Done final : public CommCompletionListener {
 public:
  void on_comm_complete(CommId, SimTime at) override { last = at; }
  SimTime last;
};

Topology h100() { return io::load_topology(testing::source_path("topologies/dgx-h100.json")); }

TEST(CalibratedCollective, BothModelsChargeTheFitOfTheGroupsSizeAndLevel) {
  const Topology t = h100();
  AnalyticalParams p;
  p.collective.calibrated[FitKey{CommKind::all_reduce, Level::intra_node, 8}] = {30.0, 400.0};
  p.calibrated[{CommKind::all_reduce, Level::intra_node}] = {50.0, 100.0};  // any size
  const CommOp eight = all_reduce(1 << 30, 8);
  const CommOp four = all_reduce(1 << 30, 4);
  const double fit8 = 30.0 + (1 << 30) * 1.75 / 400e9 * 1e6;
  const double fit4 = 50.0 + (1 << 30) * 1.5 / 100e9 * 1e6;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const auto model = make_communication_model(t, kind, p);
    EXPECT_NEAR(model->estimate(eight).us(), fit8, 0.01 * fit8);
    EXPECT_NEAR(model->estimate(four).us(), fit4, 0.01 * fit4);
    // Small sizes: the fit's alpha, not NCCL's latency table (the fit's alpha holds the links'
    // latencies, so the flow model adds none of its own).
    EXPECT_NEAR(model->estimate(all_reduce(8, 8)).us(), 30.0, 0.5);
  }
  // Without a fit the prior (NCCL's model) applies: a different time.
  const auto prior = make_communication_model(t, NetworkModelKind::flow);
  EXPECT_GT(std::fabs(prior->estimate(eight).us() - fit8), 0.05 * fit8);
}

TEST(CalibratedCollective, FlowModelStillSharesLinksUnderContention) {
  const Topology t = h100();
  AnalyticalParams p;
  p.collective.calibrated[FitKey{CommKind::all_reduce, Level::intra_node, 8}] = {30.0, 400.0};
  const auto model = make_communication_model(t, NetworkModelKind::flow, p);
  const CommOp op = all_reduce(1 << 30, 8);
  Done done;
  model->start(CommId{0}, op, SimTime::zero(), done);
  model->start(CommId{1}, op, SimTime::zero(), done);
  SimTime now = SimTime::zero();
  while (auto next = model->next_completion(now)) {
    model->advance(now, *next);
    now = *next;
  }
  const double alone = model->estimate(op).us();
  // Two at once on the same links: each gets half the bandwidth.
  EXPECT_NEAR(done.last.us(), 30.0 + 2.0 * (alone - 30.0), 0.02 * alone);
}

}  // namespace
}  // namespace moesim::network
