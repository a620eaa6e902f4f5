// Gradient all-reduce in PyTorch DDP buckets overlapped with the backward (gradient_buckets.hpp):
// the bucket assignment, and the schedule a strategy emits with it.
#include "sim/strategies/gradient_buckets.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

TEST(GradientBuckets, DdpClosesABucketOnceItReachesItsLimitAndNeverSplitsATensor) {
  constexpr std::int64_t MiB = 1 << 20;
  // Ready order: layer 5 first. First limit 1 MiB: layer 5 (2 MiB) alone. Then 25 MiB: 10 + 10
  // (20, open) + 10 -> 30 closes it (may exceed by its last tensor); 4 + 0 (skipped) + 1 left.
  const std::vector<LayerGradient> grads{{5, 2 * MiB},  {4, 10 * MiB}, {3, 10 * MiB},
                                         {2, 10 * MiB}, {1, 4 * MiB},  {0, 0}};
  const auto b = assign_gradient_buckets(grads, 1 * MiB, 25 * MiB);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].layers, std::vector<std::int64_t>({5}));
  EXPECT_EQ(b[0].bytes, 2 * MiB);
  EXPECT_EQ(b[1].layers, std::vector<std::int64_t>({4, 3, 2}));
  EXPECT_EQ(b[1].bytes, 30 * MiB);
  EXPECT_EQ(b[1].ready_layer(), 2);
  EXPECT_EQ(b[2].layers, std::vector<std::int64_t>({1}));
  EXPECT_EQ(b[2].bytes, 4 * MiB);
  EXPECT_TRUE(assign_gradient_buckets({{0, 0}}, MiB, MiB).empty());
}

TEST(GradientBuckets, OptionsDefaultToDdpAndRejectBadValues) {
  StrategyOptions none;
  const GradientSyncOptions d = read_gradient_sync(none, GradientSyncOptions{});
  EXPECT_TRUE(d.overlap);
  EXPECT_EQ(d.bucket_bytes, 25 << 20);
  EXPECT_EQ(d.first_bucket_bytes, 1 << 20);
  StrategyOptions set("tutel", "grad_sync=after:bucket_mb=50", "--strategy");
  const GradientSyncOptions s = read_gradient_sync(set, GradientSyncOptions{});
  EXPECT_FALSE(s.overlap);
  EXPECT_EQ(s.bucket_bytes, 50LL << 20);
  StrategyOptions bad("tutel", "grad_sync=later", "--strategy");
  EXPECT_THROW(read_gradient_sync(bad, GradientSyncOptions{}), InputError);
  StrategyOptions huge("tutel", "bucket_mb=99999999999", "--strategy");
  EXPECT_THROW(read_gradient_sync(huge, GradientSyncOptions{}), InputError);
  EXPECT_THROW(make_strategy("deepspeed-moe:grad_sync=sometimes"), InputError);
  EXPECT_NO_THROW(make_strategy("lancet:bucket_mb=5"));
  EXPECT_NO_THROW(make_strategy("parm:grad_sync=after"));
}

// 4 GPUs, ep=2 (dp=4, edp=2), 4 MoE layers of the tiny model (M=8, E=2, fp32): per layer
// 304 dense parameters (attention 256, norms 32, gate 16) = 1216 B over dp, 256 expert
// parameters = 1024 B over edp.
TrainingJob four_layer_job() {
  ModelSpec m = tiny_model(1, 4);
  m.layers = 4;
  return make_training_job(m, parse_parallel_layout("ep=2", "-p"), shape_of(1, 4),
                           GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
}

struct Built {
  BuildResult result;
  ExecutionRecord record;
};

Built build(const TrainingJob& job, const CostModels& costs, FixedCosts& f,
            GradientSyncOptions sync) {
  EmissionContext::Options o;
  o.pad_to_capacity = true;
  EmissionContext ctx(job, costs, o);
  DeepSpeedMoeBlock moe(ctx);
  StandardLayer layer(ctx, moe);
  ScheduledPipeline pipeline(ctx, layer, "test");
  DdpGradientSync gradients(ctx, sync);
  Built out{emit_iteration(ctx, pipeline, gradients), {}};
  out.result.graph.validate();
  SimulatedExecutor exec(f.compute, f.network);
  out.record = exec.run(out.result.graph);
  return out;
}

TEST(GradientBuckets, EachBucketStartsOnceItsLayersAreDoneAndOverlapsTheRestOfTheBackward) {
  FixedCosts f;
  const TrainingJob job = four_layer_job();
  GradientSyncOptions sync;
  sync.first_bucket_bytes = 1;  // layer 3 alone
  sync.bucket_bytes = 2000;     // then layers 2+1 (2432 B), then layer 0
  const Built on = build(job, f.costs, f, sync);
  const TaskGraph& g = on.result.graph;
  // Buckets per dp group (one: all 4 ranks): 1216, 2432, 1216 B; expert buckets per edp group
  // (two) 1024 (layer 3), 2048 (layers 2+1), 1024 (layer 0).
  std::vector<std::int64_t> dense, expert;
  for (const CommRecord& c : g.comms()) {
    const std::string& name = g.names()[c.name];
    if (name == "grad.allreduce") dense.push_back(c.op.bytes.count);
    if (name == "grad.allreduce.expert") expert.push_back(c.op.bytes.count);
  }
  EXPECT_EQ(dense, std::vector<std::int64_t>({1216, 2432, 1216}));
  EXPECT_EQ(expert, std::vector<std::int64_t>({1024, 1024, 2048, 2048, 1024, 1024}));
  EXPECT_EQ(on.result.decisions.at("grad_sync").name(), "overlap");

  // Rank 0: when each layer's backward kernels end, and when each bucket's all-reduce starts.
  const RankId r0{0};
  std::vector<SimTime> layer_done(4, SimTime::zero());
  SimTime backward_end = SimTime::zero(), optimizer_start = SimTime::max();
  SimTime last_reduce_end = SimTime::zero();
  std::vector<std::pair<std::int32_t, SimTime>> reduce_start;  // (ready layer, start)
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    if (t.rank != r0) continue;
    const TaskRecord& rec = on.record.tasks[i];
    const std::string_view name = g.name_of(TaskId{static_cast<std::uint32_t>(i)});
    if (t.phase == Phase::backward && t.kind == TaskKind::compute) {
      auto& d = layer_done[static_cast<std::size_t>(t.layer)];
      d = std::max(d, rec.end);
      backward_end = std::max(backward_end, rec.end);
    }
    if (name == "grad.allreduce") {
      reduce_start.emplace_back(t.layer, rec.start);
      last_reduce_end = std::max(last_reduce_end, rec.end);
    }
    if (name == "grad.allreduce.expert") last_reduce_end = std::max(last_reduce_end, rec.end);
    if (t.phase == Phase::optimizer) optimizer_start = std::min(optimizer_start, rec.start);
  }
  ASSERT_EQ(reduce_start.size(), 3u);
  EXPECT_EQ(reduce_start[0].first, 3);
  EXPECT_EQ(reduce_start[1].first, 1);
  EXPECT_EQ(reduce_start[2].first, 0);
  for (const auto& [layer, start] : reduce_start) {
    EXPECT_GE(start, layer_done[static_cast<std::size_t>(layer)]) << "layer " << layer;
  }
  // The first bucket runs while layers 2..0 are still in their backward.
  EXPECT_LT(reduce_start[0].second, backward_end);
  EXPECT_GE(optimizer_start, last_reduce_end);
  EXPECT_GE(optimizer_start, backward_end);

  // After the backward (the old schedule): nothing overlaps, so the iteration is longer.
  GradientSyncOptions after;
  after.overlap = false;
  const Built off = build(job, f.costs, f, after);
  EXPECT_FALSE(off.result.decisions.count("grad_sync"));
  EXPECT_LT(on.record.makespan(), off.record.makespan());
}

TEST(GradientBuckets, TheFrameworksOverlapByDefault) {
  FixedCosts f;
  const TrainingJob job = four_layer_job();
  for (const char* name : {"tutel", "lancet", "parm"}) {
    const BuildResult b = make_strategy(name)->build_iteration(job, f.costs);
    b.graph.validate();
    ASSERT_TRUE(b.decisions.count("grad_sync")) << name;
    EXPECT_EQ(b.decisions.at("grad_sync").name(), "overlap") << name;
    const std::string spec = std::string(name) + ":grad_sync=after";
    EXPECT_FALSE(make_strategy(spec)->build_iteration(job, f.costs).decisions.count("grad_sync"))
        << name;
  }
}

TEST(GradientBuckets, LinaChunksAreFixedSizeAndStraddleLayers) {
  // 50 + 20 + 45 bytes in 30-byte chunks: [L3 30] [L3 20, L2 10] [L2 10, L1 20] [L1 25].
  const auto chunks = assign_gradient_chunks({{3, 50}, {2, 20}, {1, 45}, {0, 0}}, 30);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].layers, std::vector<std::int64_t>({3}));
  EXPECT_EQ(chunks[1].layers, std::vector<std::int64_t>({3, 2}));
  EXPECT_EQ(chunks[2].layers, std::vector<std::int64_t>({2, 1}));
  EXPECT_EQ(chunks[3].layers, std::vector<std::int64_t>({1}));
  EXPECT_EQ(chunks[0].bytes + chunks[1].bytes + chunks[2].bytes, 90);
  EXPECT_EQ(chunks[3].bytes, 25);
  EXPECT_EQ(chunks[1].ready_layer(), 2);
  EXPECT_EQ(chunks[3].ready_layer(), 1);
}

TEST(GradientBuckets, LinaMarksEveryChunkLowPriority) {
  FixedCosts f;
  const TrainingJob job = four_layer_job();
  const BuildResult b =
      make_strategy("tutel:grad_sync=lina:bucket_mb=1")->build_iteration(job, f.costs);
  b.graph.validate();
  ASSERT_TRUE(b.decisions.count("grad_sync"));
  EXPECT_EQ(b.decisions.at("grad_sync").name(), "lina");
  int grads = 0;
  for (const CommRecord& c : b.graph.comms()) {
    const bool gradient = b.graph.names()[c.name].rfind("grad.allreduce", 0) == 0;
    EXPECT_EQ(c.yields, gradient) << b.graph.names()[c.name];
    grads += gradient;
  }
  EXPECT_GT(grads, 0);
  // Without lina nothing yields.
  const BuildResult plain = make_strategy("tutel")->build_iteration(job, f.costs);
  for (const CommRecord& c : plain.graph.comms()) EXPECT_FALSE(c.yields);
}

// DeepSpeed reduces after the backward unless its ZeRO config sets overlap_comm (default false).
TEST(GradientBuckets, DeepSpeedReducesAfterTheBackwardByDefault) {
  FixedCosts f;
  const TrainingJob job = four_layer_job();
  EXPECT_FALSE(
      make_strategy("deepspeed-moe")->build_iteration(job, f.costs).decisions.count("grad_sync"));
  const BuildResult overlapped =
      make_strategy("deepspeed-moe:grad_sync=overlap")->build_iteration(job, f.costs);
  ASSERT_TRUE(overlapped.decisions.count("grad_sync"));
  EXPECT_EQ(overlapped.decisions.at("grad_sync").name(), "overlap");
}

}  // namespace
}  // namespace moesim::strategies
