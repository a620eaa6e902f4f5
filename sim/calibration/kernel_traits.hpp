// KernelTraits: what, besides its kind, dtype and shape, decides how long a kernel takes, so a
// calibration table keeps rows that differ in it apart and a task is priced only from rows of
// its own traits.
//
//   pass    forward or backward, for the kinds that have both (attention, softmax, layernorm,
//           elementwise, gate, permute, unpermute). At one shape a backward layernorm moves
//           twice a forward one's bytes, a backward attention does 2.5x its forward's work. A
//           GEMM has none: a gradient GEMM is a GEMM of its own shape (GemmRole is a layout);
//           nor do the optimizer step, copies and other kernels.
//   causal  attention only: whether the causal mask applies.
//   fused   attention only: flash-style (one kernel; a causal one skips the masked tiles) or
//           unfused (QK^T GEMM, softmax, PV GEMM: every tile computed, then masked), the kind
//           bench/kernels' cuBLAS attention is.
//
// Before, tables were keyed by (kind, dtype, batch) alone: a backward or causal attention task
// was priced from the forward rows of its shape, and causal and non-causal rows of one shape
// were merged into one median.
#pragma once

#include <optional>
#include <string>

#include "sim/workload/compute_op.hpp"
#include "sim/workload/task.hpp"

namespace moesim::calibration {

struct KernelTraits {
  OpDirection pass = OpDirection::forward;
  bool causal = false;
  bool fused = true;

  auto operator<=>(const KernelTraits&) const = default;
};

/// Whether kernels of `kind` come in a forward and a backward pass (see above).
bool has_pass(KernelKind kind);

/// The traits a table of `kind` keys by: a kind without a pass keeps none (pass none), a kind
/// other than attention keeps only its pass (causal false, fused true).
KernelTraits normalized(KernelKind kind, KernelTraits traits);

/// The traits of a simulated task, normalized; nothing when the task does not say its pass (a
/// kernel of a kind with a pass whose ComputeOp::direction is unset): no table may price it.
std::optional<KernelTraits> traits_of(const ComputeTask& task);

/// "forward", "backward causal unfused", ...: what a table line or an error message shows;
/// empty for a kind without a pass.
std::string describe(KernelKind kind, const KernelTraits& traits);

}  // namespace moesim::calibration
