// Work too large for the memory limit is refused before it is allocated, naming the estimate and
// the limit (MOESIM_MEMORY_LIMIT_MB stands in for a small machine).
#include "sim/network/memory_budget.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "sim/core/errors.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/flow_network_model.hpp"
#include "tests/input_error_text.hpp"

namespace moesim::network {
namespace {

struct LimitMb {
  explicit LimitMb(const char* mb) { setenv("MOESIM_MEMORY_LIMIT_MB", mb, 1); }
  ~LimitMb() { unsetenv("MOESIM_MEMORY_LIMIT_MB"); }
  LimitMb(const LimitMb&) = delete;
  LimitMb& operator=(const LimitMb&) = delete;
};

struct Ignore final : CommCompletionListener {
  void on_comm_complete(CommId, SimTime) override {}
};

TEST(MemoryBudget, ClusterTooLargeIsRefusedBeforeItIsBuilt) {
  const Topology node = io::load_topology("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 4096;  // ~480k devices and links: ~170 MB estimated
  const LimitMb limit("100");
  const std::string e = testing::input_error_text([&] { generate_cluster(node, spec); });
  EXPECT_NE(e.find("--nodes: a cluster of 4096 nodes does not fit in this machine's memory (got an "
                   "estimated "),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("expected at most 100 MiB available)"), std::string::npos) << e;
  spec.nodes = 16;  // small enough
  EXPECT_EQ(generate_cluster(node, spec).gpu_count(), 128u);
}

TEST(MemoryBudget, MillionsOfFlowsAreRefusedBeforeTheyAreRouted) {
  const Topology node = io::load_topology("dgx-h100");
  FlowPlan plan;
  plan.stages.push_back(Stage{SimTime::zero(), {}});
  plan.stages[0].flows.assign(std::size_t{3} << 20, FlowSpec{0, 1, 1e6, Segment::full});
  FlowNetworkModel model(node);
  Ignore ignore;
  model.start_plan(CommId{0}, std::move(plan), SimTime::zero(), ignore);
  const LimitMb limit("200");
  const std::string e =
      testing::input_error_text([&] { model.advance(SimTime::zero(), SimTime::zero()); });
  EXPECT_NE(e.find("--network: flow-level simulation of 3145728 concurrent flows"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("expected at most 200 MiB available)"), std::string::npos) << e;
  EXPECT_EQ(model.active_flows(), 0u);
}

TEST(MemoryBudget, BadLimitIsAnInputError) {
  const LimitMb limit("lots");
  const std::string e = testing::input_error_text([] { memory_limit_bytes(); });
  EXPECT_NE(e.find("MOESIM_MEMORY_LIMIT_MB: not a number of MiB (got lots"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace moesim::network
