// DualPipe and DualPipeV: each device's program against the 8-step table of
// deepseek-ai/DualPipe (dualpipe/dualpipe.py, DualPipe.step), the merged emission order, and the
// published bubbles measured from simulated timelines: DualPipe (PP/2 - 1)(F&B + B - 3W) against
// 1F1B's (PP - 1)(F + B) (DualPipe README, "Pipeline Bubbles and Memory Usage Comparison"; F, B
// = forward and full backward of a chunk, W = its weight gradient, F&B = an overlapped pair).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/dualpipe_schedule.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

std::string spell(const ChunkOp& op) {
  switch (op.kind) {
    case ChunkOpKind::forward:
      return fmt::format("F{}", op.forward_phase);
    case ChunkOpKind::backward:
      return fmt::format("B{}{}", op.backward_phase, op.zero_bubble ? "z" : "");
    case ChunkOpKind::weight:
      return "W";
    case ChunkOpKind::forward_backward:
      return fmt::format("F{}B{}", op.forward_phase, op.backward_phase);
  }
  return "?";
}

/// The ops of one step, spelled and joined by spaces.
std::string step_text(const std::vector<ChunkOp>& program, int step) {
  std::string out;
  for (const ChunkOp& op : program) {
    if (op.step != step) continue;
    if (!out.empty()) out += ' ';
    out += spell(op);
  }
  return out;
}

std::string repeat(const std::string& pattern, std::int64_t times) {
  std::string out;
  for (std::int64_t i = 0; i < times; ++i) {
    if (!out.empty()) out += ' ';
    out += pattern;
  }
  return out;
}

// The table (steps, patterns, counts) as the repository's README-level description gives it:
// 1 F0 x 2(PP/2-h-1); 2 F0F1 x (h+1); 3 B1W1F1 x (PP/2-h-1); 4 F0B1F1B0 x (N/2-PP+h+1);
// 5 B1F1B0 x (PP/2-h-1); 6 B1B0 x (h+1); 7 WB0 x (PP/2-h-1); 8 W x (h+1).
TEST(DualPipeProgram, EveryRankFollowsTheEightStepTable) {
  for (const auto& [pp, n] :
       {std::pair<std::int64_t, std::int64_t>{2, 4}, {4, 8}, {8, 20}, {16, 32}, {16, 40}}) {
    const std::int64_t H = pp / 2;
    for (std::int64_t rank = 0; rank < pp; ++rank) {
      const std::int64_t h = std::min(rank, pp - 1 - rank);
      const auto program = dualpipe_program(H, h, n / 2);
      const std::string where = fmt::format("pp={} rank={}", pp, rank);
      const std::int64_t outer = H - h - 1;
      EXPECT_EQ(step_text(program, 1), repeat("F0", 2 * outer)) << where;
      EXPECT_EQ(step_text(program, 2), repeat("F0 F1", h + 1)) << where;
      EXPECT_EQ(step_text(program, 3), repeat("B1z W F1", outer)) << where;
      const std::int64_t main = n / 2 - pp + h + 1;
      // The middle ranks run their first pair of the main step as F0 then a full B1.
      const std::string step4 = h == H - 1 ? fmt::format("F0 B1 F1B0{}{}", main > 1 ? " " : "",
                                                         repeat("F0B1 F1B0", main - 1))
                                           : repeat("F0B1 F1B0", main);
      EXPECT_EQ(step_text(program, 4), step4) << where;
      EXPECT_EQ(step_text(program, 5), repeat("B1 F1B0", outer)) << where;
      EXPECT_EQ(step_text(program, 7), repeat("W B0z", outer)) << where;
      EXPECT_EQ(step_text(program, 8), repeat("W", h + 1)) << where;
      // Step 6: h+1 pairs B1 B0; full backwards first, zero-bubble ones from the middle of the
      // step on, h+1 of them (one W each in steps 7 and 8).
      std::vector<ChunkOp> six;
      for (const ChunkOp& op : program) {
        if (op.step == 6) six.push_back(op);
      }
      ASSERT_EQ(six.size(), static_cast<std::size_t>(2 * (h + 1))) << where;
      std::int64_t zb = 0;
      for (std::size_t i = 0; i < six.size(); ++i) {
        EXPECT_EQ(six[i].kind, ChunkOpKind::backward) << where;
        EXPECT_EQ(six[i].backward_phase, i % 2 == 0 ? 1 : 0) << where;
        if (i > 0 && six[i - 1].zero_bubble) {
          EXPECT_TRUE(six[i].zero_bubble) << where;
        }
        zb += six[i].zero_bubble ? 1 : 0;
      }
      EXPECT_EQ(zb, h + 1) << where;
      // Every micro-batch of each phase: one forward and one backward.
      std::map<std::string, std::int64_t> passes;
      for (const ChunkOp& op : program) {
        if (op.forward_phase >= 0) ++passes[fmt::format("F{}", op.forward_phase)];
        if (op.backward_phase >= 0) ++passes[fmt::format("B{}", op.backward_phase)];
      }
      for (const char* p : {"F0", "F1", "B0", "B1"}) EXPECT_EQ(passes[p], n / 2) << where << p;
    }
  }
}

TEST(DualPipeOrder, EveryChunkPassOnceAfterItsInputs) {
  for (const DualPipeVariant v : {DualPipeVariant::dualpipe, DualPipeVariant::dualpipev}) {
    const DualPipeGeometry g(v, 4, 12);
    const auto order = dualpipe_order(g);
    std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t>> f, b, w;  // route, pos, mb
    for (const DualPipeItem& it : order) {
      if (it.kind == ChunkOpKind::forward || it.kind == ChunkOpKind::forward_backward) {
        const ChunkPass& p = it.forward;
        EXPECT_EQ(g.device_at(p.route, p.position), it.device);
        if (p.position > 0) {
          EXPECT_TRUE(f.count({p.route, p.position - 1, p.micro_batch}));
        }
        EXPECT_TRUE(f.insert({p.route, p.position, p.micro_batch}).second);
      }
      if (it.kind == ChunkOpKind::backward || it.kind == ChunkOpKind::forward_backward) {
        const ChunkPass& p = it.backward;
        EXPECT_TRUE(f.count({p.route, p.position, p.micro_batch}));
        if (p.position + 1 < g.route_length()) {
          EXPECT_TRUE(b.count({p.route, p.position + 1, p.micro_batch}));
        }
        EXPECT_TRUE(b.insert({p.route, p.position, p.micro_batch}).second);
      }
      if (it.kind == ChunkOpKind::weight) {
        const ChunkPass& p = it.backward;
        EXPECT_TRUE(b.count({p.route, p.position, p.micro_batch}));
        EXPECT_TRUE(w.insert({p.route, p.position, p.micro_batch}).second);
      }
    }
    const std::size_t cells =
        static_cast<std::size_t>(g.routes() * g.route_length() * g.per_phase());
    EXPECT_EQ(f.size(), cells);
    EXPECT_EQ(b.size(), cells);
  }
}

// A GPU on which every GEMM takes 1 us and everything else is free: every chunk's forward,
// input gradient and weight gradient then cost the same (each forward GEMM has one dX and one dW
// GEMM of equal FLOPs), the "uniform cost" the bubble formulas assume (F = B_input = W).
class UniformGemmCompute final : public compute::ComputeModel {
 public:
  std::string_view name() const override { return "uniform-gemm"; }
  SimTime duration(const ComputeTask& task, const compute::ComputeContext&) const override {
    return task.kind == KernelKind::gemm ? SimTime::from_ns(1000) : SimTime::zero();
  }
};

struct Timeline {
  double bubble_us = 0;    ///< max over devices of (pipeline end - the device's compute time)
  double forward_us = 0;   ///< F: one chunk's forward, from the timeline
  double backward_us = 0;  ///< B: one chunk's full backward (input and weight gradients)
  double weight_us = 0;    ///< W: one chunk's weight gradient
};

/// Runs `strategy` with one rank per stage, ep=1 (no all-to-all) and an instant network.
Timeline measure(const std::string& strategy, std::int64_t pp, std::int64_t mb, std::int64_t layers,
                 const std::string& schedule) {
  ModelSpec m = tiny_model(1, 4);
  m.layers = layers;
  const TrainingJob job = make_training_job(
      m, parse_parallel_layout(fmt::format("pp={},mb={},schedule={}", pp, mb, schedule), "-p"),
      shape_of(1, pp), GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
  UniformGemmCompute compute;
  network::IdealNetworkModel network(Bandwidth::from_gbps(1e12), SimTime::zero());
  const CostModels costs{compute, network};
  const BuildResult built = make_strategy(strategy)->build_iteration(job, costs);
  built.graph.validate();
  SimulatedExecutor exec(compute, network);
  const ExecutionRecord rec = exec.run(built.graph);
  std::vector<SimTime> busy(static_cast<std::size_t>(pp), SimTime::zero());
  SimTime end = SimTime::zero();
  SimTime fwd = SimTime::zero(), bwd = SimTime::zero(), wgt = SimTime::zero();
  for (std::size_t i = 0; i < built.graph.task_count(); ++i) {
    const Task& t = built.graph.tasks()[i];
    const auto* k = built.graph.compute_of(t);
    if (k == nullptr || (t.phase != Phase::forward && t.phase != Phase::backward)) continue;
    const SimTime d = rec.tasks[i].end - rec.tasks[i].start;
    busy[t.rank.index()] += d;
    end = std::max(end, rec.tasks[i].end);
    if (t.rank.index() != 0) continue;
    (t.phase == Phase::forward ? fwd : bwd) += d;
    if (k->op.gemm_role == GemmRole::weight_gradient) wgt += d;
  }
  Timeline out;
  for (SimTime b : busy) out.bubble_us = std::max(out.bubble_us, (end - b).us());
  // Chunk passes device 0 runs: mb for DualPipe (mb/2 in each direction), 2 mb for DualPipeV
  // (both arms of the V for every micro-batch), mb for 1F1B.
  const double passes =
      strategy == "dualpipev" ? 2.0 * static_cast<double>(mb) : static_cast<double>(mb);
  out.forward_us = fwd.us() / passes;
  out.backward_us = bwd.us() / passes;
  out.weight_us = wgt.us() / passes;
  return out;
}

TEST(DualPipeBubble, MatchesThePublishedFormulaAndHalvesOneFOneB) {
  for (const auto& [pp, mb] : {std::pair<std::int64_t, std::int64_t>{4, 8}, {8, 16}, {8, 20}}) {
    const std::string where = fmt::format("pp={} mb={}", pp, mb);
    // One layer per stage: chunk = stage for both schedules, so F, B, W are the same chunk.
    const Timeline dual = measure("dualpipe", pp, mb, pp, "1f1b");
    const Timeline one = measure("deepspeed-moe", pp, mb, pp, "1f1b");
    EXPECT_GT(dual.weight_us, 0.0);
    EXPECT_DOUBLE_EQ(dual.forward_us, one.forward_us) << where;
    EXPECT_DOUBLE_EQ(dual.backward_us, one.backward_us) << where;
    // One compute stream and no communication: an overlapped pair costs F + B.
    const double fb = dual.forward_us + dual.backward_us;
    const double h = static_cast<double>(pp) / 2.0 - 1.0;
    EXPECT_NEAR(dual.bubble_us, h * (fb + dual.backward_us - 3.0 * dual.weight_us), 1e-3) << where;
    EXPECT_NEAR(one.bubble_us, static_cast<double>(pp - 1) * (one.forward_us + one.backward_us),
                1e-3)
        << where;
    EXPECT_LT(dual.bubble_us, one.bubble_us) << where;
  }
}

TEST(DualPipeBubble, DualPipeVHasDualPipesBubbleOnHalfTheDevices) {
  // DualPipeV on P devices = DualPipe on 2P "stages" folded in half: bubble (P - 1)(F&B + B - 3W)
  // with F, B, W those of its chunks.
  for (const auto& [p, mb] : {std::pair<std::int64_t, std::int64_t>{2, 4}, {4, 8}, {4, 10}}) {
    const Timeline v = measure("dualpipev", p, mb, 2 * p, "1f1b");
    const double fb = v.forward_us + v.backward_us;
    EXPECT_NEAR(v.bubble_us, static_cast<double>(p - 1) * (fb + v.backward_us - 3.0 * v.weight_us),
                1e-3)
        << "p=" << p << " mb=" << mb;
  }
}

// Two stages with EP all-to-alls on a slow network: interleaving the F&B pairs hides the
// exchanges of one pass under the other's compute, so the iteration is shorter than with
// overlap=off (which runs every pair as F then B).
TEST(DualPipe, OverlappedPairsHideTheExpertExchange) {
  ModelSpec m = tiny_model(1, 64);
  m.layers = 4;
  m.experts = 4;
  m.dropless = true;
  const TrainingJob job =
      make_training_job(m, parse_parallel_layout("ep=2,pp=2,mb=8", "-p"), shape_of(1, 4),
                        GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
  FixedCosts f(1e9, 1e30, 0.05);
  SimulatedExecutor exec(f.compute, f.network);
  const auto makespan = [&](const std::string& s) {
    const BuildResult b = make_strategy(s)->build_iteration(job, f.costs);
    b.graph.validate();
    return exec.run(b.graph).makespan();
  };
  const SimTime on = makespan("dualpipe");
  const SimTime off = makespan("dualpipe:overlap=off");
  EXPECT_LT(on.us(), 0.97 * off.us()) << "on " << on.us() << " us, off " << off.us() << " us";
}

TEST(DualPipe, RejectsLayoutsItCannotSchedule) {
  ModelSpec m = tiny_model(1, 4);
  m.layers = 4;
  FixedCosts f;
  const auto build = [&](const std::string& s, const std::string& layout, std::int64_t gpus) {
    const TrainingJob job =
        make_training_job(m, parse_parallel_layout(layout, "-p"), shape_of(1, gpus),
                          GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
    return make_strategy(s)->build_iteration(job, f.costs);
  };
  EXPECT_THROW(build("dualpipe", "pp=2,mb=2", 2), InputError);   // mb < 2 pp
  EXPECT_THROW(build("dualpipe", "pp=1,mb=4", 1), InputError);   // odd pp
  EXPECT_THROW(build("dualpipev", "pp=2,mb=5", 2), InputError);  // odd mb
  EXPECT_NO_THROW(build("dualpipev", "pp=1,mb=2", 1));
  EXPECT_NO_THROW(build("dualpipe", "pp=2,mb=4", 2));
}

}  // namespace
}  // namespace moesim::strategies
