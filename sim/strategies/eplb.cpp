#include "sim/strategies/eplb.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

Packing balanced_packing(std::span<const double> weight, std::int64_t packs) {
  const auto n = static_cast<std::int64_t>(weight.size());
  if (packs < 1 || n % packs != 0) throw std::invalid_argument("balanced_packing: items % packs");
  const std::int64_t per_pack = n / packs;
  Packing out{std::vector<std::int64_t>(weight.size()), std::vector<std::int64_t>(weight.size())};
  std::vector<std::size_t> order(weight.size());
  std::iota(order.begin(), order.end(), 0);
  // Heaviest first; ties by index, so the result is deterministic.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return weight[a] > weight[b]; });
  std::vector<double> load(static_cast<std::size_t>(packs), 0.0);
  std::vector<std::int64_t> items(static_cast<std::size_t>(packs), 0);
  for (std::size_t item : order) {
    std::size_t best = 0;
    bool found = false;
    for (std::size_t p = 0; p < load.size(); ++p) {
      if (items[p] >= per_pack) continue;
      if (!found || load[p] < load[best]) best = p;
      found = true;
    }
    out.pack[item] = static_cast<std::int64_t>(best);
    out.rank_in_pack[item] = items[best]++;
    load[best] += weight[item];
  }
  return out;
}

Replication replicate_experts(std::span<const double> weight, std::int64_t physical) {
  const auto logical = static_cast<std::int64_t>(weight.size());
  if (physical < logical) throw std::invalid_argument("replicate_experts: physical < logical");
  Replication out;
  out.physical_to_logical.resize(static_cast<std::size_t>(physical));
  out.replica_rank.assign(static_cast<std::size_t>(physical), 0);
  out.copies.assign(weight.size(), 1);
  std::iota(out.physical_to_logical.begin(), out.physical_to_logical.begin() + logical, 0);
  for (std::int64_t p = logical; p < physical; ++p) {
    std::size_t hottest = 0;
    for (std::size_t e = 1; e < weight.size(); ++e) {
      const double per_copy = weight[e] / static_cast<double>(out.copies[e]);
      if (per_copy > weight[hottest] / static_cast<double>(out.copies[hottest])) hottest = e;
    }
    out.physical_to_logical[static_cast<std::size_t>(p)] = static_cast<std::int64_t>(hottest);
    out.replica_rank[static_cast<std::size_t>(p)] = out.copies[hottest]++;
  }
  return out;
}

LayerPlacement rebalance_experts(std::span<const double> weight, std::int64_t physical,
                                 std::int64_t groups, std::int64_t nodes, std::int64_t gpus) {
  const auto logical = static_cast<std::int64_t>(weight.size());
  if (groups < 1 || nodes < 1 || groups % nodes != 0) {
    groups = 1;  // global policy
    nodes = 1;
  }
  if (logical % groups != 0 || physical % gpus != 0 || gpus % nodes != 0 || physical % nodes != 0) {
    throw std::invalid_argument("rebalance_experts: sizes do not divide");
  }
  const std::int64_t group_size = logical / groups;
  const std::int64_t groups_per_node = groups / nodes;
  const std::int64_t logical_per_node = logical / nodes;
  const std::int64_t physical_per_node = physical / nodes;
  const std::int64_t gpus_per_node = gpus / nodes;
  const std::int64_t per_gpu = physical / gpus;

  // 1. Expert groups onto nodes. mlog = node-major logical index: node, group slot, expert.
  std::vector<double> group_load(static_cast<std::size_t>(groups), 0.0);
  for (std::int64_t e = 0; e < logical; ++e)
    group_load[static_cast<std::size_t>(e / group_size)] += weight[static_cast<std::size_t>(e)];
  const Packing group_pack = balanced_packing(group_load, nodes);
  std::vector<std::int64_t> mlog_to_log(static_cast<std::size_t>(logical));
  for (std::int64_t e = 0; e < logical; ++e) {
    const auto g = static_cast<std::size_t>(e / group_size);
    const std::int64_t mlog =
        (group_pack.pack[g] * groups_per_node + group_pack.rank_in_pack[g]) * group_size +
        e % group_size;
    mlog_to_log[static_cast<std::size_t>(mlog)] = e;
  }

  LayerPlacement out;
  out.slot_expert.assign(static_cast<std::size_t>(physical), 0);
  out.slot_replica.assign(static_cast<std::size_t>(physical), 0);
  out.replicas.assign(weight.size(), 1);
  for (std::int64_t node = 0; node < nodes; ++node) {
    // 2. Copies of the node's experts inside the node.
    std::vector<double> node_weight(static_cast<std::size_t>(logical_per_node));
    for (std::int64_t i = 0; i < logical_per_node; ++i) {
      node_weight[static_cast<std::size_t>(i)] = weight[static_cast<std::size_t>(
          mlog_to_log[static_cast<std::size_t>(node * logical_per_node + i)])];
    }
    const Replication rep = replicate_experts(node_weight, physical_per_node);
    // 3. The node's copies onto its GPUs, each weighing its expert's load per copy.
    std::vector<double> copy_weight(static_cast<std::size_t>(physical_per_node));
    for (std::int64_t p = 0; p < physical_per_node; ++p) {
      const auto m = static_cast<std::size_t>(rep.physical_to_logical[static_cast<std::size_t>(p)]);
      copy_weight[static_cast<std::size_t>(p)] =
          node_weight[m] / static_cast<double>(rep.copies[m]);
    }
    const Packing gpu_pack = balanced_packing(copy_weight, gpus_per_node);
    for (std::int64_t p = 0; p < physical_per_node; ++p) {
      const auto pi = static_cast<std::size_t>(p);
      const std::int64_t slot =
          node * physical_per_node + gpu_pack.pack[pi] * per_gpu + gpu_pack.rank_in_pack[pi];
      const std::int64_t log = mlog_to_log[static_cast<std::size_t>(node * logical_per_node +
                                                                    rep.physical_to_logical[pi])];
      out.slot_expert[static_cast<std::size_t>(slot)] = log;
      out.slot_replica[static_cast<std::size_t>(slot)] = rep.replica_rank[pi];
    }
    for (std::int64_t i = 0; i < logical_per_node; ++i) {
      out.replicas[static_cast<std::size_t>(
          mlog_to_log[static_cast<std::size_t>(node * logical_per_node + i)])] =
          rep.copies[static_cast<std::size_t>(i)];
    }
  }
  return out;
}

ExpertPlacement eplb_placement_for(const TrainingJob& job, std::int64_t redundant) {
  const ModelSpec& m = job.model;
  const std::int64_t ep = job.layout.ep;
  if (redundant <= 0) redundant = ep;
  const std::int64_t physical = m.experts + redundant;
  if (physical % ep != 0) {
    throw input_error("", "--strategy", "eplb: experts + redundant slots do not divide over ep",
                      std::to_string(physical), fmt::format("a multiple of ep = {}", ep));
  }
  // Nodes one EP group spans (every group alike): expert groups = nodes.
  const auto& group = job.mapping.groups(GroupKind::ep).front();
  std::vector<std::int32_t> nodes_seen;
  for (RankId r : group) {
    const std::int32_t node = job.cluster.node_of(r);
    if (std::find(nodes_seen.begin(), nodes_seen.end(), node) == nodes_seen.end())
      nodes_seen.push_back(node);
  }
  auto nodes = static_cast<std::int64_t>(nodes_seen.size());
  if (ep % nodes != 0 || m.experts % nodes != 0) nodes = 1;
  ExpertPlacement out;
  out.slots_per_rank = physical / ep;
  const RoutingShape& shape = job.routing.shape();
  const auto history = job.routing_history;
  for (std::int64_t l = 0; l < shape.moe_layers; ++l) {
    std::vector<double> load(static_cast<std::size_t>(m.experts), 0.0);
    const bool past = history && !history->empty();
    const auto add = [&](const RoutingCounts& c) {
      for (std::int64_t e = 0; e < m.experts; ++e)
        load[static_cast<std::size_t>(e)] += static_cast<double>(c.expert_total(l, e));
    };
    if (past) {
      for (const RoutingCounts& c : *history) add(c);
    } else {
      add(job.routing);
    }
    out.layers.push_back(rebalance_experts(load, physical, nodes, nodes, ep));
  }
  return out;
}

}  // namespace moesim::strategies
