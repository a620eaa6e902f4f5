// The model-shape parts of the catalogue (layer_ops.hpp) that the Megatron claims need: attention
// of its own head width (head_dim) with grouped K/V, the embedding / LM head / loss of a model
// with a vocabulary, sliding-window layers, FP8 linear GEMMs (Transformer Engine's recipe), and
// Megatron-Core's pipeline split with the embedding and loss counted as layers. The Qwen3 and
// GPT-OSS presets' parameter counts are checked against their publications.
#include <gtest/gtest.h>

#include <map>
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

const KernelOp* find_kernel(const BlockWork& w, std::string_view name) {
  for (const KernelOp* k : w.kernels()) {
    if (k->name == name) return k;
  }
  return nullptr;
}

ParallelLayout layout_tp(std::int64_t tp) {
  ParallelLayout l;
  l.dp = 1;
  l.tp = tp;
  return l;
}

/// All parameters of the model as the catalogue counts them with every expert local (tp = ep =
/// 1), plus the embedding and LM head.
double total_params(const ModelSpec& m) {
  const LayerOps ops(m, layout_tp(1));
  double total = static_cast<double>(ops.embedding_params() + ops.output_head_params());
  for (std::int64_t l = 0; l < m.layers; ++l) {
    total += static_cast<double>(ops.dense_params(l) + ops.local_expert_params(l));
  }
  return total;
}

TEST(ModelPresets, Qwen3ParametersMatchThePublishedTotal) {
  // Qwen3 technical report (arXiv 2505.09388) Table 2: 235B total parameters. Band 1.5% both
  // ways: the report rounds to 1B and norms are counted approximately.
  const ModelSpec m = io::load_model("qwen3-235b-a22b");
  EXPECT_EQ(m.query_width(), 8192);
  EXPECT_GT(total_params(m), 0.985 * 235e9) << total_params(m);
  EXPECT_LT(total_params(m), 1.015 * 235e9) << total_params(m);
}

TEST(ModelPresets, GptOssParametersMatchTheModelCard) {
  // gpt-oss model card (arXiv 2508.10925) Table 1: 116.83B total parameters for gpt-oss-120b.
  // Band 1.5%: the biases and sinks are not modelled.
  const ModelSpec m = io::load_model("gpt-oss-120b");
  EXPECT_EQ(m.query_width(), 4096);
  EXPECT_GT(total_params(m), 0.985 * 116.83e9) << total_params(m);
  EXPECT_LT(total_params(m), 1.015 * 116.83e9) << total_params(m);
}

TEST(HeadDim, AttentionShapesFollowTheHeadWidth) {
  // Qwen3 at tp 2: 32 query heads of 128 (4096 wide) and 2 of the 4 KV heads (256 each of K and
  // V) per rank; the out-projection reads the 4096-wide attention output.
  const ModelSpec m = io::load_model("qwen3-235b-a22b");
  const LayerOps ops(m, layout_tp(2));
  const std::int64_t x = 4096;
  const BlockWork fwd = ops.attention(Pass::forward, x, 0);
  const KernelOp* qkv = find_kernel(fwd, "qkv");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->task.shape.n, 4096 + 2 * 256);
  EXPECT_EQ(qkv->task.shape.k, 4096);
  const KernelOp* proj = find_kernel(fwd, "attn.proj");
  ASSERT_NE(proj, nullptr);
  EXPECT_EQ(proj->task.shape.k, 4096);
  const KernelOp* core = find_kernel(fwd, "attention");
  ASSERT_NE(core, nullptr);
  // 4 x tokens x keys x query width per rank (the catalogue's full-attention convention).
  EXPECT_DOUBLE_EQ(core->task.flops.count, 4.0 * 4096.0 * 4096.0 * 4096.0);
  EXPECT_EQ(core->task.shape.k, 128);
}

TEST(HeadDim, AHeadDimOfHiddenOverHeadsChangesNothing) {
  ModelSpec plain = io::load_model("mixtral-8x7b");
  ModelSpec given = plain;
  given.attention_head_dim = plain.hidden / plain.heads;
  const LayerOps a(plain, layout_tp(2));
  const LayerOps b(given, layout_tp(2));
  for (Pass pass : {Pass::forward, Pass::backward}) {
    const BlockWork wa = a.attention(pass, 1000, 3);
    const BlockWork wb = b.attention(pass, 1000, 3);
    ASSERT_EQ(wa.kernels().size(), wb.kernels().size());
    for (std::size_t i = 0; i < wa.kernels().size(); ++i) {
      EXPECT_EQ(wa.kernels()[i]->task.flops.count, wb.kernels()[i]->task.flops.count);
      EXPECT_EQ(wa.kernels()[i]->task.bytes, wb.kernels()[i]->task.bytes);
    }
  }
  EXPECT_EQ(plain.attention_params(), given.attention_params());
  EXPECT_EQ(plain.training_flops_per_token(), given.training_flops_per_token());
}

TEST(SlidingWindow, EvenLayersAreChargedTheirTileBand) {
  // GPT-OSS: a 128-token window touches ceil(128 / 128) + 1 = 2 key tiles of 128 per query tile
  // (256 keys), against 4096 for the full-attention layers: 1/16 of the core-attention work.
  const ModelSpec m = io::load_model("gpt-oss-120b");
  EXPECT_TRUE(m.is_sliding_layer(0));
  EXPECT_FALSE(m.is_sliding_layer(1));
  EXPECT_EQ(m.attended_keys(0), 256);
  EXPECT_EQ(m.attended_keys(1), 4096);
  const LayerOps ops(m, layout_tp(1));
  const double sliding =
      find_kernel(ops.attention(Pass::forward, 4096, 0), "attention")->task.flops.count;
  const double full =
      find_kernel(ops.attention(Pass::forward, 4096, 1), "attention")->task.flops.count;
  EXPECT_DOUBLE_EQ(full / sliding, 16.0);
  // A window as long as the sequence is full attention.
  ModelSpec wide = m;
  wide.sliding_window = 8192;
  EXPECT_EQ(wide.attended_keys(0), 4096);
}

TEST(OutputHead, LmHeadAndCrossEntropyOnTheVocabShard) {
  const ModelSpec m = io::load_model("qwen3-235b-a22b");
  const LayerOps ops(m, layout_tp(2));
  const std::int64_t x = 4096;
  const BlockWork fwd = ops.output_head(Pass::forward, x);
  const KernelOp* head = find_kernel(fwd, "lm_head");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->task.shape.n, 151936 / 2);
  EXPECT_DOUBLE_EQ(head->task.flops.count, 2.0 * 4096.0 * (151936 / 2) * 4096.0);
  // Three tp all-reduces of the cross-entropy (max, target logit, sum of exponentials).
  EXPECT_EQ(fwd.collectives().size(), 3u);
  const BlockWork bwd = ops.output_head(Pass::backward, x);
  ASSERT_NE(find_kernel(bwd, "lm_head.dX"), nullptr);
  EXPECT_EQ(find_kernel(bwd, "lm_head.dW")->direction, Direction::weight_gradient);
  EXPECT_EQ(ops.output_head_params(), 151936 / 2 * 4096 + 4096);
  EXPECT_EQ(ops.end_gradient_sync(Block::embedding).collectives().front()->bytes,
            Bytes{151936 / 2 * 4096 * 2});
  // Presets without a vocabulary have neither block.
  const ModelSpec old = io::load_model("mixtral-8x7b");
  const LayerOps old_ops(old, layout_tp(1));
  EXPECT_TRUE(old_ops.output_head(Pass::forward, x).ops.empty());
  EXPECT_TRUE(old_ops.embedding(Pass::backward, x).ops.empty());
  EXPECT_TRUE(old_ops.end_gradient_sync(Block::output_head).ops.empty());
}

TEST(Fp8Linear, LinearGemmsInFp8TheRestInTheModelDtype) {
  ModelSpec m = io::load_model("qwen3-235b-a22b");
  apply_overrides(m, "gemm_dtype=fp8", "--set");
  ASSERT_TRUE(m.fp8_linear);
  ParallelLayout l = layout_tp(2);
  l.ep = 1;
  const LayerOps ops(m, l);
  const BlockWork att = ops.attention(Pass::forward, 4096, 0);
  EXPECT_EQ(find_kernel(att, "qkv")->task.dtype, DType::fp8);
  EXPECT_EQ(find_kernel(att, "attn.proj")->task.dtype, DType::fp8);
  EXPECT_EQ(find_kernel(att, "attention")->task.dtype, DType::bf16);
  // The casts of qkv's input (x M) and the out-projection's (x q): 6 bytes per element.
  EXPECT_EQ(find_kernel(att, "fp8.cast")->task.bytes, Bytes{6 * 4096 * (4096 + 4096)});
  const BlockWork bwd = ops.attention(Pass::backward, 4096, 0);
  EXPECT_EQ(find_kernel(bwd, "qkv.dW")->task.dtype, DType::fp8);
  ASSERT_NE(find_kernel(bwd, "fp8.cast.bwd"), nullptr);
  const BlockWork expert = ops.expert(Pass::forward, 100);
  EXPECT_EQ(find_kernel(expert, "expert1")->task.dtype, DType::fp8);
  const std::vector<std::int64_t> counts(128, 32);
  const BlockWork gate = ops.gate_permute(Pass::forward, 4096, 4096 * 8, counts);
  EXPECT_EQ(find_kernel(gate, "gate")->task.dtype, DType::bf16);
  EXPECT_EQ(find_kernel(ops.output_head(Pass::forward, 4096), "lm_head")->task.dtype, DType::bf16);
  // Without it, no cast and every GEMM in bf16.
  const ModelSpec plain = io::load_model("qwen3-235b-a22b");
  const LayerOps plain_ops(plain, l);
  EXPECT_EQ(find_kernel(plain_ops.attention(Pass::forward, 4096, 0), "fp8.cast"), nullptr);
}

TEST(ModelFields, BadValuesNameTheField) {
  ModelSpec m = io::load_model("qwen3-235b-a22b");
  EXPECT_THROW(apply_overrides(m, "gemm_dtype=fp16", "--set"), InputError);
  EXPECT_THROW(apply_overrides(m, "head_dim=-1", "--set"), InputError);
  try {
    apply_overrides(m, "sliding_window_layers=odd", "--set");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sliding_window_layers"), std::string::npos);
  }
  EXPECT_THROW(io::model_from_json_text(R"({"name":"x","source":"s","layers":1,"hidden":8,
      "ffn_hidden":8,"heads":2,"seq_len":4,"micro_batch":1,"experts":2,"top_k":1,
      "dropless":true,"vocab_size":-3})",
                                        "m.json"),
               InputError);
}

// --- Megatron's pipeline split with the embedding and the loss as layers ---

TrainingJob split_job(std::string_view parallel) {
  ModelSpec m = tiny_model(2, 64);
  m.layers = 6;
  m.hidden = 32;
  m.ffn_hidden = 64;
  m.expert_ffn_hidden = 64;
  m.experts = 4;
  m.top_k = 2;
  m.dropless = true;
  m.vocab_size = 128;
  return make_training_job(m, parse_parallel_layout(parallel, "-p"), shape_of(1, 4),
                           GeneratedRouting(RoutingDistribution::uniform, 0.0, 7), 0);
}

TEST(PipelineSplit, EndsTakeALayersPlace) {
  // 6 layers + embedding + loss = 8 slots over pp 2 x vp 2: chunks of 2 slots, so virtual stage
  // 0 holds the embedding and layer 0, stages 1 and 2 two layers each, stage 3 layer 5 and the
  // loss. Stage 0 runs layers 0, 3, 4 and the embedding; stage 1 layers 1, 2, 5 and the head.
  FixedCosts f;
  const TrainingJob job = split_job("ep=2,pp=2,mb=2,split=ends");
  for (const char* spec : {"megatron:vp=2", "megatron-a2a-overlap:vp=2"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    std::map<std::int32_t, std::set<std::int32_t>> stage_layers;  // pp coordinate -> layers
    int heads = 0, embeddings = 0;
    for (const Task& t : built.graph.tasks()) {
      const std::string_view name = built.graph.names()[t.name];
      const std::int32_t stage = job.mapping.coords(t.rank).pp;
      if (name == "qkv") stage_layers[stage].insert(t.layer);
      if (name == "lm_head") {
        ++heads;
        EXPECT_EQ(stage, 1);
      }
      if (name == "embedding") {
        ++embeddings;
        EXPECT_EQ(stage, 0);
      }
    }
    EXPECT_EQ(stage_layers[0], (std::set<std::int32_t>{0, 3, 4})) << spec;
    EXPECT_EQ(stage_layers[1], (std::set<std::int32_t>{1, 2, 5})) << spec;
    // Once per micro-batch on each of the stage's 2 ranks.
    EXPECT_EQ(heads, 2 * 2) << spec;
    EXPECT_EQ(embeddings, 2 * 2) << spec;
    SimulatedExecutor exec(f.compute, f.network);
    EXPECT_GT(exec.run(built.graph).makespan(), SimTime::zero());
  }
  // Other strategies keep the even split and say so.
  EXPECT_THROW(make_strategy("deepspeed-moe")->build_iteration(job, f.costs), InputError);
  EXPECT_THROW(parse_parallel_layout("pp=2,split=middle", "-p"), InputError);
}

TEST(PipelineSplit, DefaultPipelineRunsTheModelEnds) {
  // The shared 1F1B emission: embedding forward and backward on stage 0, the head on the last,
  // each once per micro-batch and rank, and their gradients all-reduced over dp (also by the
  // strategies with their own gradient sync).
  FixedCosts f;
  const TrainingJob job = split_job("ep=2,pp=2,mb=2");
  for (const char* spec : {"deepspeed-moe", "tutel", "fsmoe", "flexmoe", "megatron"}) {
    const BuildResult built = make_strategy(spec)->build_iteration(job, f.costs);
    built.graph.validate();
    std::map<std::string, int> count;
    for (const Task& t : built.graph.tasks()) ++count[std::string(built.graph.names()[t.name])];
    EXPECT_EQ(count["embedding"], 4) << spec;
    EXPECT_EQ(count["embedding.bwd"], 4) << spec;
    EXPECT_EQ(count["lm_head"], 4) << spec;
    EXPECT_EQ(count["lm_head.dW"], 4) << spec;
    // dp = 2 on each stage: one all-reduce of each over the stage's dp group.
    EXPECT_GT(count["grad.allreduce.output_head"], 0) << spec;
    EXPECT_GT(count["grad.allreduce.embedding"], 0) << spec;
  }
}

}  // namespace
}  // namespace moesim::strategies
