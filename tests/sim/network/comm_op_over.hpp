// A collective of `kind` over the listed ranks with `bytes` per rank, in the EP group: the plain
// operation the network tests ask the models about.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/workload/comm_op.hpp"

namespace moesim::network::test_support {

inline CommOp comm_op_over(CommKind kind, const std::vector<std::uint32_t>& ranks,
                           std::int64_t bytes) {
  CommOp o;
  o.kind = kind;
  o.group = CommGroup::ep;
  for (std::uint32_t r : ranks) o.ranks.push_back(RankId{r});
  o.bytes = Bytes{bytes};
  return o;
}

}  // namespace moesim::network::test_support
