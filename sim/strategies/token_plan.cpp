#include "sim/strategies/token_plan.hpp"

#include <algorithm>

#include "sim/workload/expert_placement.hpp"
#include "sim/workload/node_relay_plan.hpp"

namespace moesim::strategies {

std::int64_t slots_per_rank(const TrainingJob& job) {
  return job.placement ? job.placement->slots_per_rank : job.model.experts / job.layout.ep;
}

std::int64_t slot_tokens(const TrainingJob& job, std::int64_t moe_index,
                         const std::vector<std::int64_t>& row, std::int64_t member,
                         std::int64_t slot) {
  const std::int64_t slots = slots_per_rank(job);
  if (!job.placement) return row[static_cast<std::size_t>(member * slots + slot)];
  const LayerPlacement& lp = job.placement->layers[static_cast<std::size_t>(moe_index)];
  const auto phys = static_cast<std::size_t>(member * slots + slot);
  const auto e = static_cast<std::size_t>(lp.slot_expert[phys]);
  return split_share(row[e], lp.replicas[e], lp.slot_replica[phys]);
}

std::int64_t member_tokens(const TrainingJob& job, std::int64_t moe_index,
                           const std::vector<std::int64_t>& row, std::int64_t member) {
  std::int64_t sum = 0;
  for (std::int64_t sl = 0; sl < slots_per_rank(job); ++sl)
    sum += slot_tokens(job, moe_index, row, member, sl);
  return sum;
}

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

  // Tokens each EP group delivers to each expert slot, then each rank's slots (ESP gather).
  // Without a placement, slot s of EP rank q is expert q * local + s; with one (EPLB), a slot
  // is a copy of a logical expert and takes its share of that expert's tokens.
  const auto& ep_groups = map.groups(GroupKind::ep);
  std::vector<std::size_t> ep_group_of(static_cast<std::size_t>(world));
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) ep_group_of[r.index()] = g;
  }
  const std::int64_t slots = slots_per_rank(job);
  std::vector<std::vector<std::int64_t>> received(
      ep_groups.size(), std::vector<std::int64_t>(static_cast<std::size_t>(slots * layout.ep), 0));
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) {
      for (std::int64_t q = 0; q < layout.ep; ++q) {
        for (std::int64_t sl = 0; sl < slots; ++sl) {
          received[g][static_cast<std::size_t>(q * slots + sl)] +=
              slot_tokens(job, moe_index, p.kept[r.index()], q, sl);
        }
      }
    }
  }
  p.expert_tokens.assign(static_cast<std::size_t>(world),
                         std::vector<std::int64_t>(static_cast<std::size_t>(slots), 0));
  for (std::int64_t r = 0; r < world; ++r) {
    const RankId rank{static_cast<std::uint32_t>(r)};
    const std::int64_t first = map.coords(rank).ep * slots;
    auto& out = p.expert_tokens[static_cast<std::size_t>(r)];
    for (RankId peer : map.group(GroupKind::esp, rank)) {
      for (std::int64_t e = 0; e < slots; ++e) {
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
          const std::int64_t sum =
              member_tokens(job, moe_index, p.kept[g[i].index()], static_cast<std::int64_t>(j));
          d->set(i, j, sum * token_bytes);
          c->set(j, i, sum * token_bytes);
        }
      }
      p.dispatch.push_back(std::move(d));
      p.combine.push_back(std::move(c));
    }
  }
  if (job.ep_comm.algorithm != EpAllToAll::nccl) add_node_relay(job, p, moe_index);
  return p;
}

void add_node_relay(const TrainingJob& job, MoeLayerPlan& p, std::int64_t moe_index) {
  const ModelSpec& model = job.model;
  // DeepSeek-V3 dispatches FP8 with one fp32 scale per 128 elements and combines in BF16
  // (arXiv 2412.19437 section 3.3; DeepEP tests/test_internode.py fp8_factor (1 + 4/128) / 2):
  // what travels in the dispatch direction (the activations entering the up-projections, and in
  // the backward the gradients entering the down-projections' backward, section 3.3.3) is
  // quantized for the FP8 GEMMs it feeds, so it is FP8 whenever the experts' GEMMs are
  // (ModelSpec::linear_dtype: an fp8 model, or gemm_dtype fp8), unless the strategy or the user
  // chose otherwise (ExpertParallelComm::fp8_dispatch: Megatron-Core's DeepEP path sends BF16).
  const double hidden = static_cast<double>(model.hidden);
  const bool fp8 = job.ep_comm.fp8_dispatch.value_or(model.linear_dtype() == DType::fp8);
  const double token_bytes =
      fp8 ? hidden * (1.0 + 4.0 / 128.0) : hidden * static_cast<double>(dtype_bytes(model.dtype));
  const bool hybrid_ep = job.ep_comm.algorithm == EpAllToAll::hybrid_ep;
  // The combine carries the experts' outputs in the model's dtype, at least BF16.
  const double combine_bytes =
      hidden * static_cast<double>(std::max<std::int64_t>(2, dtype_bytes(model.dtype)));
  std::int64_t tokens = model.tokens_per_micro_batch();
  if (p.split_over_tp) tokens = (tokens + job.layout.tp - 1) / job.layout.tp;
  for (const auto& g : job.mapping.groups(GroupKind::ep)) {
    const std::size_t n = g.size();
    // Hybrid-EP's forward dispatch also ships each token's routing probabilities, the fp32
    // vector of every expert on the destination node (num_of_experts_per_rank x
    // num_of_ranks_per_node floats), over RDMA and NVLink alike (deepseek-ai/DeepEP branch
    // hybrid-ep, csrc/hybrid_ep/backend/hybrid_ep_backend.cuh: one prob write per token beside
    // the token's in N2N_warp_group_device_function; G2S/S2G copy the same vector).
    double dispatch_bytes = token_bytes;
    if (hybrid_ep) {
      std::int64_t ranks_per_node = 0;
      for (const auto& r : g) ranks_per_node += job.cluster.node_of(r) == job.cluster.node_of(g[0]);
      const double experts_per_rank =
          static_cast<double>(model.experts) / static_cast<double>(std::max<std::size_t>(1, n));
      dispatch_bytes += experts_per_rank * static_cast<double>(ranks_per_node) * 4.0;
    }
    NodeRelayInputs in;
    in.assignments.assign(n, std::vector<std::int64_t>(n, 0));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        in.assignments[i][j] =
            member_tokens(job, moe_index, p.kept[g[i].index()], static_cast<std::int64_t>(j));
      }
      in.node_of.push_back(job.cluster.node_of(g[i]));
    }
    in.tokens = tokens;
    in.top_k = model.top_k;
    in.node_limit = job.ep_comm.node_limit;
    in.bytes_per_token = dispatch_bytes;
    in.comm_sms = job.ep_comm.comm_sms;
    if (hybrid_ep) in.chunk_tokens = kHybridEpTokensPerChunk;
    const NodeRelayPlan plan = make_node_relay_plan(in);
    const double ratio = combine_bytes / dispatch_bytes;
    auto d = std::make_shared<ByteMatrix>(plan.delivered);
    auto c = std::make_shared<ByteMatrix>(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        c->set(j, i,
               static_cast<std::int64_t>(static_cast<double>(plan.delivered.at(i, j)) * ratio));
      }
    }
    p.relay_dispatch_matrix.push_back(std::move(d));
    p.relay_combine_matrix.push_back(std::move(c));
    p.relay_dispatch.push_back(std::make_shared<NodeRelayExchange>(plan.exchange));
    p.relay_combine.push_back(std::make_shared<NodeRelayExchange>(reversed(plan.exchange, ratio)));
  }
}

}  // namespace moesim::strategies
