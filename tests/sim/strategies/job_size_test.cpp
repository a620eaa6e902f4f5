// The up-front job-size estimate (sim/workload/job_size.hpp) against the task count of the graphs
// the strategies actually build: from 0.85x to 2x of it, so that the memory refusal neither lets
// an oversized job through nor refuses one that fits by a wide margin. (FasterMoE under skewed
// routing shadows hot experts on every rank: tasks the per-local-expert count does not see, up to
// ~10% more than the estimate with zipf 1.2.)
// Also: permute and unpermute tasks of equal routing share one count vector.
#include "sim/workload/job_size.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/cluster_shape.hpp"
#include "sim/network/flow_network_model.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/workload/routing.hpp"

namespace moesim::strategies {
namespace {

struct Built {
  double estimate = 0;
  std::size_t tasks = 0;
  BuildResult result;
};

Built build(const std::string& node, std::size_t nodes, const ModelSpec& model,
            const std::string& parallel, const std::string& strategy) {
  network::ClusterSpec spec;
  spec.nodes = nodes;
  const network::Topology topology = network::generate_cluster(io::load_topology(node), spec);
  const compute::RooflineComputeModel compute(io::load_gpu_spec(topology.gpu_model()));
  const network::FlowNetworkModel planner(topology);
  const ClusterShape shape = network::cluster_shape_of(topology);
  const GeneratedRouting routing(RoutingDistribution::zipf, 1.2, 7);
  const TrainingJob job =
      make_training_job(model, parse_parallel_layout(parallel, "--parallel"), shape, routing, 0);
  Built b;
  b.estimate = estimate_job_size(model, job.layout).tasks_per_iteration;
  b.result = make_strategy(strategy)->build_iteration(job, CostModels{compute, planner});
  b.tasks = b.result.graph.task_count();
  return b;
}

void expect_within(const Built& b, const std::string& where) {
  const double tasks = static_cast<double>(b.tasks);
  EXPECT_GE(b.estimate, 0.85 * tasks) << where;
  EXPECT_LE(b.estimate, 2.0 * tasks) << where;
}

TEST(JobSize, EstimateIsAnUpperBoundWithinTwiceTheActualTasks) {
  ModelSpec gpt = io::load_model("gpt2-s-moe");
  gpt.experts = 16;
  for (std::string_view s : strategies_for_all()) {
    expect_within(build("dgx-h100", 1, gpt, "ep=8", std::string(s)),
                  "gpt2-s-moe E=16 ep=8 " + std::string(s));
  }
  gpt.experts = 64;
  expect_within(build("dgx-h100", 1, gpt, "ep=8", "fastermoe"), "gpt2-s-moe E=64 fastermoe");
  expect_within(build("dgx-h100", 1, gpt, "ep=8", "deepspeed-moe"), "gpt2-s-moe E=64");
  gpt.experts = 16;
  for (const char* s : {"deepspeed-moe", "dualpipe", "dualpipev"}) {
    expect_within(build("dgx-h100", 2, gpt, "ep=8,pp=2,mb=8", s), std::string("pp=2 ") + s);
  }
  ModelSpec v3 = io::load_model("deepseek-v3");
  v3.layers = 8;
  expect_within(build("hgx-h800", 8, v3, "ep=16,pp=4,mb=8", "dualpipe"), "deepseek-v3 dualpipe");
}

TEST(JobSize, ARunTooLargeIsRefusedWithTheWayOut) {
  // DeepSeek-V3 on 4,096 GPUs (ep=64, pp=16, 32 micro-batches) is about 7e7 tasks: one
  // iteration runs; a thousand are refused with "fewer iterations"; a job too large for even one
  // iteration (65,536 GPUs x 1,024 micro-batches) names the job as what to shrink.
  const ModelSpec v3 = io::load_model("deepseek-v3");
  ParallelLayout layout;
  layout.dp = 256;
  layout.ep = 64;
  layout.pp = 16;
  layout.micro_batches = 32;
  EXPECT_NO_THROW(check_job_work(v3, layout, 1, "--iterations"));
  const auto refusal = [&](std::int64_t iterations) {
    try {
      check_job_work(v3, layout, iterations, "--iterations");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal(1000).find("too much work to simulate"), std::string::npos) << refusal(1000);
  EXPECT_NE(refusal(1000).find("fewer iterations"), std::string::npos) << refusal(1000);
  layout.dp = 4096;
  layout.micro_batches = 1024;
  EXPECT_NE(refusal(1).find("a smaller job (fewer GPUs, layers or micro-batches)"),
            std::string::npos)
      << refusal(1);
}

TEST(JobSize, EqualRoutingCountsShareOneVector) {
  ModelSpec gpt = io::load_model("gpt2-s-moe");
  gpt.experts = 16;
  const Built b = build("dgx-h100", 1, gpt, "ep=8", "deepspeed-moe");
  const TaskGraph& g = b.result.graph;
  const ComputeTask* first = nullptr;
  int shared = 0;
  for (const Task& t : g.tasks()) {
    const auto* c = g.compute_of(t);
    if (c == nullptr || c->op.tokens_per_expert.empty()) continue;
    if (first == nullptr) {
      first = c;
    } else if (c->op.tokens_per_expert == first->op.tokens_per_expert) {
      EXPECT_TRUE(c->op.tokens_per_expert.shares_storage_with(first->op.tokens_per_expert));
      ++shared;
    }
  }
  ASSERT_NE(first, nullptr);
  EXPECT_GT(shared, 0);
}

}  // namespace
}  // namespace moesim::strategies
