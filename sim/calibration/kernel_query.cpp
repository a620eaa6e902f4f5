#include "sim/calibration/kernel_query.hpp"

#include "sim/workload/attention_geometry.hpp"

namespace moesim::calibration {

std::optional<KernelQuery> query_of(const ComputeTask& task) {
  const auto traits = traits_of(task);
  if (!traits) return std::nullopt;
  if (task.kind != KernelKind::attention)
    return KernelQuery{task.kind, task.dtype, task.shape, *traits};
  // Measured rows are one launch over independent sequences (m = n = sequence, batch = heads x
  // sequences); a task's m spans its sequences and a causal one's n is the mask's mean keys.
  return KernelQuery{task.kind, task.dtype,
                     attention_geometry(task.shape, task.op).per_sequence_shape(task.shape.k),
                     *traits};
}

std::size_t KernelQueryHash::operator()(const KernelQuery& q) const {
  // FNV-1a over the fields, one 64-bit word each.
  std::uint64_t h = 1469598103934665603ULL;
  const auto mix = [&h](std::uint64_t word) {
    h ^= word;
    h *= 1099511628211ULL;
  };
  mix(static_cast<std::uint64_t>(q.kind) | static_cast<std::uint64_t>(q.dtype) << 8 |
      static_cast<std::uint64_t>(q.traits.pass) << 16 |
      static_cast<std::uint64_t>(q.traits.causal) << 24 |
      static_cast<std::uint64_t>(q.traits.fused) << 25);
  mix(static_cast<std::uint64_t>(q.shape.m));
  mix(static_cast<std::uint64_t>(q.shape.n));
  mix(static_cast<std::uint64_t>(q.shape.k));
  mix(static_cast<std::uint64_t>(q.shape.batch));
  return static_cast<std::size_t>(h);
}

}  // namespace moesim::calibration
