// Golden cases: one small job per registered strategy (2-16 GPUs), simulated through the job
// library exactly as `moesim run` simulates it, against the summary checked in as
// tests/golden/<strategy>.json. Any change in a simulated number fails here with the JSON pointer
// of the number that moved; when the change is intended, rewrite the files with
// scripts/update-golden.sh (MOESIM_UPDATE_GOLDEN=1) and review the diff with the change.
//
// Numbers must agree to 1e-9 relative: the simulator is deterministic (integer picoseconds, seeded
// routing), so the tolerance only absorbs the last digit of a printed double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/io/summary_json.hpp"
#include "sim/job/job_runner.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/golden/json_compare.hpp"
#include "tests/testdata.hpp"

namespace moesim {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kRelativeTolerance = 1e-9;

/// One golden job, spelled as `moesim run` flags so it can be rerun from the CLI.
struct GoldenCase {
  std::string strategy;  ///< a registry name (file name of the golden summary)
  std::string model;
  std::string overrides;  ///< --set
  std::string topology;
  std::size_t nodes;
  std::string parallel;
  std::string routing;
  std::int64_t iterations;
  std::string network;
};

// Small jobs: two- or four-layer GPT2-S-MoE (Lancet's model) on 8-16 GPUs, in the layouts each
// strategy is built for (DP+EP; FSMoE's and Parm's MP=ESP inside a node, EP across nodes; TED's
// TP x EP), skewed routing where the strategy reacts to load (FasterMoE's shadowing, Lancet,
// FlexMoE's placement), two iterations where it adapts across iterations (FlexMoE), a pipeline
// (deepspeed-moe, and DualPipe's two-ended one), one-NIC nodes (pcie3-4gpu-100g) and both network
// models. FSMoE's family runs micro-batch 96, where their pipeline degrees differ (at 24 all three
// choose degree 1).
const std::vector<GoldenCase>& golden_cases() {
  static const std::vector<GoldenCase> cases{
      {"deepspeed-moe", "gpt2-s-moe", "layers=4", "dgx-h100", 1, "ep=4,pp=2,mb=2", "zipf:1.2", 1,
       "flow"},
      {"tutel", "gpt2-s-moe", "layers=2", "pcie3-4gpu-100g", 2, "ep=8", "uniform", 1, "flow"},
      {"fastermoe", "gpt2-s-moe", "layers=2", "dgx-a100", 1, "ep=8", "zipf:1.5", 1, "flow"},
      {"fsmoe", "gpt2-s-moe", "layers=2,micro_batch=96", "pcie3-4gpu-100g", 2, "tp=4,ep=2,esp=4",
       "uniform", 1, "flow"},
      {"fsmoe-no-iio", "gpt2-s-moe", "layers=2,micro_batch=96", "pcie3-4gpu-100g", 2,
       "tp=4,ep=2,esp=4", "uniform", 1, "flow"},
      {"tutel-improved", "gpt2-s-moe", "layers=2,micro_batch=96", "pcie3-4gpu-100g", 2,
       "tp=4,ep=2,esp=4", "uniform", 1, "flow"},
      {"lancet", "gpt2-s-moe", "layers=2", "dgx-a100", 1, "ep=8", "zipf:1.2", 1, "flow"},
      {"flexmoe", "gpt2-s-moe", "layers=2", "dgx-a100", 1, "ep=8", "drift:1.0", 2, "flow"},
      {"parm", "gpt2-s-moe", "layers=2", "pcie3-4gpu-100g", 2, "tp=4,ep=2,esp=4", "uniform", 1,
       "analytical"},
      {"parm-s1", "gpt2-s-moe", "layers=2", "pcie3-4gpu-100g", 2, "tp=4,ep=2,esp=4", "uniform", 1,
       "flow"},
      {"parm-s2", "gpt2-s-moe", "layers=2", "pcie3-4gpu-100g", 2, "tp=4,ep=2,esp=4", "uniform", 1,
       "flow"},
      {"deepspeed-ted", "gpt2-s-moe", "layers=2", "dgx-h100", 1, "tp=2,ep=4,esp=2", "uniform", 1,
       "flow"},
      {"deepspeed-ted-base", "gpt2-s-moe", "layers=2", "dgx-h100", 2, "tp=2,ep=8,esp=2", "uniform",
       1, "analytical"},
      {"megatron", "gpt2-s-moe", "layers=4,dropless=true", "dgx-h100", 1, "tp=2,ep=4,pp=2,mb=4",
       "zipf:1.2", 1, "flow"},
      {"megatron-a2a-overlap", "gpt2-s-moe", "layers=2,dropless=true", "dgx-h100", 1, "ep=8,mb=4",
       "zipf:1.2", 1, "flow"},
      {"dualpipe", "gpt2-s-moe", "layers=4", "dgx-h100", 1, "ep=4,pp=2,mb=4", "zipf:1.2", 1,
       "flow"},
      {"dualpipev", "gpt2-s-moe", "layers=4", "dgx-h100", 1, "ep=4,pp=2,mb=4", "uniform", 1,
       "flow"},
  };
  return cases;
}

// gtest prints a failing case by its strategy (not its bytes).
void PrintTo(const GoldenCase& c, std::ostream* out) { *out << c.strategy; }

job::JobOptions options_of(const GoldenCase& c) {
  job::JobOptions o;
  o.model = c.model;
  o.overrides = c.overrides;
  o.topology = c.topology;
  o.nodes = c.nodes;
  o.parallel = c.parallel;
  o.routing = c.routing;
  o.iterations = c.iterations;
  o.network = c.network;
  return o;
}

/// The case's inputs and its simulated numbers, in a fixed key order.
Json golden_summary(const GoldenCase& c) {
  const job::PreparedJob prepared = job::prepare_job(options_of(c));
  const job::StrategyResult r =
      job::simulate_strategy(prepared, *strategies::make_strategy(c.strategy));
  Json j;
  j["strategy"] = c.strategy;
  j["job"] = {{"model", c.model},           {"set", c.overrides},     {"topology", c.topology},
              {"nodes", c.nodes},           {"parallel", c.parallel}, {"routing", c.routing},
              {"iterations", c.iterations}, {"network", c.network}};
  Json result;
  result["gpus"] = prepared.topology->gpu_count();
  result["gpu"] = prepared.gpu.name;
  result["layout"] = prepared.first->layout.describe();
  result["tokens_per_iteration"] = prepared.tokens_per_iteration;
  result["iteration_us"] = r.iteration_us;
  result["mean_iteration_us"] = r.mean_iteration_us();
  result["mfu"] = r.mfu(prepared);
  result["exposed_comm_us"] = r.exposed_comm_us();
  auto& groups = result["comm_groups"] = Json::object();
  for (const auto& [name, t] : r.groups) {
    groups[name] = {{"exposed_us", t.exposed_us},
                    {"overlapped_us", t.overlapped_us},
                    {"operations", t.operations},
                    {"bytes", t.bytes}};
  }
  result["last_iteration"] = io::summary_to_json(r.summary);
  j["result"] = std::move(result);
  return j;
}

std::string golden_path(const std::string& strategy) {
  return testing::source_path("tests/golden/" + strategy + ".json");
}

bool updating() {
  const char* v = std::getenv("MOESIM_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

class GoldenCaseTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenCaseTest, SummaryMatchesTheCheckedInOne) {
  const GoldenCase& c = GetParam();
  const Json actual = golden_summary(c);
  const std::string path = golden_path(c.strategy);
  if (updating()) {
    std::ofstream out(path);
    out << actual.dump(2) << "\n";
    ASSERT_TRUE(out.good()) << "cannot write " << path;
    std::cout << "rewrote " << path << "\n";
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path << " is missing: run scripts/update-golden.sh and review it";
  const Json expected = Json::parse(in);
  const std::vector<std::string> differences =
      testing::json_differences(expected, actual, kRelativeTolerance);
  std::ostringstream report;
  for (std::size_t i = 0; i < std::min<std::size_t>(differences.size(), 20); ++i) {
    report << "  " << differences[i] << "\n";
  }
  EXPECT_TRUE(differences.empty())
      << differences.size() << " difference(s) from " << path << " (first 20):\n"
      << report.str()
      << "if the change is intended, run scripts/update-golden.sh and commit the diff";
}

/// The test name of a case: its strategy, '-' spelled '_' (gtest names are identifiers).
std::string case_name(const ::testing::TestParamInfo<GoldenCase>& case_info) {
  std::string name = case_info.param.strategy;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, GoldenCaseTest, ::testing::ValuesIn(golden_cases()),
                         case_name);

// A strategy added to the registry without a golden case fails here, not silently.
TEST(GoldenCases, CoverEveryRegisteredStrategyOnce) {
  std::vector<std::string> registered;
  for (std::string_view n : strategies::strategy_names()) registered.emplace_back(n);
  std::vector<std::string> covered;
  for (const GoldenCase& c : golden_cases()) covered.push_back(c.strategy);
  std::sort(registered.begin(), registered.end());
  std::sort(covered.begin(), covered.end());
  EXPECT_EQ(covered, registered);
}

// Every case is a small job, as the golden cases promise (2-16 GPUs keep them quick to read).
TEST(GoldenCases, AreSmallJobs) {
  for (const GoldenCase& c : golden_cases()) {
    const job::PreparedJob prepared = job::prepare_job(options_of(c));
    EXPECT_GE(prepared.topology->gpu_count(), 2u) << c.strategy;
    EXPECT_LE(prepared.topology->gpu_count(), 16u) << c.strategy;
  }
}

// The comparison itself: a 10% change in one number is caught, a last-digit one is not.
TEST(GoldenCases, ComparisonCatchesAMovedNumber) {
  const Json expected = {{"a", {{"t_us", 100.0}, {"n", 3}}}, {"b", "x"}};
  Json moved = expected;
  moved["a"]["t_us"] = 110.0;
  Json last_digit = expected;
  last_digit["a"]["t_us"] = 100.0 * (1 + 1e-12);
  Json renamed = expected;
  renamed["b"] = "y";
  EXPECT_EQ(testing::json_differences(expected, moved, kRelativeTolerance),
            std::vector<std::string>{"/a/t_us: expected 100.0, got 110.0"});
  EXPECT_TRUE(testing::json_differences(expected, last_digit, kRelativeTolerance).empty());
  EXPECT_EQ(testing::json_differences(expected, renamed, kRelativeTolerance).size(), 1u);
}

}  // namespace
}  // namespace moesim
