#include "sim/io/chrome_trace.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

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

/// Rank 0 runs a then b on "compute"; rank 1's c waits for rank 0's a (a cross-rank
/// dependency); b also waits for a (same stream: implicit, not drawn); d on rank 1's "comm"
/// waits for c (a cross-stream dependency).
TaskGraph cross_rank_graph() {
  TaskGraph g(2);
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm");
  ComputeTask k;
  k.kind = KernelKind::gemm;
  k.shape = {1024, 1024, 1024, 1};
  k.flops = Flops{2.0 * 1024 * 1024 * 1024};
  k.bytes = Bytes{3 * 1024 * 1024 * 2};
  const TaskId a = g.add_compute("a", RankId{0}, compute, k);
  const TaskId b = g.add_compute("b", RankId{0}, compute, k);
  const TaskId c = g.add_compute("c", RankId{1}, compute, k);
  const TaskId d = g.add_delay("d", RankId{1}, comm, SimTime::from_us(3));
  g.depend(a, b);
  g.depend(a, c);
  g.depend(c, d);
  return g;
}

nlohmann::json trace_of(const TaskGraph& g) {
  compute::FixedRateComputeModel compute({});
  network::IdealNetworkModel network(Bandwidth::from_gbps(100), SimTime::from_us(5));
  SimulatedExecutor executor(compute, network);
  return nlohmann::json::parse(chrome_trace(g, executor.run(g)));
}

}  // namespace

TEST(ChromeTrace, EveryFlowEventBindsToASliceOnItsThread) {
  const auto doc = trace_of(cross_rank_graph());
  std::vector<nlohmann::json> slices;
  std::vector<nlohmann::json> flows;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") slices.push_back(e);
    if (e["ph"] == "s" || e["ph"] == "f") flows.push_back(e);
  }
  ASSERT_EQ(flows.size(), 4u);  // a -> c and c -> d; a -> b is on one stream
  auto binding_slice = [&](const nlohmann::json& f) -> std::string {
    for (const auto& x : slices) {
      const double ts = x["ts"].get<double>();
      const double end = ts + x["dur"].get<double>();
      const double at = f["ts"].get<double>();
      if (x["pid"] == f["pid"] && x["tid"] == f["tid"] && at >= ts && at <= end) return x["name"];
    }
    return "";
  };
  std::map<std::uint64_t, std::pair<std::string, std::string>> arrows;
  for (const auto& f : flows) {
    const std::string bound = binding_slice(f);
    EXPECT_FALSE(bound.empty()) << f.dump();
    EXPECT_EQ(f["cat"], "dependency");
    if (f["ph"] == "s") {
      arrows[f["id"].get<std::uint64_t>()].first = bound;
    } else {
      EXPECT_EQ(f["bp"], "e") << "a flow end binds to its enclosing slice only with bp=e";
      arrows[f["id"].get<std::uint64_t>()].second = bound;
    }
  }
  std::set<std::pair<std::string, std::string>> drawn;
  for (const auto& [id, ends] : arrows) drawn.insert(ends);
  EXPECT_EQ(drawn, (std::set<std::pair<std::string, std::string>>{{"a", "c"}, {"c", "d"}}));
}

TEST(ChromeTrace, CarriesKinetoStreamDeviceAndDistributedInfo) {
  const auto doc = trace_of(cross_rank_graph());
  ASSERT_TRUE(doc.contains("distributedInfo"));
  EXPECT_EQ(doc["distributedInfo"]["rank"], 0);
  EXPECT_EQ(doc["distributedInfo"]["world_size"], 2);
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    EXPECT_EQ(e["args"]["stream"], e["tid"]);
    EXPECT_EQ(e["args"]["device"], e["pid"]);
  }
}

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
