// ComputeModel: how long a kernel takes on a rank's GPU.
//
// The answer is the whole kernel's duration in one context: how many communication operations the
// same GPU runs beside it (communication kernels take SMs and HBM bandwidth, so a model slows the
// kernel down; Lee et al. 2025, arXiv 2507.03114). The executor asks when the kernel starts and
// again whenever that context changes on the GPU; the kernel then runs the rest of its work at
// the new rate (overlap_contention.hpp), so contention is charged over the time it overlaps.
// Compute-bound kinds (GEMM, attention) lose SMs and pay the measured GEMM slowdown; the
// memory-bound rest shares HBM with the collective and pays its own factor (compute_bound()).
#pragma once

#include <string_view>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/workload/task.hpp"

namespace moesim::compute {

struct ComputeContext {
  RankId rank;
  int concurrent_comm_ops = 0;  ///< communication operations running on this GPU
  /// Of those, the ones that hold a fixed number of SMs (DeepEP-style kernels), and the SMs they
  /// hold together: compute runs on the remaining SMs instead of paying the generic slowdown.
  int sm_holding_ops = 0;
  int held_sms = 0;
};

/// GEMMs and attention: tensor-core bound, slowed by the SMs communication takes. Every other
/// kind is HBM-bound, slowed by the HBM bandwidth the collective moves.
constexpr bool compute_bound(KernelKind kind) {
  return kind == KernelKind::gemm || kind == KernelKind::attention;
}

class ComputeModel {
 public:
  virtual ~ComputeModel() = default;
  virtual std::string_view name() const = 0;
  virtual SimTime duration(const ComputeTask& task, const ComputeContext& context) const = 0;
  /// Whether duration() reads ComputeContext::rank (a per-GPU speed, say). When it does not, the
  /// executor asks once per distinct kernel for its time alone (nothing communicating beside
  /// it) and remembers the answer; a model that may read the rank keeps the default.
  virtual bool reads_rank() const { return true; }
};

}  // namespace moesim::compute
