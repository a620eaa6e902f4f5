// moesim topology generate | show: builds hypothetical clusters from a node preset and describes
// a topology (GPUs, links, per-GPU injection and bisection bandwidth).
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <memory>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"

namespace moesim::app {
namespace {

struct GenerateOptions {
  std::string node = "dgx-h100";
  std::size_t nodes = 1;
  std::string fabric = "rail-optimized";
  std::string oversubscription = "1:1";
  double nic_gbit = 0.0;
  std::string output = "-";
};

double parse_ratio(const std::string& text) {
  // "2:1", "2" or "1.5:1".
  const auto colon = text.find(':');
  try {
    std::size_t used = 0;
    std::size_t up_used = 0;
    const double down = std::stod(text.substr(0, colon), &used);
    double up = 1.0;
    const std::string up_text = colon == std::string::npos ? "1" : text.substr(colon + 1);
    up = std::stod(up_text, &up_used);
    const bool whole = up_used == up_text.size() &&
                       (used == colon || (colon == std::string::npos && used == text.size()));
    // Fat trees are built from 1:1 to ~8:1; 64:1 (or 1:64) bounds anything meaningful.
    if (whole && std::isfinite(down) && std::isfinite(up) && down > 0 && up > 0 &&
        down / up >= 1.0 / 64 && down / up <= 64) {
      return down / up;
    }
  } catch (const std::exception&) {
  }
  throw input_error("", "--oversubscription", "not a ratio", text,
                    "DOWN:UP such as 2:1, between 1:64 and 64:1");
}

void run_generate(const GenerateOptions& o) {
  io::check_output_path(o.output, "-o", {o.node});
  const auto fabric = network::parse_fabric(o.fabric);
  if (!fabric) {
    throw input_error("", "--fabric", "unknown fabric", o.fabric,
                      "rail-optimized or single-switch");
  }
  network::ClusterSpec spec;
  spec.nodes = o.nodes;
  spec.fabric = *fabric;
  spec.oversubscription = parse_ratio(o.oversubscription);
  if (o.nic_gbit > 0) spec.nic_gbit_per_s = o.nic_gbit;
  const network::Topology node = io::load_topology(o.node);
  const network::Topology cluster = network::generate_cluster(node, spec);
  io::write_file_atomically(o.output, io::topology_to_json(cluster));
  if (o.output != "-") {
    fmt::print("wrote {}: {} nodes, {} GPUs, {} devices, {} links\n", o.output,
               cluster.node_count(), cluster.gpu_count(), cluster.devices().size(),
               cluster.links().size());
  }
}

void run_show(const std::string& what) {
  const network::Topology t = io::load_topology(what);
  fmt::print("topology      {}\n", t.name());
  if (!t.description().empty()) fmt::print("description   {}\n", t.description());
  fmt::print("GPU model     {}\n", t.gpu_model());
  fmt::print("GPUs          {} ({} nodes x {} GPUs)\n", t.gpu_count(), t.node_count(),
             t.gpus_per_node());
  std::map<std::string, std::size_t> kinds;
  for (const auto& d : t.devices()) ++kinds[std::string(network::to_string(d.kind))];
  std::string k;
  for (const auto& [name, count] : kinds)
    k += fmt::format("{}{} {}", k.empty() ? "" : ", ", count, name);
  fmt::print("devices       {}\n", k);
  // Links grouped by (type, line rate, efficiency).
  std::map<std::tuple<std::string, double, double>, std::size_t> groups;
  for (const auto& l : t.links()) {
    ++groups[{std::string(network::to_string(l.spec.kind)), l.spec.bandwidth.bytes_per_s / 1e9,
              l.spec.efficiency}];
  }
  fmt::print("links         {} full duplex\n", t.links().size());
  for (const auto& [key, count] : groups) {
    const auto& [type, gbps, eff] = key;
    fmt::print("  {:>5} x {:<8} {:>8.2f} GB/s per direction, efficiency {:.3f} -> {:.2f} GB/s\n",
               count, type, gbps, eff, gbps * eff);
  }
  const RankId r0{0};
  fmt::print("per-GPU injection   {:.1f} GB/s per direction (NVLink + PCIe, line rate)\n",
             t.gpu_injection(r0).gbps());
  fmt::print("per-GPU network     {:.1f} GB/s per direction (node's NIC ports / GPUs)\n",
             t.gpu_network_injection(r0).gbps());
  fmt::print(
      "bisection           {:.1f} GB/s per direction (max flow, first half of ranks to "
      "second half)\n",
      t.bisection_bandwidth().gbps());
  if (!t.sources().empty()) {
    fmt::print("sources\n");
    for (const auto& [key, text] : t.sources()) fmt::print("  {}: {}\n", key, text);
  }
}

}  // namespace

void register_topology_command(CLI::App& root) {
  CLI::App* cmd = root.add_subcommand(
      "topology",
      "Generate cluster topologies and describe topologies.\n"
      "Examples:\n"
      "  moesim topology show dgx-h100\n"
      "  moesim topology generate --node dgx-h100 --nodes 128 --fabric rail-optimized \\\n"
      "      --oversubscription 2:1 --nic-gbps 400 -o cluster.json\n"
      "Presets: the .json files in topologies/ (schema in topologies/README.md).");
  cmd->require_subcommand(1);

  auto g = std::make_shared<GenerateOptions>();
  CLI::App* gen = cmd->add_subcommand(
      "generate",
      "Join N copies of a one-node topology with an InfiniBand fabric.\n"
      "rail-optimized: NIC i of each node to leaf i of its 32-node unit, leaves to all spines\n"
      "(spines = leaves/2, NVIDIA SuperPOD); single-switch: every NIC on one switch.\n"
      "Example: moesim topology generate --node dgx-h100 --nodes 16 -o c.json");
  gen->add_option("--node", g->node, "Node preset name or JSON file")->capture_default_str();
  gen->add_option("--nodes", g->nodes, "Number of nodes")
      ->check(count_in(1, kMaxClusterNodes))
      ->capture_default_str();
  gen->add_option("--fabric", g->fabric, "rail-optimized or single-switch")->capture_default_str();
  gen->add_option("--oversubscription", g->oversubscription,
                  "Leaf downlink:uplink capacity, e.g. 2:1")
      ->capture_default_str();
  gen->add_option("--nic-gbps", g->nic_gbit,
                  "NIC port rate in Gb/s (gigabits, as NICs are sold: NDR = 400); default: the "
                  "node file's port_gbit_per_s")
      ->check(number_in(1.0, 1e5));
  gen->add_option("-o,--output", g->output, "Output JSON file ('-' = stdout)")
      ->capture_default_str();
  gen->callback([g]() { run_generate(*g); });

  auto what = std::make_shared<std::string>();
  CLI::App* show = cmd->add_subcommand(
      "show",
      "Describe a topology: GPUs, links, per-GPU injection and bisection bandwidth.\n"
      "Example: moesim topology show dgx-a100");
  show->add_option("TOPOLOGY", *what, "Preset name or JSON file")->required();
  show->callback([what]() { run_show(*what); });
}

}  // namespace moesim::app
