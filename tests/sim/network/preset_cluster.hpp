// A generated cluster of `nodes` nodes of a checked-in node preset (topologies/<preset>.json), for
// the network tests that price collectives on real node shapes.
#pragma once

#include <cstddef>
#include <string>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "tests/testdata.hpp"

namespace moesim::network::test_support {

inline Topology preset_cluster(const std::string& preset, std::size_t nodes) {
  ClusterSpec spec;
  spec.nodes = nodes;
  return generate_cluster(io::load_topology(testing::source_path("topologies/" + preset + ".json")),
                          spec);
}

}  // namespace moesim::network::test_support
