// Model spec, parallel layout, rank mapping and routing.
#include <gtest/gtest.h>

#include <numeric>

#include "sim/core/errors.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/routing_trace.hpp"
#include "sim/workload/model_spec.hpp"
#include "sim/workload/parallel_layout.hpp"
#include "sim/workload/rank_mapping.hpp"
#include "sim/workload/routing.hpp"

namespace moesim {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

ModelSpec small_model() {
  ModelSpec m;
  m.name = "small";
  m.layers = 4;
  m.hidden = 64;
  m.ffn_hidden = 256;
  m.expert_ffn_hidden = 256;
  m.heads = 8;
  m.kv_heads = 8;
  m.seq_len = 16;
  m.micro_batch = 2;
  m.experts = 8;
  m.top_k = 2;
  return m;
}

TEST(ModelSpec, OverridesApplyAndRejectUnknownKeys) {
  ModelSpec m = small_model();
  apply_overrides(m, "hidden=128,top_k=1,expert_ffn=swiglu,dropless=true", "--set");
  EXPECT_EQ(m.hidden, 128);
  EXPECT_EQ(m.top_k, 1);
  EXPECT_EQ(m.expert_ffn, ExpertFfn::swiglu);
  EXPECT_TRUE(m.dropless);
  EXPECT_EQ(message_of([&] { apply_overrides(m, "hiden=3", "--set"); }),
            "--set: unknown model field (got hiden, expected one of layers, hidden, ffn_hidden, "
            "expert_ffn_hidden, heads, kv_heads, seq_len, micro_batch, experts, top_k, "
            "capacity_factor, dropless, moe_layers, expert_ffn, dtype, shared_experts, "
            "first_dense_layers, q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, "
            "v_head_dim, head_dim, vocab_size, sliding_window, sliding_window_layers, "
            "gemm_dtype, mtp_layers, node_limit, attention_kernel)");
  EXPECT_EQ(message_of([&] { apply_overrides(m, "top_k=x", "--set"); }),
            "--set: top_k: not an integer (got x, expected an integer)");
  EXPECT_EQ(message_of([&] {
              ModelSpec limited = m;
              apply_overrides(limited, "node_limit=5000", "--set");
            }),
            "small (after --set): /node_limit: out of range (got 5000, expected 0..4096 (0: "
            "unlimited))");
  EXPECT_EQ(message_of([&] { apply_overrides(m, "top_k=9", "--set"); }),
            "small (after --set): /top_k: more experts per token than experts (got top_k=9, "
            "experts=8, expected top_k <= experts)");
}

TEST(ModelJson, PresetsLoadAndBadFilesAreRejected) {
  for (const auto& name : io::model_presets()) {
    EXPECT_NO_THROW(io::load_model(name)) << name;
  }
  EXPECT_GE(io::model_presets().size(), 8u);
  const ModelSpec mix = io::load_model("mixtral-8x7b");
  EXPECT_EQ(mix.expert_gemms(), 3);
  EXPECT_EQ(mix.kv_heads, 8);
  const std::string base =
      R"("name": "m", "source": "s", "layers": 2, "hidden": 8, "ffn_hidden": 32, "heads": 2,
         "seq_len": 4, "micro_batch": 1, "experts": 4, "top_k": 2)";
  EXPECT_EQ(message_of([&] { io::model_from_json_text("{" + base + "}", "m.json"); }),
            "m.json: /capacity_factor: missing required field");
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + base + R"(, "capacity_factor": 0})", "m.json");
            }),
            "m.json: /capacity_factor: out of range (got 0, expected > 0)");
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + base + R"(, "dropless": true, "hiddn": 3})", "m.json");
            }),
            "m.json: /hiddn: unknown field (got \"hiddn\", expected one of: name, source, layers, "
            "hidden, ffn_hidden, expert_ffn_hidden, heads, kv_heads, seq_len, micro_batch, "
            "experts, top_k, capacity_factor, dropless, moe_layers, expert_ffn, dtype, "
            "shared_experts, note, first_dense_layers, q_lora_rank, kv_lora_rank, "
            "qk_nope_head_dim, qk_rope_head_dim, v_head_dim, head_dim, vocab_size, "
            "sliding_window, sliding_window_layers, gemm_dtype, mtp_layers, node_limit)");
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + base + R"(, "dropless": true, "expert_ffn": "geglu"})",
                                       "m.json");
            }),
            "m.json: /expert_ffn: unknown value (got \"geglu\", expected \"two_gemm\" or "
            "\"swiglu\")");
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + base + R"(, "dropless": true, "node_limit": -1})",
                                       "m.json");
            }),
            "m.json: /node_limit: out of range (got -1, expected >= 0)");
  // A key given twice is an error of its own (it used to let the last "heads" win).
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + base + R"(, "dropless": true, "heads": 3})", "m.json");
            }),
            "m.json: /heads: duplicate key (got \"heads\" twice, expected each key once in an "
            "object)");
  std::string three_heads = base;
  three_heads.replace(three_heads.find("\"heads\": 2"), 10, "\"heads\": 3");
  EXPECT_EQ(message_of([&] {
              io::model_from_json_text("{" + three_heads + R"(, "dropless": true})", "m.json");
            }),
            "m.json: /heads: hidden is not divisible by heads (got hidden=8, heads=3, expected "
            "heads dividing hidden, or a head_dim)");
}

TEST(ParallelLayout, ParsesAndResolves) {
  ParallelLayout l = parse_parallel_layout("tp=4,ep=8,pp=2,mb=4,schedule=gpipe", "--parallel");
  l.resolve(small_model(), 64, 8, "--parallel");
  EXPECT_EQ(l.dp, 8);
  EXPECT_EQ(l.edp, 4);  // dp*tp / (ep*esp) = 32 / 8
  EXPECT_EQ(l.pp_schedule, PipelineSchedule::gpipe);
}

TEST(ParallelLayout, BadLayoutsNameTheFlagAndValues) {
  const ModelSpec m = small_model();
  const auto resolve = [&](const std::string& text, std::int64_t gpus) {
    return message_of([&] {
      ParallelLayout l = parse_parallel_layout(text, "--parallel");
      l.resolve(m, gpus, 8, "--parallel");
    });
  };
  EXPECT_EQ(resolve("dp=2,tp=4", 32),
            "--parallel: dp*tp*pp must equal the number of GPUs (got dp=2 tp=4 pp=1 -> 8, "
            "expected 32 GPUs)");
  EXPECT_EQ(resolve("tp=2,ep=3", 12),
            "--parallel: ep must divide the number of experts (got ep=3, experts=8, expected ep "
            "dividing experts)");
  EXPECT_EQ(resolve("tp=2,ep=8,esp=4", 16),
            "--parallel: ep*esp must divide dp*tp (the ranks of a pipeline stage) (got ep=8 "
            "esp=4, dp*tp=16, expected ep*esp dividing dp*tp)");
  EXPECT_EQ(resolve("tp=3", 24),
            "--parallel: tp must divide heads and ffn_hidden (got tp=3, heads=8, ffn_hidden=256, "
            "expected tp dividing both)");
  EXPECT_EQ(resolve("pp=3", 24),
            "--parallel: pp must divide the number of layers (got pp=3, layers=4, expected pp "
            "dividing layers, or first_stage_layers=N / last_stage_layers=N for an uneven "
            "split)");
  EXPECT_EQ(resolve("tp=4,tp=2", 8), "--parallel: key given twice (got tp, expected each once)");
  EXPECT_EQ(resolve("tp=0", 8), "--parallel: tp: not a positive integer (got 0, expected >= 1)");
  EXPECT_EQ(resolve("xp=2", 8),
            "--parallel: unknown parallel dimension (got xp, expected dp, tp, ep, esp, pp, mb, "
            "schedule, split, first_stage_layers or last_stage_layers)");
  EXPECT_EQ(resolve("tp=1,pp=2,mb=1", 16),
            "--parallel: fewer micro-batches than pipeline stages (got mb=1, pp=2, expected mb "
            ">= pp)");
}

TEST(RankMapping, TpInsideNodesAndEpAcrossNodesByDefault) {
  // 32 GPUs, tp=4, esp=4, ep=8: TP/ESP groups are 4 consecutive ranks; the EP group of rank 0 is
  // the ranks with tp index 0: 0, 4, 8, ..., 28 (two per 8-GPU node).
  ParallelLayout l = parse_parallel_layout("tp=4,esp=4,ep=8", "--parallel");
  l.resolve(small_model(), 32, 8, "--parallel");
  const RankMapping map(l);
  const auto ids = [](const std::vector<RankId>& g) {
    std::vector<std::uint32_t> v;
    for (RankId r : g) v.push_back(r.value);
    return v;
  };
  EXPECT_EQ(ids(map.group(GroupKind::tp, RankId{5})), (std::vector<std::uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(ids(map.group(GroupKind::esp, RankId{5})), (std::vector<std::uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(ids(map.group(GroupKind::ep, RankId{0})),
            (std::vector<std::uint32_t>{0, 4, 8, 12, 16, 20, 24, 28}));
  EXPECT_EQ(map.group(GroupKind::edp, RankId{0}).size(), 1u);
  // "esp,ep,edp" packs EP groups: with esp=1, tp=1, dp=8, ep=4 -> EP group {0,1,2,3}.
  ParallelLayout packed = parse_parallel_layout("ep=4", "--parallel");
  packed.expert_order = "esp,ep,edp";
  packed.resolve(small_model(), 8, 8, "--parallel");
  const RankMapping pm(packed);
  EXPECT_EQ(ids(pm.group(GroupKind::ep, RankId{5})), (std::vector<std::uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(ids(pm.group(GroupKind::edp, RankId{5})), (std::vector<std::uint32_t>{1, 5}));
}

TEST(Routing, GeneratorsConserveTokensAndAreDeterministic) {
  RoutingShape shape{3, 4, 8, 100, 2};
  for (const std::string spec : {"uniform", "zipf:1.2", "dirichlet:0.3", "drift:1.0"}) {
    const auto model = parse_routing_generator(spec, 7, "--routing");
    ASSERT_TRUE(model) << spec;
    const RoutingCounts a = model->counts(5, shape);
    const RoutingCounts b = parse_routing_generator(spec, 7, "--routing")->counts(5, shape);
    for (std::int64_t l = 0; l < 3; ++l) {
      for (std::int64_t s = 0; s < 4; ++s) {
        std::int64_t sum = 0;
        for (std::int64_t e = 0; e < 8; ++e) {
          EXPECT_LE(a.at(l, s, e), 100) << spec;  // a token picks an expert at most once
          EXPECT_EQ(a.at(l, s, e), b.at(l, s, e)) << spec;
          sum += a.at(l, s, e);
        }
        EXPECT_EQ(sum, 200) << spec;  // k * T
      }
    }
  }
  // Uniform: exactly k*T/E = 25 each.
  EXPECT_EQ(parse_routing_generator("uniform", 1, "--routing")->counts(0, shape).at(2, 3, 7), 25);
  EXPECT_EQ(message_of([] { parse_routing_generator("zipf:-1", 1, "--routing"); }),
            "--routing: bad zipf parameter (got -1, expected exponent in [0, 100])");
  EXPECT_EQ(parse_routing_generator("trace.json", 1, "--routing"), nullptr);
}

TEST(Routing, DriftChangesPopularitySmoothly) {
  RoutingShape shape{1, 1, 16, 1000, 1};
  const auto drift = parse_routing_generator("drift:1.5", 3, "--routing");
  const RoutingCounts first = drift->counts(0, shape);
  const RoutingCounts later = drift->counts(50, shape);
  int changed = 0;
  for (std::int64_t e = 0; e < 16; ++e) changed += first.at(0, 0, e) != later.at(0, 0, e);
  EXPECT_GT(changed, 0);
}

TEST(RoutingTrace, JsonAndCsvLoadAndRescale) {
  const RoutingTrace j = io::routing_trace_from_json_text(
      R"({"experts": 2, "iterations": [[[[3, 1], [2, 2]]]]})", "t.json");
  TraceRouting routing(j);
  // Rows are rescaled to k*T = 8: [3,1] -> [6,2]; sources beyond the trace wrap around.
  const RoutingCounts c = routing.counts(0, RoutingShape{1, 3, 2, 8, 1});
  EXPECT_EQ(c.at(0, 0, 0), 6);
  EXPECT_EQ(c.at(0, 0, 1), 2);
  EXPECT_EQ(c.at(0, 2, 0), 6);
  const RoutingTrace csv = io::routing_trace_from_csv_text(
      "iteration,layer,source,expert,tokens\n0,0,0,0,5\n0,0,0,1,3\n", "t.csv");
  EXPECT_EQ(csv.experts, 2);
  EXPECT_EQ(csv.at(0, 0, 0, 0), 5);
  EXPECT_EQ(message_of([] {
              io::routing_trace_from_csv_text("iteration,layer,source,expert,tokens\n0,0,0,x,1\n",
                                              "t.csv");
            }),
            "t.csv: line 2: bad expert (got x, expected an integer >= 0)");
  EXPECT_EQ(message_of([] {
              io::routing_trace_from_json_text(R"({"experts": 3, "iterations": [[[[1, 2]]]]})",
                                               "t.json");
            }),
            "t.json: /iterations/0/0/0: wrong number of experts (got 2, expected 3)");
  EXPECT_EQ(message_of([&] {
              routing.counts(0, RoutingShape{1, 1, 4, 8, 1});
            }),
            "t.json: /experts: routing trace is for another expert count (got 2, expected 4)");
  EXPECT_NO_THROW(io::load_routing_trace(std::string(MOESIM_SOURCE_DIR) +
                                         "/traces/routing/sample-8experts.json"));
  EXPECT_NO_THROW(io::load_routing_trace(std::string(MOESIM_SOURCE_DIR) +
                                         "/traces/routing/sample-8experts.csv"));
}

// Core-attention keys per query by kernel, against hand counts of 128 x 128 tiles.
TEST(ModelSpec, AttentionKernelKeysPerQueryCountTiles) {
  ModelSpec m = small_model();
  m.seq_len = 512;
  m.layers = 2;
  m.sliding_window = 128;  // layer 0 slides, layer 1 is full
  // Unset: the behaviour before the kernel was modelled (full S; window band of 2 tiles).
  EXPECT_DOUBLE_EQ(m.keys_per_query(1), 512.0);
  EXPECT_DOUBLE_EQ(m.keys_per_query(0), 256.0);
  // Dense masked: every tile, window or not.
  apply_overrides(m, "attention_kernel=dense_masked", "--set");
  EXPECT_DOUBLE_EQ(m.keys_per_query(0), 512.0);
  EXPECT_DOUBLE_EQ(m.keys_per_query(1), 512.0);
  // Flash causal, full: query tiles see 1, 2, 3, 4 key tiles: 128 x (128 + 256 + 384 + 512) / 512.
  apply_overrides(m, "attention_kernel=flash_causal", "--set");
  EXPECT_DOUBLE_EQ(m.keys_per_query(1), 320.0);
  EXPECT_EQ(m.attended_keys(1), 320);
  // Flash causal, window 128: 1 tile, then 2 tiles each: 128 x (128 + 3 x 256) / 512.
  EXPECT_DOUBLE_EQ(m.keys_per_query(0), 224.0);
  // A partial last tile: S = 300, rows 128, 128, 44 see 128, 256, 300 keys.
  m.seq_len = 300;
  m.sliding_window = 0;
  EXPECT_DOUBLE_EQ(m.keys_per_query(1), (128.0 * 128 + 128.0 * 256 + 44.0 * 300) / 300.0);
  EXPECT_EQ(m.attended_keys(1), 208);
  EXPECT_EQ(message_of([&] { apply_overrides(m, "attention_kernel=sdpa", "--set"); }),
            "--set: attention_kernel: unknown value (got sdpa, expected dense_masked or "
            "flash_causal)");
}

}  // namespace
}  // namespace moesim
