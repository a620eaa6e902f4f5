// ModelSpec: the shape of a transformer MoE model, as read from traces/models/<name>.json.
//
// Units: sizes are element counts (hidden = M, ffn_hidden = dense FFN width, expert_ffn_hidden =
// H per expert), seq_len and micro_batch are tokens and samples per micro-batch per data-parallel
// replica. Invariants (checked by validate(), messages name the field): every size > 0,
// hidden % heads == 0 unless head_dim is given, heads % kv_heads == 0, 1 <= top_k <= experts,
// capacity_factor > 0 unless dropless, gemm_dtype fp8 or the model dtype.
// Optional parts, each off (0 / false) in presets that do not give them, so those presets' numbers
// do not move: head_dim (attention wider or narrower than hidden, Qwen3 and GPT-OSS), vocab_size
// (embedding, LM head and loss), sliding_window (local attention on some layers, GPT-OSS) and
// gemm_dtype fp8 (Transformer Engine's FP8 recipe for the linear layers' GEMMs) and mtp_layers
// (DeepSeek-V3's multi-token prediction modules after the last layer; they need a vocab_size).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sim/workload/dtype.hpp"

namespace moesim {

/// Which transformer layers carry an MoE block instead of a dense FFN.
enum class MoeLayers : std::uint8_t { every, every_other };
/// Which layers use sliding-window attention when sliding_window > 0: the even layers (0, 2, ...;
/// GPT-OSS's layer_types alternate sliding_attention, full_attention) or all of them.
enum class SlidingLayers : std::uint8_t { even, all };
/// Expert FFN: two GEMMs (M x H, act, H x M) or SwiGLU (gate and up M x H, down H x M).
enum class ExpertFfn : std::uint8_t { two_gemm, swiglu };
/// How the core-attention kernel treats the causal mask (a property of the framework a run used,
/// not of the model): dense_masked computes every S x S tile and masks afterwards (unfused
/// PyTorch / Megatron "fused softmax": baddbmm QK^T, masked softmax, bmm), so a sliding window
/// saves nothing; flash_causal skips the tiles the mask empties (FlashAttention-2/3, cuDNN fused
/// attention: a block of kAttentionTile queries ending at q_end sees the key tiles up to q_end, and
/// with a window W only those reaching back W keys).
enum class AttentionKernel : std::uint8_t { dense_masked, flash_causal };

std::string_view to_string(MoeLayers v);
std::optional<MoeLayers> parse_moe_layers(std::string_view s);
std::string_view to_string(ExpertFfn v);
std::optional<ExpertFfn> parse_expert_ffn(std::string_view s);
std::string_view to_string(SlidingLayers v);
std::optional<SlidingLayers> parse_sliding_layers(std::string_view s);
std::string_view to_string(AttentionKernel v);
std::optional<AttentionKernel> parse_attention_kernel(std::string_view s);
/// Query-key pairs a tile-skipping causal kernel computes over one sequence of `seq` tokens:
/// query tile i (rows i*T .. min(S, (i+1)T) - 1) computes the key tiles from the first one a row
/// of it still reaches (row i*T reaches back to key i*T - W + 1; no window, W = 0: key 0) through
/// the diagonal tile, clipped at S. Tiles are square, T x T (FlashAttention-2/3's 128 x 128 on
/// Hopper). The catalogue's attention FLOPs and the attention rate table's causal rows share it.
std::int64_t causal_tile_pairs(std::int64_t seq, std::int64_t window, std::int64_t tile);

struct ModelSpec {
  // Largest sizes validate() accepts (see there for why these values).
  static constexpr std::int64_t kMaxLayers = 1024;
  static constexpr std::int64_t kMaxHidden = 1 << 17;
  static constexpr std::int64_t kMaxFfnHidden = 1 << 20;
  static constexpr std::int64_t kMaxHeads = 4096;
  static constexpr std::int64_t kMaxSeqLen = 1 << 24;
  static constexpr std::int64_t kMaxMicroBatch = 1 << 16;
  static constexpr std::int64_t kMaxTokensPerMicroBatch = std::int64_t{1} << 28;
  static constexpr std::int64_t kMaxExperts = 1 << 16;
  static constexpr std::int64_t kMaxTopK = 1024;
  static constexpr double kMaxCapacityFactor = 1024.0;
  static constexpr std::int64_t kMaxVocab = 1 << 22;
  /// Multi-token prediction depth: DeepSeek-V3 trains with 1; 16 is far above any published
  /// depth and keeps the extra layers a small share of the model.
  static constexpr std::int64_t kMaxMtpLayers = 16;
  /// Node-limited routing: the --nodes limit (a larger M limits nothing more).
  static constexpr std::int64_t kMaxNodeLimit = 4096;
  /// Rows and columns of the attention kernel's tiles (FlashAttention-2/3 on Hopper: 128 x 128):
  /// a sliding window computes whole tiles.
  static constexpr std::int64_t kAttentionTile = 128;

  std::string name;
  std::string source;  ///< where the numbers come from (paper, config file)
  std::int64_t layers = 1;
  std::int64_t hidden = 1;             ///< M
  std::int64_t ffn_hidden = 4;         ///< dense FFN width
  std::int64_t expert_ffn_hidden = 4;  ///< H of one expert (fine-grained experts: < ffn_hidden)
  std::int64_t heads = 1;
  std::int64_t kv_heads = 1;  ///< grouped-query attention; = heads for multi-head attention
  /// Width of one attention head ("head_dim" in the preset, config.json's head_dim /
  /// Megatron's kv_channels); 0: hidden / heads. Query width = heads x head_dim().
  std::int64_t attention_head_dim = 0;
  /// Vocabulary ("vocab_size"): embedding on the first pipeline stage, LM head and loss on the
  /// last; 0: neither is modelled (the older presets).
  std::int64_t vocab_size = 0;
  /// Tokens a sliding-window layer attends to (0: every layer attends to the whole sequence).
  std::int64_t sliding_window = 0;
  SlidingLayers sliding_layers = SlidingLayers::even;
  /// Core-attention kernel ("attention_kernel" via --set); unset: the behaviour before it was
  /// modelled (full layers charged every key, sliding layers the tile band), kept where no
  /// source says which kernel a run used.
  std::optional<AttentionKernel> attention_kernel;
  /// GEMMs of the linear layers (attention projections, dense, expert and shared FFNs) in FP8,
  /// Transformer Engine's recipe; activations, communication, core attention, router and LM
  /// head stay in `dtype` (LayerOps says what is charged).
  bool fp8_linear = false;
  std::int64_t seq_len = 1;      ///< L
  std::int64_t micro_batch = 1;  ///< B, samples per micro-batch per data-parallel replica
  std::int64_t experts = 1;      ///< E
  std::int64_t top_k = 1;        ///< k
  double capacity_factor = 1.0;  ///< f; ignored when dropless
  bool dropless = false;
  MoeLayers moe_layers = MoeLayers::every;
  ExpertFfn expert_ffn = ExpertFfn::two_gemm;
  DType dtype = DType::bf16;
  std::int64_t shared_experts = 0;  ///< always-active experts of width expert_ffn_hidden
  /// The first layers keep a dense FFN whatever moe_layers says (DeepSeek-V3's
  /// first_k_dense_replace = 3).
  std::int64_t first_dense_layers = 0;
  /// Multi-token prediction depth D ("mtp_layers"; DeepSeek-V3, arXiv 2412.19437 section 2.2:
  /// D = 1; Megatron-Core's --mtp-num-layers). Each depth k is one module after the main model:
  /// RMSNorm of the previous depth's hidden state and of the embedding of the token k ahead,
  /// concatenated and projected 2M -> M, one transformer layer built like the model's last layer
  /// (Megatron-Core's get_gpt_mtp_block_spec takes the last decoder layer's spec: MoE for
  /// DeepSeek-V3), and the shared output head with its own loss. Layer indices layers ..
  /// layers + mtp_layers - 1 name these layers (is_mtp_layer); 0: no MTP.
  /// The MTP loss weight (DeepSeek-V3's lambda, 0.3 then 0.1; Megatron-Core's
  /// mtp_loss_scaling_factor / mtp_num_layers) has no task of its own: in Megatron-Core
  /// (megatron/core/transformer/multi_token_prediction.py, MTPLossAutoScaler) it multiplies the
  /// masked per-token loss, x values, and the backward hands the main path's gradient through
  /// unchanged plus ones_like(loss) x scale, x more values: elementwise work on x numbers beside
  /// the cross-entropy's x V/tp logits (V = 129,280 for DeepSeek-V3), far below one kernel's
  /// launch, so it is left out rather than charged a launch it does not have alone.
  std::int64_t mtp_layers = 0;
  /// Node-limited routing ("node_limit"): each token goes to experts on at most this many nodes
  /// (DeepSeek-V3: 4, its gate's topk_group of n_group 8, arXiv 2412.19437 section 2.1.2;
  /// deepseek-ai/DeepSeek-V3 config.json); 0: unlimited. The job's default for every strategy
  /// (TrainingJob::ep_comm), which a strategy's node_limit=M option overrides; what it changes
  /// is how many distinct tokens a node relay (a2a=deepep|hybrid-ep) sends to each node.
  std::int64_t node_limit = 0;
  /// Multi-head latent attention (DeepSeek-V2/V3): queries through a rank-q_lora_rank bottleneck
  /// (0: a full projection), keys and values through a shared rank-kv_lora_rank latent plus a
  /// decoupled RoPE key of qk_rope_head_dim; per head qk_nope + qk_rope query/key dims and
  /// v_head_dim value dims. kv_lora_rank = 0: standard (grouped-query) attention.
  struct Mla {
    std::int64_t q_lora_rank = 0;
    std::int64_t kv_lora_rank = 0;
    std::int64_t qk_nope_head_dim = 0;
    std::int64_t qk_rope_head_dim = 0;
    std::int64_t v_head_dim = 0;
  } mla;

  bool is_mla() const { return mla.kv_lora_rank > 0; }
  /// A multi-token prediction layer (index layers + depth).
  bool is_mtp_layer(std::int64_t layer) const { return layer >= layers; }
  /// The main layer whose structure `layer` has: itself, or the last layer for an MTP layer.
  std::int64_t structure_layer(std::int64_t layer) const {
    return layer >= layers ? layers - 1 : layer;
  }
  bool is_moe_layer(std::int64_t layer) const {
    const std::int64_t l = structure_layer(layer);
    return l >= first_dense_layers && (moe_layers == MoeLayers::every || l % 2 == 1);
  }
  /// MoE layers of the main model (MTP layers not counted: routing draws counts for these).
  std::int64_t moe_layer_count() const;
  /// Index of `layer`'s token plan among the MoE layers, -1 for a dense layer. An MTP layer has
  /// no routing counts of its own: it is charged the last MoE layer's counts, the nearest router
  /// in depth [R]. Why: the MTP layer has its own router in the real model, but the routing
  /// models draw and the traces record counts per main layer only, and no source gives the MTP
  /// router's loads; under uniform routing the expected loads are the same, under a skewed
  /// model (zipf, drift) the MTP layer is assumed as skewed as the last main layer.
  std::int64_t moe_index_of(std::int64_t layer) const;
  /// Main layers and MTP layers.
  std::int64_t total_layers() const { return layers + mtp_layers; }
  std::int64_t head_dim() const {
    return attention_head_dim > 0 ? attention_head_dim : hidden / heads;
  }
  /// Width of the queries (and of the attention output the out-projection reads).
  std::int64_t query_width() const { return heads * head_dim(); }
  bool is_sliding_layer(std::int64_t layer) const {
    const std::int64_t l = structure_layer(layer);
    return sliding_window > 0 && l >= 0 && (sliding_layers == SlidingLayers::all || l % 2 == 0);
  }
  /// Keys each query of `layer` is charged against: seq_len for full attention (the catalogue's
  /// convention, no causal halving); for a sliding window the band of whole kernel tiles it
  /// touches, ceil(window / tile) + 1 key tiles per query tile, at most seq_len. layer < 0: full.
  /// With attention_kernel set: dense_masked seq_len on every layer; flash_causal the mean,
  /// rounded up, of keys_per_query().
  std::int64_t attended_keys(std::int64_t layer) const;
  /// Mean keys per query the kernel computes (query-key pairs of one sequence / seq_len): the
  /// FLOP count of core attention is proportional to it, forward and backward alike
  /// (FlashAttention-2's backward walks the same tiles as its forward).
  double keys_per_query(std::int64_t layer) const;
  /// dtype of the linear layers' GEMMs (fp8 with fp8_linear, else dtype).
  DType linear_dtype() const { return fp8_linear ? DType::fp8 : dtype; }
  std::int64_t tokens_per_micro_batch() const { return micro_batch * seq_len; }
  /// GEMMs of one expert FFN (2 or 3).
  int expert_gemms() const { return expert_ffn == ExpertFfn::swiglu ? 3 : 2; }
  /// Parameters of one expert (all its matrices).
  std::int64_t expert_params() const { return expert_gemms() * hidden * expert_ffn_hidden; }
  /// Parameters of the embedding table and of the LM head (untied), each vocab x hidden.
  std::int64_t embedding_params() const { return vocab_size * hidden; }
  /// Parameters of attention (Q, K, V, O) and the dense FFN of one layer.
  std::int64_t attention_params() const;
  std::int64_t dense_ffn_params() const;
  /// Parameters of one MTP module besides its transformer layer: the 2M x M projection and the
  /// RMSNorms of the hidden state, of the embedding and of its output (the embedding and the
  /// output head are the model's, shared).
  std::int64_t mtp_projection_params() const { return 2 * hidden * hidden + 3 * hidden; }
  /// Useful training FLOPs per token (forward + backward = 3x forward; no padding, no
  /// duplicates, no recomputation): the numerator of MFU. MTP layers count (their projection,
  /// layer and LM head), as Megatron-Core's num_floating_point_operations counts them.
  double training_flops_per_token() const;

  /// Throws InputError("<origin>: /<field>: ...") on the first violated invariant.
  void validate(std::string_view origin) const;
};

/// Applies "key=value[,key=value...]" overrides (the CLI's --set). Keys are the JSON field names.
/// Throws InputError naming `flag` on an unknown key or a bad value; re-validates the result.
void apply_overrides(ModelSpec& spec, std::string_view overrides, std::string_view flag);

}  // namespace moesim
