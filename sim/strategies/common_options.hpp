// Options every strategy takes after its name (`--strategy tutel:a2a=deepep:node_limit=4`):
// how its expert-parallel all-to-alls run and where its experts live. They are job settings
// the strategy sees through TrainingJob (ep_comm, placement); with_common_options wraps any
// strategy so that it builds on the job with them set, so every strategy offers them without
// code of its own.
//   a2a=nccl|deepep|hybrid-ep
//                     NCCL's all-to-all(-v) (default), DeepEP-style node relay
//                     (sim/workload/node_relay_plan.hpp, sim/network/collectives/
//                     node_relay_all_to_all.cpp) by DeepEP's normal kernels, or the same relay
//                     by NVIDIA's Hybrid-EP kernels (routing probabilities on the wire, chunked
//                     pipeline: sim/network/collectives/hybrid_ep_pipeline.hpp)
//   comm_sms=N        SMs DeepEP's kernels hold (default 20, DeepSeek-V3 on H800); Hybrid-EP:
//                     its blocks, one per SM
//   node_limit=M      node-limited routing: each token to at most M nodes (default: the
//                     model's node_limit, DeepSeek-V3's 4; --set node_limit=0 lifts it)
//   eplb=on|off       EPLB redundant experts from the routing's expected loads (eplb.hpp)
//   redundant=R       EPLB: redundant expert slots in all (default: one per EP rank)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sim/strategies/strategy.hpp"
#include "sim/strategies/strategy_options.hpp"

namespace moesim::strategies {

inline constexpr std::string_view kCommonOptionsHelp =
    "a2a=nccl|deepep|hybrid-ep (expert-parallel all-to-all: NCCL, or node relay by DeepEP's "
    "normal kernels or NVIDIA's Hybrid-EP), comm_sms=N "
    "(SMs DeepEP holds, default 20; with a2a=deepep|hybrid-ep only, fewer than the GPU has), "
    "node_limit=M (each token to at most M nodes; default: the model's node_limit, unlimited "
    "unless it sets one), fp8_dispatch=on|off (with a2a=deepep|hybrid-ep: the relay's dispatch "
    "in FP8 with 1/128 fp32 scales, or in the model dtype; default: FP8 when the experts' GEMMs "
    "are FP8, as DeepSeek-V3 trains, except megatron*, whose DeepEP and Hybrid-EP paths send "
    "BF16), eplb=on|off "
    "(redundant experts placed by EPLB), redundant=R (EPLB redundant slots, default one per EP "
    "rank)";
inline constexpr std::string_view kCommonOptionKeys =
    "a2a, comm_sms, node_limit, fp8_dispatch, eplb, redundant";

struct CommonOptions {
  ExpertParallelComm comm;  ///< algorithm and comm_sms (node_limit: below)
  /// node_limit=M when given; otherwise the job keeps its model's (ModelSpec::node_limit).
  std::optional<int> node_limit;
  /// fp8_dispatch=on|off when given; otherwise the strategy's default (ExpertParallelComm).
  std::optional<bool> fp8_dispatch;
  bool eplb = false;
  std::int64_t redundant = 0;  ///< 0: one per EP rank
  bool any = false;            ///< some common option was given
};

/// Reads (and marks used) the common keys of `options`.
CommonOptions read_common_options(StrategyOptions& options);

/// `inner`, building every iteration on the job with `common` applied (itself when none given),
/// named `spec` (its name with every option).
std::unique_ptr<Strategy> with_common_options(std::unique_ptr<Strategy> inner,
                                              const CommonOptions& common, std::string_view spec);

/// Throws InputError naming --strategy (`spec`) for options the job's hardware cannot run:
/// DeepEP / Hybrid-EP holding every SM of the GPU (comm_sms >= ClusterShape::gpu_sms).
void check_common_options(const TrainingJob& job, const CommonOptions& common,
                          std::string_view spec);

/// The job as a strategy with `common` sees it.
TrainingJob apply_common_options(const TrainingJob& job, const CommonOptions& common);

}  // namespace moesim::strategies
