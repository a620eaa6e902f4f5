#include "sim/job/sweep_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "sim/core/errors.hpp"
#include "sim/job/job_runner.hpp"
#include "sim/job/progress.hpp"
#include "sim/job/sweep_plan.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::job {
namespace {

// What identifies a job's content: its flags and seed, not its place in the sweep or its
// strategy. Cases with equal keys (every strategy of a configuration, or equal configurations
// of different grids) share one PreparedJob.
std::string job_key(const io::SweepCaseLine& c) {
  io::SweepCaseLine key;
  key.job = c.job;
  key.seed = c.seed;
  key.cases = 1;
  return io::to_json_line(key);
}

io::SweepCaseResult result_frame(const io::SweepCaseLine& c, std::string strategy_name) {
  io::SweepCaseResult r;
  r.index = c.index;
  r.fingerprint = io::case_fingerprint(c);
  r.config_id = c.config_id;
  r.strategy = std::move(strategy_name);
  return r;
}

void simulate_case(const io::SweepCaseLine& c, const PreparedJob& job, io::SweepCaseResult& r) {
  try {
    const std::unique_ptr<strategies::Strategy> strategy =
        strategies::make_strategy(c.strategy, "strategy");
    r.strategy = std::string(strategy->name());
    // The layouts and models the strategy refuses, as `moesim run` and `compare` ask before
    // they simulate: the case records the refusal instead of running.
    strategy->check_job(*job.first);
    const StrategyResult s = simulate_strategy(job, *strategy);
    r.iteration_us = s.mean_iteration_us();
    r.exposed_comm_us = s.exposed_comm_us();
    r.tokens_per_s = s.tokens_per_s(job.tokens_per_iteration);
    r.decisions = s.decisions_text();
    if (!std::isfinite(r.iteration_us) || r.iteration_us <= 0.0 ||
        !std::isfinite(r.exposed_comm_us) || !std::isfinite(r.tokens_per_s)) {
      throw SimulationError(
          fmt::format("non-finite or zero result (iteration {} us)", r.iteration_us));
    }
    r.status = io::SweepCaseStatus::ok;
  } catch (const InputError& e) {
    // The strategy rejects this configuration (fastermoe with esp > 1, say): the case does
    // not fit, like a layout that does not fit the cluster.
    r = result_frame(c, r.strategy);
    r.status = io::SweepCaseStatus::invalid;
    r.error = e.what();
  } catch (const std::exception& e) {
    r = result_frame(c, r.strategy);
    r.status = io::SweepCaseStatus::failed;
    r.error = e.what();
  }
}

}  // namespace

SweepRunOutcome run_sweep_cases(const std::vector<io::SweepCaseLine>& cases,
                                const SweepRunSettings& settings) {
  SweepRunOutcome out;
  out.results.resize(cases.size());
  const bool keep = !settings.results_dir.empty();
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (keep) {
      auto found = io::find_case_result(settings.results_dir, cases[i].index,
                                        io::case_fingerprint(cases[i]));
      if (found) {
        out.results[i] = std::move(*found);
        ++out.reused;
        continue;
      }
    }
    pending.push_back(i);
  }

  // Resolve every distinct job first, on one thread and in case order: input errors surface
  // before any simulation, and the first one reported is the same whatever the thread count.
  JobInputCache inputs;  // files parsed once for all cases
  std::map<EstimateCacheKey, std::shared_ptr<network::EstimateCache>> estimate_caches;
  std::map<std::string, std::shared_ptr<const PreparedJob>> jobs;
  std::map<std::string, std::string> invalid;
  std::vector<std::shared_ptr<const PreparedJob>> job_of(cases.size());
  std::vector<std::size_t> runnable;
  std::vector<std::string> names(cases.size());
  std::vector<std::size_t> invalid_cases;
  for (std::size_t i : pending) {
    const io::SweepCaseLine& c = cases[i];
    names[i] = strategy_name_of(c.strategy);  // InputError here, never in a worker
    const std::string key = job_key(c);
    if (auto it = jobs.find(key); it != jobs.end()) {
      job_of[i] = it->second;
      runnable.push_back(i);
      continue;
    }
    auto bad = invalid.find(key);
    if (bad == invalid.end()) {
      try {
        PreparedJob prepared = prepare_job(job_options_of(c), &inputs);
        if (prepared.estimates) {
          // Cases on the same model ask planners' questions already answered for another case.
          auto [shared, fresh] =
              estimate_caches.try_emplace(estimate_cache_key(prepared), prepared.estimates);
          if (!fresh) prepared.estimates = shared->second;
        }
        auto job = std::make_shared<const PreparedJob>(std::move(prepared));
        jobs.emplace(key, job);
        job_of[i] = std::move(job);
        runnable.push_back(i);
        continue;
      } catch (const InputError& e) {
        if (!settings.skip_invalid) {
          throw InputError(fmt::format("case {} ({}): {}", c.index, c.config_id, e.what()));
        }
        bad = invalid.emplace(key, e.what()).first;
      }
    }
    io::SweepCaseResult& r = out.results[i];
    r = result_frame(c, names[i]);
    r.status = io::SweepCaseStatus::invalid;
    r.error = bad->second;
    invalid_cases.push_back(i);
  }
  out.prepared_jobs = jobs.size();
  // Only now, with every input checked, does anything get written.
  if (keep) {
    std::error_code ec;
    std::filesystem::create_directories(settings.results_dir, ec);
    if (ec) {
      throw input_error("", "--results", "cannot create the results directory",
                        fmt::format("{} ({})", settings.results_dir, ec.message()),
                        "a writable directory");
    }
    for (std::size_t i : invalid_cases) io::write_case_result(settings.results_dir, out.results[i]);
  }
  out.ran += invalid_cases.size();

  const unsigned threads = std::max(
      1u, settings.threads ? settings.threads : std::max(1u, std::thread::hardware_concurrency()));
  Progress progress("sweep", "cases", runnable.size(), settings.quiet);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> write_failed{false};
  std::string write_error;
  auto worker = [&]() {
    for (std::size_t w = next++; w < runnable.size() && !write_failed; w = next++) {
      const std::size_t i = runnable[w];
      io::SweepCaseResult& r = out.results[i];
      r = result_frame(cases[i], names[i]);
      simulate_case(cases[i], *job_of[i], r);
      if (keep) {
        try {
          io::write_case_result(settings.results_dir, r);
        } catch (const InputError& e) {
          // A full disk or a vanished directory: stop, since nothing more can be kept.
          if (!write_failed.exchange(true)) write_error = e.what();
        }
      }
      progress.tick();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0;
       t < std::min<std::size_t>(threads, std::max<std::size_t>(1, runnable.size())); ++t) {
    pool.emplace_back(worker);
  }
  for (auto& t : pool) t.join();
  if (write_failed) throw InputError(write_error);
  out.ran += runnable.size();
  return out;
}

std::size_t count_failures(const std::vector<io::SweepCaseResult>& results, bool skip_invalid) {
  return static_cast<std::size_t>(
      std::count_if(results.begin(), results.end(), [&](const io::SweepCaseResult& r) {
        return r.status == io::SweepCaseStatus::failed ||
               (r.status == io::SweepCaseStatus::invalid && !skip_invalid);
      }));
}

}  // namespace moesim::job
