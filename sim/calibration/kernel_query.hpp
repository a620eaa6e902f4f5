// KernelQuery: what a calibration profile is asked when it prices a simulated kernel — the
// kind, dtype, shape and traits of the rows that may price it. An attention task asks in its
// per-sequence form (sim/workload/attention_geometry.hpp), the shape measured rows have; every
// other task asks with its own shape.
//
// The profile's answer is a function of the query alone, which is what lets the simulator ask
// once per distinct query (ProfileEstimateMemo): many tasks (the token counts of a permute, the
// layer a GEMM belongs to, the rank that runs it) differ in nothing a table reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "sim/calibration/kernel_traits.hpp"
#include "sim/workload/task.hpp"

namespace moesim::calibration {

struct KernelQuery {
  KernelKind kind = KernelKind::other;
  DType dtype = DType::bf16;
  KernelShape shape;
  KernelTraits traits;

  auto operator<=>(const KernelQuery&) const = default;
};

/// The query that prices `task`; nothing for a task no table may price (a non-GEMM task that
/// does not say its pass: traits_of).
std::optional<KernelQuery> query_of(const ComputeTask& task);

struct KernelQueryHash {
  std::size_t operator()(const KernelQuery& q) const;
};

}  // namespace moesim::calibration
