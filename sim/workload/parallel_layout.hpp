// ParallelLayout: how a training job is split over GPUs.
//
//  - pp pipeline stages, each holding layers/pp consecutive layers;
//  - inside a stage, dp x tp ranks: tp = tensor (model) parallelism of attention and dense FFNs
//    (Megatron; the tp ranks of a group see the same tokens), dp = data-parallel replicas;
//  - the experts of a stage are laid over the same dp x tp ranks as esp x ep x edp:
//    esp = expert sharding (each expert's H split over esp ranks), ep = expert parallelism
//    (experts/ep experts per rank), edp = expert data parallelism = dp*tp/(ep*esp) (inferred);
//  - micro_batches micro-batches of ModelSpec::micro_batch samples per replica per iteration,
//    scheduled GPipe (all forwards, then all backwards) or 1F1B.
// Invariants after resolve(): every size >= 1, dp*tp*pp = GPU count, ep*esp divides dp*tp.
// Rank placement is RankMapping's job (rank_mapping.hpp); `order` and `expert_order` steer it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace moesim {

struct ModelSpec;

enum class PipelineSchedule : std::uint8_t { gpipe, one_f_one_b };
std::string_view to_string(PipelineSchedule s);

struct ParallelLayout {
  std::int64_t dp = 0;  ///< 0 = infer from the GPU count
  std::int64_t tp = 1;
  std::int64_t ep = 1;
  std::int64_t esp = 1;
  std::int64_t pp = 1;
  std::int64_t edp = 0;  ///< inferred by resolve()
  PipelineSchedule pp_schedule = PipelineSchedule::one_f_one_b;
  std::int64_t micro_batches = 1;
  /// Megatron-Core's account_for_embedding_in_pipeline_split and
  /// account_for_loss_in_pipeline_split ("split=ends"): the embedding and the loss each take one
  /// layer's place when the layers are split into pipeline stages, so layers + 2 must divide
  /// evenly and the first and last stages hold one layer fewer. Only `megatron*` builds it.
  bool ends_in_split = false;
  /// Rank order of the (tp, dp, pp) grid, innermost (fastest-varying) first. The default keeps a
  /// TP group on consecutive ranks, i.e. inside a node.
  std::string order = "tp,dp,pp";
  /// Order of the expert grid over a stage's ranks s = tp_index + tp * dp_index, innermost
  /// first; esp is always innermost. "esp,edp,ep" (default) spreads an EP group across nodes;
  /// "esp,ep,edp" packs it onto consecutive ranks.
  std::string expert_order = "esp,edp,ep";

  std::int64_t world() const { return dp * tp * pp; }
  std::int64_t stage_size() const { return dp * tp; }
  std::string describe() const;

  /// Infers dp and edp and checks the layout against the model and the cluster. Throws
  /// InputError naming `flag` and the offending values.
  void resolve(const ModelSpec& model, std::int64_t gpu_count, std::int64_t gpus_per_node,
               std::string_view flag);
};

/// Parses "dp=2,tp=4,ep=8[,esp=4][,pp=2][,mb=8][,schedule=gpipe|1f1b][,split=layers|ends]". Unknown
/// keys, repeated keys, non-positive sizes: InputError naming `flag`.
ParallelLayout parse_parallel_layout(std::string_view text, std::string_view flag);

}  // namespace moesim
