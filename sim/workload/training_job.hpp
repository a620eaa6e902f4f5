// TrainingJob: everything a strategy needs to build one iteration's task graph: the model, the
// resolved parallel layout and its rank mapping, the cluster shape, and the token routing of this
// iteration. Built once per iteration by make_training_job(); strategies read it, never change
// it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/workload/model_spec.hpp"
#include "sim/workload/parallel_layout.hpp"
#include "sim/workload/rank_mapping.hpp"
#include "sim/workload/routing.hpp"

namespace moesim {

/// The cluster as the workload sees it: which node each rank sits on.
struct ClusterShape {
  std::int64_t nodes = 1;
  std::int64_t gpus_per_node = 1;
  std::string gpu_model;
  std::int64_t gpu_sms = 0;                ///< SMs per GPU (GpuSpec::sm_count); 0: not known
  std::vector<std::int32_t> node_of_rank;  ///< empty = rank / gpus_per_node

  std::int64_t gpu_count() const { return nodes * gpus_per_node; }
  std::int32_t node_of(RankId r) const {
    return node_of_rank.empty() ? static_cast<std::int32_t>(r.value / gpus_per_node)
                                : node_of_rank[r.index()];
  }
};

struct ExpertPlacement;  // sim/workload/expert_placement.hpp

/// How expert-parallel all-to-alls run: NCCL's all-to-all(-v) (default) or a node relay
/// (comm_op.hpp NodeRelayExchange) by DeepEP's normal kernels or by NVIDIA's Hybrid-EP kernels
/// (same relay, chunked pipeline: collectives/hybrid_ep_pipeline.hpp), chosen per strategy
/// (`name:a2a=deepep`, `name:a2a=hybrid-ep`).
enum class EpAllToAll : std::uint8_t { nccl, deepep, hybrid_ep };

struct ExpertParallelComm {
  EpAllToAll algorithm = EpAllToAll::nccl;
  /// SMs DeepEP's kernels hold: 20 of H800's 132 in DeepSeek-V3's training (DeepSeek-AI 2024,
  /// arXiv 2412.19437, section 3.2.2).
  int comm_sms = 20;
  /// Node-limited routing: each token goes to experts on at most this many nodes (DeepSeek-V3:
  /// 4); 0 = unlimited. Changes how many distinct tokens cross to each node, not the counts.
  int node_limit = 0;
  /// What the node relay's dispatch direction carries (the forward dispatch and, in the backward,
  /// the gradients sent back to the experts): true FP8 with one fp32 scale per 128 elements,
  /// false the model's dtype. Unset: FP8 exactly when the experts' GEMMs are (DeepSeek-V3's
  /// recipe, ModelSpec::linear_dtype); a strategy may set its system's default (megatron*:
  /// false), `fp8_dispatch=on|off` overrides both. The combine always carries the model dtype.
  std::optional<bool> fp8_dispatch;
};

struct TrainingJob {
  ModelSpec model;
  ParallelLayout layout;  ///< resolved
  RankMapping mapping;
  ClusterShape cluster;
  std::int64_t iteration = 0;
  RoutingCounts routing;  ///< this iteration's counts; sources = layout.dp
  /// Counts of iterations 0..iteration-1 when the caller keeps them (moesim run does), for
  /// strategies that adapt to routing statistics (FlexMoE); null or shorter when unknown.
  std::shared_ptr<const std::vector<RoutingCounts>> routing_history;
  ExpertParallelComm ep_comm;
  /// Where each expert's copies live (EPLB, `name:eplb=on`); null = expert e on EP rank
  /// e / (E / ep), no replicas.
  std::shared_ptr<const ExpertPlacement> placement;

  /// Routing shape of a job (sources = dp replicas, T = micro_batch * seq_len).
  static RoutingShape routing_shape(const ModelSpec& model, const ParallelLayout& layout);
};

/// Resolves `layout` against the model and cluster (InputError naming `flag`) and draws the
/// routing of `iteration`.
TrainingJob make_training_job(const ModelSpec& model, ParallelLayout layout,
                              const ClusterShape& cluster, const RoutingModel& routing,
                              std::int64_t iteration, std::string_view flag = "--parallel");

}  // namespace moesim
