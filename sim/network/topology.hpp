// Topology: the devices of a machine or cluster (GPUs, NVSwitches, PCIe switches, CPUs, NICs, leaf
// and spine switches) and the full-duplex links between them, with routes between every pair of
// GPUs (router.hpp).
//
// Units and invariants:
//  - A link is full duplex: `bandwidth` is the line rate of EACH direction (GB/s = 1e9 B/s, as
//    nccl-tests). `efficiency` in (0, 1] is the fraction of it that payload achieves (protocol
//    headers, encoding); models use effective_bandwidth() = bandwidth * efficiency.
//  - Directed link ids: link i carries a->b as directed link 2i and b->a as 2i+1.
//  - Ranks: rank r is the r-th GPU in device order (file order). Every GPU belongs to a node
//    (`node` >= 0); fabric switches (leaf, spine) belong to none (-1). Nodes are numbered densely
//    from 0 and all hold the same number of GPUs.
//  - Routes: shortest paths by weight (hops first, then a penalty for slower links, then latency;
//    routing_graph.hpp), never passing THROUGH a GPU (GPUs are endpoints, as NCCL's P2P paths).
//    Where several next hops tie (equal-cost spines), the one taken is (destination node +
//    destination local rank) mod the number of ties: deterministic, destination-based ECMP as
//    InfiniBand fat trees route (OpenSM ftree "D-mod-K"), the same on every run and machine and
//    balanced for all-to-all traffic. finalize() installs a ShortestPathRouter (on demand, cached
//    per destination); generate_cluster() replaces it by a FabricRouter (closed form, same routes).
//    Memory grows with devices + links, never with their square.
//  - No PCIe peer-to-peer (GeForce cards; NCCL's SHM transport): a node that holds a device of
//    kind host_memory (cabled to one CPU, its link rate = what that socket's memory and root
//    complex move for GPU copies, reads and writes together) has no PCIe P2P between its GPUs.
//    A route between two GPUs of that node that is not NVLink only is diverted through the CPU
//    local to the destination GPU, as NCCL does when P2P is off (src/graph/paths.cc,
//    ncclTopoComputePaths: "Divert all traffic through the CPU"), and crosses that CPU's
//    host_memory link twice, in the same direction: the sender's write into the SHM buffer and
//    the receiver's read from it (the buffer lives on the receiver's side, NCCL_SHM_LOCALITY
//    default, src/transport/shm.cc). So every SHM transfer landing on a socket shares its memory
//    port, and a flow alone gets half of it (route_bandwidth counts links by multiplicity).
//    NVLink pairs (A6000 bridges) keep P2P.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/core/units.hpp"
#include "sim/network/router.hpp"

namespace moesim::network {

struct GeneratedFrom;  // cluster_generator.hpp
struct RingSetMemo;    // collectives/ring_search.hpp
struct PxnRelayMemo;   // collectives/pxn_relays.hpp

enum class DeviceKind : std::uint8_t {
  gpu,
  nvswitch,
  pcie_switch,
  cpu,
  nic,
  leaf_switch,
  spine_switch,
  host_memory,  ///< a socket's memory staging SHM copies (see the header comment)
};
std::string_view to_string(DeviceKind kind);
std::optional<DeviceKind> parse_device_kind(std::string_view name);

/// What a link is made of; decides which NCCL latency class applies to it (NVLink, PCI, NET).
enum class LinkKind : std::uint8_t { nvlink, pcie, cpu, network };
std::string_view to_string(LinkKind kind);
std::optional<LinkKind> parse_link_kind(std::string_view name);

/// Host CPU vendor (NCCL's x86 distinction): it sets the CPU cost of posting a network operation.
enum class CpuVendor : std::uint8_t { intel, amd };

using DeviceIndex = std::uint32_t;
using LinkIndex = std::uint32_t;

struct Device {
  std::string name;
  DeviceKind kind = DeviceKind::gpu;
  int node = -1;  ///< node index, -1 for fabric switches
  /// NICs only: line rate of the network port (Gb/s, gigabits, network convention: NDR = 400),
  /// used when a cluster generator cables the NIC to a switch. 0 = none.
  double port_gbit_per_s = 0.0;
};

struct LinkSpec {
  LinkKind kind = LinkKind::nvlink;
  Bandwidth bandwidth;      ///< per direction, line rate
  double efficiency = 1.0;  ///< achievable payload fraction, (0, 1]
  SimTime latency;          ///< one-way, per traversal
  Bandwidth effective() const { return {bandwidth.bytes_per_s * efficiency}; }
};

struct Link {
  DeviceIndex a = 0;
  DeviceIndex b = 0;
  LinkSpec spec;
};

class Topology {
 public:
  Topology(std::string name, std::string gpu_model);

  // --- building (before finalize) ---
  /// Room for this many devices and links (a loader that knows them adds without regrowing).
  void reserve(std::size_t devices, std::size_t links);
  DeviceIndex add_device(Device device);
  LinkIndex add_link(DeviceIndex a, DeviceIndex b, LinkSpec spec);
  /// Free-form provenance notes ("what number came from where"), kept and written back.
  void add_source(std::string key, std::string text);
  void set_description(std::string text) { description_ = std::move(text); }
  /// The host CPU's vendor as NCCL tells them apart (its per-network-operation CPU overhead,
  /// NVIDIA/nccl src/graph/tuning.cc: 1 us Intel, 2 us AMD); "intel" unless a file says "amd".
  void set_cpu_vendor(CpuVendor vendor) { cpu_vendor_ = vendor; }
  /// Host time of launching one more GPU's collective kernel when one thread drives several GPUs
  /// (nccl-tests -g; CollectiveConfig::gpus_per_thread), us; a preset's "group_launch_us", 0
  /// where none was measured. Never charged with one process per GPU.
  void set_group_launch_us(double us) { group_launch_us_ = us; }
  /// Validates (GPUs present, node numbering, same GPU count per node, every GPU reaching every
  /// other) and installs a ShortestPathRouter. Errors are InputErrors naming `origin` (the file)
  /// and the JSON path of the offending device, e.g. "/devices/3".
  void finalize(std::string_view origin = "topology");
  bool finalized() const { return router_ != nullptr; }
  /// Replaces the router of a finalized topology by one that computes the same routes faster
  /// (generate_cluster: FabricRouter). Copies of the topology share it.
  void set_router(std::shared_ptr<const Router> router);
  const std::shared_ptr<const Router>& router() const { return router_; }
  /// The memo of ring sets (collectives/ring_search.hpp: node_ring_set), null before finalize.
  RingSetMemo* ring_set_memo() const { return ring_set_memo_.get(); }
  /// The memo of PXN relay tables (collectives/pxn_relays.hpp), null before finalize.
  PxnRelayMemo* pxn_relay_memo() const { return pxn_relay_memo_.get(); }
  /// Generated clusters: the node and spec they came from (written to their files, so that a
  /// loaded copy keeps the structural routes); null otherwise.
  void set_generated_from(std::shared_ptr<const GeneratedFrom> from) {
    generated_from_ = std::move(from);
  }
  const GeneratedFrom* generated_from() const { return generated_from_.get(); }

  // --- queries ---
  const std::string& name() const { return name_; }
  const std::string& gpu_model() const { return gpu_model_; }
  const std::string& description() const { return description_; }
  CpuVendor cpu_vendor() const { return cpu_vendor_; }
  double group_launch_us() const { return group_launch_us_; }
  const std::vector<std::pair<std::string, std::string>>& sources() const { return sources_; }
  const std::vector<Device>& devices() const { return devices_; }
  const std::vector<Link>& links() const { return links_; }
  std::optional<DeviceIndex> find_device(std::string_view name) const;

  std::size_t gpu_count() const { return gpus_.size(); }
  std::size_t node_count() const { return node_count_; }
  std::size_t gpus_per_node() const { return node_count_ == 0 ? 0 : gpus_.size() / node_count_; }
  int node_of(RankId rank) const { return devices_[gpu_device(rank)].node; }
  /// Position of the rank's GPU inside its node (0 .. gpus_per_node-1).
  std::size_t local_rank(RankId rank) const { return local_rank_[rank.index()]; }
  DeviceIndex gpu_device(RankId rank) const { return gpus_[rank.index()]; }
  /// True if the node's GPUs meet at an NVSwitch (NVLS is possible there).
  bool node_has_nvswitch(int node) const;
  /// True if the node has no PCIe peer-to-peer: its non-NVLink GPU pairs use SHM (host_memory).
  bool node_uses_shm(int node) const;
  /// True if the route from src to dst is an SHM transfer (same node without P2P, not NVLink).
  bool is_shm_pair(RankId src, RankId dst) const;

  std::size_t directed_link_count() const { return links_.size() * 2; }
  const Link& link_of(DirectedLinkId d) const { return links_[d / 2]; }
  DeviceIndex head_of(DirectedLinkId d) const;  ///< device the directed link enters
  DeviceIndex tail_of(DirectedLinkId d) const;  ///< device the directed link leaves
  /// Effective capacity of one direction, bytes/s.
  double capacity(DirectedLinkId d) const { return links_[d / 2].spec.effective().bytes_per_s; }

  /// Appends the directed links from `src` to `dst` (empty when src == dst).
  void route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const;
  std::vector<DirectedLinkId> route(RankId src, RankId dst) const;
  /// Sum of link latencies along the route.
  SimTime route_latency(RankId src, RankId dst) const;
  /// Slowest effective link on the route (the contention-free bottleneck), bytes/s.
  Bandwidth route_bandwidth(RankId src, RankId dst) const;

  /// Sum of the GPU's own links (NVLink + PCIe), per direction, line rate.
  Bandwidth gpu_injection(RankId rank) const;
  /// Network ports of the GPU's node divided by its GPUs, per direction, line rate; zero for a
  /// single node without cabled NICs.
  Bandwidth gpu_network_injection(RankId rank) const;
  /// Effective capacity (bytes/s, one direction) of the network ports of a node's NICs.
  Bandwidth node_network_capacity(int node) const {
    return {node_network_effective_[static_cast<std::size_t>(node)]};
  }
  /// Max flow (one direction, line rate) from the first half of the GPUs (rank order) to the
  /// second half, the standard bisection of the rank space.
  Bandwidth bisection_bandwidth() const;

 private:
  void check_gpus_reach_each_other(std::string_view origin) const;
  void index_host_memory(std::string_view origin);
  void check_shm_routes(std::string_view origin) const;
  /// Turns the P2P route in `out` from `begin` on into the SHM route (see the header comment);
  /// returns false if no CPU with host memory can be reached along it.
  bool divert_through_host(std::vector<DirectedLinkId>& out, std::size_t begin) const;

  std::string name_;
  std::string gpu_model_;
  std::string description_;
  CpuVendor cpu_vendor_ = CpuVendor::intel;
  double group_launch_us_ = 0.0;
  std::vector<std::pair<std::string, std::string>> sources_;
  std::vector<Device> devices_;
  std::vector<Link> links_;
  std::vector<DeviceIndex> gpus_;
  std::vector<std::uint32_t> local_rank_;
  std::size_t node_count_ = 0;
  std::unordered_map<std::string, DeviceIndex> by_name_;
  std::vector<char> node_has_nvswitch_;
  std::vector<char> node_uses_shm_;
  /// Per device: for a CPU, its directed link into its host_memory device; for a PCIe switch,
  /// its directed link up to a CPU (and back: the same id ^ 1). kNoLink otherwise.
  static constexpr DirectedLinkId kNoLink = ~DirectedLinkId{0};
  std::vector<DirectedLinkId> host_memory_in_;
  std::vector<DirectedLinkId> cpu_uplink_;
  std::vector<double> gpu_injection_;           ///< per rank, bytes/s
  std::vector<double> network_injection_;       ///< per node, bytes/s per GPU
  std::vector<double> node_network_effective_;  ///< per node, bytes/s
  std::shared_ptr<const Router> router_;
  /// Ring sets already searched on this topology (collectives/ring_search.hpp); made by
  /// finalize, shared by copies (they have the same routes).
  std::shared_ptr<RingSetMemo> ring_set_memo_;
  /// PXN relay tables already made (collectives/pxn_relays.hpp); as ring_set_memo_.
  std::shared_ptr<PxnRelayMemo> pxn_relay_memo_;
  std::shared_ptr<const GeneratedFrom> generated_from_;
};

}  // namespace moesim::network
