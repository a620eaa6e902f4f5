// Sweep cases as pure jobs: the case line and result formats, shards, and the runner's resume
// and determinism (issue 16).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/core/errors.hpp"
#include "sim/io/sweep_case_line.hpp"
#include "sim/io/sweep_case_result.hpp"
#include "sim/job/sweep_plan.hpp"
#include "sim/job/sweep_runner.hpp"
#include "sim/job/sweep_table.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/input_error_text.hpp"
#include "tests/testdata.hpp"

namespace moesim {
namespace {

using moesim::testing::input_error_text;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "sweep-case-test-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

job::SweepPlan smoke_plan(const std::string& strategies = "deepspeed-moe,tutel,fsmoe") {
  return job::make_sweep_plan(testing::source_path("traces/grids/smoke.json"), strategies, "");
}

job::SweepRunSettings quiet_settings(unsigned threads, const std::string& dir = "") {
  job::SweepRunSettings s;
  s.threads = threads;
  s.results_dir = dir;
  s.quiet = true;
  return s;
}

}  // namespace

TEST(SweepPlan, CasesAreConfigurationMajorWithEveryDefaultFilledIn) {
  const job::SweepPlan plan = smoke_plan();
  ASSERT_EQ(plan.cases.size(), 12u);  // 4 configurations x 3 strategies
  EXPECT_EQ(plan.cases[4].index, 4u);
  EXPECT_EQ(plan.cases[4].cases, 12u);
  EXPECT_EQ(plan.cases[4].config_id, "hidden=768;micro_batch=2");
  EXPECT_EQ(plan.cases[4].strategy, "tutel");
  // Not in the grid, so moesim run's defaults, written out: the line does not depend on them.
  EXPECT_EQ(plan.cases[4].job.order, "tp,dp,pp");
  EXPECT_EQ(plan.cases[4].job.routing, "uniform");
  EXPECT_EQ(plan.cases[4].job.set, "hidden=768,layers=2,micro_batch=2");
  const job::SweepPlan flow =
      job::make_sweep_plan(testing::source_path("traces/grids/smoke.json"), "all", "flow");
  EXPECT_EQ(flow.cases.front().job.network, "flow");
  EXPECT_EQ(flow.strategies(), strategies::strategies_for_all().size());
  EXPECT_EQ(input_error_text([] { smoke_plan("tutel,nosuch"); }).substr(0, 40),
            "--strategies: unknown strategy (got nosu");
}

TEST(SweepCaseLine, RoundTripsToTheSameTextAndFingerprint) {
  const job::SweepPlan plan = smoke_plan();
  for (const io::SweepCaseLine& c : plan.cases) {
    const std::string text = io::to_json_line(c);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    const io::SweepCaseLine back = io::parse_case_line(text, "line");
    EXPECT_EQ(io::to_json_line(back), text);
    EXPECT_EQ(io::case_fingerprint(back), io::case_fingerprint(c));
  }
  // Any change to the job changes the fingerprint: a result is never reused for another job.
  io::SweepCaseLine other = plan.cases[0];
  other.seed = 2;
  EXPECT_NE(io::case_fingerprint(other), io::case_fingerprint(plan.cases[0]));
  other = plan.cases[0];
  other.job.set += ",top_k=1";
  EXPECT_NE(io::case_fingerprint(other), io::case_fingerprint(plan.cases[0]));
}

TEST(SweepCaseLine, BadLinesNameTheField) {
  io::SweepCaseLine c = smoke_plan().cases[0];
  std::string text = io::to_json_line(c);
  const std::string past = text.replace(text.find("\"index\":0"), 9, "\"index\":12");
  EXPECT_EQ(
      input_error_text([&] { io::parse_case_line(past, "cases.jsonl: line 1"); }),
      "cases.jsonl: line 1: /index: index past the end of the sweep (got 12, expected 0..11)");
  EXPECT_NE(input_error_text([] { io::parse_case_line("{\"sweep\": 1", "x"); }).find("malformed"),
            std::string::npos);
}

TEST(SweepShard, ParsesKOfN) {
  const job::SweepShard s = job::parse_shard("3/8", "--shard");
  EXPECT_EQ(s.first, 2u);
  EXPECT_EQ(s.count, 8u);
  EXPECT_TRUE(s.contains(2));
  EXPECT_TRUE(s.contains(10));
  EXPECT_FALSE(s.contains(3));
  for (const char* bad : {"0/4", "5/4", "4", "a/b", "1/0", "-1/4", "1/4/2"}) {
    EXPECT_EQ(
        input_error_text([&] { job::parse_shard(bad, "--shard"); }),
        fmt::format("--shard: not a shard (got {}, expected K/N with 1 <= K <= N, e.g. 2/8)", bad))
        << bad;
  }
}

TEST(SweepCaseResult, KeepsDoublesExactlyAndRejectsTornOrStaleFiles) {
  const std::string dir = fresh_dir("result");
  std::filesystem::create_directories(dir);
  io::SweepCaseResult r;
  r.index = 5;
  r.fingerprint = "0123456789abcdef";
  r.config_id = "a=1";
  r.strategy = "tutel";
  r.iteration_us = 716.5197999999999;  // not representable in few digits
  r.exposed_comm_us = 1.0 / 3.0;
  r.tokens_per_s = 11433040.650097877;
  r.decisions = "tutel.degree=1; \"quoted\"";
  io::write_case_result(dir, r);
  const auto back = io::find_case_result(dir, 5, r.fingerprint);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->iteration_us, r.iteration_us);  // bit-exact, so merged CSVs match
  EXPECT_EQ(back->exposed_comm_us, r.exposed_comm_us);
  EXPECT_EQ(back->tokens_per_s, r.tokens_per_s);
  EXPECT_EQ(back->decisions, r.decisions);
  EXPECT_FALSE(io::find_case_result(dir, 5, "fedcba9876543210"));  // another grid's case 5
  EXPECT_FALSE(io::find_case_result(dir, 6, r.fingerprint));       // missing
  // A file cut short (power lost between write and rename) is run again, not trusted.
  const std::string text = io::to_json_text(r);
  std::ofstream(io::case_result_path(dir, 5)) << text.substr(0, text.size() / 2);
  EXPECT_FALSE(io::find_case_result(dir, 5, r.fingerprint));
  std::filesystem::remove_all(dir);
}

TEST(SweepRunner, SameResultsWhateverTheThreadCount) {
  const job::SweepPlan plan = smoke_plan("all");
  const job::SweepRunOutcome one = job::run_sweep_cases(plan.cases, quiet_settings(1));
  const job::SweepRunOutcome four = job::run_sweep_cases(plan.cases, quiet_settings(4));
  ASSERT_EQ(one.results.size(), plan.cases.size());
  EXPECT_EQ(one.prepared_jobs, 4u);  // one job per configuration, shared by its strategies
  for (std::size_t i = 0; i < plan.cases.size(); ++i) {
    EXPECT_EQ(io::to_json_text(one.results[i]), io::to_json_text(four.results[i])) << i;
    EXPECT_EQ(one.results[i].status, io::SweepCaseStatus::ok) << one.results[i].error;
  }
}

// A sweep's cases share one cache of the planners' network estimates (flow model): every case
// of a slice of FSMoE's grid, with every strategy, gives exactly what the same case gives alone
// with no cache at all.
TEST(SweepRunner, SharedNetworkEstimatesChangeNoResult) {
  const job::SweepPlan plan =
      job::make_sweep_plan(testing::source_path("traces/grids/fsmoe-1458.json"), "all", "");
  const std::vector<io::SweepCaseLine> cases(
      plan.cases.begin(), plan.cases.begin() + static_cast<std::ptrdiff_t>(3 * plan.strategies()));
  const job::SweepRunOutcome shared = job::run_sweep_cases(cases, quiet_settings(2));
  std::size_t compared = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    job::PreparedJob alone = job::prepare_job(job::job_options_of(cases[i]));
    ASSERT_NE(alone.estimates, nullptr);  // a flow-model job gets one...
    alone.estimates = nullptr;            // ...and this one runs without
    const io::SweepCaseResult& r = shared.results[i];
    const auto strategy = strategies::make_strategy(cases[i].strategy);
    try {
      const job::StrategyResult s = job::simulate_strategy(alone, *strategy);
      ASSERT_EQ(r.status, io::SweepCaseStatus::ok) << i << ": " << r.error;
      EXPECT_EQ(r.iteration_us, s.mean_iteration_us()) << cases[i].strategy;
      EXPECT_EQ(r.exposed_comm_us, s.exposed_comm_us()) << cases[i].strategy;
      EXPECT_EQ(r.decisions, s.decisions_text()) << cases[i].strategy;
      ++compared;
    } catch (const InputError&) {
      EXPECT_EQ(r.status, io::SweepCaseStatus::invalid) << i;  // fastermoe with esp > 1
    }
  }
  EXPECT_GE(compared, 2 * cases.size() / 3);
}

TEST(SweepRunner, ResumesFromTheResultsDirectoryAndShardsMergeToTheSameCsv) {
  const job::SweepPlan plan = smoke_plan();
  const std::string reference =
      job::sweep_csv(plan, job::run_sweep_cases(plan.cases, quiet_settings(2)).results).to_string();
  const std::string dir = fresh_dir("resume");
  // Shard 2 of 3 only, then the whole sweep: the second run reuses shard 2's results.
  std::vector<io::SweepCaseLine> shard;
  const job::SweepShard s = job::parse_shard("2/3", "--shard");
  for (const auto& c : plan.cases) {
    if (s.contains(c.index)) shard.push_back(c);
  }
  const job::SweepRunOutcome part = job::run_sweep_cases(shard, quiet_settings(2, dir));
  EXPECT_EQ(part.ran, 4u);
  EXPECT_TRUE(std::filesystem::exists(io::case_result_path(dir, 1)));
  EXPECT_FALSE(std::filesystem::exists(io::case_result_path(dir, 0)));
  const job::SweepRunOutcome all = job::run_sweep_cases(plan.cases, quiet_settings(2, dir));
  EXPECT_EQ(all.reused, 4u);
  EXPECT_EQ(all.ran, 8u);
  EXPECT_EQ(job::sweep_csv(plan, all.results).to_string(), reference);
  const job::SweepRunOutcome again = job::run_sweep_cases(plan.cases, quiet_settings(2, dir));
  EXPECT_EQ(again.reused, 12u);
  EXPECT_EQ(again.ran, 0u);
  EXPECT_EQ(job::sweep_csv(plan, again.results).to_string(), reference);
  std::filesystem::remove_all(dir);
}

TEST(SweepRunner, ARejectedCaseIsRecordedAndTheOthersRun) {
  // fastermoe does not shard experts: its esp=2 case is invalid, every other case runs.
  const job::SweepPlan plan = job::make_sweep_plan(
      testing::source_path("tests/cli/data/sweep_esp_grid.json"), "deepspeed-moe,fastermoe", "");
  const std::string dir = fresh_dir("rejected");
  const job::SweepRunOutcome run = job::run_sweep_cases(plan.cases, quiet_settings(2, dir));
  ASSERT_EQ(run.results.size(), 4u);
  EXPECT_EQ(run.results[3].status, io::SweepCaseStatus::invalid);
  EXPECT_EQ(run.results[3].error,
            "--parallel: fastermoe does not shard experts (got esp=2, expected esp=1)");
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(run.results[i].status, io::SweepCaseStatus::ok);
  EXPECT_EQ(job::count_failures(run.results, false), 1u);
  EXPECT_EQ(job::count_failures(run.results, true), 0u);
  // The error is a result too: a resumed sweep does not run the case again.
  EXPECT_EQ(job::run_sweep_cases(plan.cases, quiet_settings(2, dir)).reused, 4u);
  std::filesystem::remove_all(dir);
}

TEST(SweepRunner, ACaseTheStrategyRefusesRecordsCheckJobsError) {
  // Strategy::check_job, as moesim run and compare ask it: dualpipev refuses uneven stages, so
  // that case records the refusal and the others run.
  const job::SweepPlan plan = job::make_sweep_plan(
      testing::source_path("tests/cli/data/sweep_refused_grid.json"), "megatron,dualpipev", "");
  const job::SweepRunOutcome run = job::run_sweep_cases(plan.cases, quiet_settings(2));
  ASSERT_EQ(run.results.size(), 4u);
  EXPECT_EQ(run.results[3].status, io::SweepCaseStatus::invalid);
  EXPECT_EQ(run.results[3].error.substr(0, 85),
            "--parallel: first_stage_layers / last_stage_layers: not supported by dualpipev (got "
            "d");
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(run.results[i].status, io::SweepCaseStatus::ok);
  // A model with multi-token prediction: refused by the strategies that do not build it.
  job::SweepPlan mtp = job::make_sweep_plan(
      testing::source_path("tests/cli/data/sweep_refused_grid.json"), "dualpipe,tutel", "");
  for (io::SweepCaseLine& c : mtp.cases) c.job.set += ",vocab_size=128,mtp_layers=1";
  const job::SweepRunOutcome mtp_run = job::run_sweep_cases(mtp.cases, quiet_settings(2));
  EXPECT_EQ(mtp_run.results[0].status, io::SweepCaseStatus::ok);
  EXPECT_EQ(mtp_run.results[1].status, io::SweepCaseStatus::invalid);
  EXPECT_EQ(mtp_run.results[1].error.substr(0, 64),
            "--model: gpt2-s-moe: multi-token prediction is not built by tute");
}

TEST(SweepRunner, AnInvalidConfigurationStopsTheSweepBeforeAnythingIsWritten) {
  // ep=16 does not fit one 8-GPU node: without --skip-invalid the grid is wrong, so nothing
  // runs and the results directory is not even created.
  job::SweepPlan plan = smoke_plan("tutel");
  plan.cases[2].job.parallel = "ep=16";
  const std::string dir = fresh_dir("invalid");
  const std::string error =
      input_error_text([&] { job::run_sweep_cases(plan.cases, quiet_settings(2, dir)); });
  EXPECT_EQ(error.substr(0, 40), "case 2 (hidden=1024;micro_batch=1): --pa");
  EXPECT_FALSE(std::filesystem::exists(dir));
  job::SweepRunSettings skip = quiet_settings(2, dir);
  skip.skip_invalid = true;
  const job::SweepRunOutcome run = job::run_sweep_cases(plan.cases, skip);
  EXPECT_EQ(run.results[2].status, io::SweepCaseStatus::invalid);
  EXPECT_EQ(run.results[3].status, io::SweepCaseStatus::ok);
  std::filesystem::remove_all(dir);
}

}  // namespace moesim

namespace moesim {

TEST(JobInputCache, JobsOfOneSweepShareParsedInputsAndGetTheSameJob) {
  job::JobOptions o;
  o.model = "gpt2-s-moe";
  o.parallel = "ep=8";
  o.network = "analytical";
  o.calibration = testing::source_path("traces/measured/h100-published/profile.json");
  job::JobOptions bigger = o;
  bigger.overrides = "micro_batch=4";
  job::JobInputCache cache;
  const job::PreparedJob a = job::prepare_job(o, &cache);
  const job::PreparedJob b = job::prepare_job(bigger, &cache);
  EXPECT_EQ(a.topology.get(), b.topology.get());
  EXPECT_EQ(a.profile.get(), b.profile.get());
  EXPECT_EQ(cache.models.size(), 1u);
  EXPECT_EQ(cache.profiles.size(), 1u);
  EXPECT_EQ(b.model.micro_batch, 4);  // --set applies to a copy, never to the cached model
  EXPECT_NE(cache.models.at("gpt2-s-moe").micro_batch, 4);
  // The cache changes what is parsed, not what is simulated.
  const job::PreparedJob fresh = job::prepare_job(bigger);
  const auto strategy = strategies::make_strategy("tutel");
  EXPECT_EQ(job::simulate_strategy(b, *strategy).mean_iteration_us(),
            job::simulate_strategy(fresh, *strategy).mean_iteration_us());
}

}  // namespace moesim
