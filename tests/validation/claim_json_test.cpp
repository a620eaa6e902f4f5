// The claim loader's strict errors and claim_check's arithmetic on hand-made observations.
#include "sim/io/claim_json.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/core/errors.hpp"
#include "sim/report/claim_check.hpp"
#include "tests/input_error_text.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;
using moesim::testing::input_error_text;

class ClaimFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("moesim-claim-test-{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  // A valid claim with `result` as its one result.
  std::string claim(const std::string& id, const std::string& result) {
    return write(id + ".json", R"({"id": ")" + id +
                                   R"(", "paper": "P", "where": "T1", "source": "S",
      "setup": {"jobs": {"j": {"model": "gpt2-s-moe", "parallel": "ep=8"}},
                "strategies": {"a": "tutel", "b": "deepspeed-moe"}},
      "results": [)" + result + "]}");
  }
  fs::path dir_;
};

TEST_F(ClaimFile, LoadsADefaultFifteenPercentBand) {
  const auto c = io::load_claim(claim(
      "ok",
      R"({"name": "r", "metric": {"kind": "speedup", "of": "a", "over": "b"}, "published": 2.0})"));
  ASSERT_EQ(c.results.size(), 1u);
  EXPECT_DOUBLE_EQ(c.results[0].low, 1.7);
  EXPECT_DOUBLE_EQ(c.results[0].high, 2.3);
  EXPECT_EQ(c.jobs.size(), 1u);
}

TEST_F(ClaimFile, RejectsWhatIsWrongWithItsPlace) {
  const std::string p1 = claim(
      "unknown-label",
      R"({"name": "r", "metric": {"kind": "speedup", "of": "x", "over": "b"}, "published": 2.0})");
  EXPECT_EQ(input_error_text([&] { io::load_claim(p1); }),
            p1 + ": /results/0/metric/of: unknown strategy label (got \"x\", expected a, b)");
  const std::string p2 = claim("no-why", R"({"name": "r", "metric": {"kind": "speedup", "of": "a",
      "over": "b"}, "published": 2.0, "band": {"relative": 0.3}})");
  EXPECT_EQ(input_error_text([&] { io::load_claim(p2); }),
            p2 + ": /results/0/why: missing required field");
  const std::string p3 = claim("outside", R"({"name": "r", "metric": {"kind": "speedup", "of": "a",
      "over": "b"}, "published": 2.0, "band": {"low": 2.1, "high": 3}, "why": "w"})");
  EXPECT_EQ(input_error_text([&] { io::load_claim(p3); }),
            p3 + ": /results/0: band does not contain the published value (got [2.1, 3], "
                 "expected low <= published <= high)");
  const std::string p4 = claim("kind", R"({"name": "r", "metric": {"kind": "fastest", "of": "a"},
      "published": 2.0})");
  EXPECT_NE(input_error_text([&] {
              io::load_claim(p4);
            }).find("/results/0/metric/kind: unknown metric kind"),
            std::string::npos);
  const std::string p5 = write("wrong-name.json", R"({"id": "other"})");
  EXPECT_NE(
      input_error_text([&] { io::load_claim(p5); }).find("/id: id differs from the file name"),
      std::string::npos);
}

TEST_F(ClaimFile, ReadsACollectiveFitAndRejectsAWrongOne) {
  const std::string ok = R"({"name": "alpha", "metric": {"kind": "collective_fit",
      "collective": "all_to_all", "group": "ep", "dtype": "fp32", "reading": "alpha_ms",
      "elements": {"from": 262144, "to": 786432, "step": 262144}},
      "published": 0.2, "band": {"low": 0.1, "high": 0.4}, "why": "factor two"})";
  const auto c = io::load_claim(claim("fit-ok", ok));
  const report::ClaimMetric& m = c.results[0].metric;
  EXPECT_EQ(m.kind, report::MetricKind::collective_fit);
  EXPECT_EQ(m.sweep_key(), "all_to_all@ep");
  EXPECT_EQ(m.fit_bytes, (std::vector<double>{1048576.0, 2097152.0, 3145728.0}));
  EXPECT_TRUE(m.of.empty());  // no strategy: the job's network alone
  EXPECT_TRUE(report::strategies_needed(c).empty());
  std::string bad = ok;
  bad.replace(bad.find("\"ep\""), 4, "\"xp\"");
  EXPECT_NE(input_error_text([&] {
              io::load_claim(claim("fit-bad", bad));
            }).find("/results/0/metric/group: unknown group"),
            std::string::npos);
  std::string v = ok;
  v.replace(v.find("all_to_all"), 10, "send_recv");
  EXPECT_NE(
      input_error_text([&] { io::load_claim(claim("fit-p2p", v)); }).find("unknown collective"),
      std::string::npos);
}

TEST_F(ClaimFile, KnownGapsMustNameAResult) {
  claim(
      "c",
      R"({"name": "r", "metric": {"kind": "speedup", "of": "a", "over": "b"}, "published": 2.0})");
  const std::string gaps = write("known_gaps.json", R"({"gaps": [{"result": "c/nope",
      "measured_error": 0.5, "reason": "x", "would_close": "y"}]})");
  const auto claims = io::load_claims(dir_.string());
  EXPECT_EQ(input_error_text([&] { io::load_known_gaps(dir_.string(), claims); }),
            gaps +
                ": /gaps/0/result: names no result of a claim (got \"c/nope\", expected "
                "\"claim-id/result name\")");
}

report::Observation obs(std::vector<double> iterations) {
  report::Observation o;
  o.iteration_us = std::move(iterations);
  return o;
}

TEST(ClaimCheck, SpeedupOverTheFasterBaselineAndVerdicts) {
  report::Claim c;
  c.id = "x";
  report::ClaimResult r;
  r.name = "speedup";
  r.metric.kind = report::MetricKind::speedup;
  r.metric.of = "new";
  r.metric.over = {"old1", "old2"};
  r.published = 1.5;
  r.low = 1.275;
  r.high = 1.725;
  c.results.push_back(r);
  report::ClaimObservations o;
  o["j1"]["new"] = obs({100});
  o["j1"]["old1"] = obs({200});
  o["j1"]["old2"] = obs({160});  // the faster baseline counts: 1.6
  o["j2"]["new"] = obs({100});
  o["j2"]["old1"] = obs({120});
  o["j2"]["old2"] = obs({300});  // 1.2
  auto checks = report::check_claim(c, o, {});
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_NEAR(*checks[0].simulated, 1.4, 1e-12);
  EXPECT_NEAR(*checks[0].error, 1.4 / 1.5 - 1, 1e-12);
  EXPECT_EQ(checks[0].verdict, report::Verdict::in_band);
  c.results[0].low = 1.45;  // now outside: a failure unless a known gap
  checks = report::check_claim(c, o, {});
  EXPECT_EQ(checks[0].verdict, report::Verdict::out_of_band);
  EXPECT_FALSE(report::all_pass(checks));
  checks = report::check_claim(c, o, {report::KnownGap{"x/speedup", -0.07, "why", "what"}});
  EXPECT_EQ(checks[0].verdict, report::Verdict::known_gap);
  EXPECT_TRUE(report::all_pass(checks));
}

TEST(ClaimCheck, OpTimesOrderingsAndIterationRatio) {
  report::Claim c;
  c.id = "y";
  report::ClaimResult a2a;
  a2a.name = "a2a";
  a2a.metric.kind = report::MetricKind::op_time_ms;
  a2a.metric.of = "s";
  a2a.metric.phase = report::PhaseFilter::forward;
  a2a.metric.tasks = {"ep.dispatch", "ep.combine"};
  a2a.metric.per_op = true;
  a2a.published = 2.0;
  a2a.low = 1.7;
  a2a.high = 2.3;
  report::ClaimResult ag = a2a;
  ag.name = "ag";
  ag.metric.tasks = {"esp.allgather"};
  report::ClaimResult order;
  order.name = "order";
  order.metric.kind = report::MetricKind::ordering;
  order.metric.increasing = {"ag", "a2a"};
  order.published = order.low = order.high = 1;
  report::ClaimResult ratio;
  ratio.name = "ratio";
  ratio.metric.kind = report::MetricKind::iteration_ratio;
  ratio.metric.of = "s";
  ratio.published_range = true;
  ratio.published_low = 2.0;
  ratio.published_high = 4.0;
  ratio.low = 1.7;
  ratio.high = 4.6;
  c.results = {a2a, ag, order, ratio};
  report::ClaimObservations o;
  report::Observation s = obs({10, 50, 10, 12, 11});
  s.ops[{"forward", "ep.dispatch"}] = {3000, 2};
  s.ops[{"forward", "ep.combine"}] = {1000, 2};
  s.ops[{"backward", "ep.dispatch.bwd"}] = {9000, 1};  // other phase: not counted
  s.ops[{"forward", "ep.dispatcher"}] = {9000, 1};     // not a '.'-prefix match
  s.ops[{"forward", "esp.allgather"}] = {1500, 1};
  o["j"]["s"] = s;
  const auto checks = report::check_claim(c, o, {});
  EXPECT_NEAR(*checks[0].simulated, 1.0, 1e-12);  // 4 ms over 4 ops
  EXPECT_EQ(checks[0].verdict, report::Verdict::out_of_band);
  EXPECT_NEAR(*checks[1].simulated, 1.5, 1e-12);
  EXPECT_EQ(*checks[2].simulated, 0.0);  // ag 1.5 > a2a 1.0: not increasing
  // With a lower bound the first result must exceed it as well: a2a 1.0, ag 1.5 increase, but
  // not above 1.2.
  c.results[2].metric.increasing = {"a2a", "ag"};
  EXPECT_EQ(*report::check_claim(c, o, {})[2].simulated, 1.0);
  c.results[2].metric.above = 1.2;
  EXPECT_EQ(*report::check_claim(c, o, {})[2].simulated, 0.0);
  EXPECT_NEAR(*checks[3].simulated, 50.0 / 11.0, 1e-12);
  EXPECT_NEAR(*checks[3].error, 50.0 / 11.0 / 4.0 - 1, 1e-12);
}

// A planner's region estimates against the simulated forward spans of the same layers: the worst
// region of a job, the worst job of the claim.
TEST(ClaimCheck, PlannerErrorIsTheWorstRegionAgainstItsSimulatedSpan) {
  report::Claim c;
  c.id = "p";
  report::ClaimResult r;
  r.name = "cost model error";
  r.metric.kind = report::MetricKind::planner_error;
  r.metric.of = "s";
  r.metric.decision = "plan.range.L";
  r.metric.decision_b = "plan.layers.L";
  r.published = 0.04;
  r.low = 0.0;
  r.high = 0.04;
  c.results = {r};
  report::ClaimObservations o;
  report::Observation s = obs({100});
  s.decisions = {{"plan.range.L1", "100"},
                 {"plan.layers.L1", "2"},
                 {"plan.range.L3", "50"},
                 {"plan.layers.L3", "1"}};
  s.layer_spans[{"forward", 1}] = {0.0, 60.0};
  s.layer_spans[{"forward", 2}] = {40.0, 104.0};    // region L1-L2: 104 us, estimate -3.8%
  s.layer_spans[{"forward", 3}] = {104.0, 154.0};   // region L3: 50 us, exact
  s.layer_spans[{"backward", 2}] = {200.0, 900.0};  // another phase: not the region's
  o["j"]["s"] = s;
  report::Observation t = s;
  t.layer_spans[{"forward", 3}] = {104.0, 144.0};  // 40 us: estimate +25%
  o["k"]["s"] = t;
  const auto checks = report::check_claim(c, o, {});
  ASSERT_TRUE(checks[0].simulated);
  EXPECT_NEAR(*checks[0].simulated, 0.25, 1e-12);
  EXPECT_EQ(checks[0].verdict, report::Verdict::out_of_band);
  o.erase("k");
  EXPECT_NEAR(*report::check_claim(c, o, {})[0].simulated, 1.0 - 100.0 / 104.0, 1e-12);
  EXPECT_EQ(report::check_claim(c, o, {})[0].verdict, report::Verdict::in_band);
  // A region whose layer ran no forward task on rank 0 is a runner bug, not a silent zero.
  o["j"]["s"].layer_spans.erase({"forward", 3});
  EXPECT_THROW(report::check_claim(c, o, {}), SimulationError);
}

TEST(ClaimCheck, CollectiveFitIsTheLeastSquaresLineInPublishedUnits) {
  report::Claim c;
  c.id = "fit";
  for (auto reading : {report::FitReading::alpha_ms, report::FitReading::beta_ms_per_byte}) {
    report::ClaimResult r;
    r.name = reading == report::FitReading::alpha_ms ? "alpha" : "beta";
    r.metric.kind = report::MetricKind::collective_fit;
    r.metric.collective = "all_gather";
    r.metric.group = "esp";
    r.metric.reading = reading;
    r.published = reading == report::FitReading::alpha_ms ? 0.3 : 2e-7;
    r.low = r.published / 2;
    r.high = r.published * 2;
    c.results.push_back(r);
  }
  // 300 us + 2e-4 us per byte, with a bump of +-10 us that a line fit averages out.
  report::Observation o;
  auto& sweep = o.sweeps["all_gather@esp"];
  for (int i = 1; i <= 4; ++i) {
    const double bytes = i * 1048576.0;
    sweep.emplace_back(bytes, 300.0 + 2e-4 * bytes + (i % 2 ? 10.0 : -10.0));
  }
  report::ClaimObservations obs_by_job;
  obs_by_job["A"][std::string(report::kNetworkOnly)] = o;
  const auto checks = report::check_claim(c, obs_by_job, {});
  const auto [alpha_ms, beta] = report::fit_line({{1048576.0, 0.31 + 2e-7 * 1048576.0},
                                                  {2097152.0, 0.29 + 2e-7 * 2097152.0},
                                                  {3145728.0, 0.31 + 2e-7 * 3145728.0},
                                                  {4194304.0, 0.29 + 2e-7 * 4194304.0}});
  EXPECT_NEAR(*checks[0].simulated, alpha_ms, 1e-12);
  EXPECT_NEAR(*checks[1].simulated, beta, 1e-18);
  EXPECT_NEAR(alpha_ms, 0.31, 0.011);  // the bump tilts the line a little
  EXPECT_NEAR(beta, 2e-7, 1e-8);
  EXPECT_EQ(checks[0].verdict, report::Verdict::in_band);
  EXPECT_THROW(report::fit_line({{1.0, 2.0}, {1.0, 3.0}}), SimulationError);
}

TEST(ClaimCheck, SampleVisitsDistinctIndices) {
  const auto s = report::sample_indices(1458, 6);
  ASSERT_EQ(s.size(), 6u);
  std::set<std::size_t> unique(s.begin(), s.end());
  EXPECT_EQ(unique.size(), 6u);
  EXPECT_EQ(report::sample_indices(5, 10).size(), 5u);
}

}  // namespace
}  // namespace moesim
