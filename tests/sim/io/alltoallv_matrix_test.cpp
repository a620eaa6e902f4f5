// nccl-tests all-to-all-v matrix files: the exported matrices are the strategy layer's own
// dropless dispatch/combine matrices, the text is what alltoallv_perf parses (square,
// whitespace separated, row = sender), and files round-trip.
#include "sim/io/alltoallv_matrix.hpp"

#include <gtest/gtest.h>

#include "sim/core/errors.hpp"
#include "sim/strategies/emission_context.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::io {
namespace {

using strategies::test_support::FixedCosts;

// 8 experts top-2 on 8 GPUs, ep=4 (two EP groups), skewed routing, two MoE layers.
TrainingJob skewed_job() {
  ModelSpec m = strategies::test_support::tiny_model(1, 64);
  m.layers = 2;
  m.experts = 8;
  m.top_k = 2;
  m.dropless = true;
  return make_training_job(m, parse_parallel_layout("ep=4", "-p"),
                           strategies::test_support::shape_of(1, 8),
                           GeneratedRouting(RoutingDistribution::zipf, 1.2, 7), 0);
}

bool same(const ByteMatrix& a, const ByteMatrix& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < a.size(); ++j) {
      if (a.at(i, j) != b.at(i, j)) return false;
    }
  }
  return true;
}

}  // namespace

TEST(AlltoallvMatrix, MatchesTheStrategyLayersDroplessExchange) {
  const TrainingJob job = skewed_job();
  FixedCosts f;
  strategies::EmissionContext::Options o;
  o.pad_to_capacity = false;
  o.apply_capacity = false;
  strategies::EmissionContext builder(job, f.costs, o);
  const auto matrices = expert_exchange_matrices(job);
  ASSERT_EQ(matrices.size(), 2u * 2u * 2u);  // layers x directions x EP groups
  for (const auto& m : matrices) {
    const strategies::MoeLayerPlan& plan = builder.plan(m.moe_layer);
    const auto& expected = m.combine ? plan.combine : plan.dispatch;
    ASSERT_LT(m.ep_group, expected.size());
    EXPECT_TRUE(same(m.matrix, *expected[m.ep_group])) << m.file_name();
    EXPECT_EQ(m.ranks, job.mapping.groups(GroupKind::ep)[m.ep_group]);
  }
  // Token conservation: every routed assignment is sent once (k * T per replica, 8 replicas).
  std::int64_t dispatched = 0;
  for (const auto& m : matrices) {
    if (!m.combine && m.moe_layer == 0) dispatched += m.matrix.total();
  }
  EXPECT_EQ(dispatched, 8 * 2 * 64 * job.model.hidden * 4);
}

TEST(AlltoallvMatrix, TextIsOneRowPerSenderAndRoundTrips) {
  ByteMatrix m(3);
  const std::int64_t values[3][3] = {{0, 4096, 16}, {32, 0, 1 << 20}, {7, 8, 9}};
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) m.set(i, j, values[i][j]);
  }
  const std::string text = alltoallv_matrix_text(m);
  EXPECT_EQ(text, "0 4096 16\n32 0 1048576\n7 8 9\n");
  EXPECT_TRUE(same(alltoallv_matrix_from_text(text, "m.txt"), m));
  for (const auto& x : expert_exchange_matrices(skewed_job())) {
    EXPECT_TRUE(same(alltoallv_matrix_from_text(alltoallv_matrix_text(x.matrix), "x"), x.matrix));
  }
}

TEST(AlltoallvMatrix, ReadsAnyWhitespaceLikeTheHarness) {
  const ByteMatrix m = alltoallv_matrix_from_text("100  200\t150\n50 100 75\n\n300 150 200", "t");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at(0, 2), 150);
  EXPECT_EQ(m.at(2, 0), 300);
}

TEST(AlltoallvMatrix, RejectsMalformedFilesNamingTheSpot) {
  auto message = [](const std::string& text) {
    try {
      alltoallv_matrix_from_text(text, "bad.txt");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("1 2\n3 x\n"),
            "bad.txt: line 2, column 2: not a byte count (got x, expected a non-negative integer)");
  EXPECT_EQ(message("1 2\n3\n"),
            "bad.txt: line 2: row length differs (got 1 values, expected 2 like the first row)");
  EXPECT_EQ(message("1 2\n3 4\n5 6\n"),
            "bad.txt: line 3: matrix is not square (got 3 rows, expected 2 rows (one per column))");
  EXPECT_EQ(
      message("1 -2\n3 4\n"),
      "bad.txt: line 1, column 2: not a byte count (got -2, expected a non-negative integer)");
  EXPECT_EQ(message(""), "bad.txt: line 1: empty matrix (got no values, expected n rows)");
}

}  // namespace moesim::io
