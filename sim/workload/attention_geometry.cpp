#include "sim/workload/attention_geometry.hpp"

#include <algorithm>

namespace moesim {

AttentionGeometry attention_geometry(const KernelShape& shape, const ComputeOp& op) {
  AttentionGeometry g;
  // Causal: the sequence the mask runs over (all the queries when the task does not say it).
  g.sequence = op.causal ? (op.sequence > 0 ? op.sequence : shape.m) : shape.n;
  g.heads = std::max<std::int64_t>(shape.batch, 1);
  g.sequences = g.sequence > 0 ? std::max<std::int64_t>(1, shape.m / g.sequence) : 1;
  return g;
}

}  // namespace moesim
