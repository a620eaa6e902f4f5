// Multi-token prediction (ModelSpec::mtp_layers; DeepSeek-V3, arXiv 2412.19437 section 2.2;
// Megatron-Core's multi_token_prediction.py): the model field's checks, the MTP layer's work on
// the pipeline's last stage only (DualPipe: the devices ending a route), an iteration longer by
// about one more layer plus the model's ends, the parameters the last stage's optimizer updates,
// and the strategies that refuse it.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/model_json.hpp"
#include "sim/strategies/layer_ops.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

constexpr std::int64_t kLayers = 4;
constexpr std::int64_t kVocab = 64;

ModelSpec model_of(std::int64_t layers, std::int64_t vocab, std::int64_t mtp) {
  ModelSpec m = dropless_model(layers, vocab, mtp);
  m.validate("test");
  return m;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

double iteration_us(const ModelSpec& m, std::string_view parallel, std::int64_t gpus,
                    std::string_view strategy) {
  FixedCosts f;
  const TrainingJob job = uniform_job(m, parallel, gpus);
  const BuildResult built = make_strategy(strategy)->build_iteration(job, f.costs);
  SimulatedExecutor exec(f.compute, f.network);
  return exec.run(built.graph).makespan().us();
}

/// Pipeline coordinates whose ranks run MTP work: tasks of the MTP layer or "mtp.*" kernels.
std::set<std::int32_t> mtp_stages(const TrainingJob& job, const BuildResult& built,
                                  int* mtp_qkv_forwards = nullptr) {
  std::set<std::int32_t> out;
  for (const Task& t : built.graph.tasks()) {
    const std::string name(built.graph.names()[t.name]);
    if (t.layer < kLayers && name.rfind("mtp.", 0) != 0) continue;
    out.insert(job.mapping.coords(t.rank).pp);
    if (mtp_qkv_forwards != nullptr && name == "qkv" && t.phase == Phase::forward) {
      ++*mtp_qkv_forwards;
    }
  }
  return out;
}

/// Parameters the optimizer of the first rank of `stage` updates.
std::int64_t optimizer_params(const TrainingJob& job, const BuildResult& built,
                              std::int64_t stage) {
  const RankId r = job.mapping.stage_ranks(stage).front();
  for (const Task& t : built.graph.tasks()) {
    if (t.rank == r && built.graph.names()[t.name] == "optimizer") {
      return built.graph.compute_of(t)->op.parameters;
    }
  }
  return -1;
}

}  // namespace

TEST(MtpModel, FieldIsCheckedOnLoadAndOverride) {
  EXPECT_EQ(io::load_model("deepseek-v3").mtp_layers, 1);
  EXPECT_EQ(io::load_model("mixtral-8x7b").mtp_layers, 0);
  ModelSpec m = model_of(kLayers, 0, 0);
  EXPECT_EQ(error_of([&] { apply_overrides(m, "mtp_layers=1", "--set"); }),
            "tiny (after --set): /mtp_layers: multi-token prediction shares the embedding and "
            "output head (got mtp_layers=1, vocab_size=0, expected a vocab_size with "
            "mtp_layers > 0)");
  m.vocab_size = kVocab;
  EXPECT_EQ(error_of([&] { apply_overrides(m, "mtp_layers=17", "--set"); }),
            "tiny (after --set): /mtp_layers: out of range (got 17, expected 0..16 (0: no "
            "multi-token prediction))");
  apply_overrides(m, "mtp_layers=2", "--set");
  EXPECT_EQ(m.mtp_layers, 2);
  // The MTP layers are built like the last layer and use its token plan.
  EXPECT_TRUE(m.is_mtp_layer(kLayers));
  EXPECT_EQ(m.is_moe_layer(kLayers + 1), m.is_moe_layer(kLayers - 1));
  EXPECT_EQ(m.moe_index_of(kLayers), m.moe_layer_count() - 1);
  EXPECT_EQ(m.moe_index_of(kLayers + 1), m.moe_layer_count() - 1);
  EXPECT_EQ(error_of([] {
              io::model_from_json_text(
                  R"({"name": "x", "source": "s", "layers": 1, "hidden": 8, "ffn_hidden": 8,
                      "heads": 1, "seq_len": 8, "micro_batch": 1, "experts": 2, "top_k": 1,
                      "dropless": true, "mtp_layers": -1})",
                  "x.json");
            }).substr(0, 22),
            "x.json: /mtp_layers: o");
}

TEST(MtpModel, ItsWorkRunsOnTheLastStageOnly) {
  const ModelSpec m = model_of(kLayers, kVocab, 1);
  FixedCosts f;
  struct Case {
    std::string strategy;
    std::string parallel;
    std::int64_t gpus;
    std::set<std::int32_t> stages;
  };
  for (const Case& c :
       {Case{"megatron", "ep=2,pp=2,mb=4", 4, {1}}, Case{"megatron:vp=2", "ep=2,pp=2,mb=4", 4, {1}},
        Case{"megatron-a2a-overlap:vp=2", "ep=2,pp=2,mb=4", 4, {1}},
        Case{"dualpipev", "ep=2,pp=2,mb=4", 4, {0}},
        Case{"dualpipe", "ep=2,pp=4,mb=8", 8, {0, 3}}}) {
    const TrainingJob job = uniform_job(m, c.parallel, c.gpus);
    const BuildResult built = make_strategy(c.strategy)->build_iteration(job, f.costs);
    int forwards = 0;
    EXPECT_EQ(mtp_stages(job, built, &forwards), c.stages) << c.strategy;
    // One MTP layer forward per micro-batch on every rank of the stage (ep=2: 2 ranks).
    EXPECT_EQ(forwards, 2 * job.layout.micro_batches) << c.strategy;
    const TrainingJob plain = uniform_job(model_of(kLayers, kVocab, 0), c.parallel, c.gpus);
    EXPECT_TRUE(
        mtp_stages(plain, make_strategy(c.strategy)->build_iteration(plain, f.costs)).empty())
        << c.strategy;
  }
}

TEST(MtpModel, IterationGrowsByAboutOneLayerAndTheModelEnds) {
  // pp = 1: the iteration is the sum of every micro-batch's work, so the MTP module costs one
  // more layer (as the last one), one more embedding lookup and output head, and its
  // projection (2M x M GEMM, norms: at most a third of a layer here) [band set from that].
  const std::string p = "ep=2,mb=2";
  const double base = iteration_us(model_of(kLayers, kVocab, 0), p, 2, "megatron");
  const double mtp = iteration_us(model_of(kLayers, kVocab, 1), p, 2, "megatron");
  const double layer = iteration_us(model_of(kLayers + 1, kVocab, 0), p, 2, "megatron") - base;
  const double ends = base - iteration_us(model_of(kLayers, 0, 0), p, 2, "megatron");
  ASSERT_GT(layer, 0.0);
  ASSERT_GT(ends, 0.0);
  const double ratio = (mtp - base) / (layer + ends);
  EXPECT_GE(ratio, 1.0);
  EXPECT_LE(ratio, 1.35);
  // With a pipeline the last stage carries it: still longer, in every strategy that builds it.
  for (const char* s : {"megatron", "dualpipev"}) {
    EXPECT_GT(iteration_us(model_of(kLayers, kVocab, 1), "ep=2,pp=2,mb=4", 4, s),
              iteration_us(model_of(kLayers, kVocab, 0), "ep=2,pp=2,mb=4", 4, s))
        << s;
  }
}

TEST(MtpModel, TheLastStageUpdatesItsParameters) {
  FixedCosts f;
  const ModelSpec with = model_of(kLayers, kVocab, 1);
  const ModelSpec without = model_of(kLayers, kVocab, 0);
  const std::int64_t hid = with.hidden;
  const TrainingJob job = uniform_job(with, "ep=2,pp=2,mb=4", 4);
  const LayerOps ops(with, job.layout);
  // The MTP layer is the last layer's twin; the projection 2M x M and three norms.
  const std::int64_t layer = ops.dense_params(kLayers - 1) + ops.local_expert_params(kLayers - 1);
  const std::int64_t projection = 2 * hid * hid + 3 * hid;
  EXPECT_EQ(ops.mtp_projection_params(), projection);
  for (const char* s : {"megatron", "dualpipev"}) {
    const TrainingJob a = uniform_job(with, "ep=2,pp=2,mb=4", 4);
    const TrainingJob b = uniform_job(without, "ep=2,pp=2,mb=4", 4);
    const BuildResult ba = make_strategy(s)->build_iteration(a, f.costs);
    const BuildResult bb = make_strategy(s)->build_iteration(b, f.costs);
    // Megatron's last stage also keeps a copy of the word embedding for the MTP input;
    // DualPipeV's device 0 already holds the embedding.
    const bool megatron = std::string(s) == "megatron";
    const std::int64_t stage = megatron ? 1 : 0;
    const std::int64_t copy = megatron ? kVocab * hid : 0;
    EXPECT_EQ(optimizer_params(a, ba, stage) - optimizer_params(b, bb, stage),
              layer + projection + copy)
        << s;
    EXPECT_EQ(optimizer_params(a, ba, 1 - stage), optimizer_params(b, bb, 1 - stage)) << s;
  }
}

TEST(MtpModel, OtherStrategiesRefuseIt) {
  FixedCosts f;
  const TrainingJob job = uniform_job(model_of(kLayers, kVocab, 1), "ep=2", 2);
  for (const char* s : {"tutel", "deepspeed-moe", "fsmoe", "lancet", "fastermoe"}) {
    const auto strategy = make_strategy(s);
    const std::string want =
        "--model: tiny: multi-token prediction is not built by " + std::string(s) +
        " (got mtp_layers=1, expected mtp_layers=0 (--set mtp_layers=0), or megatron, "
        "megatron-a2a-overlap, dualpipe, dualpipev)";
    EXPECT_EQ(error_of([&] { strategy->check_job(job); }), want);
    EXPECT_EQ(error_of([&] { strategy->build_iteration(job, f.costs); }), want);
  }
}

}  // namespace moesim::strategies
