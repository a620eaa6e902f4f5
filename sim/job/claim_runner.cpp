#include "sim/job/claim_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "sim/core/errors.hpp"
#include "sim/job/collective_sweep.hpp"
#include "sim/job/job_runner.hpp"
#include "sim/job/progress.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::job {
namespace {

JobOptions job_options(const report::Claim& c, const report::ClaimJob& j) {
  return job_options_from_settings(j.settings, j.model_set, c.file,
                                   fmt::format("job {}: ", j.name));
}

report::Observation observe(const StrategyResult& r) {
  report::Observation o;
  o.iteration_us = r.iteration_us;
  if (const auto ep = r.groups.find("ep"); ep != r.groups.end()) {
    o.exposed_ep_us = ep->second.exposed_us;
  }
  // Claims read decisions as text (sim/report stays below the strategy layer): a number as its
  // shortest round-trip form, a choice as its name.
  for (const auto& [key, d] : r.last.decisions) {
    o.decisions[key] = d.is_number() ? fmt::format("{}", d.number()) : d.name();
  }
  const TaskGraph& g = r.last.graph;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const TaskId id{static_cast<std::uint32_t>(i)};
    const Task& t = g.task(id);
    if (t.rank.index() != 0) continue;
    const TaskRecord& rec = r.record.tasks[i];
    report::OpStat& s = o.ops[{std::string(to_string(t.phase)), std::string(g.name_of(id))}];
    s.total_us += (rec.end - rec.start).us();
    ++s.count;
    if (t.layer >= 0) {
      const auto [span, first] =
          o.layer_spans.try_emplace({std::string(to_string(t.phase)), t.layer},
                                    report::LayerSpan{rec.start.us(), rec.end.us()});
      if (!first) {
        span->second.start_us = std::min(span->second.start_us, rec.start.us());
        span->second.end_us = std::max(span->second.end_us, rec.end.us());
      }
    }
  }
  return o;
}

struct Work {
  std::size_t claim;
  std::size_t job;  ///< index into that claim's prepared jobs
  std::string label;
};

}  // namespace

std::vector<ClaimRun> run_claims(const std::vector<report::Claim>& claims,
                                 const std::vector<report::KnownGap>& gaps,
                                 const ClaimRunOptions& options) {
  // Resolve every job and strategy first, on one thread: input errors surface before any run.
  JobInputCache inputs;  // topologies, models and specs parsed once for every claim
  struct Prepared {
    std::vector<const report::ClaimJob*> jobs;
    std::vector<std::unique_ptr<PreparedJob>> prepared;
    std::map<std::string, std::unique_ptr<strategies::Strategy>> strategies;
    report::ClaimObservations observed;
  };
  std::vector<Prepared> prepared(claims.size());
  std::vector<Work> work;
  for (std::size_t ci = 0; ci < claims.size(); ++ci) {
    const report::Claim& c = claims[ci];
    Prepared& p = prepared[ci];
    std::set<std::string> wanted;  // jobs named by a runnable result; empty: all
    bool all_jobs = false;
    for (const report::ClaimResult& r : c.results) {
      if (!r.unsupported.empty() || r.metric.kind == report::MetricKind::ordering) continue;
      if (r.metric.jobs.empty()) all_jobs = true;
      wanted.insert(r.metric.jobs.begin(), r.metric.jobs.end());
    }
    std::vector<std::size_t> indices;
    if (options.quick && c.quick_jobs > 0) {
      indices = report::sample_indices(c.jobs.size(), c.quick_jobs);
    } else {
      for (std::size_t i = 0; i < c.jobs.size(); ++i) indices.push_back(i);
    }
    for (std::size_t i : indices) {
      const report::ClaimJob& j = c.jobs[i];
      if (!all_jobs && !wanted.count(j.name)) continue;
      try {
        p.prepared.push_back(
            std::make_unique<PreparedJob>(prepare_job(job_options(c, j), &inputs)));
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: job {}: {}", c.file, j.name, e.what()));
      }
      p.jobs.push_back(&j);
    }
    for (const std::string& label : report::strategies_needed(c)) {
      p.strategies[label] = strategies::make_strategy(
          c.strategies.at(label), fmt::format("{}: /setup/strategies/{}", c.file, label));
      for (std::size_t k = 0; k < p.jobs.size(); ++k) work.push_back({ci, k, label});
    }
  }
  Progress progress("reproduce", "simulations", work.size(), !options.progress);
  std::vector<report::Observation> results(work.size());
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::string first_error;
  auto worker = [&]() {
    for (std::size_t w = next++; w < work.size(); w = next++) {
      const Work& item = work[w];
      const Prepared& p = prepared[item.claim];
      try {
        results[w] =
            observe(simulate_strategy(*p.prepared[item.job], *p.strategies.at(item.label)));
      } catch (const std::exception& e) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) {
          first_error = fmt::format("{}: job {} strategy {}: {}", claims[item.claim].id,
                                    p.jobs[item.job]->name, item.label, e.what());
        }
      }
      progress.tick();
    }
  };
  const unsigned threads = std::max(
      1u, options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::min<std::size_t>(threads, std::max<std::size_t>(1, work.size()));
       ++t) {
    pool.emplace_back(worker);
  }
  for (auto& t : pool) t.join();
  if (!first_error.empty()) throw SimulationError(first_error);

  for (std::size_t w = 0; w < work.size(); ++w) {
    Prepared& p = prepared[work[w].claim];
    p.observed[p.jobs[work[w].job]->name][work[w].label] = std::move(results[w]);
  }
  // Collective sweeps: no strategy, a few dozen network estimates per job.
  for (std::size_t ci = 0; ci < claims.size(); ++ci) {
    Prepared& p = prepared[ci];
    for (const report::ClaimResult& r : claims[ci].results) {
      if (!r.unsupported.empty() || r.metric.kind != report::MetricKind::collective_fit) continue;
      for (std::size_t k = 0; k < p.jobs.size(); ++k) {
        report::Observation& o = p.observed[p.jobs[k]->name][std::string(report::kNetworkOnly)];
        const std::string key = r.metric.sweep_key();
        if (o.sweeps.count(key)) continue;
        try {
          o.sweeps[key] = sweep_collective(*p.prepared[k], *parse_comm_kind(r.metric.collective),
                                           *parse_group_kind(r.metric.group), r.metric.fit_bytes);
        } catch (const InputError& e) {
          throw InputError(fmt::format("{}: job {}: {}: {}", claims[ci].file, p.jobs[k]->name,
                                       r.name, e.what()));
        }
      }
    }
  }
  std::vector<ClaimRun> runs;
  for (std::size_t ci = 0; ci < claims.size(); ++ci) {
    ClaimRun run;
    run.claim = claims[ci].id;
    run.jobs = prepared[ci].jobs.size();
    run.jobs_total = claims[ci].jobs.size();
    run.checks = report::check_claim(claims[ci], prepared[ci].observed, gaps,
                                     run.jobs < run.jobs_total && options.quick);
    runs.push_back(std::move(run));
  }
  return runs;
}

ClaimRun run_claim(const report::Claim& claim, const std::vector<report::KnownGap>& gaps,
                   const ClaimRunOptions& options) {
  return run_claims({claim}, gaps, options).front();
}

}  // namespace moesim::job
