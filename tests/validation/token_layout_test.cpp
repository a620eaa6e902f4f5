// The MP-group token layout of the baselines (sim/strategies/token_layout.hpp): by default as
// the real system does (DeepSpeed's drop_tokens rule: duplicated when experts are sharded),
// `tokens=split` routes 1/tp of the tokens per rank, `tokens=duplicated` all of them.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/input_error_text.hpp"
#include "tests/validation/validation_testbed.hpp"

namespace moesim::validation {
namespace {

// Bytes one rank sends in its forward EP dispatches.
double dispatch_bytes(const job::StrategyResult& r) {
  double bytes = 0;
  const TaskGraph& g = r.last.graph;
  for (const CommRecord& c : g.comms()) {
    if (g.names()[c.name] != "ep.dispatch") continue;
    const bool has_rank0 = std::any_of(c.members.begin(), c.members.end(),
                                       [&](TaskId t) { return g.task(t).rank.index() == 0; });
    if (has_rank0) bytes += static_cast<double>(c.op.bytes.count);
  }
  return bytes;
}

TEST(TokenLayout, SplitSendsOneTpthOfTheDuplicatedDispatch) {
  ModelSpec model = io::load_model("gpt2-xl-moe");
  apply_overrides(model, "layers=1,experts=4,heads=32,kv_heads=32", "--set");
  const Testbed bed("a6000-8gpu", 4, "rtx-a6000");
  const job::PreparedJob job = bed.job(model, "tp=8,esp=8,ep=4");
  for (const std::string base : {"deepspeed-moe", "tutel"}) {
    const auto real = Testbed::run(job, base);
    const auto dup = Testbed::run(job, base + ":tokens=duplicated");
    const auto split = Testbed::run(job, base + ":tokens=split");
    EXPECT_EQ(split.name, base + ":tokens=split");
    // Experts are sharded (esp = 8): the real systems keep the duplicates.
    EXPECT_DOUBLE_EQ(real.mean_iteration_us(), dup.mean_iteration_us()) << base;
    ASSERT_GT(dispatch_bytes(split), 0) << base;
    EXPECT_NEAR(dispatch_bytes(dup) / dispatch_bytes(split), 8.0, 0.5) << base;
    EXPECT_LT(split.mean_iteration_us(), dup.mean_iteration_us()) << base;
  }
}

TEST(TokenLayout, UnknownValueIsAnInputError) {
  EXPECT_EQ(moesim::testing::input_error_text(
                [] { strategies::make_strategy("tutel:tokens=halved", "--strategy"); }),
            "--strategy: tutel: option tokens has no such value (got halved, expected "
            "split|duplicated)");
}

}  // namespace
}  // namespace moesim::validation
