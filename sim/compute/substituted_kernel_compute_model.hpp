// SubstitutedKernelComputeModel: prices each task as the kernel another executor runs in its
// place. The hardware executor runs attention as unfused cuBLAS kernels whatever the graph says
// (runtime::device_kernel_work); `moesim validate` wraps its prediction model in this so the
// predicted times are of the kernels that are measured, not of the graph's fused ones.
// The wrapped model must outlive this one.
#pragma once

#include <functional>

#include "sim/compute/compute_model.hpp"

namespace moesim::compute {

class SubstitutedKernelComputeModel final : public ComputeModel {
 public:
  using Substitute = std::function<ComputeTask(const ComputeTask&)>;
  SubstitutedKernelComputeModel(const ComputeModel& inner, Substitute substitute)
      : inner_(&inner), substitute_(std::move(substitute)) {}

  std::string_view name() const override { return inner_->name(); }
  SimTime duration(const ComputeTask& task, const ComputeContext& context) const override {
    return inner_->duration(substitute_(task), context);
  }
  bool reads_rank() const override { return inner_->reads_rank(); }

 private:
  const ComputeModel* inner_;
  Substitute substitute_;
};

}  // namespace moesim::compute
