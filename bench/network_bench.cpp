// Flow-model speed: a full all-to-all (every GPU to every other, 1 MiB each) on generated
// rail-optimized DGX-H100 clusters of 8, 64, 256 and 1024 GPUs (1,047,552 concurrent flows at
// 1024), run to completion with exact max-min sharing. Each size runs in a child process so its
// peak resident memory (getrusage ru_maxrss, via wait4) is its own.
// Usage: moesim_bench_network [GPUS...]   (default: 8 64 256 1024)
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/flow_network_model.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using moesim::network::CommCompletionListener;

struct Last final : CommCompletionListener {
  moesim::SimTime at;
  void on_comm_complete(moesim::CommId, moesim::SimTime t) override { at = t; }
};

int run_one(std::size_t gpus) {
  using namespace moesim;
  using namespace moesim::network;
  const auto t0 = Clock::now();
  ClusterSpec spec;
  spec.nodes = gpus / 8;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  const auto t1 = Clock::now();
  CommOp op;
  op.kind = CommKind::all_to_all;
  for (std::uint32_t r = 0; r < gpus; ++r) op.ranks.push_back(RankId{r});
  op.bytes = Bytes{static_cast<std::int64_t>(gpus) * 1024 * 1024};  // 1 MiB to every peer
  FlowNetworkModel model(topo);
  Last last;
  FlowPlan plan = lower_all_to_all(topo, op, {});
  const std::size_t flows = plan.flow_count();
  model.start_plan(CommId{0}, std::move(plan), SimTime::zero(), last);
  SimTime now;
  while (auto t = model.next_completion(now)) {
    model.advance(now, *t);
    now = *t;
  }
  const auto t2 = Clock::now();
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  fmt::print(
      "{:>5} GPUs {:>9} flows  topology+routes {:>8.3f} s  simulate {:>8.3f} s  "
      "completion {:>10.3f} us  recomputations {:>3}  peak RSS {:>7.1f} MB\n",
      gpus, flows, std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(), last.at.us(), model.recomputations(),
      static_cast<double>(self.ru_maxrss) / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {8, 64, 256, 1024};
  for (std::size_t gpus : sizes) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      const int rc = run_one(gpus);
      std::fflush(stdout);
      _exit(rc);
    }
    int status = 0;
    rusage child{};
    wait4(pid, &status, 0, &child);
    if (status != 0) return 1;
  }
  return 0;
}
