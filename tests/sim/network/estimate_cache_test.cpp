// EstimateCache: a remembered estimate is the model's own answer, and only equal operations
// share an answer.
#include "sim/network/estimate_cache.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/flow_network_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"

namespace moesim::network {
namespace {

std::string key(const std::vector<CommOp>& ops) { return EstimateCache::key_of(ops); }

TEST(EstimateCache, EveryFieldAModelReadsIsInTheKey) {
  const CommOp base = test_support::comm_op_over(CommKind::all_to_all, {0, 1, 2, 3}, 1 << 20);
  const std::string k = key({base});
  EXPECT_EQ(key({CommOp(base)}), k);  // a copy asks the same question

  CommOp o = base;
  o.kind = CommKind::all_gather;
  EXPECT_NE(key({o}), k);
  o = base;
  o.bytes = Bytes{(1 << 20) + 1};
  EXPECT_NE(key({o}), k);
  o = base;
  o.dtype = DType::fp32;
  EXPECT_NE(key({o}), k);
  o = base;
  o.root = RankId{2};
  EXPECT_NE(key({o}), k);
  o = base;
  std::swap(o.ranks[1], o.ranks[2]);  // ring order matters
  EXPECT_NE(key({o}), k);
  o = base;
  o.ranks.pop_back();
  EXPECT_NE(key({o}), k);
  o = base;
  o.group = CommGroup::tp;
  EXPECT_NE(key({o}), k);
  // Two ops are not one op, nor the same two in another order.
  const CommOp other = test_support::comm_op_over(CommKind::all_to_all, {4, 5, 6, 7}, 1 << 20);
  EXPECT_NE(key({base, other}), k);
  EXPECT_NE(key({base, other}), key({other, base}));
}

TEST(EstimateCache, AllToAllVMatricesAreComparedEntryByEntry) {
  CommOp a = test_support::comm_op_over(CommKind::all_to_all_v, {0, 1}, 0);
  auto m = std::make_shared<ByteMatrix>(2);
  m->set(0, 1, 100);
  m->set(1, 0, 200);
  a.matrix = m;
  a.bytes = all_to_all_v_size(*m);
  CommOp b = a;
  auto m2 = std::make_shared<ByteMatrix>(*m);  // equal content, another object
  b.matrix = m2;
  EXPECT_EQ(key({a}), key({b}));
  m2->set(0, 1, 150);  // same nccl-tests size (max of sent, received), other traffic
  b.bytes = all_to_all_v_size(*m2);
  ASSERT_EQ(a.bytes, b.bytes);
  EXPECT_NE(key({a}), key({b}));
  CommOp none = a;
  none.matrix = nullptr;
  EXPECT_NE(key({none}), key({a}));
}

TEST(EstimateCache, GivesTheModelsOwnAnswerAndComputesEachQuestionOnce) {
  ClusterSpec spec;
  spec.nodes = 2;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  const FlowNetworkModel model(topo);
  const std::vector<CommOp> stage = {
      test_support::comm_op_over(CommKind::all_to_all, {0, 1, 2, 3, 8, 9, 10, 11}, 64 << 20),
      test_support::comm_op_over(CommKind::all_to_all, {4, 5, 6, 7, 12, 13, 14, 15}, 64 << 20)};
  EstimateCache cache;
  int computed = 0;
  auto price = [&] {
    ++computed;
    return model.estimate_concurrent(stage);
  };
  const SimTime first = cache.get_or_compute(stage, price);
  EXPECT_EQ(first, model.estimate_concurrent(stage));
  EXPECT_EQ(cache.get_or_compute(stage, price), first);
  EXPECT_EQ(computed, 1);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
  // One group alone is another question (on these 8-NIC nodes, with the same answer).
  const std::vector<CommOp> alone = {stage[0]};
  const SimTime single = cache.get_or_compute(alone, [&] { return model.estimate(stage[0]); });
  EXPECT_LE(single, first);
  EXPECT_EQ(single, model.estimate(stage[0]));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(EstimateCache, WorkersSharingOneCacheGetTheSameAnswers) {
  ClusterSpec spec;
  spec.nodes = 2;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  const FlowNetworkModel model(topo);
  std::vector<std::vector<CommOp>> questions;
  std::vector<SimTime> expected;
  for (std::int64_t mib = 1; mib <= 16; ++mib) {
    questions.push_back({test_support::comm_op_over(CommKind::all_reduce, {0, 8}, mib << 20)});
    expected.push_back(model.estimate(questions.back()[0]));
  }
  EstimateCache cache;
  std::vector<std::vector<SimTime>> got(2);
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < got.size(); ++w) {
    workers.emplace_back([&, w] {
      for (const auto& q : questions) {
        got[w].push_back(cache.get_or_compute(q, [&] { return model.estimate(q[0]); }));
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(got[0], expected);
  EXPECT_EQ(got[1], expected);
  EXPECT_EQ(cache.size(), questions.size());
}

}  // namespace
}  // namespace moesim::network
