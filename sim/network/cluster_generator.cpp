#include "sim/network/cluster_generator.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/errors.hpp"
#include "sim/network/fabric_router.hpp"
#include "sim/network/memory_budget.hpp"
#include "sim/network/routing_graph.hpp"

namespace moesim::network {

std::string_view to_string(Fabric fabric) {
  return fabric == Fabric::rail_optimized ? "rail-optimized" : "single-switch";
}

std::optional<Fabric> parse_fabric(std::string_view name) {
  if (name == "rail-optimized") return Fabric::rail_optimized;
  if (name == "single-switch") return Fabric::single_switch;
  return std::nullopt;
}

bool same_routing_structure(const Topology& a, const Topology& b) {
  if (a.devices().size() != b.devices().size() || a.links().size() != b.links().size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.devices().size(); ++i) {
    const Device& x = a.devices()[i];
    const Device& y = b.devices()[i];
    if (x.name != y.name || x.kind != y.kind || x.node != y.node) return false;
  }
  const auto cpu = [](const Topology& t, const Link& l) {
    return t.devices()[l.a].kind == DeviceKind::cpu || t.devices()[l.b].kind == DeviceKind::cpu;
  };
  for (std::size_t i = 0; i < a.links().size(); ++i) {
    const Link& x = a.links()[i];
    const Link& y = b.links()[i];
    if (x.a != y.a || x.b != y.b || x.spec.kind != y.spec.kind ||
        link_weight(x.spec, cpu(a, x)) != link_weight(y.spec, cpu(b, y))) {
      return false;
    }
  }
  return true;
}

Topology generate_cluster(const Topology& node, const ClusterSpec& spec) {
  if (node.node_count() != 1) {
    throw input_error("", "--node", "node topology must describe one node",
                      fmt::format("{} nodes in {}", node.node_count(), node.name()), "1 node");
  }
  if (spec.nodes < 1) throw input_error("", "--nodes", "out of range", "0", ">= 1");
  if (!(spec.oversubscription >= 1.0)) {
    throw input_error("", "--oversubscription", "out of range",
                      fmt::format("{}", spec.oversubscription), ">= 1 (e.g. 2:1)");
  }
  if (spec.fabric == Fabric::single_switch && spec.oversubscription != 1.0) {
    throw input_error("", "--oversubscription", "a single switch cannot be oversubscribed",
                      fmt::format("{}:1", spec.oversubscription),
                      "1:1, or --fabric rail-optimized");
  }
  std::vector<DeviceIndex> nics;
  for (std::size_t i = 0; i < node.devices().size(); ++i) {
    if (node.devices()[i].kind == DeviceKind::nic) nics.push_back(static_cast<DeviceIndex>(i));
  }
  if (nics.empty()) {
    throw input_error("", "--node", "node has no NIC to cable", node.name(),
                      "a device of kind nic");
  }
  std::vector<double> port_gbit(nics.size());
  for (std::size_t i = 0; i < nics.size(); ++i) {
    port_gbit[i] = spec.nic_gbit_per_s.value_or(node.devices()[nics[i]].port_gbit_per_s);
    if (!(port_gbit[i] > 0)) {
      throw input_error("", "--nic-gbps", "NIC port rate unknown", node.devices()[nics[i]].name,
                        "port_gbit_per_s in the node file or --nic-gbps");
    }
  }

  {
    // Refuse before building: ~350 bytes per device and per link (names, the name index, the
    // routing graph, and the JSON text `topology generate` writes; 2,048 DGX-H100 nodes measure
    // 48 MB without the text).
    const std::size_t unit = std::max<std::size_t>(1, spec.nodes_per_unit);
    const std::size_t leaves = (spec.nodes + unit - 1) / unit * nics.size();
    const std::size_t elements =
        spec.nodes * (node.devices().size() + node.links().size() + nics.size()) +
        leaves * (1 + std::max<std::size_t>(1, leaves / 2));
    check_memory_budget(elements * 350, "--nodes",
                        fmt::format("a cluster of {} nodes", spec.nodes));
  }
  const std::string fabric_name = std::string(to_string(spec.fabric));
  Topology out(fmt::format("{}x{}-{}", spec.nodes, node.name(), fabric_name), node.gpu_model());
  out.set_cpu_vendor(node.cpu_vendor());
  out.set_group_launch_us(node.group_launch_us());
  out.set_description(fmt::format("{} nodes of {} on a {} fabric, oversubscription {}:1",
                                  spec.nodes, node.name(), fabric_name, spec.oversubscription));
  for (const auto& [key, text] : node.sources()) out.add_source("node." + key, text);
  out.add_source("fabric.rail_optimized",
                 "NIC i of every node to leaf i of its scalable unit (32 nodes/SU), leaves to "
                 "all spines, spines = leaves/2: NVIDIA DGX SuperPOD reference architecture "
                 "(NVIDIA DGX SuperPOD reference architecture)");
  out.add_source("fabric.latency",
                 "600 ns per network link: HDR switch latency, stas00 "
                 "ml-engineering network/README.md (NVIDIA DGX SuperPOD reference architecture)");
  out.add_source("fabric.efficiency",
                 "0.97 = 48.5 of 50 GB/s per NDR NIC, NVIDIA in NVIDIA/nccl-tests#267");

  // Copy the node k times.
  std::vector<std::vector<DeviceIndex>> nic_of_node(spec.nodes);
  for (std::size_t k = 0; k < spec.nodes; ++k) {
    const auto base = static_cast<DeviceIndex>(out.devices().size());
    for (const Device& d : node.devices()) {
      Device copy = d;
      copy.name = fmt::format("n{}.{}", k, d.name);
      copy.node = static_cast<int>(k);
      out.add_device(std::move(copy));
    }
    for (const Link& l : node.links()) out.add_link(base + l.a, base + l.b, l.spec);
    for (DeviceIndex nic : nics) nic_of_node[k].push_back(base + nic);
  }

  auto network_link = [&](double gbit) {
    LinkSpec s;
    s.kind = LinkKind::network;
    s.bandwidth = Bandwidth::from_gbit_per_s(gbit);
    s.efficiency = spec.link_efficiency;
    s.latency = spec.link_latency;
    return s;
  };

  FabricLayout layout;
  layout.fabric = spec.fabric;
  layout.nodes = spec.nodes;
  for (std::size_t r = 0; r < nics.size(); ++r)
    layout.nic_link.push_back(network_link(port_gbit[r]));
  if (spec.fabric == Fabric::single_switch) {
    const DeviceIndex sw = out.add_device(Device{"switch", DeviceKind::leaf_switch, -1, 0.0});
    for (std::size_t k = 0; k < spec.nodes; ++k) {
      for (std::size_t r = 0; r < nics.size(); ++r) {
        out.add_link(nic_of_node[k][r], sw, network_link(port_gbit[r]));
      }
    }
  } else {
    const std::size_t unit = std::max<std::size_t>(1, spec.nodes_per_unit);
    const std::size_t units = (spec.nodes + unit - 1) / unit;
    const std::size_t rails = nics.size();
    const std::size_t leaves = units * rails;
    const std::size_t spines = std::max<std::size_t>(1, leaves / 2);
    layout.nodes_per_unit = unit;
    layout.spines = spines;
    layout.up_link.assign(units, {});
    std::vector<DeviceIndex> leaf(leaves);
    for (std::size_t u = 0; u < units; ++u) {
      for (std::size_t r = 0; r < rails; ++r) {
        leaf[u * rails + r] = out.add_device(
            Device{fmt::format("su{}.leaf{}", u, r), DeviceKind::leaf_switch, -1, 0.0});
      }
    }
    std::vector<DeviceIndex> spine(spines);
    for (std::size_t s = 0; s < spines; ++s) {
      spine[s] =
          out.add_device(Device{fmt::format("spine{}", s), DeviceKind::spine_switch, -1, 0.0});
    }
    for (std::size_t k = 0; k < spec.nodes; ++k) {
      for (std::size_t r = 0; r < rails; ++r) {
        out.add_link(nic_of_node[k][r], leaf[(k / unit) * rails + r], network_link(port_gbit[r]));
      }
    }
    for (std::size_t u = 0; u < units; ++u) {
      const std::size_t nodes_here = std::min(unit, spec.nodes - u * unit);
      for (std::size_t r = 0; r < rails; ++r) {
        const double down_gbit = static_cast<double>(nodes_here) * port_gbit[r];
        const double per_spine = down_gbit / spec.oversubscription / static_cast<double>(spines);
        layout.up_link[u].push_back(network_link(per_spine));
        for (std::size_t s = 0; s < spines; ++s) {
          out.add_link(leaf[u * rails + r], spine[s], network_link(per_spine));
        }
      }
    }
  }
  out.finalize(out.name());
  out.set_router(std::make_shared<FabricRouter>(node, layout));
  out.set_generated_from(std::make_shared<const GeneratedFrom>(GeneratedFrom{node, spec}));
  return out;
}

}  // namespace moesim::network
