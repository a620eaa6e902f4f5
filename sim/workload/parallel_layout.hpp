// ParallelLayout: how a training job is split over GPUs.
//
//  - pp pipeline stages of consecutive layers: layers/pp each, or Megatron-Core's uneven splits
//    (split=ends; first_stage_layers / last_stage_layers), always read through
//    layers_of_stage / first_layer_of_stage / stage_of_layer;
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
  /// Megatron-Core's --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers
  /// (TransformerConfig.num_layers_in_first_pipeline_stage / _last_; NVIDIA/Megatron-LM,
  /// megatron/core/transformer/transformer_config.py): the layers of the first / last stage; the
  /// other layers are divided evenly over the remaining ("middle") stages. 0 = not given (that
  /// stage is a middle one). DeepSeek-V3 on pp=16 is last_stage_layers=1: 15 stages of 4 layers
  /// and 1 layer beside the loss (NVIDIA-NeMo/Megatron-Bridge,
  /// src/megatron/bridge/recipes/deepseek/deepseek_v3.py, layout_map[(16, 1)]).
  std::int64_t first_stage_layers = 0;
  std::int64_t last_stage_layers = 0;
  /// The model's layer count, set by resolve(); what the stage functions below split.
  std::int64_t model_layers = 0;
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

  /// Layers of pipeline stage `stage` (0 <= stage < pp) and the first of them; stages hold
  /// consecutive layers in stage order. With split=ends the first and last stages hold one layer
  /// fewer than the (layers + 2) / pp of the others.
  std::int64_t layers_of_stage(std::int64_t stage) const;
  std::int64_t first_layer_of_stage(std::int64_t stage) const;
  /// The stage holding `layer`.
  std::int64_t stage_of_layer(std::int64_t layer) const;
  struct LayerRange {
    std::int64_t first = 0;
    std::int64_t count = 0;
  };
  /// Megatron-Core's interleaved split into `chunks` model chunks per stage (virtual pipeline,
  /// vp): chunk c of stage s holds layers_of_stage(s) / chunks layers starting at
  /// c * layers / chunks + first_layer_of_stage(s) / chunks (get_transformer_layer_offset); with
  /// split=ends (layers + 2) / (pp x chunks) slots per chunk, the embedding and loss taking the
  /// first and last. Needs check_chunks(chunks) to have passed.
  LayerRange chunk_layers(std::int64_t stage, std::int64_t chunk, std::int64_t chunks) const;
  /// Throws InputError naming `flag` unless every stage's layers split into `chunks` equal model
  /// chunks (Megatron-Core's checks for vp; chunks = 1 always passes).
  void check_chunks(std::int64_t chunks, std::string_view flag) const;
  /// True when first_stage_layers or last_stage_layers is given.
  bool uneven_stages() const { return first_stage_layers > 0 || last_stage_layers > 0; }

  /// Infers dp and edp and checks the layout against the model and the cluster. Throws
  /// InputError naming `flag` and the offending values.
  void resolve(const ModelSpec& model, std::int64_t gpu_count, std::int64_t gpus_per_node,
               std::string_view flag);

 private:
  /// resolve()'s checks of how the layers split into stages.
  void check_stage_split(const ModelSpec& model, std::string_view flag) const;
};

/// Parses "dp=2,tp=4,ep=8[,esp=4][,pp=2][,mb=8][,schedule=gpipe|1f1b][,split=layers|ends]
/// [,first_stage_layers=N][,last_stage_layers=M]". Unknown keys, repeated keys, non-positive
/// sizes: InputError naming `flag`.
ParallelLayout parse_parallel_layout(std::string_view text, std::string_view flag);

}  // namespace moesim
