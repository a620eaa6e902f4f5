// LayerOps: the one catalogue of a transformer layer's work. For each block (attention, dense
// FFN, gate and permute, experts, shared experts, gradient sync, optimizer) and pass it lists, in
// issue order, the kernels (shape, FLOPs, HBM bytes, and the ComputeOp the hardware lowering
// reads: GEMM role, direction, activation, routing counts, parameters) and the collectives (kind,
// rank groups, bytes). Emission loops over these lists and every planner prices them
// (kernel_time, costs.hpp), so a planner's estimate is made of exactly the kernels the executor
// is given.
//
// Formulas (per rank, model dtype b bytes/element, x tokens of the micro-batch on the rank, M
// hidden, tp/esp from the layout):
//  attention  fwd: ln1 (2xMb bytes, 5xM flops), qkv GEMM (x, M/tp + 2kv, M), core attention
//             (4 x L M/tp flops), attn.proj (x, M, M/tp), TP all-reduce (xMb), ln2 (3xMb, 6xM);
//             bwd: ln2.bwd, proj dX/dW, attention.bwd (8 x L M/tp), qkv dX/dW, TP all-reduce,
//             ln1.bwd (4xMb each). kv = max(head_dim, head_dim kv_heads / tp); the query width
//             is heads x head_dim (= M unless the model gives a head_dim) and L is the keys a
//             query of the layer attends (seq_len, or a sliding window's band of whole tiles:
//             ModelSpec::attended_keys).
//             MLA (ModelSpec::Mla, DeepSeek-V3): q_a (x, q_lora, M), q_a.norm, q_b (x, h qk,
//             q_lora), kv_a (x, kv_lora + rope, M), kv_a.norm, kv_b (x, h (nope + v), kv_lora),
//             core attention 2 x L h (qk + v) flops, attn.proj (x, M, h v); h = heads/tp, qk = nope
//             + rope; backward mirrors them, every GEMM as dX then dW.
//  FFN (dense f = F/tp; expert h = H/esp; shared f = S H/tp): GEMM1 (x, up, M) with up = 2f for
//             SwiGLU, activation (x up + x f) b bytes and 4 x f flops, GEMM2 (x, M, f); backward
//             GEMM2 dX/dW, activation backward (2 x up + x f) b bytes and 8 x f flops, GEMM1
//             dX/dW. Dense and shared FFNs end with a TP all-reduce (xMb); experts do not.
//  gate/permute fwd: gate GEMM (x, E, M), softmax+top-k (4xE + 8xk bytes, 5xE flops), permute
//             (x k tokens, (x + slots) M b bytes); unpermute ((x + slots) M b, 2 x k M flops);
//             backward: unpermute.bwd, permute.bwd, top-k backward (8xE bytes), gate dX/dW.
//  recompute  (Megatron --recompute-modules) layernorm: ln1 and ln2 forward again in the
//             backward (norm_recompute); moe_act: the experts' activation forward again
//             (megatron_builder.hpp).
//  optimizer  Adam, mixed precision: 28 bytes (bf16 grad read, fp32 master/m/v read+write, bf16
//             weight write) and ~10 flops per parameter [R].
//  gradient sync per layer: dense gradients all-reduced over dp, local expert gradients over edp.
//  embedding (models with a vocab V; first stage): lookup (2xMb) + TP all-reduce (xMb);
//             backward scatter-add (3xMb). output head (last stage): final norm, LM head GEMM
//             (x, V/tp, M) in the model dtype, cross-entropy (x V/tp (2b + 4) bytes) with three
//             TP all-reduces of x fp32; backward cross-entropy (x V/tp (4 + b)), LM head dX/dW,
//             TP all-reduce, final norm backward. Their gradients (V/tp x M each, untied) are
//             all-reduced over dp.
//  MTP projection (ModelSpec::mtp_layers, per depth, last stage; Megatron-Core
//             multi_token_prediction.py MultiTokenPredictionLayer): the embedding lookup of the
//             tokens one ahead (2xMb) + TP all-reduce (xMb), enorm and hnorm (RMSNorm, 2xMb bytes,
//             5xM flops each), concat (4xMb bytes), eh_proj GEMM (x, M/tp, 2M), TP all-gather of
//             its output (xMb); backward: concat and norm backward (4xMb each), eh_proj dX/dW, TP
//             all-reduce of the 2M-wide input gradient (2xMb), embedding scatter-add (3xMb). The
//             MTP layer's final norm, LM head and loss are output_head() once more.
//  FP8 (ModelSpec::fp8_linear; Transformer Engine's recipe in Megatron-Core): the linear
//             layers' GEMMs (qkv, attn.proj, MLA projections, dense / expert / shared FFN GEMMs,
//             fprop, dgrad and wgrad) in FP8; the router GEMM, core attention, LM head and
//             every memory kernel and collective stay in the model dtype. Each such block adds
//             one fp8.cast kernel (current scaling: amax + cast with transpose, 6 bytes per
//             element) over the inputs of its GEMMs (forward) or the gradients entering them.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/workload/comm_op.hpp"
#include "sim/workload/model_spec.hpp"
#include "sim/workload/parallel_layout.hpp"
#include "sim/workload/rank_mapping.hpp"
#include "sim/workload/task.hpp"

namespace moesim::strategies {

enum class Block : std::uint8_t {
  attention,
  dense_ffn,
  gate_permute,
  experts,
  shared_experts,
  gradient_sync,
  optimizer,
  embedding,    ///< first pipeline stage, models with a vocab_size
  output_head,  ///< final norm, LM head and loss: last pipeline stage
  /// A multi-token prediction module's input: embedding of the shifted tokens, norms, 2M -> M
  /// projection (ModelSpec::mtp_layers; its layer is an ordinary layer, its head output_head).
  mtp_projection,
};
std::string_view to_string(Block block);

/// Which product of the layer an op computes: the forward, the input gradient (the dX chain,
/// activation and norm backward included) or the weight gradient (dW, off the chain).
enum class Direction : std::uint8_t { forward, input_gradient, weight_gradient };

/// Forward pass or backward pass of a block (the backward holds dX and dW ops).
enum class Pass : std::uint8_t { forward, backward };

struct KernelOp {
  std::string_view name;
  ComputeTask task;
  Direction direction = Direction::forward;
};

/// A collective every group of `groups` in the stage runs (groups of one rank skipped).
struct CollectiveOp {
  std::string_view name;
  CommKind kind = CommKind::all_reduce;
  GroupKind groups = GroupKind::tp;
  CommGroup label = CommGroup::tp;
  Bytes bytes;
  Direction direction = Direction::forward;
};

using LayerOp = std::variant<KernelOp, CollectiveOp>;

/// One block's work in issue order.
struct BlockWork {
  Block block = Block::attention;
  std::vector<LayerOp> ops;

  std::vector<const KernelOp*> kernels() const;
  std::vector<const CollectiveOp*> collectives() const;
};

class LayerOps {
 public:
  LayerOps(const ModelSpec& model, const ParallelLayout& layout);

  /// Attention of `layer` (its keys: ModelSpec::attended_keys; layer < 0: full attention).
  BlockWork attention(Pass pass, std::int64_t tokens, std::int64_t layer = -1) const;
  BlockWork dense_ffn(Pass pass, std::int64_t tokens) const;
  /// Forward: gate GEMM, top-k, permute into `slots` slots; backward: permute.bwd, top-k
  /// backward, gate dX/dW. `tokens_per_expert` (size E): what this rank's permute moves.
  BlockWork gate_permute(Pass pass, std::int64_t tokens, std::int64_t slots,
                         const std::vector<std::int64_t>& tokens_per_expert) const;
  /// The un-permute (weighted combine) of `slots` slots back into `tokens` tokens, or its
  /// backward. Part of Block::gate_permute.
  BlockWork unpermute(Pass pass, std::int64_t tokens, std::int64_t slots,
                      const std::vector<std::int64_t>& tokens_per_expert) const;
  /// The two norms of a layer (input norm, pre-MLP norm) run again in its backward: Megatron-
  /// Core's --recompute-modules layernorm keeps neither output and re-runs each where its
  /// backward needs it. Direction input_gradient (on the dX chain).
  BlockWork norm_recompute(std::int64_t tokens) const;
  /// One expert shard's FFN on `tokens` tokens (nothing for 0 tokens).
  BlockWork expert(Pass pass, std::int64_t tokens) const;
  /// Every local expert shard, tokens_per_expert[e] tokens each, in expert order.
  BlockWork experts(Pass pass, const std::vector<std::int64_t>& tokens_per_expert) const;
  BlockWork shared_experts(Pass pass, std::int64_t tokens) const;
  /// Gradient all-reduces of one layer: its non-expert gradients over dp, its local experts'
  /// over edp.
  BlockWork gradient_sync(std::int64_t layer) const;
  BlockWork optimizer(std::int64_t parameters) const;
  /// Embedding lookup (forward) or its gradient scatter-add (backward); empty without a vocab.
  BlockWork embedding(Pass pass, std::int64_t tokens) const;
  /// Final norm, LM head GEMM (tokens x vocab/tp x hidden) and vocab-parallel cross-entropy, or
  /// their backward; empty without a vocab.
  BlockWork output_head(Pass pass, std::int64_t tokens) const;
  /// The dp all-reduce of the embedding's (block = embedding) or the output head's gradients.
  BlockWork end_gradient_sync(Block block) const;
  /// One multi-token prediction module's input block (empty for a model without mtp_layers).
  BlockWork mtp_projection(Pass pass, std::int64_t tokens) const;
  /// Parameters per rank of one MTP module besides its layer: eh_proj shard and three norms.
  std::int64_t mtp_projection_params() const;
  /// Its dp all-reduce.
  BlockWork mtp_projection_gradient_sync() const;
  /// Parameters per rank of the embedding table shard, and of the LM head shard + final norm.
  std::int64_t embedding_params() const;
  std::int64_t output_head_params() const;

  /// A device-local copy of `rows` rows of the hidden size (DeepSpeed's drop_tokens slice).
  KernelOp token_slice(std::string_view name, std::int64_t rows) const;

  /// Parameters per rank the gradient sync and the optimizer count.
  std::int64_t dense_params(std::int64_t layer) const;
  std::int64_t local_expert_params(std::int64_t layer) const;

  // Kernels in the model dtype.
  ComputeTask gemm(std::int64_t m, std::int64_t n, std::int64_t k, GemmRole role) const;
  /// A linear layer's GEMM: in FP8 (operands 1 byte, product in the model dtype) when the model
  /// has fp8_linear, else gemm().
  ComputeTask linear(std::int64_t m, std::int64_t n, std::int64_t k, GemmRole role) const;
  /// The FP8 quantisation of `elements` activation or gradient values (current scaling).
  KernelOp fp8_casts(std::int64_t elements, Direction direction) const;
  ComputeTask memory_kernel(KernelKind kind, std::int64_t m, std::int64_t n, std::int64_t bytes,
                            double flops = 0.0) const;

 private:
  struct FfnNames;
  /// Multi-head latent attention (ModelSpec::Mla): the projections through the q and kv latents.
  BlockWork mla_attention(Pass pass, std::int64_t tokens, std::int64_t layer) const;
  /// The core-attention kernel's sequence length and mask (what its measured rate depends on).
  ComputeOp attention_op() const;
  BlockWork ffn(Block block, Pass pass, std::int64_t tokens, std::int64_t width, bool tp_reduce,
                const FfnNames& names) const;

  const ModelSpec& model_;
  ParallelLayout layout_;
  std::int64_t b_;
};

struct CostModels;
/// One block's kernels on `rank` as the compute model charges them alone (no concurrent
/// communication): the sum of their durations.
SimTime kernel_time(const BlockWork& work, const CostModels& costs, RankId rank = {},
                    bool beside_comm = false);

}  // namespace moesim::strategies
