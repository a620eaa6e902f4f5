#include "sim/io/chrome_trace.hpp"

#include <gtest/gtest.h>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/json_reader.hpp"
#include "sim/io/task_graph_json.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim::io {
namespace {

std::string run_example_trace() {
  const TaskGraph g = example_task_graph();
  compute::FixedRateComputeModel compute({});
  network::IdealNetworkModel network(Bandwidth::from_gbps(100), SimTime::from_us(5));
  SimulatedExecutor executor(compute, network);
  return chrome_trace(g, executor.run(g));
}

}  // namespace

TEST(ChromeTrace, SameJobTwiceIsByteIdentical) {
  EXPECT_EQ(run_example_trace(), run_example_trace());
}

TEST(ChromeTrace, IsValidTraceEventJsonWithRankAndStream) {
  const auto doc = nlohmann::json::parse(run_example_trace());
  ASSERT_TRUE(doc.contains("traceEvents"));
  int complete = 0;
  bool saw_dispatch_on_rank1 = false;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ++complete;
    if (e["name"] == "dispatch" && e["pid"] == 1) {
      saw_dispatch_on_rank1 = true;
      EXPECT_EQ(e["args"]["op"], "all_to_all");
      EXPECT_EQ(e["args"]["bytes"], 32 * 1024 * 1024);
    }
  }
  EXPECT_EQ(complete, 12);  // gate, dispatch, attention, expert, combine, all-reduce x 2 ranks
  EXPECT_TRUE(saw_dispatch_on_rank1);
}

}  // namespace moesim::io
