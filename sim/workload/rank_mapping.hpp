// RankMapping: the coordinates of every rank in a resolved ParallelLayout and its communication
// groups.
//
// A rank's (tp, dp, pp) indices follow layout.order (innermost first). Inside a stage, the rank's
// position s = tp + layout.tp * dp is split into (esp, edp, ep) by layout.expert_order, esp
// innermost. Groups list global ranks in increasing coordinate order (the ring order used for
// collectives). Group kinds:
//   tp   same (dp, pp)           esp  same (edp, ep, pp)        ep   same (esp, edp, pp)
//   dp   same (tp, pp)           edp  same (esp, ep, pp)        pp   same (tp, dp)
// A rank's token source is its dp index: the tp ranks of a group hold the same tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/workload/parallel_layout.hpp"

namespace moesim {

enum class GroupKind : std::uint8_t { tp, dp, pp, esp, ep, edp };
constexpr std::size_t kGroupKinds = 6;

struct RankCoords {
  std::int32_t tp = 0, dp = 0, pp = 0;
  std::int32_t esp = 0, ep = 0, edp = 0;
};

class RankMapping {
 public:
  /// `layout` must be resolved.
  explicit RankMapping(const ParallelLayout& layout);

  const ParallelLayout& layout() const { return layout_; }
  std::uint32_t rank_count() const { return static_cast<std::uint32_t>(coords_.size()); }
  const RankCoords& coords(RankId r) const { return coords_[r.index()]; }
  /// Members of `r`'s group of `kind`, in ring order.
  const std::vector<RankId>& group(GroupKind kind, RankId r) const;
  /// Position of `r` inside its group of `kind`.
  std::int32_t index_in(GroupKind kind, RankId r) const;
  /// All groups of a kind (each exactly once), ordered by their first member.
  const std::vector<std::vector<RankId>>& groups(GroupKind kind) const {
    return groups_[static_cast<std::size_t>(kind)];
  }
  /// Ranks of pipeline stage `stage`, increasing.
  std::vector<RankId> stage_ranks(std::int64_t stage) const;
  /// The rank at the given (tp, dp, pp).
  RankId rank_at(std::int64_t tp, std::int64_t dp, std::int64_t pp) const;

 private:
  ParallelLayout layout_;
  std::vector<RankCoords> coords_;
  std::vector<std::vector<std::vector<RankId>>> groups_;   // [kind][group] -> members
  std::vector<std::vector<std::uint32_t>> group_of_;       // [kind][rank] -> group
  std::vector<std::vector<std::int32_t>> index_in_group_;  // [kind][rank] -> position
};

}  // namespace moesim
