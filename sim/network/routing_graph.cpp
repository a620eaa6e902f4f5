#include "sim/network/routing_graph.hpp"

#include <algorithm>
#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <cmath>

namespace moesim::network {

namespace {

struct EdgeProps {
  std::int64_t weight = 0;
};
using Graph = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, EdgeProps>;

// Search from the target outwards (weights are symmetric, links full duplex): a vertex that is a
// GPU other than the target is reached but never expanded, so no path passes through a GPU.
struct NoGpuTransit {
  const std::vector<char>* is_gpu = nullptr;
  std::size_t target = 0;
  const Graph* graph = nullptr;
  template <class Edge>
  bool operator()(const Edge& e) const {
    const std::size_t from = boost::source(e, *graph);
    return from == target || !(*is_gpu)[from];
  }
};

}  // namespace

std::int64_t link_weight(const LinkSpec& s, bool touches_cpu) {
  const double gbps = std::max(s.bandwidth.gbps(), 1e-3);
  const auto slow = static_cast<std::int64_t>(std::llround(std::min(1e6 / gbps, 1e9)));
  const auto lat_ns = static_cast<std::int64_t>(std::llround(s.latency.ns()));
  return kHop + (touches_cpu ? kHop / 2 : 0) + slow + lat_ns;
}

struct RoutingGraph::Search {
  Graph graph;
};

RoutingGraph::RoutingGraph(const std::vector<Device>& devices, const std::vector<Link>& links) {
  const std::size_t n = devices.size();
  is_gpu_.resize(n);
  for (std::size_t v = 0; v < n; ++v) is_gpu_[v] = devices[v].kind == DeviceKind::gpu ? 1 : 0;
  head_.resize(2 * links.size());
  weight_.resize(links.size());
  out_offset_.assign(n + 1, 0);
  for (std::size_t i = 0; i < links.size(); ++i) {
    const Link& l = links[i];
    weight_[i] = link_weight(
        l.spec, devices[l.a].kind == DeviceKind::cpu || devices[l.b].kind == DeviceKind::cpu);
    head_[2 * i] = l.b;
    head_[2 * i + 1] = l.a;
    ++out_offset_[l.a + 1];
    ++out_offset_[l.b + 1];
  }
  for (std::size_t v = 0; v < n; ++v) out_offset_[v + 1] += out_offset_[v];
  out_.resize(2 * links.size());
  std::vector<std::uint32_t> fill(out_offset_.begin(), out_offset_.end() - 1);
  std::vector<std::pair<std::size_t, std::size_t>> edges(2 * links.size());
  std::vector<EdgeProps> props(2 * links.size());
  for (std::size_t i = 0; i < links.size(); ++i) {
    out_[fill[links[i].a]++] = static_cast<DirectedLinkId>(2 * i);
    out_[fill[links[i].b]++] = static_cast<DirectedLinkId>(2 * i + 1);
    edges[2 * i] = {links[i].a, links[i].b};
    edges[2 * i + 1] = {links[i].b, links[i].a};
    props[2 * i].weight = props[2 * i + 1].weight = weight_[i];
  }
  search_ = std::make_unique<Search>(Search{
      Graph(boost::edges_are_unsorted_multi_pass, edges.begin(), edges.end(), props.begin(), n)});
}

RoutingGraph::~RoutingGraph() = default;
RoutingGraph::RoutingGraph(RoutingGraph&&) noexcept = default;
RoutingGraph& RoutingGraph::operator=(RoutingGraph&&) noexcept = default;

std::vector<std::int64_t> RoutingGraph::distances_to(DeviceIndex target) const {
  const Graph& g = search_->graph;
  NoGpuTransit keep{&is_gpu_, target, &g};
  boost::filtered_graph<Graph, NoGpuTransit> fg(g, keep);
  std::vector<std::int64_t> dist(device_count(), kUnreachable);
  boost::dijkstra_shortest_paths(fg, target,
                                 boost::weight_map(boost::get(&EdgeProps::weight, g))
                                     .distance_map(boost::make_iterator_property_map(
                                         dist.begin(), boost::get(boost::vertex_index, g)))
                                     .distance_inf(kUnreachable));
  return dist;
}

NextHops RoutingGraph::next_hops(DeviceIndex target, const std::vector<std::int64_t>& dist) const {
  const std::size_t n = device_count();
  NextHops hops;
  hops.offset.assign(n + 1, 0);
  for (std::size_t u = 0; u < n; ++u) {
    hops.offset[u] = static_cast<std::uint32_t>(hops.next.size());
    if (u == target || dist[u] >= kUnreachable) continue;
    for (DirectedLinkId d : out_links(static_cast<DeviceIndex>(u))) {
      const DeviceIndex v = head_[d];
      if (dist[v] >= kUnreachable || (is_gpu_[v] && v != target)) continue;
      if (dist[v] + weight_[d / 2] == dist[u]) hops.next.push_back(d);
    }
  }
  hops.offset[n] = static_cast<std::uint32_t>(hops.next.size());
  hops.next.shrink_to_fit();
  return hops;
}

}  // namespace moesim::network
