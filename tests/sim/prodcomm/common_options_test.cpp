// Options every strategy takes: DeepEP-style all-to-all (a2a=deepep), node limit, comm SMs and
// EPLB placement, seen through the graphs the strategies build; the SM share in the compute model.
#include "sim/strategies/common_options.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/token_plan.hpp"
#include "sim/workload/expert_placement.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;

// 2 nodes x 4 GPUs, ep = 8, 16 experts top-4, dropless, skewed routing.
TrainingJob two_node_job() {
  ModelSpec m = tiny_model(1, 64);
  m.experts = 16;
  m.top_k = 4;
  m.dropless = true;
  return make_training_job(m, parse_parallel_layout("ep=8", "-p"), shape_of(2, 4),
                           GeneratedRouting(RoutingDistribution::zipf, 1.2, 5), 0);
}

// Bytes the node relays of `spec`'s graph on `job` send over the network.
std::int64_t relayed_network_bytes(const TrainingJob& job, std::string_view spec) {
  FixedCosts f;
  const BuildResult b = make_strategy(spec, "--strategy")->build_iteration(job, f.costs);
  std::int64_t sum = 0;
  for (const CommRecord& c : b.graph.comms()) {
    if (!c.op.relay) continue;
    for (std::size_t i = 0; i < c.op.ranks.size(); ++i) sum += c.op.relay->network.sent_by(i);
  }
  return sum;
}

std::string message_of(std::string_view spec) {
  try {
    make_strategy(spec, "--strategy");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CommonOptions, DeepEpRelaysEveryExpertExchangeOfAnyStrategy) {
  FixedCosts f;
  const TrainingJob job = two_node_job();
  for (const char* spec : {"deepspeed-moe:a2a=deepep:comm_sms=24", "tutel:a2a=deepep",
                           "fsmoe:a2a=deepep:node_limit=1"}) {
    SCOPED_TRACE(spec);
    const BuildResult b = make_strategy(spec, "--strategy")->build_iteration(job, f.costs);
    b.graph.validate();
    int relayed = 0, plain = 0;
    for (const CommRecord& c : b.graph.comms()) {
      if (c.op.group != CommGroup::ep) continue;
      if (c.op.relay) {
        ++relayed;
        // Only rail peers exchange over the network: local index equal on both nodes.
        for (std::size_t i = 0; i < c.op.ranks.size(); ++i) {
          for (std::size_t j = 0; j < c.op.ranks.size(); ++j) {
            if (c.op.relay->network.at(i, j) > 0) {
              EXPECT_EQ(c.op.ranks[i].value % 4, c.op.ranks[j].value % 4);
              EXPECT_NE(c.op.ranks[i].value / 4, c.op.ranks[j].value / 4);
            }
          }
        }
      } else {
        ++plain;
      }
    }
    EXPECT_GT(relayed, 0);
    EXPECT_EQ(plain, 0);
  }
  // Without the option nothing is relayed.
  const BuildResult b = make_strategy("tutel", "--strategy")->build_iteration(job, f.costs);
  for (const CommRecord& c : b.graph.comms()) EXPECT_FALSE(c.op.relay);
}

TEST(CommonOptions, NodeLimitSendsFewerBytesOverTheNetwork) {
  const TrainingJob job = two_node_job();
  EXPECT_LT(relayed_network_bytes(job, "tutel:a2a=deepep:node_limit=1"),
            relayed_network_bytes(job, "tutel:a2a=deepep"));
}

TEST(CommonOptions, TheModelsNodeLimitIsEveryStrategysDefault) {
  TrainingJob limited = two_node_job();
  ModelSpec m = limited.model;
  m.node_limit = 1;
  limited = make_training_job(m, parse_parallel_layout("ep=8", "-p"), shape_of(2, 4),
                              GeneratedRouting(RoutingDistribution::zipf, 1.2, 5), 0);
  EXPECT_EQ(limited.ep_comm.node_limit, 1);
  // A model that limits its routing to one node relays what node_limit=1 does on an unlimited
  // model; the strategy's option overrides the model's.
  const TrainingJob unlimited = two_node_job();
  EXPECT_EQ(relayed_network_bytes(limited, "tutel:a2a=deepep"),
            relayed_network_bytes(unlimited, "tutel:a2a=deepep:node_limit=1"));
  EXPECT_EQ(relayed_network_bytes(limited, "tutel:a2a=deepep:node_limit=2"),
            relayed_network_bytes(unlimited, "tutel:a2a=deepep"));
  EXPECT_LT(relayed_network_bytes(limited, "tutel:a2a=deepep"),
            relayed_network_bytes(unlimited, "tutel:a2a=deepep"));
  // Options other than node_limit leave the model's in place.
  CommonOptions eplb;
  eplb.eplb = true;
  EXPECT_EQ(apply_common_options(limited, eplb).ep_comm.node_limit, 1);
}

TEST(CommonOptions, ARelayDispatchesFp8WhenTheExpertGemmsAreFp8) {
  // DeepSeek-V3 (arXiv 2412.19437 section 3.3.3): what travels in the dispatch direction is
  // quantized for the FP8 GEMMs it feeds (one fp32 scale per 128 elements), the combine stays
  // BF16. gemm_dtype=fp8 on a bf16 model does the same as an fp8 model.
  CommonOptions deepep;
  deepep.comm.algorithm = EpAllToAll::deepep;
  const auto relay_bytes = [&](bool fp8_linear) {
    TrainingJob job = two_node_job();
    job.model.dtype = DType::bf16;
    job.model.fp8_linear = fp8_linear;
    TokenPlanOptions dropless;
    dropless.pad_to_capacity = false;
    const MoeLayerPlan p = make_token_plan(apply_common_options(job, deepep), dropless, 0);
    std::pair<std::int64_t, std::int64_t> sent{0, 0};
    for (std::size_t i = 0; i < 8; ++i) {
      sent.first += p.relay_dispatch[0]->network.sent_by(i);
      sent.second += p.relay_combine[0]->network.sent_by(i);
    }
    return sent;
  };
  const auto [bf16_dispatch, bf16_combine] = relay_bytes(false);
  const auto [fp8_dispatch, fp8_combine] = relay_bytes(true);
  ASSERT_GT(bf16_dispatch, 0);
  EXPECT_NEAR(static_cast<double>(fp8_dispatch) / static_cast<double>(bf16_dispatch),
              (1.0 + 4.0 / 128.0) / 2.0, 1e-3);
  // The same up to the rounding of the per-pair bytes (the combine is the delivered dispatch
  // rescaled to its own token size).
  EXPECT_NEAR(static_cast<double>(fp8_combine), static_cast<double>(bf16_combine),
              1e-3 * static_cast<double>(bf16_combine));
}

// Megatron-Core hands DeepEP the BF16 hidden states even under TE's FP8 GEMMs (fused_a2a.py):
// megatron* dispatch in the model dtype unless fp8_dispatch=on; fp8_dispatch=off takes a
// DeepSeek-style strategy back to BF16. Split by dispatch and combine: the combine is the same
// in all four.
TEST(CommonOptions, Fp8DispatchIsTheStrategysDefaultOrTheOption) {
  TrainingJob job = two_node_job();
  job.model.dtype = DType::bf16;
  job.model.fp8_linear = true;
  const std::int64_t deepseek = relayed_network_bytes(job, "deepspeed-moe:a2a=deepep");
  const std::int64_t deepseek_bf16 =
      relayed_network_bytes(job, "deepspeed-moe:a2a=deepep:fp8_dispatch=off");
  const std::int64_t megatron = relayed_network_bytes(job, "megatron:a2a=deepep");
  const std::int64_t megatron_fp8 =
      relayed_network_bytes(job, "megatron:a2a=deepep:fp8_dispatch=on");
  EXPECT_LT(deepseek, deepseek_bf16);
  EXPECT_EQ(megatron, deepseek_bf16);
  EXPECT_EQ(megatron_fp8, deepseek);
  // An fp8_dispatch=on on a BF16-GEMM model sends FP8 too.
  job.model.fp8_linear = false;
  EXPECT_EQ(relayed_network_bytes(job, "deepspeed-moe:a2a=deepep:fp8_dispatch=on"), deepseek);
  EXPECT_EQ(relayed_network_bytes(job, "deepspeed-moe:a2a=deepep"), deepseek_bf16);
}

TEST(CommonOptions, EplbReplicatesHotExpertsAndSyncsTheirGradients) {
  FixedCosts f;
  const TrainingJob job = two_node_job();
  CommonOptions eplb;
  eplb.eplb = true;
  const TrainingJob placed = apply_common_options(job, eplb);
  ASSERT_TRUE(placed.placement);
  // 16 experts + 8 redundant (one per EP rank) over 8 ranks: 3 expert slots per rank.
  EXPECT_EQ(placed.placement->slots_per_rank, 3);
  TokenPlanOptions dropless;
  dropless.pad_to_capacity = false;
  const MoeLayerPlan with = make_token_plan(placed, dropless, 0);
  const MoeLayerPlan without = make_token_plan(job, dropless, 0);
  ASSERT_EQ(with.expert_tokens[0].size(), 3u);
  // Every routed token is still computed once; the zipf-hot expert's tokens are spread over its
  // copies, so the busiest rank computes fewer.
  const auto total = [](const MoeLayerPlan& p, std::size_t r) {
    std::int64_t n = 0;
    for (std::int64_t t : p.expert_tokens[r]) n += t;
    return n;
  };
  std::int64_t sum_with = 0, sum_without = 0, most_with = 0, most_without = 0;
  for (std::size_t r = 0; r < 8; ++r) {
    sum_with += total(with, r);
    sum_without += total(without, r);
    most_with = std::max(most_with, total(with, r));
    most_without = std::max(most_without, total(without, r));
  }
  EXPECT_EQ(sum_with, sum_without);
  EXPECT_LT(most_with, most_without);
  // The copies' gradients are all-reduced among the ranks holding them.
  const BuildResult b =
      make_strategy("lancet:eplb=on", "--strategy")->build_iteration(job, f.costs);
  b.graph.validate();
  int replica_syncs = 0;
  for (const CommRecord& c : b.graph.comms()) {
    if (b.graph.names()[c.name] == "grad.allreduce.replica") ++replica_syncs;
  }
  EXPECT_GT(replica_syncs, 0);
}

TEST(CommonOptions, BadValuesAreInputErrors) {
  EXPECT_EQ(
      message_of("tutel:a2a=mpi"),
      "--strategy: tutel: option a2a has no such value (got mpi, expected nccl|deepep|hybrid-ep)");
  EXPECT_EQ(message_of("fsmoe:x=1"),
            "--strategy: fsmoe takes no options (got fsmoe:x=1, expected fsmoe)");
  EXPECT_NE(message_of("fsmoe:a2a=deepep:x=1").find("x"), std::string::npos);
  EXPECT_EQ(message_of("lancet:a2a=deepep:comm_sms=24"), "");
  EXPECT_EQ(message_of("tutel:fp8_dispatch=on"),
            "--strategy: tutel: option fp8_dispatch is the node relay's (DeepEP, Hybrid-EP) "
            "choice (got fp8_dispatch=on, expected fp8_dispatch with a2a=deepep or "
            "a2a=hybrid-ep)");
  EXPECT_EQ(message_of("megatron:a2a=hybrid-ep:fp8_dispatch=maybe").find("fp8_dispatch") !=
                std::string::npos,
            true);
}

TEST(HeldSms, ComputeBesideDeepEpRunsOnTheRemainingSms) {
  const compute::RooflineComputeModel model(io::load_gpu_spec("h100"));
  ComputeTask t;
  t.kind = KernelKind::gemm;
  t.shape = {4096, 4096, 4096, 1};
  t.flops = Flops{2.0 * 4096 * 4096 * 4096};
  t.bytes = Bytes{2 * 3 * 4096 * 4096};
  const SimTime alone = model.duration(t, {RankId{0}, 0, 0, 0});
  // 512 tiles of 128x256: 4 waves on 132 SMs, 5 waves on the 112 left by DeepEP's 20: 5/4.
  const SimTime beside = model.duration(t, {RankId{0}, 1, 1, 20});
  EXPECT_NEAR(static_cast<double>(beside.ps()) / static_cast<double>(alone.ps()), 1.25, 0.01);
  // An NCCL kernel beside it as well adds the generic slowdown.
  const SimTime both = model.duration(t, {RankId{0}, 2, 1, 20});
  EXPECT_NEAR(static_cast<double>(both.ps()) / static_cast<double>(beside.ps()), 1.189, 1e-6);
}

}  // namespace
}  // namespace moesim::strategies
