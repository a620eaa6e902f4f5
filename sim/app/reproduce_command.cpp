// moesim reproduce: runs the published results of traces/reference/claims (each a claim file
// with its setup, published numbers and two-sided bands), prints published vs simulated, the
// error and whether each is in its band, then the known gaps. Exit 1 when a result is outside
// its band and is not a known gap.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/claim_json.hpp"
#include "sim/io/csv.hpp"
#include "sim/io/output_file.hpp"
#include "sim/job/claim_runner.hpp"
#include "sim/report/html/html_report.hpp"

namespace moesim::app {

using namespace job;  // the claim runner: sim/job/claim_runner.hpp
namespace {

struct ReproduceOptions {
  std::string claims_dir = io::default_claims_dir();
  std::vector<std::string> papers;
  std::vector<std::string> claims;
  bool quick = false;
  bool list = false;
  unsigned jobs = 0;
  std::string json_file;
  std::string csv_file;
  std::string html_file;
};

// Claims chosen by --paper (id prefix before the first '-') and --claim (exact ids).
std::vector<report::Claim> select(const std::vector<report::Claim>& all,
                                  const ReproduceOptions& o) {
  for (const std::string& id : o.claims) {
    if (std::none_of(all.begin(), all.end(), [&](const report::Claim& c) { return c.id == id; })) {
      std::string known;
      for (const auto& c : all) known += (known.empty() ? "" : ", ") + c.id;
      throw input_error("", "--claim", "unknown claim", id, known);
    }
  }
  for (const std::string& paper : o.papers) {
    if (std::none_of(all.begin(), all.end(), [&](const report::Claim& c) {
          return c.id.substr(0, c.id.find('-')) == paper;
        })) {
      throw input_error("", "--paper", "no claim of this paper", paper,
                        "fsmoe, lancet, parm, ted, flexmoe, megatron or deepep (the id prefix)");
    }
  }
  std::vector<report::Claim> chosen;
  for (const report::Claim& c : all) {
    const std::string paper = c.id.substr(0, c.id.find('-'));
    const bool by_paper =
        o.papers.empty() || std::find(o.papers.begin(), o.papers.end(), paper) != o.papers.end();
    const bool by_id =
        o.claims.empty() || std::find(o.claims.begin(), o.claims.end(), c.id) != o.claims.end();
    if (!by_paper || !by_id) continue;
    if (o.quick && o.claims.empty() && !c.quick) continue;
    chosen.push_back(c);
  }
  if (chosen.empty()) {
    throw input_error("", "--claim", "no claim selected", "", "a --paper/--claim that matches");
  }
  return chosen;
}

std::string fmt_value(std::optional<double> v) {
  return v ? fmt::format("{:.4g}", *v) : std::string("-");
}
std::string fmt_error(std::optional<double> e) {
  return e ? fmt::format("{:+.1f}%", 100.0 * *e) : std::string("-");
}

void reproduce(const ReproduceOptions& o) {
  io::check_outputs({{"--json", o.json_file}, {"--csv", o.csv_file}, {"--html", o.html_file}});
  const std::vector<report::Claim> all = io::load_claims(o.claims_dir);
  const std::vector<report::KnownGap> gaps = io::load_known_gaps(o.claims_dir, all);
  const std::vector<report::Claim> chosen = select(all, o);
  if (o.list) {
    for (const report::Claim& c : chosen) {
      fmt::print("{:<30} {:>5} jobs {:<6} {}\n", c.id, c.jobs.size(), c.quick ? "quick" : "",
                 c.where);
    }
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  fmt::print(stderr, "reproduce: {} claims{}\n", chosen.size(), o.quick ? " (--quick)" : "");
  const std::vector<ClaimRun> runs =
      run_claims(chosen, gaps, ClaimRunOptions{o.quick, o.jobs, true});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::size_t in = 0, gap = 0, out = 0, unsupported = 0, informative_out = 0, sampled = 0;
  fmt::print("{:<58} {:>10} {:>19} {:>10} {:>8}  {}\n", "claim / result", "published", "band",
             "simulated", "error", "verdict");
  for (const ClaimRun& run : runs) {
    const std::string jobs = run.jobs == run.jobs_total
                                 ? fmt::format("{} jobs", run.jobs)
                                 : fmt::format("{} of {} jobs", run.jobs, run.jobs_total);
    fmt::print("{} ({})\n", run.claim, jobs);
    for (const report::ResultCheck& c : run.checks) {
      std::string verdict(report::to_string(c.verdict));
      if (!c.gating) verdict += " (not gating)";
      fmt::print("  {:<56} {:>10} {:>19} {:>10} {:>8}  {}\n", c.result, c.published_text,
                 fmt::format("[{:.4g}, {:.4g}]", c.low, c.high), fmt_value(c.simulated),
                 fmt_error(c.error), verdict);
      switch (c.verdict) {
        case report::Verdict::in_band:
          ++in;
          break;
        case report::Verdict::known_gap:
          ++gap;
          break;
        case report::Verdict::unsupported:
          ++unsupported;
          break;
        case report::Verdict::out_of_band:
          (c.gating ? out : informative_out)++;
          break;
        case report::Verdict::not_run:
          ++sampled;
          break;
      }
    }
  }
  const std::size_t total = in + gap + out + unsupported + informative_out;
  fmt::print(
      "\n{} results in {:.1f} s: {} in band ({:.0f}%), {} known gaps, {} not runnable "
      "(known gaps), {} out of band{}\n",
      total, seconds, in, total ? 100.0 * in / total : 0.0, gap, unsupported, out,
      informative_out ? fmt::format(", {} not gating out of band", informative_out) : "");
  if (sampled > 0) {
    fmt::print("{} results are extremes of a full grid, not evaluated on the --quick sample\n",
               sampled);
  }
  // Gaps sharing a reason are printed once, with each result's measured error.
  fmt::print("\nknown gaps ({}, {}/known_gaps.json):\n", gaps.size(), o.claims_dir);
  std::vector<std::pair<const report::KnownGap*, std::vector<const report::KnownGap*>>> by_reason;
  for (const report::KnownGap& g : gaps) {
    auto it = std::find_if(by_reason.begin(), by_reason.end(),
                           [&](const auto& e) { return e.first->reason == g.reason; });
    if (it == by_reason.end()) {
      by_reason.push_back({&g, {}});
      it = by_reason.end() - 1;
    }
    it->second.push_back(&g);
  }
  for (const auto& [first, members] : by_reason) {
    for (const report::KnownGap* g : members) {
      fmt::print("  {} ({})\n", g->result,
                 g->measured_error
                     ? fmt::format("measured error {:+.0f}%", 100.0 * *g->measured_error)
                     : std::string("not runnable yet"));
    }
    fmt::print("    why: {}\n    would close it: {}\n", first->reason, first->would_close);
  }
  std::string json;
  std::string html;
  if (!o.json_file.empty() || !o.html_file.empty()) {
    nlohmann::ordered_json j;
    j["quick"] = o.quick;
    auto& arr = j["results"] = nlohmann::ordered_json::array();
    for (const ClaimRun& run : runs) {
      for (const report::ResultCheck& c : run.checks) {
        nlohmann::ordered_json r;
        r["claim"] = c.claim;
        r["result"] = c.result;
        r["published"] = c.published_text;
        r["published_value"] = c.published;
        r["band"] = {c.low, c.high};
        r["simulated"] =
            c.simulated ? nlohmann::ordered_json(*c.simulated) : nlohmann::ordered_json(nullptr);
        r["error"] = c.error ? nlohmann::ordered_json(*c.error) : nlohmann::ordered_json(nullptr);
        r["verdict"] = std::string(report::to_string(c.verdict));
        r["gating"] = c.gating;
        r["jobs"] = run.jobs;
        r["jobs_total"] = run.jobs_total;
        if (!c.note.empty()) r["note"] = c.note;
        arr.push_back(std::move(r));
      }
    }
    auto& g = j["known_gaps"] = nlohmann::ordered_json::array();
    for (const report::KnownGap& k : gaps) {
      g.push_back({{"result", k.result},
                   {"measured_error", k.measured_error ? nlohmann::ordered_json(*k.measured_error)
                                                       : nlohmann::ordered_json(nullptr)},
                   {"reason", k.reason},
                   {"would_close", k.would_close}});
    }
    if (!o.json_file.empty()) json = j.dump(2) + "\n";
    if (!o.html_file.empty()) {
      html = report::html::render_html_report(
          report::html::ReportKind::reproduce, j,
          o.quick ? "moesim reproduce --quick: published vs simulated"
                  : "moesim reproduce: published vs simulated",
          "--html");
    }
  }
  std::string csv_text;
  if (!o.csv_file.empty()) {
    io::CsvTable csv({"claim", "result", "published", "band_low", "band_high", "simulated", "error",
                      "verdict", "gating", "jobs"});
    for (const ClaimRun& run : runs) {
      for (const report::ResultCheck& c : run.checks) {
        csv.add_row({c.claim, c.result, c.published_text, fmt::format("{:.6g}", c.low),
                     fmt::format("{:.6g}", c.high),
                     c.simulated ? fmt::format("{:.6g}", *c.simulated) : "",
                     c.error ? fmt::format("{:.4f}", *c.error) : "",
                     std::string(report::to_string(c.verdict)), c.gating ? "yes" : "no",
                     std::to_string(run.jobs)});
      }
    }
    csv_text = csv.to_string();
  }
  io::write_outputs({{"--json", o.json_file, json},
                     {"--csv", o.csv_file, csv_text},
                     {"--html", o.html_file, html}});
  if (out > 0) {
    throw CommandExit(1, fmt::format("reproduce: {} result(s) outside their band and not known "
                                     "gaps",
                                     out));
  }
}

}  // namespace

void register_reproduce_command(CLI::App& root) {
  auto o = std::make_shared<ReproduceOptions>();
  CLI::App* cmd = root.add_subcommand(
      "reproduce", "Run the published results (claims) and check each against its band");
  cmd->footer(
      "Each file in traces/reference/claims is one published result (a table row, figure or\n"
      "sentence of a paper): its setup (testbed, model, layout, routing, strategies with the\n"
      "options the paper's baselines used), its numbers and a two-sided band per number, set\n"
      "from the paper and physics before the simulator was run (15% unless the file says why).\n"
      "For each number the table prints published, band, simulated, error = simulated /\n"
      "published - 1, and the verdict: 'in band', 'known gap' (outside, but recorded with its\n"
      "measured error, reason and what would close it in known_gaps.json) or 'OUT OF BAND'.\n"
      "Exit 0 when every gating number is in band or a known gap, 1 otherwise, 2 on bad input.\n"
      "Grids (FSMoE's 1458 layers, Parm's 1296) run in full; --quick runs the claims marked\n"
      "quick, grids on a fixed sample of their cases (about a minute on 2 cores).\n"
      "Examples:\n"
      "  moesim reproduce --quick\n"
      "  moesim reproduce --quick --html reproduce.html\n"
      "  moesim reproduce --paper fsmoe --csv fsmoe.csv\n"
      "  moesim reproduce --claim fsmoe-table5-testbed-a,lancet-v100 --json out.json\n"
      "  moesim reproduce --list");
  cmd->add_option("--claims", o->claims_dir, "Folder of claim files")->capture_default_str();
  cmd->add_option("--paper", o->papers, "Only this paper's claims (id prefix: fsmoe, lancet, ...)")
      ->delimiter(',');
  cmd->add_option("--claim", o->claims, "Only these claims (ids, comma-separated)")->delimiter(',');
  cmd->add_flag("--quick", o->quick, "The quick subset, grids sampled (about a minute)");
  cmd->add_flag("--list", o->list, "List the claims and their job counts; run nothing");
  cmd->add_option("--jobs,-j", o->jobs, "Threads (default: every core)");
  cmd->add_option("--json", o->json_file, "Write the results as JSON ('-' = stdout)");
  cmd->add_option("--csv", o->csv_file, "Write the results as CSV ('-' = stdout)");
  cmd->add_option("--html", o->html_file,
                  "Write a self-contained HTML report: published vs simulated with the bands, "
                  "the known gaps (opens offline)");
  cmd->callback([o]() { reproduce(*o); });
}

}  // namespace moesim::app
