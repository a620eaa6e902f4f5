#include "sim/network/collectives/hybrid_ep_pipeline.hpp"

#include <algorithm>

namespace moesim::network {

double chunked_relay_finish_s(double net_s, double nvl_s, int rounds, int nodes) {
  if (rounds <= 0 || nodes <= 0) return std::max(net_s, nvl_s);
  const double rounds_d = static_cast<double>(rounds);
  // One (round, node) chunk's forwarding: the NVLink leg over every chunk the block forwards.
  const double chunk_s = nvl_s / (rounds_d * static_cast<double>(nodes));
  double t_s = 0;
  for (int round = 1; round <= rounds; ++round) {
    t_s += chunk_s;  // the own node's chunk: in this GPU's memory from the start
    const double landed_s = net_s * static_cast<double>(round) / rounds_d;
    for (int node = 1; node < nodes; ++node) t_s = std::max(t_s, landed_s) + chunk_s;
  }
  return t_s;
}

}  // namespace moesim::network
