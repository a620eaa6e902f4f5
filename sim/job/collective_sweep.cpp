#include "sim/job/collective_sweep.hpp"

#include <fmt/format.h>

#include "sim/core/errors.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::job {

std::optional<GroupKind> parse_group_kind(std::string_view name) {
  if (name == "tp") return GroupKind::tp;
  if (name == "dp") return GroupKind::dp;
  if (name == "ep") return GroupKind::ep;
  if (name == "esp") return GroupKind::esp;
  if (name == "edp") return GroupKind::edp;
  return std::nullopt;
}

std::vector<std::pair<double, double>> sweep_collective(const PreparedJob& job, CommKind kind,
                                                        GroupKind group,
                                                        const std::vector<double>& bytes) {
  const RankMapping& mapping = job.first->mapping;
  const std::vector<RankId> stage0 = mapping.stage_ranks(0);
  std::vector<std::vector<RankId>> groups;
  for (const std::vector<RankId>& g : mapping.groups(group)) {
    if (std::find(stage0.begin(), stage0.end(), g.front()) != stage0.end()) groups.push_back(g);
  }
  if (groups.empty() || groups.front().size() < 2) {
    throw InputError(fmt::format("a {} sweep needs groups of two or more ranks (got {})",
                                 to_string(kind), groups.empty() ? 0 : groups.front().size()));
  }
  const auto network =
      network::make_communication_model(*job.topology, job.network_kind, job.analytical);
  const CollectiveTraits& traits = traits_of(kind);
  std::vector<std::pair<double, double>> out;
  for (double b : bytes) {
    std::vector<CommOp> ops;
    for (const std::vector<RankId>& g : groups) {
      CommOp op;
      op.kind = kind;
      op.dtype = DType::fp32;
      // Whole elements per rank where the collective splits the buffer over the ranks.
      const auto align = static_cast<std::int64_t>(traits.per_rank_chunks() ? 4 * g.size() : 4);
      op.bytes = Bytes{static_cast<std::int64_t>(b) / align * align};
      op.ranks = g;
      op.root = g.front();
      ops.push_back(std::move(op));
    }
    out.emplace_back(ops.front().bytes.as_double(), network->estimate_concurrent(ops).us());
  }
  return out;
}

}  // namespace moesim::job
