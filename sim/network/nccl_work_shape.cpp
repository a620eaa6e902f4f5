#include "sim/network/nccl_work_shape.hpp"

#include <algorithm>

namespace moesim::network {

int nccl_max_threads(Protocol p) {
  switch (p) {
    case Protocol::ll:
      return 512;
    case Protocol::ll128:
      return 640;
    case Protocol::simple:
      return 512;
  }
  return 512;
}

double nccl_thread_threshold_bytes(Algorithm a, Protocol p, std::size_t ranks) {
  switch (p) {
    case Protocol::ll:
      return a == Algorithm::ring ? 8.0 * static_cast<double>(std::max<std::size_t>(1, ranks))
                                  : 8.0;
    case Protocol::ll128:
      return 8.0;
    case Protocol::simple:
      return 64.0;
  }
  return 64.0;
}

NcclWorkShape nccl_work_shape(double bytes, Algorithm a, Protocol p, int comm_channels,
                              std::size_t ranks) {
  NcclWorkShape shape{std::max(1, comm_channels), nccl_max_threads(p)};
  const double threshold = nccl_thread_threshold_bytes(a, p, ranks);
  // The loop of enqueue.cc, one channel at a time, then halving threads on the last channel.
  while (bytes <
         static_cast<double>(shape.channels) * static_cast<double>(shape.threads) * threshold) {
    if (shape.channels >= 2) {
      --shape.channels;
    } else if (shape.threads % 128 == 0) {
      shape.threads /= 2;
    } else {
      break;
    }
  }
  return shape;
}

int nccl_network_work_channels(int network_channels, double bytes, Algorithm a, Protocol p,
                               std::size_t ranks) {
  const int nics = std::max(1, network_channels);
  return std::min(nics, nccl_work_shape(bytes, a, p, nics, ranks).channels);
}

}  // namespace moesim::network
