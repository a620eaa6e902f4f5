#include "sim/strategies/token_plan.hpp"

#include <algorithm>

namespace moesim::strategies {

MoeLayerPlan make_token_plan(const TrainingJob& job, const TokenPlanOptions& options,
                             std::int64_t moe_index) {
  const ModelSpec& model = job.model;
  const ParallelLayout& layout = job.layout;
  const RankMapping& map = job.mapping;
  const RoutingCounts& routing = job.routing;
  const std::int64_t tokens = model.tokens_per_micro_batch();
  const std::int64_t world = layout.world();
  const std::int64_t experts = model.experts;
  const std::int64_t tp = layout.tp;

  MoeLayerPlan p;
  p.moe_index = moe_index;
  p.split_over_tp = options.split_tokens_over_tp && tp > 1;
  p.padded = options.pad_to_capacity;
  // Capacity per expert per replica: GShard ceil(k f T / E); dropless pads to the largest count.
  std::int64_t capacity = 0;
  const bool drops = !model.dropless && options.apply_capacity;
  if (drops) {
    capacity = expert_capacity(tokens, model.top_k, model.capacity_factor, experts);
  } else if (p.padded) {
    for (std::int64_t src = 0; src < layout.dp; ++src) {
      for (std::int64_t e = 0; e < experts; ++e) {
        capacity = std::max(capacity, routing.at(moe_index, src, e));
      }
    }
    capacity = std::max<std::int64_t>(capacity, 1);
  }
  for (std::int64_t src = 0; src < layout.dp; ++src) {
    for (std::int64_t e = 0; e < experts; ++e) {
      const std::int64_t c = routing.at(moe_index, src, e);
      p.routed += c;
      if (drops) p.dropped += std::max<std::int64_t>(0, c - capacity);
    }
  }
  p.capacity = p.split_over_tp ? (capacity + tp - 1) / tp : capacity;

  p.kept.assign(static_cast<std::size_t>(world),
                std::vector<std::int64_t>(static_cast<std::size_t>(experts), 0));
  for (std::int64_t r = 0; r < world; ++r) {
    const RankCoords& c = map.coords(RankId{static_cast<std::uint32_t>(r)});
    for (std::int64_t e = 0; e < experts; ++e) {
      std::int64_t n = routing.at(moe_index, c.dp, e);
      if (drops) n = std::min(n, capacity);
      if (p.split_over_tp) n = split_share(n, tp, c.tp);
      p.kept[static_cast<std::size_t>(r)][static_cast<std::size_t>(e)] = n;
    }
  }

  // Tokens each EP group delivers to each expert, then each rank's shards (ESP gather).
  const std::int64_t local = experts / layout.ep;
  const auto& ep_groups = map.groups(GroupKind::ep);
  std::vector<std::size_t> ep_group_of(static_cast<std::size_t>(world));
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) ep_group_of[r.index()] = g;
  }
  std::vector<std::vector<std::int64_t>> received(
      ep_groups.size(), std::vector<std::int64_t>(static_cast<std::size_t>(experts), 0));
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) {
      for (std::int64_t e = 0; e < experts; ++e) {
        received[g][static_cast<std::size_t>(e)] += p.kept[r.index()][static_cast<std::size_t>(e)];
      }
    }
  }
  p.expert_tokens.assign(static_cast<std::size_t>(world),
                         std::vector<std::int64_t>(static_cast<std::size_t>(local), 0));
  for (std::int64_t r = 0; r < world; ++r) {
    const RankId rank{static_cast<std::uint32_t>(r)};
    const std::int64_t first = map.coords(rank).ep * local;
    auto& out = p.expert_tokens[static_cast<std::size_t>(r)];
    for (RankId peer : map.group(GroupKind::esp, rank)) {
      for (std::int64_t e = 0; e < local; ++e) {
        out[static_cast<std::size_t>(e)] +=
            p.padded ? layout.ep * p.capacity
                     : received[ep_group_of[peer.index()]][static_cast<std::size_t>(first + e)];
      }
    }
  }

  if (!p.padded) {
    const std::int64_t token_bytes = model.hidden * dtype_bytes(model.dtype);
    for (const auto& g : ep_groups) {
      const std::size_t n = g.size();
      auto d = std::make_shared<ByteMatrix>(n);
      auto c = std::make_shared<ByteMatrix>(n);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          std::int64_t sum = 0;
          for (std::int64_t e = 0; e < local; ++e) {
            sum += p.kept[g[i].index()]
                         [static_cast<std::size_t>(static_cast<std::int64_t>(j) * local + e)];
          }
          d->set(i, j, sum * token_bytes);
          c->set(j, i, sum * token_bytes);
        }
      }
      p.dispatch.push_back(std::move(d));
      p.combine.push_back(std::move(c));
    }
  }
  return p;
}

}  // namespace moesim::strategies
