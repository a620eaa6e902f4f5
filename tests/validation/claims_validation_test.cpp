// The published results of traces/reference/claims, run through the same library as `moesim
// reproduce` (sim/job/claim_runner.hpp) and checked two-sided: every gating result within its
// band, or listed in known_gaps.json with its measured error. One test per claim of the quick
// subset, on its --quick sample of jobs (CI time); the full grids run through
// `moesim reproduce`. The table of each claim is printed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iostream>

#include "sim/io/claim_json.hpp"
#include "sim/job/claim_runner.hpp"

namespace moesim::validation {
namespace {

const std::vector<report::Claim>& all_claims() {
  static const std::vector<report::Claim> claims = io::load_claims(io::default_claims_dir());
  return claims;
}

const std::vector<report::KnownGap>& known_gaps() {
  static const std::vector<report::KnownGap> gaps =
      io::load_known_gaps(io::default_claims_dir(), all_claims());
  return gaps;
}

std::vector<std::string> quick_claim_ids() {
  std::vector<std::string> ids;
  for (const report::Claim& c : all_claims()) {
    if (c.quick) ids.push_back(c.id);
  }
  return ids;
}

class QuickClaim : public ::testing::TestWithParam<std::string> {};

TEST_P(QuickClaim, WithinItsBandsOrAKnownGap) {
  const auto& claims = all_claims();
  const auto it = std::find_if(claims.begin(), claims.end(),
                               [&](const report::Claim& c) { return c.id == GetParam(); });
  ASSERT_NE(it, claims.end());
  const job::ClaimRun run = job::run_claim(*it, known_gaps(), job::ClaimRunOptions{true, 0, false});
  EXPECT_GT(run.jobs, 0u);
  for (const report::ResultCheck& c : run.checks) {
    std::cout << fmt::format("{} / {}: published {} band [{:.4g}, {:.4g}] simulated {} -> {}\n",
                             c.claim, c.result, c.published_text, c.low, c.high,
                             c.simulated ? fmt::format("{:.4g}", *c.simulated) : "-",
                             report::to_string(c.verdict));
    ::testing::Test::RecordProperty(c.result,
                                    c.simulated ? fmt::format("{:.4g}", *c.simulated) : "-");
    // Not runnable yet (listed as a known gap), or a grid's extreme that the sample cannot give.
    if (c.verdict == report::Verdict::unsupported || c.verdict == report::Verdict::not_run) {
      continue;
    }
    ASSERT_TRUE(c.simulated.has_value()) << c.result;
    if (!c.gating) continue;
    EXPECT_TRUE(c.verdict == report::Verdict::in_band || c.verdict == report::Verdict::known_gap)
        << c.claim << " / " << c.result << ": simulated " << *c.simulated << " outside [" << c.low
        << ", " << c.high << "] (published " << c.published_text << ") and not in known_gaps.json";
  }
}

INSTANTIATE_TEST_SUITE_P(Claims, QuickClaim, ::testing::ValuesIn(quick_claim_ids()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(ClaimFiles, EveryPublishedResultIsLoadedWithATwoSidedBand) {
  const auto& claims = all_claims();
  std::size_t results = 0;
  for (const report::Claim& c : claims) {
    EXPECT_FALSE(c.paper.empty()) << c.id;
    EXPECT_FALSE(c.source.empty()) << c.id;
    for (const report::ClaimResult& r : c.results) {
      ++results;
      EXPECT_LE(r.low, r.published_low) << c.id << "/" << r.name;
      EXPECT_GE(r.high, r.published_high) << c.id << "/" << r.name;
      EXPECT_LT(r.low, r.high + 1e-12) << c.id << "/" << r.name;
    }
  }
  // Papers (docs/sources.md): FSMoE, Lancet, Parm, DeepSpeed-TED, FlexMoE, Megatron-Bridge,
  // DeepEP/Hybrid-EP.
  for (const char* paper : {"fsmoe", "lancet", "parm", "ted", "flexmoe", "megatron", "deepep"}) {
    EXPECT_TRUE(std::any_of(claims.begin(), claims.end(), [&](const report::Claim& c) {
      return c.id.rfind(std::string(paper) + "-", 0) == 0;
    })) << paper;
  }
  EXPECT_GE(results, 60u);
}

TEST(ClaimFiles, UnrunnableResultsAreKnownGaps) {
  for (const report::Claim& c : all_claims()) {
    for (const report::ClaimResult& r : c.results) {
      if (r.unsupported.empty()) continue;
      EXPECT_NE(report::find_gap(known_gaps(), c.id, r.name), nullptr)
          << c.id << "/" << r.name << " is not runnable but not in known_gaps.json";
    }
  }
}

TEST(ClaimFiles, GridClaimsCoverTheFullPublishedGrids) {
  for (const report::Claim& c : all_claims()) {
    if (c.id == "fsmoe-table5-testbed-a" || c.id == "fsmoe-table5-testbed-b") {
      EXPECT_EQ(c.jobs.size(), 1458u) << c.id;
    }
    if (c.id == "parm-grid") {
      EXPECT_EQ(c.jobs.size(), 2u * 1296u);
    }
  }
}

}  // namespace
}  // namespace moesim::validation
