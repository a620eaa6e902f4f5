// FSMoE's headline claim, qualitatively (FSMoE Sec. 6 and abstract): on its testbeds, FSMoE beats
// Tutel on average over its configured-layer grid and on real models. Testbed-A = 6 nodes of
// a6000-8gpu (200 Gb/s), Testbed-B = 8 nodes of pcie3-4gpu-100g, built with the cluster
// generator; DP+MP+EP+ESP with N_MP = N_ESP = GPUs per node, N_EP = nodes, E = N_EP.
// The grid is a deterministic sample of traces/grids/fsmoe-1458*.json (index j*487 mod 1458,
// 487 coprime to 1458). Averages are printed (and recorded as test properties).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tests/validation/validation_testbed.hpp"

namespace moesim::validation {
namespace {

struct FsmoeTestbed {
  std::string name, node, gpu;
  std::size_t nodes;
  std::int64_t per_node;
  std::vector<std::int64_t> seq;
};

const FsmoeTestbed kA{"Testbed-A", "a6000-8gpu", "rtx-a6000", 6, 8, {512, 1024, 2048}};
const FsmoeTestbed kB{"Testbed-B", "pcie3-4gpu-100g", "rtx2080ti", 8, 4, {256, 512, 1024}};
const std::vector<std::string> kStrategies = {"deepspeed-moe", "tutel", "tutel-improved",
                                              "fsmoe-no-iio", "fsmoe"};

Testbed testbed(const FsmoeTestbed& tb) { return Testbed(tb.node, tb.nodes, tb.gpu); }

// Iteration time (us) of every strategy on one job on `bed` (= testbed(tb)).
std::map<std::string, double> simulate(const FsmoeTestbed& tb, const Testbed& bed,
                                       const std::string& model_name,
                                       const std::string& overrides) {
  ModelSpec model = io::load_model(model_name);
  apply_overrides(model, overrides, "--set");
  const job::PreparedJob job =
      bed.job(model, fmt::format("tp={0},ep={1},esp={0}", tb.per_node, tb.nodes));
  std::map<std::string, double> out;
  for (const std::string& s : kStrategies) out[s] = Testbed::run(job, s).mean_iteration_us();
  return out;
}

// Geometric-free arithmetic mean of per-case speedups a/b, like FSMoE's averages.
struct Averages {
  std::map<std::string, double> sum;
  int n = 0;
  void add(const std::map<std::string, double>& t) {
    ++n;
    sum["fsmoe vs tutel"] += t.at("tutel") / t.at("fsmoe");
    sum["fsmoe vs tutel-improved"] += t.at("tutel-improved") / t.at("fsmoe");
    sum["fsmoe vs deepspeed-moe"] += t.at("deepspeed-moe") / t.at("fsmoe");
    sum["fsmoe vs fsmoe-no-iio"] += t.at("fsmoe-no-iio") / t.at("fsmoe");
  }
  double mean(const std::string& k) const { return sum.at(k) / n; }
  void print(const std::string& title) const {
    for (const auto& [k, v] : sum) {
      std::cout << title << ": mean speedup " << k << " = " << fmt::format("{:.3f}", v / n)
                << " over " << n << " cases\n";
      ::testing::Test::RecordProperty(title + " " + k, fmt::format("{:.3f}", v / n));
    }
  }
};

std::string grid_case(const FsmoeTestbed& tb, int index) {
  // Axis order of traces/grids/fsmoe-1458.json, last axis fastest.
  const int ffn = index % 2;
  index /= 2;
  const int cap = index % 3;
  index /= 3;
  const int mh = index % 9;
  index /= 9;
  const int seq = index % 3;
  index /= 3;
  const int heads = index % 3;
  index /= 3;
  const int batch = index % 3;
  const std::int64_t hidden = std::vector<std::int64_t>{1024, 2048, 4096}[mh / 3];
  const std::int64_t h = hidden * (2 + mh % 3);
  const std::int64_t nh = std::vector<std::int64_t>{8, 16, 32}[heads];
  return fmt::format(
      "layers=2,moe_layers=every,experts={},top_k=2,dtype=fp16,micro_batch={},heads={},"
      "kv_heads={},seq_len={},hidden={},expert_ffn_hidden={},capacity_factor={},dropless={},"
      "expert_ffn={}",
      tb.nodes, std::vector<int>{1, 2, 4}[batch], nh, nh, tb.seq[seq], hidden, h,
      cap == 1 ? 2.4 : 1.2, cap == 2 ? "true" : "false", ffn ? "swiglu" : "two_gemm");
}

TEST(FsmoeValidation, BeatsTutelOnAverageOverTheConfiguredLayerGrid) {
  for (const FsmoeTestbed* tb : {&kA, &kB}) {
    const Testbed bed = testbed(*tb);
    Averages avg;
    for (int j = 0; j < 24; ++j) {
      const std::string set = grid_case(*tb, (j * 487) % 1458);
      const auto t = simulate(*tb, bed, "gpt2-xl-moe", set);
      avg.add(t);
    }
    avg.print(tb->name + " grid");
    EXPECT_GT(avg.mean("fsmoe vs tutel"), 1.0) << tb->name;
    // Same token layout, schedule-only difference: FSMoE is not slower (measured ~1.00-1.01x).
    EXPECT_GE(avg.mean("fsmoe vs tutel-improved"), 0.99) << tb->name;
    EXPECT_GE(avg.mean("fsmoe vs fsmoe-no-iio"), 1.0) << tb->name;
  }
}

TEST(FsmoeValidation, BeatsTutelOnRealModels) {
  for (const FsmoeTestbed* tb : {&kA, &kB}) {
    const Testbed bed = testbed(*tb);
    const std::int64_t seq = tb == &kA ? 1024 : 256;
    Averages avg;
    // GPT2-XL-MoE (heads 25 -> 32 so N_MP divides them) and a Mixtral-style model, E = N_EP,
    // B = 1, k = 2, f = 1.2, truncated to 4 layers to keep the test short.
    avg.add(simulate(
        *tb, bed, "gpt2-xl-moe",
        fmt::format("layers=4,heads=32,kv_heads=32,experts={},seq_len={}", tb->nodes, seq)));
    avg.add(simulate(*tb, bed, "mixtral-8x7b",
                     fmt::format("layers=4,experts={},seq_len={},dtype=fp16", tb->nodes, seq)));
    avg.print(tb->name + " real models");
    EXPECT_GT(avg.mean("fsmoe vs tutel"), 1.0) << tb->name;
  }
}

TEST(FsmoeSchedule, StreamsOfIioAndNoIio) {
  // fsmoe: every EP all-to-all on "comm.inter", every ESP all-gather/reduce-scatter on
  // "comm.intra"; fsmoe-no-iio: both on "comm". Testbed-B, one 2-layer grid case.
  ModelSpec model = io::load_model("gpt2-xl-moe");
  apply_overrides(model, grid_case(kB, 0), "--set");
  const job::PreparedJob job = testbed(kB).job(model, "tp=4,ep=8,esp=4");
  for (const std::string s : {"fsmoe", "fsmoe-no-iio"}) {
    const auto built = job::build_graph(job, *strategies::make_strategy(s), *job.first);
    ASSERT_TRUE(built.decisions.count("fsmoe.degree.forward"));
    ASSERT_TRUE(built.decisions.count("fsmoe.degree.backward"));
    int ep = 0, esp = 0;
    for (const CommRecord& c : built.graph.comms()) {
      const std::string_view stream =
          built.graph.stream_name(built.graph.task(c.members.front()).stream);
      if (c.op.group == CommGroup::ep) {
        ++ep;
        EXPECT_EQ(stream, s == "fsmoe" ? "comm.inter" : "comm");
      } else if (c.op.group == CommGroup::esp) {
        ++esp;
        EXPECT_EQ(stream, s == "fsmoe" ? "comm.intra" : "comm");
      }
    }
    EXPECT_GT(ep, 0);
    EXPECT_GT(esp, 0);
  }
}

}  // namespace
}  // namespace moesim::validation
