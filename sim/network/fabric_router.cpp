#include "sim/network/fabric_router.hpp"

#include <algorithm>
#include <map>

#include "sim/core/errors.hpp"

namespace moesim::network {

namespace {

std::int64_t add(std::int64_t a, std::int64_t b) {
  return a >= kUnreachable || b >= kUnreachable ? kUnreachable : a + b;
}

// A 32-bit remainder (counts are small): a 64-bit division costs several times more, and a
// route takes one per hop (a million routes per 1,024-GPU all-to-all).
std::uint32_t pick(std::uint32_t key, std::size_t count) {
  return count == 1 ? 0 : key % static_cast<std::uint32_t>(count);
}

}  // namespace

FabricRouter::FabricRouter(const Topology& node, const FabricLayout& layout)
    : node_graph_(node.devices(), node.links()),
      node_devices_(static_cast<std::uint32_t>(node.devices().size())),
      node_links_(static_cast<std::uint32_t>(node.links().size())),
      gpus_(static_cast<std::uint32_t>(node.gpu_count())),
      rails_(static_cast<std::uint32_t>(layout.nic_link.size())),
      nodes_(static_cast<std::uint32_t>(layout.nodes)),
      unit_(static_cast<std::uint32_t>(std::max<std::size_t>(1, layout.nodes_per_unit))),
      spines_(static_cast<std::uint32_t>(layout.spines)),
      single_switch_(layout.fabric == Fabric::single_switch) {
  MOESIM_CHECK(node.finalized() && node.node_count() == 1,
               "FabricRouter needs a one-node topology");
  MOESIM_CHECK(single_switch_ || spines_ > 0, "rail-optimized fabric without spines");
  if (single_switch_) unit_ = std::max<std::uint32_t>(1, nodes_);  // one "unit": the switch
  rail_of_.assign(node_devices_, -1);
  for (DeviceIndex v = 0; v < node_devices_; ++v) {
    if (node.devices()[v].kind == DeviceKind::nic) {
      rail_of_[v] = static_cast<std::int32_t>(nic_local_.size());
      nic_local_.push_back(v);
    }
  }
  MOESIM_CHECK(nic_local_.size() == rails_, "FabricLayout rails differ from the node's NICs");
  for (std::uint32_t g = 0; g < gpus_; ++g) gpu_local_.push_back(node.gpu_device(RankId{g}));

  // One node's distances: to each GPU and to each NIC.
  std::vector<std::vector<std::int64_t>> dn_gpu(gpus_);
  for (std::uint32_t g = 0; g < gpus_; ++g) dn_gpu[g] = node_graph_.distances_to(gpu_local_[g]);
  dn_nic_.resize(rails_);
  for (std::uint32_t r = 0; r < rails_; ++r) dn_nic_[r] = node_graph_.distances_to(nic_local_[r]);
  std::vector<std::int64_t> w_nic(rails_);
  for (std::uint32_t r = 0; r < rails_; ++r) w_nic[r] = link_weight(layout.nic_link[r], false);

  // Units that differ only in size share their uplink weights: one class per distinct row.
  std::vector<std::vector<std::int64_t>> w_up;
  if (!single_switch_) {
    const std::size_t units = (nodes_ + unit_ - 1) / unit_;
    MOESIM_CHECK(layout.up_link.size() == units, "FabricLayout: one uplink row per unit");
    std::map<std::vector<std::int64_t>, std::uint16_t> classes;
    for (const auto& row : layout.up_link) {
      std::vector<std::int64_t> w(rails_);
      for (std::uint32_t r = 0; r < rails_; ++r) w[r] = link_weight(row[r], false);
      auto [it, inserted] = classes.emplace(w, static_cast<std::uint16_t>(w_up.size()));
      if (inserted) w_up.push_back(w);
      class_of_unit_.push_back(it->second);
    }
  } else {
    w_up.emplace_back(rails_, 0);
    class_of_unit_.push_back(0);
  }

  const std::size_t classes = w_up.size();
  std::vector<std::int64_t> exit(rails_);
  for (std::size_t c = 0; c < classes; ++c) {
    // Destination in another unit: X(p) = w_nic(p) + w_up(c, p) + S, S common to all p.
    for (std::uint32_t p = 0; p < rails_; ++p) exit[p] = w_nic[p] + w_up[c][p];
    far_.push_back(build_table(nullptr, -1, exit));
  }
  if (single_switch_) {
    for (std::uint32_t b = 0; b < gpus_; ++b) {
      std::int64_t d = kUnreachable;
      for (std::uint32_t q = 0; q < rails_; ++q)
        d = std::min(d, add(w_nic[q], dn_gpu[b][nic_local_[q]]));
      std::vector<std::uint32_t> rails;
      for (std::uint32_t q = 0; q < rails_; ++q) {
        if (d < kUnreachable && add(w_nic[q], dn_gpu[b][nic_local_[q]]) == d) rails.push_back(q);
      }
      switch_rails_.push_back(std::move(rails));
      for (std::uint32_t p = 0; p < rails_; ++p) exit[p] = add(w_nic[p], d);
      home_.push_back(build_table(&dn_gpu[b], gpu_local_[b], exit));
    }
    return;
  }
  for (std::size_t c = 0; c < classes; ++c) {
    for (std::uint32_t b = 0; b < gpus_; ++b) {
      std::int64_t s = kUnreachable;
      for (std::uint32_t q = 0; q < rails_; ++q) {
        s = std::min(s, add(w_up[c][q] + w_nic[q], dn_gpu[b][nic_local_[q]]));
      }
      std::vector<std::uint32_t> rails;
      for (std::uint32_t q = 0; q < rails_; ++q) {
        if (s < kUnreachable && add(w_up[c][q] + w_nic[q], dn_gpu[b][nic_local_[q]]) == s) {
          rails.push_back(q);
        }
      }
      spine_rails_.push_back(std::move(rails));
      for (std::uint32_t r = 0; r < rails_; ++r) {
        const std::int64_t direct = add(w_nic[r], dn_gpu[b][nic_local_[r]]);
        const std::int64_t via = add(w_up[c][r], s);
        const std::int64_t leaf = std::min(direct, via);
        leaf_direct_.push_back(leaf < kUnreachable && direct == leaf ? 1 : 0);
        leaf_via_.push_back(leaf < kUnreachable && via == leaf ? 1 : 0);
        exit[r] = add(w_nic[r], leaf);
      }
      unit_tables_.push_back(build_table(nullptr, -1, exit));
      home_.push_back(build_table(&dn_gpu[b], gpu_local_[b], exit));
    }
  }
}

// Candidates of every node device toward a destination whose distance from device v is
//   min(to_target[v], min over rails p of dn(v, NIC p) + exit_cost[p]).
FabricRouter::NodeTable FabricRouter::build_table(
    const std::vector<std::int64_t>* to_target, std::int64_t target,
    const std::vector<std::int64_t>& exit_cost) const {
  std::vector<std::int64_t> dist(node_devices_, kUnreachable);
  for (DeviceIndex v = 0; v < node_devices_; ++v) {
    if (to_target != nullptr) dist[v] = (*to_target)[v];
    for (std::uint32_t p = 0; p < rails_; ++p) {
      dist[v] = std::min(dist[v], add(dn_nic_[p][v], exit_cost[p]));
    }
  }
  NodeTable t;
  t.offset.assign(node_devices_ + 1, 0);
  for (DeviceIndex v = 0; v < node_devices_; ++v) {
    t.offset[v] = static_cast<std::uint32_t>(t.next.size());
    if (static_cast<std::int64_t>(v) == target || dist[v] >= kUnreachable) continue;
    for (DirectedLinkId d : node_graph_.out_links(v)) {
      const DeviceIndex h = node_graph_.head(d);
      if (dist[h] >= kUnreachable) continue;
      if (node_graph_.is_gpu(h) && static_cast<std::int64_t>(h) != target) continue;
      if (dist[h] + node_graph_.weight(d) == dist[v]) t.next.push_back(d);
    }
    // The network link has a larger id than every link inside a node: it comes last.
    if (rail_of_[v] >= 0 && exit_cost[static_cast<std::size_t>(rail_of_[v])] == dist[v]) {
      t.next.push_back(kExit);
    }
  }
  t.offset[node_devices_] = static_cast<std::uint32_t>(t.next.size());
  return t;
}

void FabricRouter::route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const {
  MOESIM_CHECK(src.value < nodes_ * gpus_ && dst.value < nodes_ * gpus_, "rank out of range");
  if (src == dst) return;
  const std::uint32_t i = src.value / gpus_;
  const std::uint32_t j = dst.value / gpus_;
  const std::uint32_t b = dst.value % gpus_;
  const std::uint32_t key = j + b;  // destination node + local rank (D-mod-K)
  const std::uint32_t uj = j / unit_;
  const std::size_t cb = at(class_of_unit_[uj], b);
  const DeviceIndex target = gpu_local_[b];
  const std::uint32_t nic_links = nodes_ * node_links_;
  const std::uint32_t up_links = nic_links + nodes_ * rails_;
  const NodeTable* table = &home_[cb];
  if (i != j) {
    if (single_switch_) {
      table = &far_[0];
    } else {
      table = i / unit_ == uj ? &unit_tables_[cb] : &far_[class_of_unit_[i / unit_]];
    }
  }
  std::uint32_t k = i;
  DeviceIndex v = gpu_local_[src.value % gpus_];
  for (;;) {
    // Inside node k.
    std::uint32_t d = 0;
    while (k != j || v != target) {
      const std::uint32_t begin = table->offset[v];
      const std::uint32_t count = table->offset[v + 1] - begin;
      MOESIM_CHECK(count > 0, "no next hop from node {} device {}", k, v);
      d = table->next[begin + pick(key, count)];
      if (d == kExit) break;
      out.push_back(d + 2 * k * node_links_);
      v = node_graph_.head(d);
    }
    if (k == j && v == target) return;
    // Out through NIC rail r.
    std::uint32_t r = static_cast<std::uint32_t>(rail_of_[v]);
    out.push_back(2 * (nic_links + k * rails_ + r));
    if (single_switch_) {
      const auto& rails = switch_rails_[b];
      r = rails[pick(key, rails.size())];
    } else {
      std::uint32_t u = k / unit_;
      for (;;) {
        const bool home_unit = u == uj;
        const std::size_t flag = cb * rails_ + r;
        const bool direct = home_unit && leaf_direct_[flag] != 0;
        const bool via = !home_unit || leaf_via_[flag] != 0;
        const std::uint32_t choice = pick(key, (direct ? 1u : 0u) + (via ? spines_ : 0u));
        if (direct && choice == 0) break;
        const std::uint32_t s = choice - (direct ? 1u : 0u);
        out.push_back(2 * (up_links + (u * rails_ + r) * spines_ + s));
        const auto& rails = spine_rails_[cb];
        r = rails[pick(key, rails.size())];
        out.push_back(2 * (up_links + (uj * rails_ + r) * spines_ + s) + 1);
        u = uj;
      }
    }
    out.push_back(2 * (nic_links + j * rails_ + r) + 1);
    k = j;
    v = nic_local_[r];
    table = &home_[cb];
  }
}

}  // namespace moesim::network
