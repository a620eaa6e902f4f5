#include "sim/calibration/kernel_traits.hpp"

namespace moesim::calibration {

bool has_pass(KernelKind kind) {
  switch (kind) {
    case KernelKind::attention:
    case KernelKind::softmax:
    case KernelKind::layernorm:
    case KernelKind::elementwise:
    case KernelKind::gate:
    case KernelKind::permute:
    case KernelKind::unpermute:
      return true;
    case KernelKind::gemm:
    case KernelKind::optimizer:
    case KernelKind::memcpy:
    case KernelKind::other:
      return false;
  }
  return false;
}

KernelTraits normalized(KernelKind kind, KernelTraits traits) {
  if (!has_pass(kind)) return KernelTraits{OpDirection::none, false, true};
  if (kind != KernelKind::attention) return KernelTraits{traits.pass, false, true};
  return traits;
}

std::optional<KernelTraits> traits_of(const ComputeTask& task) {
  if (has_pass(task.kind) && task.op.direction == OpDirection::none) return std::nullopt;
  return normalized(task.kind, KernelTraits{task.op.direction, task.op.causal, task.op.fused});
}

std::string describe(KernelKind kind, const KernelTraits& traits) {
  const KernelTraits t = normalized(kind, traits);
  if (!has_pass(kind)) return "";
  std::string text(to_string(t.pass));
  if (kind == KernelKind::attention) {
    text += t.causal ? " causal" : " non-causal";
    text += t.fused ? " fused" : " unfused";
  }
  return text;
}

}  // namespace moesim::calibration
