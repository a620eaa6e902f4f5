// Every strategy's single-GPU job builds through the job runner and lowers for the hardware
// executor: what bench/gpu/validate.sh executes on a GPU must get past lowering here.
#include <gtest/gtest.h>

#include "kernels/runtime/graph_lowering.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/kernels/runtime/single_gpu_job.hpp"

namespace moesim::runtime {
namespace {

TEST(StrategyJobs, EverySingleGpuJobLowersForTheHardwareExecutor) {
  const job::PreparedJob job = single_gpu_job();
  ASSERT_EQ(job.topology->gpu_count(), 1u);
  for (std::string_view name : strategies::strategy_names()) {
    SCOPED_TRACE(std::string(name));
    const auto built = job::build_graph(job, *strategies::make_strategy(name), *job.first);
    const ExecutionPlan plan = lower_graph(built.graph);
    EXPECT_EQ(plan.ranks.size(), 1u);
    EXPECT_EQ(plan.global_order.size(), built.graph.task_count());
  }
}

}  // namespace
}  // namespace moesim::runtime
