// Uneven pipeline stages (Megatron-Core's --decoder-first/last-pipeline-num-layers,
// ParallelLayout::first_stage_layers / last_stage_layers): the per-stage layer counts, 1F1B,
// Megatron (interleaved too) and DualPipe iterations whose stages run the layers of the split,
// the combinations refused, and DualPipe's model ends (embedding, output head) on the devices
// that start and end each route (deepseek-ai/DualPipe, dualpipe/dualpipe.py).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <variant>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

ParallelLayout resolved(std::int64_t layers, std::string_view parallel, std::int64_t gpus) {
  ParallelLayout l = parse_parallel_layout(parallel, "--parallel");
  l.resolve(dropless_model(layers), gpus, gpus, "--parallel");
  return l;
}

std::string error_of(std::int64_t layers, std::string_view parallel, std::int64_t gpus) {
  try {
    resolved(layers, parallel, gpus);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

/// Layers each pipeline coordinate runs (its "qkv" kernels), and how often.
struct StageLayers {
  std::map<std::int32_t, std::set<std::int32_t>> layers;
  std::map<std::int32_t, int> forwards;  // forward qkv kernels per stage
};

StageLayers stage_layers(const TrainingJob& job, const BuildResult& built) {
  StageLayers out;
  for (const Task& t : built.graph.tasks()) {
    if (built.graph.names()[t.name] != "qkv") continue;
    const std::int32_t stage = job.mapping.coords(t.rank).pp;
    out.layers[stage].insert(t.layer);
    if (t.phase == Phase::forward) ++out.forwards[stage];
  }
  return out;
}

/// Simulated time of the attention's first GEMM ("qkv", the same on every layer) per stage.
std::map<std::int32_t, double> attention_us_per_stage(const TrainingJob& job,
                                                      const BuildResult& built,
                                                      const ExecutionRecord& rec) {
  std::map<std::int32_t, double> out;
  for (std::size_t i = 0; i < built.graph.task_count(); ++i) {
    const Task& t = built.graph.tasks()[i];
    if (t.kind != TaskKind::compute || t.layer < 0 || built.graph.names()[t.name] != "qkv") {
      continue;
    }
    const TaskRecord& r = rec.tasks[i];
    out[job.mapping.coords(t.rank).pp] += (r.end - r.start).us();
  }
  return out;
}

std::set<std::int32_t> range(std::int32_t first, std::int32_t end) {
  std::set<std::int32_t> s;
  for (std::int32_t l = first; l < end; ++l) s.insert(l);
  return s;
}

TEST(UnevenStages, DeepSeekV3OnSixteenStagesIsFifteenOfFourAndOne) {
  // NVIDIA-NeMo/Megatron-Bridge, recipes/deepseek/deepseek_v3.py, layout_map[(16, 1)].
  const ParallelLayout l = resolved(61, "pp=16,mb=16,last_stage_layers=1", 16);
  for (std::int64_t s = 0; s < 15; ++s) {
    EXPECT_EQ(l.layers_of_stage(s), 4) << s;
    EXPECT_EQ(l.first_layer_of_stage(s), 4 * s) << s;
  }
  EXPECT_EQ(l.layers_of_stage(15), 1);
  EXPECT_EQ(l.first_layer_of_stage(15), 60);
  EXPECT_EQ(l.first_layer_of_stage(16), 61);
  for (std::int64_t layer = 0; layer < 61; ++layer) {
    const std::int64_t s = l.stage_of_layer(layer);
    EXPECT_GE(layer, l.first_layer_of_stage(s)) << layer;
    EXPECT_LT(layer, l.first_layer_of_stage(s) + l.layers_of_stage(s)) << layer;
  }
  EXPECT_EQ(l.describe(),
            "dp=1,tp=1,ep=1,esp=1,edp=1,pp=16,mb=16,schedule=1f1b,last_stage_layers=1");
}

TEST(UnevenStages, FirstLastAndEndsSplits) {
  const ParallelLayout first = resolved(10, "pp=4,mb=4,first_stage_layers=1", 4);  // 1,3,3,3
  EXPECT_EQ(first.layers_of_stage(0), 1);
  EXPECT_EQ(first.layers_of_stage(3), 3);
  EXPECT_EQ(first.first_layer_of_stage(2), 4);
  EXPECT_EQ(first.stage_of_layer(0), 0);
  EXPECT_EQ(first.stage_of_layer(1), 1);
  EXPECT_EQ(first.stage_of_layer(9), 3);
  const ParallelLayout both = resolved(10, "pp=2,mb=2,first_stage_layers=3,last_stage_layers=7", 2);
  EXPECT_EQ(both.layers_of_stage(0), 3);
  EXPECT_EQ(both.layers_of_stage(1), 7);
  EXPECT_EQ(both.stage_of_layer(3), 1);
  // split=ends: layers + 2 slots, the first and the last stage one layer fewer.
  const ParallelLayout ends = resolved(6, "pp=2,mb=2,split=ends", 2);
  EXPECT_EQ(ends.layers_of_stage(0), 3);
  EXPECT_EQ(ends.layers_of_stage(1), 3);
  const ParallelLayout ends4 = resolved(10, "pp=4,mb=4,split=ends", 4);  // 2,3,3,2
  EXPECT_EQ(ends4.layers_of_stage(0), 2);
  EXPECT_EQ(ends4.layers_of_stage(1), 3);
  EXPECT_EQ(ends4.layers_of_stage(3), 2);
  EXPECT_EQ(ends4.first_layer_of_stage(3), 8);
  // Interleaved chunks (Megatron-Core's get_transformer_layer_offset): 12 layers, pp 3, vp 2,
  // first 2, last 2 -> middle 8; chunk c of stage s starts at 6c + first_layer_of_stage(s) / 2.
  const ParallelLayout vp = resolved(12, "pp=3,mb=3,first_stage_layers=2,last_stage_layers=2", 3);
  EXPECT_NO_THROW(vp.check_chunks(2, "--strategy"));
  EXPECT_EQ(vp.chunk_layers(0, 0, 2).first, 0);
  EXPECT_EQ(vp.chunk_layers(0, 0, 2).count, 1);
  EXPECT_EQ(vp.chunk_layers(1, 0, 2).first, 1);
  EXPECT_EQ(vp.chunk_layers(1, 0, 2).count, 4);
  EXPECT_EQ(vp.chunk_layers(2, 0, 2).first, 5);
  EXPECT_EQ(vp.chunk_layers(0, 1, 2).first, 6);
  EXPECT_EQ(vp.chunk_layers(1, 1, 2).first, 7);
  EXPECT_EQ(vp.chunk_layers(2, 1, 2).first, 11);
  EXPECT_EQ(vp.chunk_layers(2, 1, 2).count, 1);
}

TEST(UnevenStages, BadCombinationsAreInputErrors) {
  EXPECT_EQ(error_of(61, "pp=16,mb=16", 16),
            "--parallel: pp must divide the number of layers (got pp=16, layers=61, expected pp "
            "dividing layers, or first_stage_layers=N / last_stage_layers=N for an uneven split)");
  EXPECT_EQ(error_of(61, "pp=16,mb=16,first_stage_layers=3", 16),
            "--parallel: the layers left to the middle stages do not divide evenly over them "
            "(got layers=61 - first_stage_layers=3 - last_stage_layers=0 = 58 over 15 stages, "
            "expected a positive multiple of 15)");
  EXPECT_EQ(error_of(8, "pp=2,mb=2,first_stage_layers=3,last_stage_layers=3", 2),
            "--parallel: with pp=2 the first and last stages hold every layer (got "
            "first_stage_layers=3, last_stage_layers=3, layers=8, expected first_stage_layers + "
            "last_stage_layers = 8)");
  EXPECT_EQ(error_of(8, "pp=4,mb=4,split=ends,last_stage_layers=1", 4),
            "--parallel: first_stage_layers / last_stage_layers with split=ends (got split=ends, "
            "first_stage_layers=0, last_stage_layers=1, expected one of them: split=ends, or "
            "first/last_stage_layers)");
  EXPECT_EQ(error_of(8, "first_stage_layers=2", 1),
            "--parallel: first_stage_layers / last_stage_layers need a pipeline (got pp=1, "
            "first_stage_layers=2, last_stage_layers=0, expected pp >= 2)");
  // Every middle stage needs a layer.
  EXPECT_NE(error_of(4, "pp=4,mb=4,first_stage_layers=3", 4), "");
  EXPECT_THROW(parse_parallel_layout("pp=2,last_stage_layers=0", "-p"), InputError);
  // vp must divide every stage's layers.
  const ParallelLayout l = resolved(12, "pp=3,mb=3,first_stage_layers=3,last_stage_layers=3", 3);
  try {
    l.check_chunks(2, "--strategy");
    ADD_FAILURE() << "vp=2 with 3 layers on the first stage accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--strategy: vp must divide the layers of every pipeline stage (got first stage 3 "
              "layers, vp=2, expected first_stage_layers, last_stage_layers and the middle "
              "stages' layers multiples of vp)");
  }
  FixedCosts f;
  const TrainingJob job =
      uniform_job(dropless_model(12), "pp=3,mb=3,first_stage_layers=3,last_stage_layers=3", 3);
  EXPECT_THROW(make_strategy("megatron:vp=2")->check_job(job), InputError);
  EXPECT_THROW(make_strategy("megatron:vp=2")->build_iteration(job, f.costs), InputError);
  EXPECT_NO_THROW(make_strategy("megatron:vp=3")->check_job(job));
  // DualPipeV's stages are devices of two chunks each: uneven stages are refused.
  const TrainingJob v = uniform_job(dropless_model(10), "pp=2,mb=4,first_stage_layers=4", 2);
  EXPECT_THROW(make_strategy("dualpipev")->check_job(v), InputError);
  EXPECT_NO_THROW(make_strategy("dualpipe")->check_job(v));
}

TEST(UnevenStages, SplitEndsIsRefusedBeforeBuildingByStrategiesThatDoNotBuildIt) {
  const TrainingJob job = uniform_job(dropless_model(6, 128), "ep=2,pp=2,mb=4,split=ends", 4);
  for (const char* spec : {"deepspeed-moe", "tutel", "fsmoe", "dualpipe", "dualpipev"}) {
    EXPECT_THROW(make_strategy(spec)->check_job(job), InputError) << spec;
  }
  EXPECT_NO_THROW(make_strategy("megatron")->check_job(job));
}

TEST(UnevenStages, OneFOneBStagesRunTheirSplit) {
  // 7 layers over 3 stages: 3, 2, 2. Every strategy on the shared 1F1B driver (and those with
  // their own gradient sync) runs each stage's layers once per micro-batch and rank.
  FixedCosts f;
  const TrainingJob job =
      uniform_job(dropless_model(7, 128), "ep=2,pp=3,mb=3,first_stage_layers=3", 6);
  SimulatedExecutor exec(f.compute, f.network);
  for (const char* spec :
       {"deepspeed-moe", "tutel", "fsmoe", "tutel-improved", "flexmoe", "lancet"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    const StageLayers s = stage_layers(job, built);
    EXPECT_EQ(s.layers.at(0), range(0, 3)) << spec;
    EXPECT_EQ(s.layers.at(1), range(3, 5)) << spec;
    EXPECT_EQ(s.layers.at(2), range(5, 7)) << spec;
    // As many forward kernels per layer on every stage (2 ranks, 3 micro-batches; Lancet
    // partitions a layer's attention, so its count per layer is higher but the same).
    EXPECT_EQ(2 * s.forwards.at(0), 3 * s.forwards.at(1)) << spec;
    EXPECT_EQ(s.forwards.at(1), s.forwards.at(2)) << spec;
    EXPECT_GE(s.forwards.at(1), 2 * 2 * 3) << spec;
    const ExecutionRecord rec = exec.run(built.graph);
    EXPECT_GT(rec.makespan(), SimTime::zero()) << spec;
    // Stage 0's ranks compute 3 layers, the others 2 (same routing on every layer shape).
    const auto compute_us = attention_us_per_stage(job, built, rec);
    EXPECT_NEAR(compute_us.at(0) / compute_us.at(1), 1.5, 1e-9) << spec;
    EXPECT_NEAR(compute_us.at(1) / compute_us.at(2), 1.0, 1e-9) << spec;
  }
}

TEST(UnevenStages, MegatronStagesRunTheirSplitInterleavedOrNot) {
  FixedCosts f;
  const ModelSpec m = dropless_model(12, 128);
  {
    const TrainingJob job =
        uniform_job(m, "ep=2,pp=3,mb=3,first_stage_layers=2,last_stage_layers=2", 6);
    // 1F1B: 2, 8, 2; interleaved vp=2: chunks of 1, 4, 1 (see FirstLastAndEndsSplits).
    const std::map<std::string, std::vector<std::set<std::int32_t>>> expected = {
        {"megatron", {range(0, 2), range(2, 10), range(10, 12)}},
        {"megatron:vp=2", {{0, 6}, {1, 2, 3, 4, 7, 8, 9, 10}, {5, 11}}},
        {"megatron-a2a-overlap:vp=2", {{0, 6}, {1, 2, 3, 4, 7, 8, 9, 10}, {5, 11}}},
    };
    for (const auto& [spec, stages] : expected) {
      const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
      built.graph.validate();
      const StageLayers s = stage_layers(job, built);
      for (std::int32_t st = 0; st < 3; ++st) {
        EXPECT_EQ(s.layers.at(st), stages[static_cast<std::size_t>(st)]) << spec << " " << st;
        EXPECT_EQ(s.forwards.at(st),
                  static_cast<int>(stages[static_cast<std::size_t>(st)].size()) * 2 * 3)
            << spec << " " << st;
      }
      SimulatedExecutor exec(f.compute, f.network);
      const ExecutionRecord rec = exec.run(built.graph);
      EXPECT_GT(rec.makespan(), SimTime::zero()) << spec;
      // The middle stage computes 4x the layers of each end stage.
      const auto us = attention_us_per_stage(job, built, rec);
      EXPECT_NEAR(us.at(1) / us.at(0), 4.0, 1e-9) << spec;
      EXPECT_NEAR(us.at(2) / us.at(0), 1.0, 1e-9) << spec;
    }
  }
}

TEST(UnevenStages, DualPipeChunksFollowTheSplit) {
  // 7 layers on 4 devices, last_stage_layers=1: positions hold 2, 2, 2, 1 layers. Device r runs
  // position r of route 0 and position 3 - r of route 1.
  FixedCosts f;
  const TrainingJob job = uniform_job(dropless_model(7), "pp=4,mb=8,last_stage_layers=1", 4);
  const BuildResult built = make_strategy("dualpipe")->build_iteration(job, f.costs);
  built.graph.validate();
  const StageLayers s = stage_layers(job, built);
  EXPECT_EQ(s.layers.at(0), (std::set<std::int32_t>{0, 1, 6}));
  EXPECT_EQ(s.layers.at(1), range(2, 6));
  EXPECT_EQ(s.layers.at(2), range(2, 6));
  EXPECT_EQ(s.layers.at(3), (std::set<std::int32_t>{0, 1, 6}));
  EXPECT_EQ(built.decisions.at("dualpipe.schedule").detail,
            "4 devices, 8 micro-batches, 4 per route, chunks of 1 to 2 layers");
}

/// Per pipeline device: the model-end kernels it runs (by name and phase).
std::map<std::int32_t, std::map<std::string, int>> model_end_kernels(const TrainingJob& job,
                                                                     const BuildResult& built) {
  std::map<std::int32_t, std::map<std::string, int>> out;
  for (const Task& t : built.graph.tasks()) {
    const std::string name(built.graph.names()[t.name]);
    if (name != "embedding" && name != "embedding.bwd" && name != "lm_head" &&
        name != "lm_head.dX" && name != "lm_head.dW") {
      continue;
    }
    const char* phase = t.phase == Phase::forward ? ".F" : ".B";
    ++out[job.mapping.coords(t.rank).pp][name + phase];
  }
  return out;
}

TEST(DualPipeModelEnds, EachRouteEmbedsAtItsStartAndLossAtItsEnd) {
  // pp = 2, 8 micro-batches, 4 per route, 2 ranks per device (ep = 2). Route 0 enters at device
  // 0 and ends on device 1, route 1 the other way: each device embeds its own route's 4
  // micro-batches and runs the head (forward, and its dX / dW in the backward) for the other's.
  FixedCosts f;
  const TrainingJob job = uniform_job(dropless_model(4, 128), "ep=2,pp=2,mb=8", 4);
  for (const char* spec : {"dualpipe", "dualpipe:overlap=off"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    const auto ends = model_end_kernels(job, built);
    for (std::int32_t d = 0; d < 2; ++d) {
      EXPECT_EQ(ends.at(d).at("embedding.F"), 4 * 2) << spec << " device " << d;
      EXPECT_EQ(ends.at(d).at("embedding.bwd.B"), 4 * 2) << spec << " device " << d;
      EXPECT_EQ(ends.at(d).at("lm_head.F"), 4 * 2) << spec << " device " << d;
      // The head's input and weight gradients (the dW deferred to a W in zero-bubble steps).
      EXPECT_EQ(ends.at(d).at("lm_head.dX.B"), 4 * 2) << spec << " device " << d;
      EXPECT_EQ(ends.at(d).at("lm_head.dW.B"), 4 * 2) << spec << " device " << d;
    }
    EXPECT_EQ(std::get<std::string>(built.decisions.at("dualpipe.model_ends").value), "route ends")
        << spec;
    // Both copies of the embedding's (and the head's) gradients are summed over both devices.
    int embedding_syncs = 0;
    for (const CommRecord& c : built.graph.comms()) {
      if (built.graph.names()[c.name] != "grad.allreduce.embedding") continue;
      ++embedding_syncs;
      std::set<std::int32_t> devices;
      for (RankId r : c.op.ranks) devices.insert(job.mapping.coords(r).pp);
      EXPECT_EQ(devices, (std::set<std::int32_t>{0, 1})) << spec;
      EXPECT_EQ(c.op.ranks.size(), 4u) << spec;  // device 0's dp group and its mirror's
    }
    EXPECT_EQ(embedding_syncs, 1) << spec;  // tp = 1: one dp group per device
    SimulatedExecutor exec(f.compute, f.network);
    EXPECT_GT(exec.run(built.graph).makespan(), SimTime::zero()) << spec;
  }
  // The head and embedding cost time: the iteration is longer than without a vocabulary.
  SimulatedExecutor exec(f.compute, f.network);
  const auto makespan = [&](const TrainingJob& j) {
    return exec.run(make_strategy("dualpipe")->build_iteration(j, f.costs).graph).makespan();
  };
  EXPECT_GT(makespan(job), makespan(uniform_job(dropless_model(4), "ep=2,pp=2,mb=8", 4)));
}

TEST(DualPipeModelEnds, DualPipeVHoldsBothEndsOnDeviceZero) {
  FixedCosts f;
  const TrainingJob job = uniform_job(dropless_model(4, 128), "ep=2,pp=2,mb=4", 4);
  const BuildResult built = make_strategy("dualpipev")->build_iteration(job, f.costs);
  built.graph.validate();
  const auto ends = model_end_kernels(job, built);
  EXPECT_EQ(ends.count(1), 0u);
  EXPECT_EQ(ends.at(0).at("embedding.F"), 4 * 2);
  EXPECT_EQ(ends.at(0).at("embedding.bwd.B"), 4 * 2);
  EXPECT_EQ(ends.at(0).at("lm_head.F"), 4 * 2);
  EXPECT_EQ(ends.at(0).at("lm_head.dW.B"), 4 * 2);
}

}  // namespace
}  // namespace moesim::strategies
