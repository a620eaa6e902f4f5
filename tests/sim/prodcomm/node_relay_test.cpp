// Node-limited routing (distinct tokens), the DeepEP-style relay plan and its network lowering.
// Expected values are computed by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/collectives/deepep_nvlink_rate.hpp"
#include "sim/network/collectives/hybrid_ep_pipeline.hpp"
#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/workload/node_limited_routing.hpp"
#include "sim/workload/node_relay_plan.hpp"

namespace moesim {
namespace {

TEST(DistinctTokens, UnlimitedIsOneMinusMissProbability) {
  // Two GPUs on two nodes, T = 100 tokens, k = 2, 100 assignments each: p = 0.5 per pick,
  // distinct = 100 (1 - 0.5^2) = 75 per GPU and node.
  const std::vector<std::int64_t> a{100, 100};
  const std::vector<int> node{0, 1};
  const DistinctTokens d = expected_distinct_tokens(a, node, 2, 100, 2, 0);
  EXPECT_NEAR(d.per_gpu[0], 75.0, 1e-9);
  EXPECT_NEAR(d.per_node[1], 75.0, 1e-9);
  // Never more distinct tokens than assignments: one assignment is at most one token.
  const std::vector<std::int64_t> few{1, 199};
  EXPECT_LE(expected_distinct_tokens(few, node, 2, 100, 2, 0).per_gpu[0], 1.0);
}

TEST(DistinctTokens, NodeLimitFillsExactlyMNodesPerToken) {
  // 8 nodes x 2 GPUs, uniform, T = 1000, k = 8: unlimited, a node is hit by
  // 1 - (7/8)^8 = 0.6564 of the tokens (5.25 nodes per token).
  std::vector<std::int64_t> a(16, 500);  // k T / 16
  std::vector<int> node;
  for (int g = 0; g < 16; ++g) node.push_back(g / 2);
  const DistinctTokens free = expected_distinct_tokens(a, node, 8, 1000, 8, 0);
  EXPECT_NEAR(free.per_node[3], 1000.0 * (1.0 - std::pow(7.0 / 8.0, 8)), 1e-6);
  // Limit 4: every token visits 4 of the 8 nodes -> 500 per node; a visiting token places
  // 8 / 4 = 2 picks on its node, one of 2 GPUs each: 500 (1 - 0.5^2) = 375 per GPU.
  const DistinctTokens lim = expected_distinct_tokens(a, node, 8, 1000, 8, 4);
  EXPECT_NEAR(lim.per_node[3], 500.0, 1e-6);
  EXPECT_NEAR(lim.per_gpu[7], 375.0, 1e-6);
  double nodes_per_token = 0;
  for (double v : lim.per_node) nodes_per_token += v / 1000.0;
  EXPECT_NEAR(nodes_per_token, 4.0, 1e-6);
  // A limit at or above the nodes loaded changes nothing.
  EXPECT_NEAR(expected_distinct_tokens(a, node, 8, 1000, 8, 8).per_node[0], free.per_node[0], 1e-9);
}

TEST(NodeRelayPlan, CrossesTheNetworkOncePerNodeThenFansOut) {
  // 2 nodes x 2 GPUs, T = 100, k = 2, every source routes 50 assignments to each GPU:
  // p = 0.25 per GPU -> 100 (1 - 0.75^2) = 43.75 tokens per GPU; P = 0.5 per node -> 75.
  NodeRelayInputs in;
  in.assignments.assign(4, std::vector<std::int64_t>(4, 50));
  in.node_of = {0, 0, 1, 1};
  in.tokens = 100;
  in.top_k = 2;
  in.bytes_per_token = 10;
  in.comm_sms = 20;
  const NodeRelayPlan p = make_node_relay_plan(in);
  // GPU 0 (local index 0) sends 75 tokens once to node 1, to its rail peer GPU 2 only.
  EXPECT_EQ(p.exchange.network.at(0, 2), 750);
  EXPECT_EQ(p.exchange.network.at(0, 3), 0);
  EXPECT_EQ(p.exchange.network.at(1, 3), 750);
  EXPECT_EQ(p.exchange.network.at(0, 1), 0);  // same node: NVLink, not the network
  // GPU 2 forwards to GPU 3 what GPU 0 has for it (43.75 tokens), plus its own tokens for GPU 3;
  // likewise GPU 0 for GPU 1 (its own and GPU 2's, GPU 0 being GPU 2's rail peer).
  EXPECT_EQ(p.exchange.local.at(2, 3), std::llround(2 * 437.5));
  EXPECT_EQ(p.exchange.local.at(0, 1), std::llround(2 * 437.5));
  EXPECT_EQ(p.delivered.at(0, 3), std::llround(437.5));
  EXPECT_EQ(p.exchange.comm_sms, 20);
  // DeepEP's counters: RDMA bytes include the own node (2 x 75 tokens), NVL bytes every
  // received token (4 sources x 43.75).
  EXPECT_NEAR(p.rdma_bytes[0], 1500.0, 1e-9);
  EXPECT_NEAR(p.nvl_bytes[3], 1750.0, 1e-9);
  // The combine reverses every leg (bytes scaled by the combine's dtype).
  const NodeRelayExchange c = reversed(p.exchange, 2.0);
  EXPECT_EQ(c.network.at(2, 0), 1500);
  EXPECT_EQ(c.local.at(3, 2), std::llround(2 * 2 * 437.5));
}

// 16 GPUs on 2 DGX H100 nodes: each GPU sends `network_bytes` to its rail peer on the other node
// and, when `local_bytes` > 0, that many to the next GPU of its own node; `relay` holds the legs.
CommOp node_relay_rail_peer_op(std::int64_t network_bytes, std::int64_t local_bytes, int comm_sms,
                               int nodes_field) {
  auto relay = std::make_shared<NodeRelayExchange>();
  relay->network = ByteMatrix(16);
  relay->local = ByteMatrix(16);
  relay->comm_sms = comm_sms;
  if (nodes_field > 0) relay->nodes = nodes_field;
  auto matrix = std::make_shared<ByteMatrix>(16);
  for (std::size_t i = 0; i < 16; ++i) {
    relay->network.set(i, (i + 8) % 16, network_bytes);
    if (local_bytes > 0) relay->local.set(i, (i / 8) * 8 + (i + 1) % 8, local_bytes);
    matrix->set(i, (i + 8) % 16, network_bytes);
  }
  CommOp op;
  op.kind = CommKind::all_to_all_v;
  for (std::uint32_t r = 0; r < 16; ++r) op.ranks.push_back(RankId{r});
  op.matrix = matrix;
  op.relay = relay;
  op.bytes = all_to_all_v_size(*matrix);
  return op;
}

TEST(NodeRelayAllToAll, OneStageOfNetworkAndNvlinkFlowsBoundByTheSlowerLeg) {
  network::ClusterSpec spec;
  spec.nodes = 2;
  const network::Topology t = network::generate_cluster(io::load_topology("dgx-h100"), spec);
  // 16 GPUs; every GPU sends 48.5 MB to its rail peer on the other node: 1 ms at the NIC's
  // 48.5 GB/s (400 Gb/s x 0.97); nothing inside the nodes.
  CommOp op = node_relay_rail_peer_op(48'500'000, 0, 20, 0);
  network::CollectiveConfig cfg;
  const network::FlowPlan plan = network::lower_collective(t, op, cfg);
  EXPECT_EQ(plan.algorithm, network::Algorithm::node_relay);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].flows.size(), 16u);
  network::FlowNetworkModel m(t);
  const double us = m.estimate(op).us();
  EXPECT_GT(us, 1000.0);
  EXPECT_LT(us, 1000.0 + 40.0);  // + one network step and the start-up
  // The analytical model prices the same legs.
  EXPECT_NEAR(network::nccl_best(t, op, cfg).time_us, us, 0.05 * us);
}

TEST(HybridEpPipeline, RoundsDealtToBlocksAndCarriedToTheCombine) {
  // 4096 tokens in chunks of 128 = 32 chunks over 8 blocks: 4 rounds each.
  NodeRelayInputs in;
  in.assignments.assign(4, std::vector<std::int64_t>(4, 50));
  in.node_of = {0, 0, 1, 1};
  in.tokens = 4096;
  in.top_k = 2;
  in.bytes_per_token = 10;
  in.comm_sms = 8;
  const NodeRelayPlan deepep = make_node_relay_plan(in);
  EXPECT_EQ(deepep.exchange.chunk_rounds, 0);
  EXPECT_EQ(deepep.exchange.nodes, 2);
  in.chunk_tokens = kHybridEpTokensPerChunk;
  const NodeRelayPlan hybrid = make_node_relay_plan(in);
  EXPECT_EQ(hybrid.exchange.chunk_rounds, 4);
  EXPECT_EQ(reversed(hybrid.exchange, 1.0).chunk_rounds, 4);
  in.comm_sms = 5;  // 32 chunks over 5 blocks: 7 rounds for the first two
  EXPECT_EQ(make_node_relay_plan(in).exchange.chunk_rounds, 7);
}

TEST(HybridEpPipeline, ForwardingWaitsForEachRoundAndDrainsAfterTheLastChunk) {
  // No rounds (DeepEP): the legs overlap fully.
  EXPECT_DOUBLE_EQ(network::chunked_relay_finish_s(1.0, 0.8, 0, 2), 1.0);
  // 2 nodes, 4 rounds, network 1.0 s, NVLink 0.8 s: a chunk forwards in 0.8 / 8 = 0.1 s; round
  // r lands at r / 4 s. Own chunk 0-0.1, remote waits to 0.25 -> 0.35; own -> 0.45, remote
  // 0.5 -> 0.6; own -> 0.7, remote 0.75 -> 0.85; own -> 0.95, remote 1.0 -> 1.1.
  EXPECT_NEAR(network::chunked_relay_finish_s(1.0, 0.8, 4, 2), 1.1, 1e-12);
  // One node: nothing to wait for, the NVLink leg alone.
  EXPECT_NEAR(network::chunked_relay_finish_s(0.0, 0.8, 4, 1), 0.8, 1e-12);
  // NVLink-bound: the network never stalls it (0.4 s of network, 2 nodes, 1 round: own chunk
  // 0-0.4, remote landed at 0.4 -> 0.8).
  EXPECT_NEAR(network::chunked_relay_finish_s(0.4, 0.8, 1, 2), 0.8, 1e-12);
  // 4 nodes, 1 round, network 1.0 s, NVLink 0.4 s: chunks of 0.1 s; own 0-0.1, then the three
  // remote chunks after they land at 1.0: 1.3.
  EXPECT_NEAR(network::chunked_relay_finish_s(1.0, 0.4, 1, 4), 1.3, 1e-12);
}

TEST(HybridEpPipeline, BothModelsChargeTheDrainAfterTheLastChunk) {
  network::ClusterSpec spec;
  spec.nodes = 2;
  const network::Topology t = network::generate_cluster(io::load_topology("dgx-h100"), spec);
  // 16 H100s: 48.5 MB to the rail peer (1 ms at 48.5 GB/s) and 28.26 MB to the next GPU of the
  // node (0.1 ms at DeepEP's 0.628 x 450 GB/s). 4 rounds, 2 nodes: chunks of 0.1 / 8 ms, and
  // the last remote chunk lands at 1 ms with its forwarding still to do: + 12.5 us.
  CommOp op = node_relay_rail_peer_op(48'500'000, 28'260'000, 8, 2);
  const auto relay = op.relay;
  network::CollectiveConfig cfg;
  const double overlapped_us = network::nccl_best(t, op, cfg).time_us;
  const SimTime overlapped_latency = network::lower_collective(t, op, cfg).stages[0].latency;
  auto chunked = std::make_shared<NodeRelayExchange>(*relay);
  chunked->chunk_rounds = 4;
  op.relay = chunked;
  EXPECT_NEAR(network::nccl_best(t, op, cfg).time_us - overlapped_us, 12.5, 0.1);
  EXPECT_NEAR((network::lower_collective(t, op, cfg).stages[0].latency - overlapped_latency).us(),
              12.5, 0.1);
}

TEST(DeepEpNvlinkRate, NvlinkRoutesAreChargedAtDeepEpsFractionOfTheLineRate) {
  // 646 GB/s counted x 7/8 on the wire over B200's 900 (deepep_nvlink_rate.hpp).
  EXPECT_NEAR(network::kDeepEpNvlinkFractionOfLineRate, 0.628, 0.001);
  const network::Topology h800 = io::load_topology("hgx-h800");
  // H800: NVLink efficiency 0.8 (NCCL's 160 of 200 GB/s) over 0.628: the wire carries 1.274 B
  // per payload byte, so the payload moves at 0.628 x 200 = 125.6 GB/s.
  EXPECT_NEAR(network::deepep_nvlink_wire_factor(h800, RankId{0}, RankId{5}), 0.8 / 0.628, 0.003);
  const network::Topology a6000 = io::load_topology("a6000-8gpu");
  // A6000: gpu0-gpu1 share an NVLink bridge (efficiency 0.853); gpu0-gpu2 go through host
  // memory (SHM), where no DeepEP rate is known: charged as they are.
  EXPECT_NEAR(network::deepep_nvlink_wire_factor(a6000, RankId{0}, RankId{1}), 0.853 / 0.628,
              0.003);
  EXPECT_EQ(network::deepep_nvlink_wire_factor(a6000, RankId{0}, RankId{2}), 1.0);
}

TEST(DeepEpNvlinkRate, BothModelsMoveAnIntranodeExchangeAtTheDeepEpRate) {
  // One H800 node; every GPU sends 10 MB to each of the 7 others over NVLink: 70 MB out and in
  // per GPU at 125.6 GB/s = 557 us (at NCCL's 160 GB/s it would be 438 us).
  const network::Topology t = io::load_topology("hgx-h800");
  auto relay = std::make_shared<NodeRelayExchange>();
  relay->network = ByteMatrix(8);
  relay->local = ByteMatrix(8);
  relay->comm_sms = 24;
  auto matrix = std::make_shared<ByteMatrix>(8);
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t j = 0; j < 8; ++j) {
      if (i == j) continue;
      relay->local.set(i, j, 10'000'000);
      matrix->set(i, j, 10'000'000);
    }
  }
  CommOp op;
  op.kind = CommKind::all_to_all_v;
  for (std::uint32_t r = 0; r < 8; ++r) op.ranks.push_back(RankId{r});
  op.matrix = matrix;
  op.relay = relay;
  op.bytes = all_to_all_v_size(*matrix);
  const double wire_us = 70e6 / (0.628 * 200e9) * 1e6;
  network::FlowNetworkModel m(t);
  const double us = m.estimate(op).us();
  EXPECT_GT(us, wire_us);
  EXPECT_LT(us, wire_us + 40.0);  // + one NVLink step and the start-up
  network::CollectiveConfig cfg;
  EXPECT_NEAR(network::nccl_best(t, op, cfg).time_us, us, 0.02 * us);
}

TEST(Presets, Gb200Nvl72IsOneNvlinkDomainOf72GpusAndRacksMeetOverInfiniBand) {
  const network::Topology rack = io::load_topology("gb200-nvl72");
  EXPECT_EQ(rack.gpu_count(), 72u);
  EXPECT_EQ(rack.gpus_per_node(), 72u);
  network::ClusterSpec spec;
  spec.nodes = 2;
  const network::Topology two = network::generate_cluster(rack, spec);
  EXPECT_EQ(two.gpu_count(), 144u);
  // GPU 0 to GPU 71 stays on NVLink 5 (900 GB/s x 0.802); GPU 0 to GPU 72 (rack 1) crosses one
  // 400 Gb/s NIC (48.5 GB/s).
  EXPECT_NEAR(two.route_bandwidth(RankId{0}, RankId{71}).bytes_per_s / 1e9, 900 * 0.802, 0.5);
  EXPECT_NEAR(two.route_bandwidth(RankId{0}, RankId{72}).bytes_per_s / 1e9, 48.5, 0.5);
  const network::Topology b200 = io::load_topology("dgx-b200");
  EXPECT_EQ(b200.gpu_model(), "b200");
  EXPECT_NEAR(b200.route_bandwidth(RankId{0}, RankId{1}).bytes_per_s / 1e9, 900 * 0.802, 0.5);
}

}  // namespace
}  // namespace moesim
