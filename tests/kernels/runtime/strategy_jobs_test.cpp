// Every strategy's single-GPU job builds through the job runner and lowers for the hardware
// executor: what bench/gpu/validate.sh executes on a GPU must get past lowering here.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "kernels/runtime/graph_lowering.hpp"
#include "sim/app/hardware_job.hpp"
#include "sim/compute/substituted_kernel_compute_model.hpp"
#include "sim/io/task_graph_json.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/kernels/runtime/single_gpu_job.hpp"

namespace moesim::runtime {
namespace {

TEST(StrategyJobs, EverySingleGpuJobLowersForTheHardwareExecutor) {
  const job::PreparedJob job = single_gpu_job();
  ASSERT_EQ(job.topology->gpu_count(), 1u);
  for (std::string_view name : strategies::strategies_for_all()) {  // one GPU: no pipeline
    SCOPED_TRACE(std::string(name));
    const auto built = job::build_graph(job, *strategies::make_strategy(name), *job.first);
    const ExecutionPlan plan = lower_graph(built.graph);
    EXPECT_EQ(plan.ranks.size(), 1u);
    EXPECT_EQ(plan.global_order.size(), built.graph.task_count());
  }
}

const DeviceCall& call_of(const ExecutionPlan& plan, const TaskGraph& g, std::string_view name) {
  for (const Launch& l : plan.ranks[0].launches) {
    if (g.name_of(l.task) == name && l.compute) return *l.compute;
  }
  throw std::runtime_error("no compute task " + std::string(name));
}

TEST(StrategyJobs, DeepSpeedMoeLowersEveryTaskToTheKernelItsOpNames) {
  // The strategies set every task's ComputeOp: nothing is substituted, every backward task
  // runs a backward kernel, and GPT2-S-MoE's two-GEMM FFN runs GELU, never SwiGLU.
  const app::PreparedJob job = single_gpu_job();
  const auto built = app::build_graph(job, *strategies::make_strategy("deepspeed-moe"), *job.first);
  const TaskGraph& g = built.graph;
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(plan.substituted_tasks, 0u) << plan_to_text(g, plan);
  EXPECT_EQ(call_of(plan, g, "attention").op, DeviceOp::attention_forward);
  EXPECT_EQ(call_of(plan, g, "attention.bwd").op, DeviceOp::attention_backward);
  EXPECT_EQ(call_of(plan, g, "ln1.bwd").op, DeviceOp::layernorm_backward);
  EXPECT_EQ(call_of(plan, g, "gate.topk").op, DeviceOp::gate_forward);
  EXPECT_EQ(call_of(plan, g, "gate.topk.bwd").op, DeviceOp::gate_backward);
  EXPECT_EQ(call_of(plan, g, "gate.topk").top_k, job.first->model.top_k);
  EXPECT_EQ(call_of(plan, g, "permute").op, DeviceOp::permute_forward);
  EXPECT_EQ(call_of(plan, g, "permute.bwd").op, DeviceOp::permute_backward);
  EXPECT_EQ(call_of(plan, g, "unpermute.bwd").op, DeviceOp::unpermute_backward);
  EXPECT_EQ(call_of(plan, g, "optimizer").op, DeviceOp::adam);
  EXPECT_TRUE(call_of(plan, g, "attn.proj.dX").transpose_b);
  EXPECT_TRUE(call_of(plan, g, "attn.proj.dW").transpose_a);
  const DeviceCall& act_bwd = call_of(plan, g, "expert.act.bwd");
  EXPECT_EQ(act_bwd.op, DeviceOp::activation_backward);
  EXPECT_EQ(act_bwd.activation, DeviceActivation::gelu);
  // The permute moves the routing's per-expert counts of the job (all experts are local here).
  const DeviceCall& perm = call_of(plan, g, "permute");
  std::int64_t routed = 0;
  for (std::int64_t n : perm.tokens_per_expert) routed += n;
  EXPECT_EQ(perm.tokens_per_expert.size(), static_cast<std::size_t>(job.first->model.experts));
  EXPECT_LE(routed, std::int64_t{perm.tokens} * perm.top_k);
  EXPECT_GT(routed, 0);
}

TEST(StrategyJobs, NoStrategyLowersABackwardTaskToAForwardKernel) {
  // Whatever a strategy sets, a task named as a backward kernel either runs a backward kernel or
  // is marked substituted: it is never silently run forward.
  const app::PreparedJob job = single_gpu_job();
  for (std::string_view name : strategies::strategies_for_all()) {  // one GPU: no pipeline
    SCOPED_TRACE(std::string(name));
    const auto built = app::build_graph(job, *strategies::make_strategy(name), *job.first);
    const TaskGraph& g = built.graph;
    const ExecutionPlan plan = lower_graph(g);
    for (const Launch& l : plan.ranks[0].launches) {
      const std::string task(g.name_of(l.task));
      if (!l.compute || !task.ends_with(".bwd")) continue;
      const DeviceOp op = l.compute->op;
      const bool backward = op == DeviceOp::attention_backward ||
                            op == DeviceOp::layernorm_backward ||
                            op == DeviceOp::activation_backward || op == DeviceOp::gate_backward ||
                            op == DeviceOp::permute_backward || op == DeviceOp::unpermute_backward;
      EXPECT_TRUE(backward || l.compute->substituted) << task << " -> " << to_string(op);
    }
  }
}

// validate predicts the kernels the executor launches: on the H100 (cuDNN-fused attention rates
// in the GPU file) megatron's causal flash attention is priced as the unfused cuBLAS kernels over
// the whole sequence, slower than the graph's own kernel; GEMMs are priced unchanged.
TEST(StrategyJobs, ValidatePricesTheKernelsTheExecutorLaunches) {
  const job::PreparedJob job = single_gpu_job();
  const auto built = job::build_graph(job, *strategies::make_strategy("megatron"), *job.first);
  const TaskGraph& g = built.graph;
  const compute::SubstitutedKernelComputeModel as_run(*job.compute, device_kernel_work);
  int attention = 0;
  for (const Task& t : g.tasks()) {
    const ComputeTask* c = g.compute_of(t);
    if (c == nullptr) continue;
    const SimTime graph_kernel = job.compute->duration(*c, {t.rank});
    const SimTime device_kernel = as_run.duration(*c, {t.rank});
    if (c->kind == KernelKind::attention) {
      ++attention;
      ASSERT_TRUE(c->op.causal && c->op.fused);  // megatron runs TE's causal flash attention
      EXPECT_GT(device_kernel.seconds(), 2.0 * graph_kernel.seconds());
      EXPECT_EQ(device_kernel, job.compute->duration(device_kernel_work(*c), {t.rank}));
    } else if (c->kind == KernelKind::gemm) {
      EXPECT_EQ(device_kernel, graph_kernel);
    }
  }
  EXPECT_GT(attention, 0);
}

TEST(StrategyJobs, ComputeOpsRoundTripThroughTaskGraphJson) {
  const app::PreparedJob job = single_gpu_job();
  const auto built = app::build_graph(job, *strategies::make_strategy("deepspeed-moe"), *job.first);
  const TaskGraph& g = built.graph;
  const TaskGraph back =
      io::parse_task_graph(nlohmann::json::parse(io::task_graph_to_json(g)), "round-trip");
  ASSERT_EQ(back.task_count(), g.task_count());
  std::size_t described = 0;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const auto* a = g.compute_of(g.tasks()[i]);
    if (a == nullptr) continue;
    const auto& b = *back.compute_of(back.tasks()[i]);
    EXPECT_EQ(a->op, b.op) << g.name_of(TaskId{static_cast<std::uint32_t>(i)});
    if (a->op != ComputeOp{}) ++described;
  }
  EXPECT_GT(described, 0u);
}

TEST(ValidateTable, SubstitutedTasksGetARowOfTheirOwn) {
  // Two GEMMs (one without a role: substituted) and a layernorm without a direction
  // (substituted). Predicted 10, 20, 30 us; measured 11, 22, 33 us.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  ComputeTask mm;
  mm.kind = KernelKind::gemm;
  mm.shape = KernelShape{64, 64, 64, 1};
  ComputeTask real = mm;
  real.op.gemm_role = GemmRole::forward;
  ComputeTask ln;
  ln.kind = KernelKind::layernorm;
  ln.shape = KernelShape{64, 64, 0, 1};
  g.add_compute("real", RankId{0}, s, real);
  g.add_compute("stand-in", RankId{0}, s, mm);
  g.add_compute("ln", RankId{0}, s, ln);
  const ExecutionPlan plan = lower_graph(g);
  ASSERT_EQ(plan.substituted_tasks, 2u);
  auto record = [&](double scale) {
    ExecutionRecord r;
    SimTime t = SimTime::zero();
    for (double us : {10.0, 20.0, 30.0}) {
      const SimTime end = t + SimTime::from_us(us * scale);
      r.tasks.push_back(TaskRecord{t, end});
      t = end;
    }
    return r;
  };
  const ExecutionRecord predicted = record(1.0);
  const ExecutionRecord measured = record(1.1);
  report::PredictionComparison c = report::compare_predictions(g, predicted, measured);
  app::split_substituted(g, plan, predicted, measured, c.per_kind);
  ASSERT_EQ(c.per_kind.size(), 3u);
  EXPECT_EQ(c.per_kind[0].key, "gemm");
  EXPECT_EQ(c.per_kind[0].tasks, 1);
  EXPECT_EQ(c.per_kind[0].predicted, SimTime::from_us(10));
  EXPECT_EQ(c.per_kind[1].key, "gemm*");
  EXPECT_EQ(c.per_kind[1].tasks, 1);
  EXPECT_EQ(c.per_kind[1].measured, SimTime::from_us(22));
  EXPECT_EQ(c.per_kind[2].key, "layernorm*");  // the all-substituted "layernorm" row is gone
  EXPECT_EQ(c.per_kind[2].predicted, SimTime::from_us(30));
}

}  // namespace
}  // namespace moesim::runtime
