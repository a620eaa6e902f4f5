// The cluster as the workload sees it (workload/training_job.hpp's ClusterShape), read off a
// topology: node count, GPUs per node, GPU model and the node of every rank.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sim/network/topology.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::network {

inline ClusterShape cluster_shape_of(const Topology& topology) {
  ClusterShape shape;
  shape.nodes = static_cast<std::int64_t>(topology.node_count());
  shape.gpus_per_node = static_cast<std::int64_t>(topology.gpus_per_node());
  shape.gpu_model = topology.gpu_model();
  shape.node_of_rank.reserve(topology.gpu_count());
  for (std::size_t r = 0; r < topology.gpu_count(); ++r) {
    shape.node_of_rank.push_back(topology.node_of(RankId{static_cast<std::uint32_t>(r)}));
  }
  return shape;
}

}  // namespace moesim::network
