// What a compute kernel computes, beyond the cost shape in ComputeTask: the operation's role and
// the parameters a real kernel needs. The strategy layer, which knows them, sets this; the
// hardware lowering (kernels/runtime) switches on it and never guesses from byte counts. The
// simulated executor charges by KernelKind/shape/FLOPs/bytes and ignores it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sim/workload/token_counts.hpp"

namespace moesim {

/// Which product of a linear layer a GEMM is (Y = X W: forward Y, input-gradient dX = dY W^T,
/// weight-gradient dW = X^T dY).
enum class GemmRole : std::uint8_t { none, forward, input_gradient, weight_gradient };

/// Forward or backward pass of a non-GEMM kernel (attention, activation, layernorm, gate,
/// permute/unpermute); none until the strategy layer says which, so a task nobody described is
/// never mistaken for a forward one.
enum class OpDirection : std::uint8_t { none, forward, backward };

/// The element-wise nonlinearity of an FFN (GELU for GPT-style models, SwiGLU for Mixtral-style
/// gated FFNs), or none for residual adds and other element-wise kernels.
enum class ActivationKind : std::uint8_t { none, gelu, relu, swiglu };

struct ComputeOp {
  GemmRole gemm_role = GemmRole::none;
  OpDirection direction = OpDirection::none;
  ActivationKind activation = ActivationKind::none;
  /// gate, permute, unpermute: experts chosen per token and the number of experts routed over.
  std::int32_t top_k = 0;
  std::int32_t experts = 0;
  /// permute, unpermute: tokens this rank's kernel moves for each expert (size = experts), as the
  /// graph's routing decided them. Shared and immutable: TaskGraph interns equal counts.
  TokenCounts tokens_per_expert = {};
  /// permute, unpermute: slots per expert of a capacity-padded (experts, capacity, hidden)
  /// buffer; 0 for a dropless buffer of exactly the routed rows.
  std::int64_t capacity = 0;
  /// optimizer: number of parameters updated by the step.
  std::int64_t parameters = 0;
  /// attention: tokens per sequence (the kernel's rate depends on it, not on queries x
  /// sequences); whether the causal mask applies; whether the kernel is fused (flash-style: a
  /// causal one skips the tiles the mask, or a window, empties) or unfused (every tile computed,
  /// then masked).
  std::int64_t sequence = 0;
  bool causal = false;
  bool fused = true;

  bool operator==(const ComputeOp&) const = default;
};

std::string_view to_string(GemmRole role);
std::optional<GemmRole> parse_gemm_role(std::string_view name);
std::string_view to_string(OpDirection direction);
std::optional<OpDirection> parse_op_direction(std::string_view name);
std::string_view to_string(ActivationKind kind);
std::optional<ActivationKind> parse_activation_kind(std::string_view name);

}  // namespace moesim
