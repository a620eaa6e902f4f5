#include "sim/io/topology_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "sim/io/json_reader.hpp"
#include "sim/io/preset_resolver.hpp"
#include "sim/network/cluster_generator.hpp"

namespace moesim::io {

using network::Device;
using network::DeviceKind;
using network::LinkSpec;
using network::Topology;

namespace {

// Physical ranges of a topology's numbers. Links: 1 MB/s (below any bus built since the 1990s)
// to 1 PB/s (1000x an NVLink5 GPU); latency up to 1 s per hop (a WAN is ~0.1 s). Nodes: 2^20.
// Within these, one hop of any message moesim forms stays far inside int64 picoseconds.
constexpr double kMinGbps = 1e-3;
constexpr double kMaxGbps = 1e6;
constexpr double kMaxLatencyNs = 1e9;
constexpr std::int64_t kMaxNodes = std::int64_t{1} << 20;

std::string kinds_list() {
  return "gpu, nvswitch, pcie_switch, cpu, nic, leaf_switch, spine_switch, host_memory";
}

// The "generated" block of a file (written by `topology generate`): the node and spec of a
// generated cluster, read and checked while its document is alive.
struct GeneratedSpec {
  Topology node;
  network::ClusterSpec spec;
};

Topology read_topology_object(const JsonReader& r, std::optional<GeneratedSpec>* generated);

GeneratedSpec read_generated(const JsonReader& g) {
  g.expect_object({"node", "nodes", "fabric", "oversubscription", "nic_gbit_per_s",
                   "nodes_per_unit", "link_latency_ns", "link_efficiency"});
  GeneratedSpec out{read_topology_object(g.at("node"), nullptr), {}};
  network::ClusterSpec& spec = out.spec;
  spec.nodes = static_cast<std::size_t>(g.at("nodes").as_int_at_least(1));
  const JsonReader fabric_field = g.at("fabric");
  const auto fabric = network::parse_fabric(fabric_field.as_string());
  if (!fabric) fabric_field.fail("unknown fabric", "rail-optimized or single-switch");
  spec.fabric = *fabric;
  spec.oversubscription = g.at("oversubscription").as_double_at_least(1.0);
  if (auto nic = g.find("nic_gbit_per_s")) spec.nic_gbit_per_s = nic->as_positive();
  spec.nodes_per_unit = static_cast<std::size_t>(g.at("nodes_per_unit").as_int_at_least(1));
  spec.link_latency = SimTime::from_ns(g.at("link_latency_ns").as_double_at_least(0.0));
  spec.link_efficiency = g.at("link_efficiency").as_positive();
  return out;
}

// When regenerating the node and spec gives the file's devices and links with the same route
// weights, the loaded topology routes by structure (FabricRouter) instead of Dijkstra: the same
// routes, faster. A file edited by hand keeps Dijkstra routes. load_topology calls it once the
// file's text and document are freed: the regenerated copy is never in memory beside them.
void adopt_structural_routes(Topology& topo, const GeneratedSpec& g) {
  if (g.spec.nodes != topo.node_count()) return;  // cheap check before regenerating
  try {
    const Topology again = network::generate_cluster(g.node, g.spec);
    if (network::same_routing_structure(topo, again)) {
      topo.set_router(again.router());
      topo.set_generated_from(
          std::make_shared<const network::GeneratedFrom>(network::GeneratedFrom{g.node, g.spec}));
    }
  } catch (const InputError&) {
    // Not regenerable (edited): Dijkstra routes.
  }
}

// The devices and links of one topology object, read one element at a time (from the streamed
// arrays of a file as they are parsed, or from a document), each checked as it comes. Links name
// devices, so a link read before the devices array has closed waits until it has (a file
// written by hand may list links first).
class DeviceLinkReader final : public ElementSink {
 public:
  explicit DeviceLinkReader(std::string file) : file_(std::move(file)) {}

  void element(std::string_view array, std::size_t index, nlohmann::json& value) override {
    const JsonReader r(value, file_, fmt::format("/{}/{}", array, index));
    if (array == "devices") {
      device(r);
    } else if (devices_done_) {
      link(r);
    } else {
      waiting_links_.emplace_back(index, std::move(value));
    }
  }
  void array_end(std::string_view array, std::size_t /*count*/) override {
    if (array == "devices") devices_done();
  }

  void device(const JsonReader& d) {
    d.expect_object({"name", "kind", "node", "port_gbit_per_s"});
    const JsonReader name_field = d.at("name");
    std::string name = name_field.as_string();
    if (name.empty()) name_field.fail("empty device name", "a non-empty name");
    const auto index = static_cast<network::DeviceIndex>(devices_.size());
    if (!by_name_.emplace(name, index).second) {
      name_field.fail("duplicate device name", "a name used once");
    }
    const JsonReader kind_field = d.at("kind");
    const auto kind = network::parse_device_kind(kind_field.as_string());
    if (!kind) kind_field.fail("unknown device kind", "one of: " + kinds_list());
    const bool fabric = *kind == DeviceKind::leaf_switch || *kind == DeviceKind::spine_switch;
    int node = fabric ? -1 : 0;
    if (auto n = d.find("node")) {
      if (fabric) n->fail("fabric switches belong to no node", "no \"node\" field");
      node = static_cast<int>(n->as_int_in(0, kMaxNodes - 1));
    }
    double port = 0.0;
    if (auto p = d.find("port_gbit_per_s")) {
      if (*kind != DeviceKind::nic) p->fail("only NICs have a port rate", "no port_gbit_per_s");
      port = p->as_double_in(kMinGbps, kMaxGbps);
    }
    devices_.push_back(Device{std::move(name), *kind, node, port});
  }

  void devices_done() {
    if (devices_done_) return;
    devices_done_ = true;
    for (auto& [index, value] : waiting_links_) {
      link(JsonReader(value, file_, fmt::format("/links/{}", index)));
    }
    waiting_links_ = {};
  }

  void link(const JsonReader& l) {
    l.expect_object({"a", "b", "type", "bandwidth_gbps", "efficiency", "latency_ns", "note"});
    auto end = [&](std::string_view key) {
      const JsonReader f = l.at(key);
      const auto it = by_name_.find(f.as_string());
      if (it == by_name_.end()) f.fail("unknown device", "a device name from /devices");
      return it->second;
    };
    const auto a = end("a");
    const auto b = end("b");
    if (a == b) l.at("b").fail("link from a device to itself", "two different devices");
    LinkSpec spec;
    const JsonReader type_field = l.at("type");
    const auto kind = network::parse_link_kind(type_field.as_string());
    if (!kind) type_field.fail("unknown link type", "one of: nvlink, pcie, cpu, network");
    spec.kind = *kind;
    spec.bandwidth = Bandwidth::from_gbps(l.at("bandwidth_gbps").as_double_in(kMinGbps, kMaxGbps));
    if (auto e = l.find("efficiency")) spec.efficiency = e->as_double_in(0.0, 1.0, true);
    if (auto lat = l.find("latency_ns")) {
      spec.latency = SimTime::from_ns(lat->as_double_in(0.0, kMaxLatencyNs));
    }
    if (auto note = l.find("note")) note->as_string();
    links_.push_back(network::Link{a, b, spec});
  }

  /// Moves the devices and links read into `topo`.
  void add_to(Topology& topo) {
    by_name_ = {};
    topo.reserve(devices_.size(), links_.size());
    for (Device& d : devices_) topo.add_device(std::move(d));
    for (const network::Link& l : links_) topo.add_link(l.a, l.b, l.spec);
    devices_ = {};
    links_ = {};
  }

 private:
  std::string file_;
  std::vector<Device> devices_;
  std::vector<network::Link> links_;
  std::unordered_map<std::string, network::DeviceIndex> by_name_;
  bool devices_done_ = false;
  std::vector<std::pair<std::size_t, nlohmann::json>> waiting_links_;
};

// `parts` holds what was streamed from the document's "devices" and "links" (empty there);
// the document's own elements (a nested "node" object's) are read here.
Topology read_topology_object(const JsonReader& r, DeviceLinkReader& parts,
                              std::optional<GeneratedSpec>* generated) {
  const std::string& file = r.file();
  r.expect_object({"name", "gpu_model", "description", "cpu_vendor", "group_launch_us", "sources",
                   "generated", "devices", "links"});
  Topology topo(r.at("name").as_string(), r.at("gpu_model").as_string());
  topo.set_description(r.string_or("description", ""));
  if (auto v = r.find("cpu_vendor")) {
    const std::string vendor = v->as_string();
    if (vendor == "amd") {
      topo.set_cpu_vendor(network::CpuVendor::amd);
    } else if (vendor != "intel") {
      v->fail("unknown CPU vendor", "intel or amd");
    }
  }
  if (auto v = r.find("group_launch_us")) topo.set_group_launch_us(v->as_double_in(0.0, 1000.0));
  if (auto sources = r.find("sources")) {
    for (const auto& [key, value] : sources->members()) topo.add_source(key, value.as_string());
  }
  for (const JsonReader& d : r.at("devices").elements()) parts.device(d);
  parts.devices_done();
  for (const JsonReader& l : r.at("links").elements()) parts.link(l);
  parts.add_to(topo);
  topo.finalize(file);
  if (auto g = r.find("generated")) {
    GeneratedSpec spec = read_generated(*g);
    if (generated) {
      *generated = std::move(spec);
    } else {
      adopt_structural_routes(topo, spec);
    }
  }
  return topo;
}

Topology read_topology_object(const JsonReader& r, std::optional<GeneratedSpec>* generated) {
  DeviceLinkReader parts(r.file());
  return read_topology_object(r, parts, generated);
}

// Parses `text` streaming the devices and links into the reader (a generated 16,384-GPU file
// never becomes a document of 270,000 objects), then reads the rest.
Topology read_topology_text(const std::string& text, const std::string& file,
                            std::optional<GeneratedSpec>* generated) {
  DeviceLinkReader parts(file);
  const nlohmann::json root = parse_json_text_streaming(text, file, {"devices", "links"}, parts);
  return read_topology_object(JsonReader(root, file), parts, generated);
}

}  // namespace

std::string topology_dir() { return topology_presets_dir().dir; }

std::vector<std::string> topology_presets() { return preset_names(topology_presets_dir()); }

Topology topology_from_json_text(const std::string& text, const std::string& origin) {
  return read_topology_text(text, origin, nullptr);
}

Topology load_topology(const std::string& path_or_preset) {
  const std::string file = resolve_preset(topology_presets_dir(), path_or_preset);
  std::optional<GeneratedSpec> generated;
  Topology topo = read_topology_text(read_json_file_text(file), file, &generated);
  // The text was a temporary of the line above: regenerate without it in memory.
  if (generated) adopt_structural_routes(topo, *generated);
  return topo;
}

std::string topology_to_json(const Topology& t) {
  // One device or link per line: generated clusters stay readable and diffable.
  using Json = nlohmann::ordered_json;
  std::string out = "{\n";
  out += fmt::format(" \"name\": {},\n", Json(t.name()).dump());
  out += fmt::format(" \"gpu_model\": {},\n", Json(t.gpu_model()).dump());
  if (!t.description().empty()) {
    out += fmt::format(" \"description\": {},\n", Json(t.description()).dump());
  }
  if (t.cpu_vendor() == network::CpuVendor::amd) out += " \"cpu_vendor\": \"amd\",\n";
  if (t.group_launch_us() > 0.0) {
    out += fmt::format(" \"group_launch_us\": {},\n", Json(t.group_launch_us()).dump());
  }
  // Sources sorted by key, as they read back (JsonReader::members is sorted).
  auto sources = t.sources();
  std::stable_sort(sources.begin(), sources.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out += " \"sources\": {";
  for (std::size_t i = 0; i < sources.size(); ++i) {
    out += fmt::format("{}\n  {}: {}", i == 0 ? "" : ",", Json(sources[i].first).dump(),
                       Json(sources[i].second).dump());
  }
  out += sources.empty() ? "},\n" : "\n },\n";
  if (const network::GeneratedFrom* g = t.generated_from()) {
    out += " \"generated\": {\n";
    out += fmt::format("  \"nodes\": {},\n", g->spec.nodes);
    out += fmt::format("  \"fabric\": {},\n", Json(std::string(to_string(g->spec.fabric))).dump());
    out += fmt::format("  \"oversubscription\": {},\n", Json(g->spec.oversubscription).dump());
    if (g->spec.nic_gbit_per_s) {
      out += fmt::format("  \"nic_gbit_per_s\": {},\n", Json(*g->spec.nic_gbit_per_s).dump());
    }
    out += fmt::format("  \"nodes_per_unit\": {},\n", g->spec.nodes_per_unit);
    out += fmt::format("  \"link_latency_ns\": {},\n", Json(g->spec.link_latency.ns()).dump());
    out += fmt::format("  \"link_efficiency\": {},\n", Json(g->spec.link_efficiency).dump());
    out += fmt::format("  \"node\": {}", topology_to_json(g->node));
    out.pop_back();  // the node's closing newline
    out += "\n },\n";
  }
  out += " \"devices\": [";
  for (std::size_t i = 0; i < t.devices().size(); ++i) {
    const Device& d = t.devices()[i];
    Json e;
    e["name"] = d.name;
    e["kind"] = std::string(network::to_string(d.kind));
    if (d.node >= 0) e["node"] = d.node;
    if (d.port_gbit_per_s > 0) e["port_gbit_per_s"] = d.port_gbit_per_s;
    out += fmt::format("{}\n  {}", i == 0 ? "" : ",", e.dump());
  }
  out += "\n ],\n \"links\": [";
  for (std::size_t i = 0; i < t.links().size(); ++i) {
    const network::Link& l = t.links()[i];
    Json e;
    e["a"] = t.devices()[l.a].name;
    e["b"] = t.devices()[l.b].name;
    e["type"] = std::string(network::to_string(l.spec.kind));
    e["bandwidth_gbps"] = l.spec.bandwidth.bytes_per_s / 1e9;  // divide: 31.5 stays 31.5
    if (l.spec.efficiency != 1.0) e["efficiency"] = l.spec.efficiency;
    e["latency_ns"] = l.spec.latency.ns();
    out += fmt::format("{}\n  {}", i == 0 ? "" : ",", e.dump());
  }
  out += "\n ]\n}\n";
  return out;
}

}  // namespace moesim::io
