// Megatron-Core strategies and the interleaved / combined pipeline schedules: Megatron's
// interleaved order (valid, the warm-up of schedules.py, bubble (PP-1)/VP of 1F1B's on uniform
// costs), the combined 1F1B phases, the pairs that overlap in megatron-a2a-overlap (and do not in
// megatron), dropless grouped-GEMM counts, options.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/megatron_grouped_gemm.hpp"
#include "sim/strategies/pipeline_schedule.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

/// Each stage's items in emission order, as "F<chunk>.<mb>" / "B<chunk>.<mb>".
std::vector<std::vector<std::string>> per_stage(const std::vector<PipelineItem>& order,
                                                std::int64_t stages) {
  std::vector<std::vector<std::string>> out(static_cast<std::size_t>(stages));
  for (const auto& it : order) {
    out[static_cast<std::size_t>(it.stage)].push_back(
        fmt::format("{}{}.{}", it.forward ? 'F' : 'B', it.chunk, it.micro_batch));
  }
  return out;
}

/// Makespan of `order` when every stage runs its items in order, a forward chunk takes `f` and a
/// backward chunk `b`, and transfers are free: the pipeline's own timing, no other cost.
std::int64_t uniform_makespan(const std::vector<PipelineItem>& order, std::int64_t stages,
                              std::int64_t chunks, std::int64_t f, std::int64_t b) {
  std::map<std::tuple<std::int64_t, std::int64_t, bool>, std::int64_t> end;  // (v, m, fwd)
  std::vector<std::int64_t> free_at(static_cast<std::size_t>(stages), 0);
  const std::int64_t virtual_stages = stages * chunks;
  for (const auto& it : order) {
    const std::int64_t v = it.chunk * stages + it.stage;
    std::int64_t ready = free_at[static_cast<std::size_t>(it.stage)];
    if (it.forward && v > 0) ready = std::max(ready, end.at({v - 1, it.micro_batch, true}));
    if (!it.forward) {
      ready = std::max(ready, end.at({v, it.micro_batch, true}));
      if (v < virtual_stages - 1) ready = std::max(ready, end.at({v + 1, it.micro_batch, false}));
    }
    const std::int64_t done = ready + (it.forward ? f : b);
    end[{v, it.micro_batch, it.forward}] = done;
    free_at[static_cast<std::size_t>(it.stage)] = done;
  }
  return *std::max_element(free_at.begin(), free_at.end());
}

TEST(InterleavedPipeline, OneChunkIsOneFOneB) {
  for (std::int64_t pp : {1, 2, 4}) {
    for (std::int64_t mbs : {1, 3, 8}) {
      std::vector<PipelineItem> plain = pipeline_order(pp, mbs, PipelineSchedule::one_f_one_b);
      EXPECT_EQ(per_stage(interleaved_pipeline_order(pp, 1, mbs), pp), per_stage(plain, pp))
          << "pp=" << pp << " mbs=" << mbs;
    }
  }
}

TEST(InterleavedPipeline, MegatronOrderWarmupAndValidity) {
  // 2 stages, 2 chunks, 4 micro-batches. Table (groups of pp = 2 micro-batches, chunk by
  // chunk): (0,c0) (1,c0) (0,c1) (1,c1) (2,c0) (3,c0) (2,c1) (3,c1). Warm-up (schedules.py):
  // rank 0: (2-0-1)*2 + (2-1)*2 = 4, rank 1: 0 + 2 = 2; backwards mirror the chunk.
  const auto order = interleaved_pipeline_order(2, 2, 4);
  const auto s = per_stage(order, 2);
  EXPECT_EQ(s[0], (std::vector<std::string>{"F0.0", "F0.1", "F1.0", "F1.1", "F0.2", "B1.0", "F0.3",
                                            "B1.1", "F1.2", "B0.0", "F1.3", "B0.1", "B1.2", "B1.3",
                                            "B0.2", "B0.3"}));
  EXPECT_EQ(s[1], (std::vector<std::string>{"F0.0", "F0.1", "F1.0", "B1.0", "F1.1", "B1.1", "F0.2",
                                            "B0.0", "F0.3", "B0.1", "F1.2", "B1.2", "F1.3", "B1.3",
                                            "B0.2", "B0.3"}));
  // Every (virtual stage, micro-batch, direction) exactly once, for uneven sizes too.
  for (auto [pp, vp, mbs] :
       {std::tuple{4, 2, 8}, std::tuple{4, 3, 6}, std::tuple{3, 2, 3}, std::tuple{8, 4, 16}}) {
    const auto o = interleaved_pipeline_order(pp, vp, mbs);
    std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t, bool>> seen;
    for (const auto& it : o) seen.insert({it.stage, it.chunk, it.micro_batch, it.forward});
    EXPECT_EQ(seen.size(), o.size());
    EXPECT_EQ(o.size(), static_cast<std::size_t>(2 * pp * vp * mbs));
  }
}

TEST(InterleavedPipeline, BubbleIsOneFOneBsOverVp) {
  // Uniform costs: a stage's full forward F = 6, backward B = 12 (integer time units). 1F1B's
  // bubble is (PP-1)(F+B); with VP chunks each chunk takes F/VP and B/VP, and Megatron's
  // interleaving cuts the bubble to (PP-1)(F+B)/VP (Narayanan et al., SC 2021, Sec. 2.2).
  const std::int64_t F = 6, B = 12;
  for (auto [pp, vp, mbs] :
       {std::tuple{4, 2, 8}, std::tuple{4, 3, 12}, std::tuple{2, 2, 4}, std::tuple{8, 2, 16}}) {
    const std::int64_t ideal = mbs * (F + B);
    const std::int64_t one_f_one_b =
        uniform_makespan(pipeline_order(pp, mbs, PipelineSchedule::one_f_one_b), pp, 1, F, B) -
        ideal;
    const std::int64_t interleaved =
        uniform_makespan(interleaved_pipeline_order(pp, vp, mbs), pp, vp, F / vp, B / vp) - ideal;
    EXPECT_EQ(one_f_one_b, (pp - 1) * (F + B)) << pp << " " << vp << " " << mbs;
    EXPECT_EQ(interleaved * vp, one_f_one_b) << pp << " " << vp << " " << mbs;
  }
}

/// As uniform_makespan for combined steps: a step holding a forward and a backward takes f + b
/// and hands both results on at its end (the pair is interleaved layer by layer).
std::int64_t uniform_makespan(const std::vector<PipelineStep>& steps, std::int64_t stages,
                              std::int64_t chunks, std::int64_t f, std::int64_t b) {
  std::map<std::tuple<std::int64_t, std::int64_t, bool>, std::int64_t> end;
  std::vector<std::int64_t> free_at(static_cast<std::size_t>(stages), 0);
  const std::int64_t virtual_stages = stages * chunks;
  for (const PipelineStep& st : steps) {
    std::int64_t ready = free_at[static_cast<std::size_t>(st.stage())];
    std::int64_t cost = 0;
    if (st.forward) {
      const std::int64_t v = st.forward->chunk * stages + st.forward->stage;
      if (v > 0) ready = std::max(ready, end.at({v - 1, st.forward->micro_batch, true}));
      cost += f;
    }
    if (st.backward) {
      const std::int64_t v = st.backward->chunk * stages + st.backward->stage;
      ready = std::max(ready, end.at({v, st.backward->micro_batch, true}));
      if (v < virtual_stages - 1) {
        ready = std::max(ready, end.at({v + 1, st.backward->micro_batch, false}));
      }
      cost += b;
    }
    const std::int64_t done = ready + cost;
    if (st.forward) {
      end[{st.forward->chunk * stages + st.forward->stage, st.forward->micro_batch, true}] = done;
    }
    if (st.backward) {
      end[{st.backward->chunk * stages + st.backward->stage, st.backward->micro_batch, false}] =
          done;
    }
    free_at[static_cast<std::size_t>(st.stage())] = done;
  }
  return *std::max_element(free_at.begin(), free_at.end());
}

TEST(CombinedPipeline, FusingKeepsTheInterleavedBubble) {
  // Uniform costs and no overlap gain inside a pair: fusing F and B into one step must not
  // serialise the stages. Without PP or with interleaved stages (where Megatron-Core runs it)
  // the makespan is the interleaved schedule's. (With pp > 1 and one chunk the fused steps of
  // neighbouring stages would wait for each other in turn: megatron-a2a-overlap refuses it.)
  const std::int64_t f = 2, b = 4;
  for (auto [pp, vp, mbs] : {std::tuple{1, 1, 4}, std::tuple{2, 2, 8}, std::tuple{4, 2, 8},
                             std::tuple{4, 4, 16}, std::tuple{8, 4, 32}}) {
    const std::int64_t interleaved =
        uniform_makespan(interleaved_pipeline_order(pp, vp, mbs), pp, vp, f, b);
    const std::int64_t combined =
        uniform_makespan(combined_pipeline_order(pp, vp, mbs), pp, vp, f, b);
    EXPECT_EQ(combined, interleaved) << pp << " " << vp << " " << mbs;
  }
}

TEST(CombinedPipeline, EveryAcceptedShapeProgresses) {
  // The shapes megatron and megatron-a2a-overlap accept (vp > 1 with mb a multiple of pp; the
  // combined schedule with pp = 1 or vp > 1) all merge into a complete order.
  for (std::int64_t pp = 1; pp <= 4; ++pp) {
    for (std::int64_t vp = 1; vp <= 4; ++vp) {
      for (std::int64_t k = 1; k <= 3; ++k) {
        const std::int64_t mbs = k * pp;
        EXPECT_EQ(interleaved_pipeline_order(pp, vp, mbs).size(),
                  static_cast<std::size_t>(2 * pp * vp * mbs));
        if (pp > 1 && vp == 1) continue;
        std::size_t items = 0;
        for (const PipelineStep& st : combined_pipeline_order(pp, vp, mbs)) {
          items += (st.forward ? 1u : 0u) + (st.backward ? 1u : 0u);
        }
        EXPECT_EQ(items, static_cast<std::size_t>(2 * pp * vp * mbs)) << pp << vp << mbs;
      }
    }
  }
}

TEST(CombinedPipeline, PhasesOfFourMicroBatches) {
  // One stage, 4 micro-batches: F1 | B1+F2 | B2+F3 | B3+F4 | B4 (0-based here).
  std::vector<std::string> phases;
  for (const PipelineStep& st : combined_pipeline_order(1, 1, 4)) {
    std::string p;
    if (st.backward) p += fmt::format("B{}", st.backward->micro_batch);
    if (st.backward && st.forward) p += "+";
    if (st.forward) p += fmt::format("F{}", st.forward->micro_batch);
    phases.push_back(p);
  }
  EXPECT_EQ(phases, (std::vector<std::string>{"F0", "B0+F1", "B1+F2", "B2+F3", "B3"}));
  // With stages and chunks: every item once, and a pair never holds one micro-batch's forward and
  // backward of the same chunk.
  for (auto [pp, vp, mbs] : {std::tuple{2, 1, 4}, std::tuple{4, 2, 8}, std::tuple{2, 3, 6}}) {
    std::size_t items = 0;
    for (const PipelineStep& st : combined_pipeline_order(pp, vp, mbs)) {
      items += (st.forward ? 1u : 0u) + (st.backward ? 1u : 0u);
      if (st.forward && st.backward) {
        EXPECT_FALSE(st.forward->micro_batch == st.backward->micro_batch &&
                     st.forward->chunk == st.backward->chunk);
      }
    }
    EXPECT_EQ(items, static_cast<std::size_t>(2 * pp * vp * mbs));
  }
}

// --- the strategies ---

ModelSpec moe_model() {
  ModelSpec m = tiny_model(2, 256);
  m.hidden = 64;
  m.ffn_hidden = 128;
  m.expert_ffn_hidden = 128;
  m.experts = 8;
  m.top_k = 2;
  m.dropless = true;
  m.expert_ffn = ExpertFfn::swiglu;
  return m;
}

TrainingJob job_of(ModelSpec m, std::string_view parallel, std::int64_t nodes,
                   std::int64_t per_node, RoutingDistribution d = RoutingDistribution::uniform,
                   double param = 0.0) {
  return make_training_job(m, parse_parallel_layout(parallel, "-p"), shape_of(nodes, per_node),
                           GeneratedRouting(d, param, 7), 0);
}

TEST(Megatron, DroplessGroupedGemmComputesEveryRoutedToken) {
  FixedCosts f;
  const TrainingJob job = job_of(moe_model(), "ep=4", 1, 4, RoutingDistribution::zipf, 1.2);
  const BuildResult built = make_strategy("megatron")->build_iteration(job, f.costs);
  built.graph.validate();
  // One grouped expert1 kernel per rank (2 local experts), its per-expert counts those the
  // routing sent; together every routed token-expert pair (k * T * dp), none dropped.
  std::int64_t counted = 0;
  for (const Task& t : built.graph.tasks()) {
    if (built.graph.names()[t.name] != "expert1") continue;
    const auto& c = *built.graph.compute_of(t);
    ASSERT_EQ(c.op.tokens_per_expert.size(), 2u);
    std::int64_t padded = 0;
    for (std::int64_t n : c.op.tokens_per_expert) {
      counted += n;
      padded += (n + kGroupedGemmBlockRows - 1) / kGroupedGemmBlockRows * kGroupedGemmBlockRows;
    }
    EXPECT_EQ(c.shape.m, padded);
  }
  EXPECT_EQ(counted, 2 * 256 * 4);
  EXPECT_EQ(std::get<std::int64_t>(built.decisions.at("moe.dropped_tokens").value), 0);
  EXPECT_EQ(std::get<std::string>(built.decisions.at("moe.dispatch").value), "all_to_all_v");
}

TEST(Megatron, AllgatherDispatcherGathersEveryTokenOverEp) {
  FixedCosts f;
  const TrainingJob job = job_of(moe_model(), "ep=4", 1, 4);
  const BuildResult built =
      make_strategy("megatron:dispatcher=allgather")->build_iteration(job, f.costs);
  built.graph.validate();
  const auto comms = comms_by_name(built.graph);
  ASSERT_TRUE(comms.contains("ep.allgather"));
  EXPECT_FALSE(comms.contains("ep.dispatch"));
  // All-gather output per rank: 4 ranks x 256 tokens x 64 hidden x 4 bytes.
  EXPECT_EQ(comms.at("ep.allgather").front()->op.bytes.count, 4 * 256 * 64 * 4);
  EXPECT_EQ(comms.at("ep.allgather").front()->op.kind, CommKind::all_gather);
}

/// Whether a task of `a` (names, phase pa) and one of `b` (phase pb) on rank 0 run at the same
/// time somewhere in the iteration.
bool overlaps(const TaskGraph& g, const ExecutionRecord& rec, const std::set<std::string>& a,
              Phase pa, const std::set<std::string>& b, Phase pb) {
  std::vector<const TaskRecord*> as, bs;
  for (std::size_t i = 0; i < g.tasks().size(); ++i) {
    const Task& t = g.tasks()[i];
    if (t.rank != RankId{0}) continue;
    const std::string& n = g.names()[t.name];
    if (a.contains(n) && t.phase == pa) as.push_back(&rec.tasks[i]);
    if (b.contains(n) && t.phase == pb) bs.push_back(&rec.tasks[i]);
  }
  for (const TaskRecord* x : as) {
    for (const TaskRecord* y : bs) {
      if (x->start < y->end && y->start < x->end) return true;
    }
  }
  return false;
}

// The sub-blocks the combined schedule pairs, by the catalogue's kernel names.
const std::set<std::string> kAttentionF{"ln1", "qkv",  "attention", "attn.proj",
                                        "ln2", "gate", "gate.topk", "permute"};
const std::set<std::string> kAttentionB{
    "permute.bwd",  "gate.topk.bwd", "gate.dX", "gate.dW", "ln2.bwd", "attn.proj.dX",
    "attn.proj.dW", "attention.bwd", "qkv.dX",  "qkv.dW",  "ln1.bwd"};
const std::set<std::string> kMlpF{"expert1", "expert.act", "expert2"};
const std::set<std::string> kMlpB{"expert2.dX", "expert.act.bwd", "expert1.dX", "expert2.dW",
                                  "expert1.dW"};

TEST(MegatronA2aOverlap, PairsOverlapAsListed) {
  // One stage, 4 micro-batches, EP over 4 GPUs; a 1 GB/s network makes each all-to-all long.
  FixedCosts f(1e10, 1e30, 1.0);
  const TrainingJob job = job_of(moe_model(), "ep=4,mb=4", 1, 4);
  SimulatedExecutor exec(f.compute, f.network);
  const auto F = Phase::forward;
  const auto B = Phase::backward;
  struct Pair {
    std::set<std::string> a;
    Phase pa;
    std::set<std::string> b;
    Phase pb;
    std::string_view what;
  };
  const std::vector<Pair> pairs{
      {kAttentionF, F, {"ep.combine.bwd"}, B, "attention(F) || combine(B)"},
      {{"ep.dispatch"}, F, kMlpB, B, "dispatch(F) || MLP(B)"},
      {{"ep.dispatch.bwd"}, B, kMlpF, F, "dispatch(B) || MLP(F)"},
      {{"ep.combine"}, F, kAttentionB, B, "combine(F) || attention(B)"}};
  // Without delayed dW (which would fill dispatch(B)'s window with MLP(B)'s weight gradient).
  for (const char* spec : {"megatron-a2a-overlap:delay_wgrad=off", "megatron"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    const ExecutionRecord rec = exec.run(built.graph);
    const bool paired = std::string_view(spec) != "megatron";
    for (const Pair& p : pairs) {
      EXPECT_EQ(overlaps(built.graph, rec, p.a, p.pa, p.b, p.pb), paired) << spec << ": " << p.what;
    }
  }
  // Delayed: the expert dW GEMMs run beside the backward dispatch.
  const BuildResult built = make_strategy("megatron-a2a-overlap")->build_iteration(job, f.costs);
  const ExecutionRecord rec = exec.run(built.graph);
  EXPECT_TRUE(overlaps(built.graph, rec, {"ep.dispatch.bwd"}, B, {"expert1.dW", "expert2.dW"}, B));
}

TEST(MegatronA2aOverlap, HidesCommunicationAndDelaysWgrad) {
  FixedCosts f(1e10, 1e30, 1.0);
  const TrainingJob job = job_of(moe_model(), "ep=4,mb=4", 1, 4);
  SimulatedExecutor exec(f.compute, f.network);
  const auto time_of = [&](const char* spec) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    return exec.run(built.graph).makespan();
  };
  const SimTime serial = time_of("megatron");
  const SimTime overlapped = time_of("megatron-a2a-overlap:delay_wgrad=off");
  const SimTime delayed = time_of("megatron-a2a-overlap");
  EXPECT_LT(overlapped, serial);
  EXPECT_LE(delayed, overlapped);
}

TEST(Megatron, InterleavedPipelineRunsEveryChunk) {
  FixedCosts f;
  ModelSpec m = moe_model();
  m.layers = 8;
  const TrainingJob job = job_of(m, "ep=2,pp=2,mb=4", 1, 4);
  for (const char* spec : {"megatron:vp=2", "megatron:vp=4", "megatron-a2a-overlap:vp=2"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    // Every layer's forward expert kernel on each of its stage's ranks, once per micro-batch.
    std::map<std::int32_t, int> per_layer;
    for (const Task& t : built.graph.tasks()) {
      if (built.graph.names()[t.name] == "expert1" && t.phase == Phase::forward) {
        ++per_layer[t.layer];
      }
    }
    ASSERT_EQ(per_layer.size(), 8u) << spec;
    for (const auto& [layer, n] : per_layer) EXPECT_EQ(n, 2 * 4) << spec << " layer " << layer;
    SimulatedExecutor exec(f.compute, f.network);
    EXPECT_GT(exec.run(built.graph).makespan(), SimTime::zero());
  }
}

TEST(Megatron, SharedExpertOverlapRunsBesideTheDispatch) {
  FixedCosts f(1e10, 1e30, 1.0);
  ModelSpec m = moe_model();
  m.shared_experts = 1;
  const TrainingJob job = job_of(m, "ep=4", 1, 4);
  SimulatedExecutor exec(f.compute, f.network);
  for (const char* spec : {"megatron:shared_expert_overlap=on", "megatron"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    const ExecutionRecord rec = exec.run(built.graph);
    const bool on = std::string_view(spec) != "megatron";
    EXPECT_EQ(
        overlaps(built.graph, rec, {"shared1"}, Phase::forward, {"ep.dispatch"}, Phase::forward),
        on)
        << spec;
  }
}

TEST(Megatron, RecomputeModulesRerunTheirForwardKernelsInTheBackward) {
  // --recompute-modules layernorm moe_act: each layer's backward re-runs its two norms (once per
  // layer and micro-batch) and each rank's expert activation (the forward kernel's exact work),
  // on the gradient chain; nothing else changes.
  FixedCosts f;
  ModelSpec m = moe_model();
  m.layers = 2;
  const TrainingJob job = job_of(m, "ep=2,pp=2,mb=2", 1, 4);
  const auto count = [&](const BuildResult& b, std::string_view name, Phase phase) {
    int n = 0;
    double flops = 0.0;
    for (const Task& t : b.graph.tasks()) {
      if (b.graph.names()[t.name] == name && t.phase == phase) {
        ++n;
        flops += b.graph.compute_of(t)->flops.count;
      }
    }
    return std::pair{n, flops};
  };
  const BuildResult plain = make_strategy("megatron")->build_iteration(job, f.costs);
  EXPECT_EQ(count(plain, "ln1.recompute", Phase::backward).first, 0);
  EXPECT_EQ(count(plain, "expert.act.recompute", Phase::backward).first, 0);
  EXPECT_EQ(std::get<std::string>(plain.decisions.at("megatron.recompute").value), "off");
  {
    const char* spec = "megatron:recompute=layernorm+moe_act";
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    // 2 layers x 2 micro-batches x 2 ranks per stage (one layer per stage, pp = 2).
    EXPECT_EQ(count(built, "ln1.recompute", Phase::backward).first, 2 * 2 * 2) << spec;
    EXPECT_EQ(count(built, "ln2.recompute", Phase::backward).first, 2 * 2 * 2) << spec;
    const auto act = count(built, "expert.act", Phase::forward);
    const auto again = count(built, "expert.act.recompute", Phase::backward);
    EXPECT_EQ(again.first, act.first) << spec;
    EXPECT_DOUBLE_EQ(again.second, act.second) << spec;
    EXPECT_EQ(count(built, "ln1", Phase::forward).first, count(plain, "ln1", Phase::forward).first);
    EXPECT_GT(built.graph.tasks().size(), plain.graph.tasks().size());
  }
  // The combined 1F1B (pp = 1) re-runs the activation too, in the backward half of its pairs.
  const BuildResult a2a = make_strategy("megatron-a2a-overlap:recompute=moe_act")
                              ->build_iteration(job_of(m, "ep=4,mb=2", 1, 4), f.costs);
  a2a.graph.validate();
  EXPECT_EQ(count(a2a, "expert.act.recompute", Phase::backward).first,
            count(a2a, "expert.act", Phase::forward).first);
  EXPECT_EQ(count(a2a, "ln1.recompute", Phase::backward).first, 0);
  EXPECT_THROW(make_strategy("megatron:recompute=core_attn"), InputError);
}

TEST(Megatron, CoreAttentionIsTransformerEnginesCausalKernelUnlessSet) {
  // Megatron-Core's TE layer spec runs causal attention through TEDotProductAttention (flash /
  // cuDNN fused), which skips the tiles above the diagonal: with attention_kernel unset megatron
  // charges flash_causal's keys; a --set kernel is kept.
  FixedCosts f;
  ModelSpec m = moe_model();
  m.seq_len = 1024;
  const auto attention_flops = [&](const ModelSpec& model, std::string_view strategy) {
    const BuildResult b =
        make_strategy(strategy)->build_iteration(job_of(model, "ep=4", 1, 4), f.costs);
    double flops = 0.0;
    for (const Task& t : b.graph.tasks()) {
      if (b.graph.names()[t.name] == "attention") flops += b.graph.compute_of(t)->flops.count;
    }
    return std::pair{flops,
                     std::get<std::string>(b.decisions.at("megatron.attention_kernel").value)};
  };
  ModelSpec flash = m;
  flash.attention_kernel = AttentionKernel::flash_causal;
  ModelSpec dense = m;
  dense.attention_kernel = AttentionKernel::dense_masked;
  const auto by_default = attention_flops(m, "megatron");
  EXPECT_EQ(by_default.second, "flash_causal");
  EXPECT_DOUBLE_EQ(by_default.first, attention_flops(flash, "megatron").first);
  const auto set_dense = attention_flops(dense, "megatron");
  EXPECT_EQ(set_dense.second, "dense_masked");
  // 1024 keys, 8 query tiles of 128: the causal tiles are 36 of 64.
  EXPECT_NEAR(by_default.first / set_dense.first, 36.0 / 64.0, 1e-9);
  EXPECT_EQ(attention_flops(m, "megatron-a2a-overlap").second, "flash_causal");
}

TEST(Megatron, OptionErrorsNameTheProblem) {
  FixedCosts f;
  ModelSpec m = moe_model();
  m.layers = 6;
  const TrainingJob job = job_of(m, "ep=2,pp=2,mb=2", 1, 4);
  EXPECT_THROW(make_strategy("megatron:vp=2")->build_iteration(job, f.costs), InputError);
  EXPECT_THROW(make_strategy("megatron:dispatcher=flex"), InputError);
  EXPECT_THROW(make_strategy("megatron:delay_wgrad=on"), InputError);
  EXPECT_NO_THROW(make_strategy("megatron:vp=3")->build_iteration(job, f.costs));
  // Megatron-Core's combined 1F1B runs without PP or with interleaved stages only.
  EXPECT_THROW(make_strategy("megatron-a2a-overlap")->build_iteration(job, f.costs), InputError);
  EXPECT_NO_THROW(make_strategy("megatron-a2a-overlap:vp=3")->build_iteration(job, f.costs));
  // Interleaving walks groups of pp micro-batches (Megatron asserts mb % pp == 0).
  const TrainingJob odd = job_of(m, "ep=2,pp=2,mb=3", 1, 4);
  EXPECT_THROW(make_strategy("megatron:vp=3")->build_iteration(odd, f.costs), InputError);
  EXPECT_NO_THROW(make_strategy("megatron")->build_iteration(odd, f.costs));
}

}  // namespace
}  // namespace moesim::strategies
