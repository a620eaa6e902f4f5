// The same all-to-all in SimGrid and in moesim, in one run, on the same generated DGX-H100
// cluster: every GPU sends `MiB` MiB to every other (default 256 GPUs, 1 MiB). SimGrid 3.32
// (Debian libsimgrid-dev) gets moesim's exact routes as a Full zone of one-way links (one link per
// directed link, capacity = moesim's effective bandwidth, latency = moesim's), the CM02 model
// without cross-traffic (plain max-min sharing, SimGrid's src/kernel/resource/models/
// network_cm02.cpp), and one asynchronous Comm per pair; moesim runs the pairs as one flow stage.
// Prints wall time and peak RSS of each and the ratio. Built only where SimGrid is installed.
//   ./build/bench/simgrid/moesim_bench_simgrid [GPUS] [MiB]
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/flow_network_model.hpp"

namespace {

using namespace moesim;
namespace sg4 = simgrid::s4u;

double peak_rss_mb() {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  return static_cast<double>(self.ru_maxrss) / 1024.0;
}

struct Last final : network::CommCompletionListener {
  SimTime at;
  void on_comm_complete(CommId, SimTime t) override { at = t; }
};

}  // namespace

int main(int argc, char** argv) {
  sg4::Engine engine(&argc, argv);
  const std::uint32_t gpus = argc > 1 ? static_cast<std::uint32_t>(std::stoul(argv[1])) : 256;
  const double mib = argc > 2 ? std::stod(argv[2]) : 1.0;
  const double bytes = mib * 1024 * 1024;
  network::ClusterSpec spec;
  spec.nodes = std::max<std::uint32_t>(1, gpus / 8);
  const network::Topology topo = network::generate_cluster(io::load_topology("dgx-h100"), spec);
  const auto n = static_cast<std::uint32_t>(topo.gpu_count());

  // --- SimGrid ---
  engine.set_config("network/model:CM02");
  engine.set_config("network/crosstraffic:0");
  engine.set_config("network/TCP-gamma:0");  // no TCP window bound on rates
  const auto sg_start = std::chrono::steady_clock::now();
  auto* zone = sg4::create_full_zone("cluster");
  std::vector<sg4::Host*> hosts;
  for (std::uint32_t r = 0; r < n; ++r)
    hosts.push_back(zone->create_host(fmt::format("g{}", r), 1e9)->seal());
  std::vector<sg4::Link*> links;
  for (network::DirectedLinkId d = 0; d < topo.directed_link_count(); ++d) {
    links.push_back(zone->create_link(fmt::format("l{}", d), topo.capacity(d))
                        ->set_latency(topo.link_of(d).spec.latency.ps() * 1e-12)
                        ->seal());
  }
  std::vector<network::DirectedLinkId> route;
  for (std::uint32_t s = 0; s < n; ++s) {
    for (std::uint32_t t = 0; t < n; ++t) {
      if (s == t) continue;
      route.clear();
      topo.route(RankId{s}, RankId{t}, route);
      std::vector<sg4::LinkInRoute> in_route;
      for (network::DirectedLinkId d : route) in_route.emplace_back(links[d]);
      zone->add_route(hosts[s]->get_netpoint(), hosts[t]->get_netpoint(), nullptr, nullptr,
                      in_route, false);
    }
  }
  zone->seal();
  sg4::Actor::create("driver", hosts[0], [&] {
    std::vector<sg4::CommPtr> comms;
    for (std::uint32_t t = 0; t < n; ++t) {
      for (std::uint32_t s = 0; s < n; ++s) {
        if (s != t)
          comms.push_back(
              sg4::Comm::sendto_async(hosts[s], hosts[t], static_cast<std::uint64_t>(bytes)));
      }
    }
    sg4::Comm::wait_all(comms);
  });
  engine.run();
  const double sg_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sg_start).count();
  const double sg_sim_us = sg4::Engine::get_clock() * 1e6;
  const double sg_rss = peak_rss_mb();

  // --- moesim ---
  const auto m_start = std::chrono::steady_clock::now();
  network::FlowPlan plan;
  plan.stages.push_back(network::Stage{SimTime::zero(), {}});
  for (std::uint32_t t = 0; t < n; ++t) {
    for (std::uint32_t s = 0; s < n; ++s) {
      if (s != t) plan.stages[0].flows.push_back({s, t, bytes, network::Segment::full});
    }
  }
  network::FlowNetworkModel model(topo);
  Last last;
  model.start_plan(CommId{0}, std::move(plan), SimTime::zero(), last);
  SimTime now;
  while (auto next = model.next_completion(now)) {
    model.advance(now, *next);
    now = *next;
  }
  const double m_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  fmt::print("all-to-all, {} GPUs, {} MiB per pair, {} flows\n", n, mib,
             static_cast<std::uint64_t>(n) * (n - 1));
  fmt::print(
      "  SimGrid 3.32 (CM02, max-min): {:9.3f} s wall, peak RSS {:7.1f} MB, ends at {:.3f} us\n",
      sg_wall, sg_rss, sg_sim_us);
  fmt::print(
      "  moesim flow model:            {:9.3f} s wall, peak RSS {:7.1f} MB (process), ends at "
      "{:.3f} us\n",
      m_wall, peak_rss_mb(), last.at.us());
  fmt::print("  moesim is {:.1f}x faster; simulated times differ by {:.2e} relative\n",
             sg_wall / m_wall, std::abs(last.at.us() - sg_sim_us) / sg_sim_us);
  return 0;
}
