// Shared pieces of the strategy unit tests: cost models with round numbers (so times can be
// computed by hand), a tiny model, a cluster shape, and views of a built graph.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/network/ideal_network_model.hpp"
#include "sim/strategies/strategy.hpp"

namespace moesim::strategies::test_support {

/// A fixed-rate GPU and an ideal network. Defaults: 1 GFLOP/s (1 flop = 1 ns), memory that never
/// binds, no launch overhead; 1 GB/s (1 B = 1 ns), no latency.
struct FixedCosts {
  explicit FixedCosts(double flops_per_s = 1e9, double memory_bytes_per_s = 1e30,
                      double network_gbps = 1.0, SimTime network_latency = SimTime::zero())
      : compute([&] {
          compute::FixedRateParams p;
          p.flop_rate = FlopRate{flops_per_s};
          p.memory = Bandwidth{memory_bytes_per_s};
          p.launch_overhead = SimTime::zero();
          return p;
        }()),
        network(Bandwidth::from_gbps(network_gbps), network_latency) {}
  FixedCosts(const FixedCosts&) = delete;  // `costs` refers to the members
  FixedCosts& operator=(const FixedCosts&) = delete;

  compute::FixedRateComputeModel compute;
  network::IdealNetworkModel network;
  CostModels costs{compute, network};
};

/// One MoE layer, M = 8, FFN 16, E = 2, k = 1, f = 1, micro-batch 1, fp32.
inline ModelSpec tiny_model(std::int64_t heads, std::int64_t seq_len) {
  ModelSpec m;
  m.name = "tiny";
  m.layers = 1;
  m.hidden = 8;
  m.ffn_hidden = 16;
  m.expert_ffn_hidden = 16;
  m.heads = heads;
  m.kv_heads = heads;
  m.seq_len = seq_len;
  m.micro_batch = 1;
  m.experts = 2;
  m.top_k = 1;
  m.capacity_factor = 1.0;
  m.dtype = DType::fp32;
  return m;
}

inline ClusterShape shape_of(std::int64_t nodes, std::int64_t per_node) {
  ClusterShape c;
  c.nodes = nodes;
  c.gpus_per_node = per_node;
  return c;
}

/// A dropless pipeline test model: `layers` MoE layers, M = 32, FFN 64, E = 4, k = 2, a
/// vocabulary of `vocab` tokens (0: no embedding, head or loss) and `mtp` multi-token prediction
/// layers.
inline ModelSpec dropless_model(std::int64_t layers, std::int64_t vocab = 0, std::int64_t mtp = 0) {
  ModelSpec m = tiny_model(2, 64);
  m.layers = layers;
  m.hidden = 32;
  m.ffn_hidden = 64;
  m.expert_ffn_hidden = 64;
  m.experts = 4;
  m.top_k = 2;
  m.dropless = true;
  m.vocab_size = vocab;
  m.mtp_layers = mtp;
  return m;
}

/// `m` on one node of `gpus` GPUs under `parallel`, uniform routing (seed 7).
inline TrainingJob uniform_job(const ModelSpec& m, std::string_view parallel, std::int64_t gpus) {
  return make_training_job(m, parse_parallel_layout(parallel, "-p"), shape_of(1, gpus),
                           GeneratedRouting(RoutingDistribution::uniform, 0.0, 7), 0);
}

/// The graph's collectives by task name.
inline std::map<std::string, std::vector<const CommRecord*>> comms_by_name(const TaskGraph& g) {
  std::map<std::string, std::vector<const CommRecord*>> out;
  for (const CommRecord& c : g.comms()) out[g.names()[c.name]].push_back(&c);
  return out;
}

/// Expert GEMM1 forward tokens of a rank: the m of its "expert1" kernels.
inline std::int64_t expert1_tokens(const TaskGraph& g, RankId r) {
  std::int64_t n = 0;
  for (const Task& t : g.tasks()) {
    if (t.rank == r && g.names()[t.name] == "expert1") n += g.compute_of(t)->shape.m;
  }
  return n;
}

}  // namespace moesim::strategies::test_support
