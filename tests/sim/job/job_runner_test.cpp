#include "sim/job/job_runner.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/input_error_text.hpp"

namespace moesim::job {
namespace {

// A two-layer GPT2-S-MoE on one DGX H100, expert parallel over its 8 GPUs.
JobOptions small_options() {
  JobOptions o;
  o.model = "gpt2-s-moe";
  o.overrides = "layers=2";
  o.topology = "dgx-h100";
  o.parallel = "ep=8";
  return o;
}

// A job means the same thing whoever builds it: the parts filled in memory (as tests and
// benchmarks do) give the same simulated iteration as the flags (as the CLI does).
TEST(JobRunner, PartsInMemoryAndFlagsMakeTheSameJob) {
  const PreparedJob from_flags = prepare_job(small_options());
  JobParts parts;
  parts.model = io::load_model("gpt2-s-moe");
  apply_overrides(parts.model, "layers=2", "--set");
  parts.layout = parse_parallel_layout("ep=8", "--parallel");
  parts.routing = std::make_shared<const GeneratedRouting>(RoutingDistribution::uniform, 0, 1);
  parts.topology = std::make_shared<const network::Topology>(load_cluster_topology("dgx-h100", 1));
  parts.gpu = io::load_gpu_spec("h100");
  const PreparedJob from_parts = assemble_job(std::move(parts));
  const auto strategy = strategies::make_strategy("deepspeed-moe");
  EXPECT_EQ(simulate_strategy(from_flags, *strategy).iteration_us,
            simulate_strategy(from_parts, *strategy).iteration_us);
  EXPECT_EQ(from_flags.tokens_per_iteration, from_parts.tokens_per_iteration);
}

// The same job twice gives the same numbers (integer picoseconds, seeded routing), and every
// iteration of a multi-iteration run is simulated.
TEST(JobRunner, SimulationIsDeterministic) {
  JobOptions o = small_options();
  o.iterations = 2;
  o.routing = "drift:1.0";
  const PreparedJob job = prepare_job(o);
  const auto strategy = strategies::make_strategy("tutel");
  const StrategyResult a = simulate_strategy(job, *strategy);
  const StrategyResult b = simulate_strategy(job, *strategy);
  ASSERT_EQ(a.iteration_us.size(), 2u);
  EXPECT_EQ(a.iteration_us, b.iteration_us);
  EXPECT_GT(a.mean_iteration_us(), 0.0);
  EXPECT_EQ(a.record.makespan().us(), a.iteration_us.back());
}

// Bad job flags name the flag, what is wrong and what was expected.
TEST(JobRunner, BadFlagsAreInputErrors) {
  JobOptions o = small_options();
  o.iterations = 0;
  EXPECT_EQ(testing::input_error_text([&] { prepare_job(o); }),
            "--iterations: out of range (got 0, expected >= 1)");
  o = small_options();
  o.network = "packet";
  EXPECT_EQ(testing::input_error_text([&] { prepare_job(o); }),
            "--network: unknown network model (got packet, expected flow or analytical)");
  o = small_options();
  o.nodes = 2;
  o.parallel = "dp=2,tp=2";
  EXPECT_EQ(testing::input_error_text([&] { prepare_job(o); }).substr(0, 45),
            "--parallel: dp*tp*pp must equal the number of");
}

// --nodes replicates a one-node topology: 2 x 8 GPUs.
TEST(JobRunner, NodesReplicateAOneNodeTopology) {
  JobOptions o = small_options();
  o.nodes = 2;
  EXPECT_EQ(prepare_job(o).topology->gpu_count(), 16u);
}

// "a,b" and "all" name strategies; an unknown one is an error on the flag.
TEST(JobRunner, ParseStrategies) {
  EXPECT_EQ(parse_strategies("tutel,parm", "--strategy").size(), 2u);
  EXPECT_EQ(parse_strategies("all", "--strategy").size(), strategies::strategies_for_all().size());
  EXPECT_NE(testing::input_error_text([] {
              parse_strategies("magic", "--strategy");
            }).find("--strategy: unknown strategy (got magic"),
            std::string::npos);
}

}  // namespace
}  // namespace moesim::job
