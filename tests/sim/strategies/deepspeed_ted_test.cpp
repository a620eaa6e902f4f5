// DeepSpeed-TED (deepspeed-ted, deepspeed-ted-base and their options): collective sizes against
// the reconstructed TED layer (DeepSpeed-TED, ICS 2023), duplicate token dropping,
// (communication-aware) activation checkpointing.
#include <gtest/gtest.h>

#include <map>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;
using Fixture = FixedCosts;

// 8 GPUs = 2 nodes x 4: tp = esp = 4 (a node), ep = 2 -> dp = 2, edp = 1; an EP group is the two
// ranks with the same tp index. One MoE layer, M = 8, T = 8 tokens, E = 2, k = 1, f = 1 -> C = 4,
// fp32: S = E*C*M*b = 256 B.
ModelSpec ted_model() { return test_support::tiny_model(4, 8); }

TrainingJob job_for(std::string_view parallel) {
  return make_training_job(ted_model(), parse_parallel_layout(parallel, "-p"), shape_of(2, 4),
                           GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
}

TEST(DeepSpeedTed, BaseShipsDuplicatedTokensAndAllReducesExpertOutput) {
  // No DTD: A2A(S) = 256 B over each EP group (4 groups, one per tp index), every tp rank the same
  // payload; each expert shard computes the ep*C = 8 tokens of its EP group once per forward
  // (and once more in the recomputation); TP all-reduce of the expert output 8*M*b = 256 B = S.
  // Activation checkpointing without CAC re-issues both all-to-alls: per EP group forward 2 +
  // recompute 2 + backward 2 = 6, x 4 groups = 24 all-to-alls.
  Fixture f;
  const BuildResult b =
      make_strategy("deepspeed-ted-base")->build_iteration(job_for("tp=4,esp=4,ep=2"), f.costs);
  b.graph.validate();
  const auto by = comms_by_name(b.graph);
  for (const CommRecord* c : by.at("ep.dispatch")) {
    EXPECT_EQ(c->op.bytes.count, 256);
    EXPECT_EQ(c->op.ranks.size(), 2u);
  }
  for (const CommRecord* c : by.at("tp.expert.allreduce")) {
    EXPECT_EQ(c->op.kind, CommKind::all_reduce);
    EXPECT_EQ(c->op.bytes.count, 256);
    EXPECT_EQ(c->op.ranks.size(), 4u);
  }
  EXPECT_FALSE(by.count("tp.gather_tokens"));
  std::size_t a2a = 0;
  for (const auto& [name, ops] : by) {
    if (name.rfind("ep.", 0) == 0) a2a += ops.size();
  }
  EXPECT_EQ(a2a, 24u);
  EXPECT_EQ(by.at("ep.dispatch.recompute").size(), 4u);
  EXPECT_EQ(expert1_tokens(b.graph, RankId{0}), 2 * 8);  // forward + recompute
  EXPECT_EQ(b.decisions.at("ted.dtd").name(), "off");
  EXPECT_EQ(b.decisions.at("ted.cac").name(), "off");
}

TEST(DeepSpeedTed, DuplicateTokenDroppingDividesTheAllToAllByTp) {
  // DTD: each tp rank keeps C/T = 1 slot per expert -> A2A(S/T) = E*1*M*b = 64 B, then a TP
  // all-gather back to S = 256 B (output), on both sides of the experts and in the backward.
  // CAC: the recomputation issues no all-to-all: 4 per EP group (forward 2, backward 2) = 16.
  Fixture f;
  const BuildResult b =
      make_strategy("deepspeed-ted")->build_iteration(job_for("tp=4,esp=4,ep=2"), f.costs);
  b.graph.validate();
  const auto by = comms_by_name(b.graph);
  for (const char* name : {"ep.dispatch", "ep.combine", "ep.dispatch.bwd", "ep.combine.bwd"}) {
    ASSERT_TRUE(by.count(name)) << name;
    for (const CommRecord* c : by.at(name)) EXPECT_EQ(c->op.bytes.count, 64) << name;
  }
  EXPECT_FALSE(by.count("ep.dispatch.recompute"));
  std::size_t a2a = 0;
  for (const auto& [name, ops] : by) {
    if (name.rfind("ep.", 0) == 0) a2a += ops.size();
  }
  EXPECT_EQ(a2a, 16u);
  // TP all-gathers: forward 2 + recompute 2 + backward 2 per tp group, 2 tp groups.
  ASSERT_EQ(by.at("tp.gather_tokens").size(), 12u);
  for (const CommRecord* c : by.at("tp.gather_tokens")) {
    EXPECT_EQ(c->op.kind, CommKind::all_gather);
    EXPECT_EQ(c->op.bytes.count, 256);
  }
  // The experts still see all 8 tokens of their EP group (no duplicates, nothing lost).
  EXPECT_EQ(expert1_tokens(b.graph, RankId{0}), 2 * 8);
}

TEST(DeepSpeedTed, OptionsPickEachOptimisationAlone) {
  // dtd on, cac off: 64 B all-to-alls, re-issued in the recompute; ac off: no recompute at all.
  Fixture f;
  const TrainingJob job = job_for("tp=4,esp=4,ep=2");
  const auto s = make_strategy("deepspeed-ted:dtd=on:cac=off");
  EXPECT_EQ(s->name(), "deepspeed-ted:dtd=on:cac=off");
  // comms_by_name points into the graph: keep each graph alive while it is read.
  const TaskGraph dtd_only = s->build_iteration(job, f.costs).graph;
  auto by = comms_by_name(dtd_only);
  EXPECT_EQ(by.at("ep.dispatch.recompute").front()->op.bytes.count, 64);
  const TaskGraph no_ac =
      make_strategy("deepspeed-ted-base:ac=off")->build_iteration(job, f.costs).graph;
  by = comms_by_name(no_ac);
  EXPECT_FALSE(by.count("ep.dispatch.recompute"));
  EXPECT_EQ(by.at("ep.dispatch").front()->op.bytes.count, 256);
  // CAC only removes work. DTD trades all-to-all bytes for TP all-gathers: on this flat 1 B/ns
  // network it moves 4 x (256*3/4 - (256-64)/2) = 384 B more per rank per pass and loses; it pays
  // where inter-node links are slower than intra-node ones (tests/validation).
  const auto time = [&](std::string_view name) {
    const BuildResult b = make_strategy(name)->build_iteration(job, f.costs);
    SimulatedExecutor exec(f.compute, f.network);
    return exec.run(b.graph).makespan();
  };
  EXPECT_LT(time("deepspeed-ted-base:cac=on"), time("deepspeed-ted-base"));
  EXPECT_GT(time("deepspeed-ted-base:dtd=on"), time("deepspeed-ted-base"));
}

TEST(DeepSpeedTed, RejectsExpertShardingOtherThanTheTpGroup) {
  Fixture f;
  ModelSpec m = ted_model();
  try {
    make_strategy("deepspeed-ted")->build_iteration(job_for("tp=4,esp=2,ep=2"), f.costs);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "--parallel: deepspeed-ted shards every expert over the TP group (esp = tp) or "
                 "not at all (esp = 1) (got tp=4 esp=2, expected esp=4 or esp=1)");
  }
  // esp = 1: DeepSpeed's path (drop_tokens -> A2A -> experts -> A2A -> gather_tokens).
  const BuildResult b =
      make_strategy("deepspeed-ted")->build_iteration(job_for("tp=4,ep=2"), f.costs);
  b.graph.validate();
  EXPECT_TRUE(comms_by_name(b.graph).count("tp.gather_tokens"));
}

TEST(StrategyOptions, ParsesValidatesAndRejectsUnknownKeys) {
  const auto message = [](std::string_view spec) {
    try {
      make_strategy(spec);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(
      message("deepspeed-ted:dtd=maybe"),
      "--strategy: deepspeed-ted: option dtd is not a switch (got maybe, expected on or off)");
  EXPECT_EQ(message("deepspeed-ted:dtd"),
            "--strategy: deepspeed-ted: option is not key=value (got dtd, expected "
            "deepspeed-ted:key=value[:key=value...])");
  EXPECT_EQ(message("deepspeed-ted:dtd=on:dtd=off"),
            "--strategy: deepspeed-ted: option given twice (got dtd, expected each option once)");
  EXPECT_EQ(
      message("deepspeed-ted:dtdd=on")
          .rfind("--strategy: deepspeed-ted: unknown option (got dtdd, expected dtd=on|off", 0),
      0u);
  EXPECT_EQ(message("fsmoe:x=1"),
            "--strategy: fsmoe takes no options (got fsmoe:x=1, expected fsmoe)");
  EXPECT_EQ(message("deepspeed-ted:cac=no:ac=yes:dtd=0"), "no error");
  StrategyOptions o("s", "n=3:flag=on", "--strategy");
  EXPECT_EQ(o.get_int("n", 1), 3);
  EXPECT_EQ(o.get_int("absent", 7), 7);
  EXPECT_TRUE(o.get_bool("flag", false));
  EXPECT_NO_THROW(o.finish("n, flag"));
  StrategyOptions bad("s", "n=0", "--strategy");
  EXPECT_THROW(bad.get_int("n", 1), InputError);
}

}  // namespace
}  // namespace moesim::strategies
