// The tasks of a TaskGraph: a compute kernel, a rank's part in a communication operation, or a
// fixed delay. Every task sits on a named stream of one rank; see task_graph.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/core/units.hpp"
#include "sim/workload/compute_op.hpp"
#include "sim/workload/dtype.hpp"

namespace moesim {

/// What a compute kernel does; the compute model and the hardware executor pick their cost
/// table or real kernel by it.
enum class KernelKind : std::uint8_t {
  gemm,         ///< dense GEMM, shape = (m, n, k), batch = 1
  attention,    ///< core attention (QK^T, softmax, AV): m = tokens, n = seq len, k = head dim
  softmax,      ///< row softmax over m rows of n
  layernorm,    ///< m rows of n
  elementwise,  ///< activation, residual add, dropout: m x n elements
  gate,         ///< router softmax + top-k: m tokens, n experts, k = top-k
  permute,      ///< token scatter into expert order: m tokens (x top-k), n = hidden
  unpermute,    ///< gather back + combine weighted by gate probabilities
  optimizer,    ///< optimizer step over m parameters (n = 1)
  memcpy,       ///< device-local copy of `bytes`
  other,
};

std::string_view to_string(KernelKind kind);
std::optional<KernelKind> parse_kernel_kind(std::string_view name);

/// Kernel shape. For GEMMs C[m x n] = A[m x k] * B[k x n], `batch` independent products.
/// Other kernels document their use of m, n, k above.
struct KernelShape {
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t batch = 1;
  auto operator<=>(const KernelShape&) const = default;
};

struct ComputeTask {
  KernelKind kind = KernelKind::other;
  KernelShape shape;
  DType dtype = DType::bf16;
  Flops flops;  ///< arithmetic work, 2*m*n*k*batch for a GEMM
  Bytes bytes;  ///< HBM traffic, inputs + outputs
  /// What the kernel computes (GEMM role, direction, activation, routing counts...): set by
  /// the strategy layer for the hardware lowering. The simulated cost ignores it but for
  /// attention, whose measured rate depends on the pass, the sequence and the causal mask
  /// (RooflineComputeModel with an AttentionRateTable).
  ComputeOp op;

  bool operator==(const ComputeTask&) const = default;
};

/// This rank's participation in communication operation `comm` (see comm_op.hpp). All member
/// tasks of one operation start together once every member is ready, like an NCCL kernel that
/// progresses only when all peers have launched it, and they end together.
struct CommTask {
  CommId comm;
};

/// A fixed span of time on a stream (host-side work, a launch gap, a barrier timeout).
struct DelayTask {
  SimTime duration;
};

/// Which of the three a task is; TaskGraph resolves its body (compute_of, comm_of, delay_of).
enum class TaskKind : std::uint8_t { compute, comm, delay };

/// Coarse phase of an iteration, for breakdowns.
enum class Phase : std::uint8_t { forward, backward, optimizer, other };
std::string_view to_string(Phase phase);
std::optional<Phase> parse_phase(std::string_view name);

}  // namespace moesim
