// The per-sequence form of an attention task: what one kernel launch over independent sequences
// computes, as a measured kernel row (traces/measured/README.md: m = n = sequence, batch = heads
// x sequences), the hardware lowering (kernels/runtime) and the rate lookup of
// RooflineComputeModel all read it.
//
// A task's shape is (m = queries of all its sequences, n = keys each query is charged against,
// k = head dim, batch = heads): layer_ops.cpp. Its n is the sequence for full attention, a
// sliding window's band of whole tiles, or, for a causal task, the mean keys the mask leaves. So
// the rows of one sequence are
//   causal: ComputeOp::sequence (the mask, a trait of the kernel, does the rest), or all of m when
//     the task does not say its sequence;
//   otherwise: n (the sequence, or a window's band run as blocks of that many tokens: the same
//     work, not the same mask).
#pragma once

#include <cstdint>

#include "sim/workload/task.hpp"

namespace moesim {

struct AttentionGeometry {
  std::int64_t sequence = 0;   ///< rows (and keys) of one sequence
  std::int64_t sequences = 0;  ///< independent sequences per head: max(1, m / sequence)
  std::int64_t heads = 0;      ///< shape.batch, at least 1
  /// As a kernel row: {sequence, sequence, head dim, heads x sequences}.
  KernelShape per_sequence_shape(std::int64_t head_dim) const {
    return KernelShape{sequence, sequence, head_dim, heads * sequences};
  }
};

/// The geometry of an attention task (kind attention); sequence 0 when the shape has no keys.
AttentionGeometry attention_geometry(const KernelShape& shape, const ComputeOp& op);

}  // namespace moesim
