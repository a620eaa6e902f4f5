#include "sim/workload/rank_mapping.hpp"

#include <array>
#include <map>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim {
namespace {

// Splits `index` into digits of the given radices, innermost (first) fastest.
template <std::size_t N>
std::array<std::int64_t, N> digits(std::int64_t index, const std::array<std::int64_t, N>& radix) {
  std::array<std::int64_t, N> d{};
  for (std::size_t i = 0; i < N; ++i) {
    d[i] = index % radix[i];
    index /= radix[i];
  }
  return d;
}

std::array<std::string, 3> tokens_of(const std::string& order) {
  std::array<std::string, 3> t;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t comma = order.find(',', pos);
    t[i] = order.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma + 1;
  }
  return t;
}

}  // namespace

RankMapping::RankMapping(const ParallelLayout& layout) : layout_(layout) {
  MOESIM_CHECK(layout.dp > 0 && layout.edp > 0, "layout not resolved");
  const std::int64_t world = layout.world();
  coords_.resize(static_cast<std::size_t>(world));
  const auto world_tokens = tokens_of(layout.order);
  const auto expert_tokens = tokens_of(layout.expert_order);
  const std::map<std::string, std::int64_t> size{{"tp", layout.tp}, {"dp", layout.dp},
                                                 {"pp", layout.pp}, {"esp", layout.esp},
                                                 {"ep", layout.ep}, {"edp", layout.edp}};
  const std::array<std::int64_t, 3> world_radix{size.at(world_tokens[0]), size.at(world_tokens[1]),
                                                size.at(world_tokens[2])};
  const std::array<std::int64_t, 3> expert_radix{
      size.at(expert_tokens[0]), size.at(expert_tokens[1]), size.at(expert_tokens[2])};
  for (std::int64_t r = 0; r < world; ++r) {
    std::map<std::string, std::int64_t> c;
    const auto w = digits(r, world_radix);
    for (std::size_t i = 0; i < 3; ++i) c[world_tokens[i]] = w[i];
    const std::int64_t s = c["tp"] + layout.tp * c["dp"];
    const auto e = digits(s, expert_radix);
    for (std::size_t i = 0; i < 3; ++i) c[expert_tokens[i]] = e[i];
    RankCoords& rc = coords_[static_cast<std::size_t>(r)];
    rc.tp = static_cast<std::int32_t>(c["tp"]);
    rc.dp = static_cast<std::int32_t>(c["dp"]);
    rc.pp = static_cast<std::int32_t>(c["pp"]);
    rc.esp = static_cast<std::int32_t>(c["esp"]);
    rc.ep = static_cast<std::int32_t>(c["ep"]);
    rc.edp = static_cast<std::int32_t>(c["edp"]);
  }
  // Group key: the coordinates that stay fixed; position: the one that varies.
  groups_.resize(kGroupKinds);
  group_of_.assign(kGroupKinds, std::vector<std::uint32_t>(coords_.size()));
  index_in_group_.assign(kGroupKinds, std::vector<std::int32_t>(coords_.size()));
  for (std::size_t kind = 0; kind < kGroupKinds; ++kind) {
    std::map<std::array<std::int32_t, 5>, std::uint32_t> index;
    for (std::size_t r = 0; r < coords_.size(); ++r) {
      const RankCoords& c = coords_[r];
      std::array<std::int32_t, 5> key{};
      std::int32_t pos = 0;
      switch (static_cast<GroupKind>(kind)) {
        case GroupKind::tp:
          key = {c.dp, c.pp, 0, 0, 0};
          pos = c.tp;
          break;
        case GroupKind::dp:
          key = {c.tp, c.pp, 0, 0, 0};
          pos = c.dp;
          break;
        case GroupKind::pp:
          key = {c.tp, c.dp, 0, 0, 0};
          pos = c.pp;
          break;
        case GroupKind::esp:
          key = {c.edp, c.ep, c.pp, 0, 0};
          pos = c.esp;
          break;
        case GroupKind::ep:
          key = {c.esp, c.edp, c.pp, 0, 0};
          pos = c.ep;
          break;
        case GroupKind::edp:
          key = {c.esp, c.ep, c.pp, 0, 0};
          pos = c.edp;
          break;
      }
      auto [it, fresh] = index.try_emplace(key, static_cast<std::uint32_t>(groups_[kind].size()));
      if (fresh) groups_[kind].emplace_back();
      group_of_[kind][r] = it->second;
      index_in_group_[kind][r] = pos;
    }
    for (auto& g : groups_[kind]) g.clear();
    for (std::size_t r = 0; r < coords_.size(); ++r) {
      auto& g = groups_[kind][group_of_[kind][r]];
      const auto pos = static_cast<std::size_t>(index_in_group_[kind][r]);
      if (g.size() <= pos) g.resize(pos + 1);
      g[pos] = RankId{static_cast<std::uint32_t>(r)};
    }
  }
}

const std::vector<RankId>& RankMapping::group(GroupKind kind, RankId r) const {
  const auto k = static_cast<std::size_t>(kind);
  return groups_[k][group_of_[k][r.index()]];
}

std::int32_t RankMapping::index_in(GroupKind kind, RankId r) const {
  return index_in_group_[static_cast<std::size_t>(kind)][r.index()];
}

std::vector<RankId> RankMapping::stage_ranks(std::int64_t stage) const {
  std::vector<RankId> out;
  for (std::size_t r = 0; r < coords_.size(); ++r) {
    if (coords_[r].pp == stage) out.push_back(RankId{static_cast<std::uint32_t>(r)});
  }
  return out;
}

RankId RankMapping::rank_at(std::int64_t tp, std::int64_t dp, std::int64_t pp) const {
  return group(
      GroupKind::tp,
      group(GroupKind::dp, group(GroupKind::pp, RankId{0})[static_cast<std::size_t>(
                               pp)])[static_cast<std::size_t>(dp)])[static_cast<std::size_t>(tp)];
}

}  // namespace moesim
