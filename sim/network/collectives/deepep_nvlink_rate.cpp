#include "sim/network/collectives/deepep_nvlink_rate.hpp"

#include <algorithm>
#include <limits>

namespace moesim::network {

double deepep_nvlink_wire_factor(const Topology& topo, RankId src, RankId dst) {
  const Link* slowest = nullptr;
  double slowest_bps = std::numeric_limits<double>::infinity();
  for (DirectedLinkId d : topo.route(src, dst)) {
    const double bps = topo.capacity(d);
    if (bps < slowest_bps) {
      slowest_bps = bps;
      slowest = &topo.link_of(d);
    }
  }
  if (slowest == nullptr || slowest->spec.kind != LinkKind::nvlink) return 1.0;
  return std::max(1.0, slowest->spec.efficiency / kDeepEpNvlinkFractionOfLineRate);
}

}  // namespace moesim::network
