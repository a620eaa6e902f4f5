// ComputeModel: how long a kernel takes on a rank's GPU.
//
// The executor asks once, when the kernel starts, passing how many communication operations the
// same GPU is running at that instant: communication kernels take SMs and HBM bandwidth, so a
// calibrated model slows the kernel down (Lee et al. 2025, arXiv 2507.03114).
#pragma once

#include <string_view>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/workload/task.hpp"

namespace moesim::compute {

struct ComputeContext {
  RankId rank;
  int concurrent_comm_ops = 0;  ///< communication operations running on this GPU at start
  /// Of those, the ones that hold a fixed number of SMs (DeepEP-style kernels), and the SMs they
  /// hold together: compute runs on the remaining SMs instead of paying the generic slowdown.
  int sm_holding_ops = 0;
  int held_sms = 0;
};

class ComputeModel {
 public:
  virtual ~ComputeModel() = default;
  virtual std::string_view name() const = 0;
  virtual SimTime duration(const ComputeTask& task, const ComputeContext& context) const = 0;
};

}  // namespace moesim::compute
