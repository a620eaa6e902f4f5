// OperationTimeMemo (AnalyticalNetworkModel::start): a remembered time is the model's own
// answer, only the same operation shares it, and a matrix is the same only as the same object.
#include "sim/network/operation_time_memo.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "sim/network/analytical_network_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

// An all-to-all-v over `ranks` where member i sends (i + j + 1) * scale bytes to member j.
CommOp memo_test_exchange(const std::vector<std::uint32_t>& ranks, std::int64_t scale) {
  CommOp o = test_support::comm_op_over(CommKind::all_to_all_v, ranks, 0);
  auto m = std::make_shared<ByteMatrix>(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    for (std::size_t j = 0; j < ranks.size(); ++j) {
      if (i != j) m->set(i, j, static_cast<std::int64_t>(i + j + 1) * scale);
    }
  }
  o.bytes = all_to_all_v_size(*m);
  o.matrix = std::move(m);
  return o;
}

struct MemoTestListener final : CommCompletionListener {
  std::vector<SimTime> done;
  void on_comm_complete(CommId, SimTime at) override { done.push_back(at); }
};

TEST(OperationTimeMemo, EveryFieldAModelReadsTellsOperationsApart) {
  const CommOp base = memo_test_exchange({0, 1, 2, 3}, 1 << 10);
  EXPECT_TRUE(OperationTimeMemo::same_operation(base, CommOp(base)));  // a copy shares the matrix

  CommOp o = base;
  o.kind = CommKind::all_to_all;
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.bytes = Bytes{base.bytes.count + 1};
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.dtype = DType::fp32;
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.root = RankId{2};
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  std::swap(o.ranks[1], o.ranks[2]);  // ring order matters
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.group = CommGroup::tp;
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.matrix = std::make_shared<ByteMatrix>(*base.matrix);  // equal entries, another object
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
  o = base;
  o.relay = std::make_shared<NodeRelayExchange>();
  EXPECT_FALSE(OperationTimeMemo::same_operation(o, base));
}

TEST(OperationTimeMemo, PricesEachDistinctOperationOnce) {
  OperationTimeMemo memo;
  int priced = 0;
  auto price = [&](SimTime t) {
    return [&priced, t] {
      ++priced;
      return t;
    };
  };
  const CommOp a = memo_test_exchange({0, 1, 2, 3}, 1 << 10);
  const CommOp b = test_support::comm_op_over(CommKind::send_recv, {0, 8}, 1 << 20);
  EXPECT_EQ(memo.get_or_compute(a, price(SimTime::from_us(5))), SimTime::from_us(5));
  EXPECT_EQ(memo.get_or_compute(CommOp(a), price(SimTime::from_us(7))), SimTime::from_us(5));
  EXPECT_EQ(memo.get_or_compute(b, price(SimTime::from_us(9))), SimTime::from_us(9));
  EXPECT_EQ(priced, 2);
  EXPECT_EQ(memo.size(), 2u);
}

TEST(OperationTimeMemo, ARememberedMatrixIsNeverConfusedWithALaterOne) {
  // The entry holds its own reference: once the strategy drops the matrix, a new matrix with
  // other traffic cannot take its address and be given the old time.
  OperationTimeMemo memo;
  int priced = 0;
  for (std::int64_t scale = 1; scale <= 8; ++scale) {
    CommOp op = memo_test_exchange({0, 1, 2, 3}, scale);
    op.bytes = Bytes{1 << 20};  // only the matrix tells them apart
    memo.get_or_compute(op, [&] {
      ++priced;
      return SimTime::from_us(static_cast<double>(scale));
    });
  }  // every op (and the strategy's reference to its matrix) is gone here
  EXPECT_EQ(priced, 8);
  EXPECT_EQ(memo.size(), 8u);
}

TEST(OperationTimeMemo, AnalyticalStartsChargeTheModelsOwnEstimate) {
  // Two HGX H800 nodes, the EP group spanning both with PXN: the exchange_us pricing the memo
  // saves. Repeated starts of one operation complete estimate() after each start.
  const Topology topo = test_support::preset_cluster("hgx-h800", 2);
  AnalyticalNetworkModel model(topo);
  std::vector<std::uint32_t> ranks;
  for (std::uint32_t r = 0; r < 16; ++r) ranks.push_back(r);
  const CommOp dispatch = memo_test_exchange(ranks, 1 << 12);
  const CommOp combine = memo_test_exchange(ranks, 1 << 13);
  const SimTime d = model.estimate(dispatch);
  const SimTime c = model.estimate(combine);
  ASSERT_NE(d, c);
  MemoTestListener listener;
  std::vector<SimTime> expected;
  SimTime now = SimTime::zero();
  for (int micro_batch = 0; micro_batch < 4; ++micro_batch) {
    for (const CommOp* op : {&dispatch, &combine}) {
      model.start(CommId{static_cast<std::uint32_t>(expected.size())}, *op, now, listener);
      const SimTime end = now + (op == &dispatch ? d : c);
      expected.push_back(end);
      while (const auto t = model.next_completion(now)) {
        model.advance(now, *t);
        now = *t;
      }
      EXPECT_EQ(now, end);
    }
  }
  EXPECT_EQ(listener.done, expected);
  EXPECT_EQ(model.distinct_started(), 2u);
}

}  // namespace
}  // namespace moesim::network
