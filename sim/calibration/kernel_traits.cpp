#include "sim/calibration/kernel_traits.hpp"

namespace moesim::calibration {

KernelTraits normalized(KernelKind kind, KernelTraits traits) {
  if (kind == KernelKind::gemm) return KernelTraits{OpDirection::none, false, true};
  if (kind != KernelKind::attention) return KernelTraits{traits.pass, false, true};
  return traits;
}

std::optional<KernelTraits> traits_of(const ComputeTask& task) {
  if (task.kind != KernelKind::gemm && task.op.direction == OpDirection::none) return std::nullopt;
  return normalized(task.kind, KernelTraits{task.op.direction, task.op.causal, task.op.fused});
}

std::string describe(KernelKind kind, const KernelTraits& traits) {
  const KernelTraits t = normalized(kind, traits);
  if (kind == KernelKind::gemm) return "";
  std::string text(to_string(t.pass));
  if (kind == KernelKind::attention) {
    text += t.causal ? " causal" : " non-causal";
    text += t.fused ? " fused" : " unfused";
  }
  return text;
}

}  // namespace moesim::calibration
