#include "sim/io/claim_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "sim/io/json_reader.hpp"
#include "sim/io/sweep_grid.hpp"
#include "sim/workload/comm_op.hpp"
#include "sim/workload/dtype.hpp"

#ifndef MOESIM_SOURCE_ROOT
#define MOESIM_SOURCE_ROOT "."
#endif
#ifndef MOESIM_CLAIMS_DIR
#define MOESIM_CLAIMS_DIR "traces/reference/claims"
#endif

namespace moesim::io {
namespace {

namespace fs = std::filesystem;
using report::Aggregate;
using report::ClaimJob;
using report::ClaimMetric;
using report::ClaimResult;
using report::MetricKind;
using report::PhaseFilter;

constexpr std::string_view kDefaultBandText = "15% either side of the published value";
constexpr double kDefaultRelativeBand = 0.15;

std::string scalar_text(const JsonReader& v) {
  const nlohmann::json& j = v.node();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<std::int64_t>());
  if (j.is_number_float()) return fmt::format("{}", j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  v.fail("not a scalar", "a string, number or boolean");
}

bool is_job_setting(const std::string& key) {
  return std::find(std::begin(kJobSettingKeys), std::end(kJobSettingKeys), key) !=
         std::end(kJobSettingKeys);
}

// Reads a job object (sweep-grid "base" syntax) on top of `job`.
void read_job(const JsonReader& node, ClaimJob& job) {
  if (!node.is_object()) node.fail("not an object", "job settings and \"set\"");
  std::map<std::string, std::string> set;
  for (const auto& [key, value] : node.members()) {
    if (key == "set") {
      for (const auto& [field, v] : value.members()) set[field] = scalar_text(v);
    } else if (is_job_setting(key)) {
      job.settings[key] = scalar_text(value);
    } else {
      value.fail("unknown job setting",
                 "model, topology, nodes, network, gpu, parallel, order, expert_order, routing, "
                 "seed, iterations or set");
    }
  }
  // Later overrides win: append (apply_overrides applies left to right).
  for (const auto& [k, v] : set) {
    job.model_set += fmt::format("{}{}={}", job.model_set.empty() ? "" : ",", k, v);
  }
}

std::vector<std::string> string_list(const JsonReader& node) {
  if (node.is_string()) return {node.as_string()};
  std::vector<std::string> out;
  for (const JsonReader& e : node.elements()) out.push_back(e.as_string());
  return out;
}

MetricKind parse_kind(const JsonReader& node) {
  static const std::map<std::string, MetricKind, std::less<>> kinds = {
      {"speedup", MetricKind::speedup},
      {"op_time_ms", MetricKind::op_time_ms},
      {"op_time_ratio", MetricKind::op_time_ratio},
      {"bandwidth_gbps", MetricKind::bandwidth_gbps},
      {"comm_share", MetricKind::comm_share},
      {"exposed_reduction", MetricKind::exposed_reduction},
      {"decision_fraction", MetricKind::decision_fraction},
      {"decisions_differ", MetricKind::decisions_differ},
      {"decision_max", MetricKind::decision_max},
      {"iteration_s", MetricKind::iteration_s},
      {"iteration_ratio", MetricKind::iteration_ratio},
      {"ordering", MetricKind::ordering},
      {"planner_error", MetricKind::planner_error},
      {"collective_fit", MetricKind::collective_fit}};
  const std::string k = node.as_string();
  const auto it = kinds.find(k);
  if (it == kinds.end()) {
    node.fail("unknown metric kind",
              "speedup, op_time_ms, op_time_ratio, bandwidth_gbps, comm_share, exposed_reduction, "
              "decision_fraction, decisions_differ, decision_max, iteration_s, iteration_ratio, "
              "ordering, planner_error or collective_fit");
  }
  return it->second;
}

// collective_fit: which collective on which group, the sizes (elements from..to by step, of
// dtype) and the coefficient read.
void read_collective_fit(const JsonReader& node, ClaimMetric& m) {
  const JsonReader kind = node.at("collective");
  m.collective = kind.as_string();
  const std::optional<CommKind> k = parse_comm_kind(m.collective);
  if (!k || *k == CommKind::all_to_all_v || *k == CommKind::send_recv) {
    kind.fail("unknown collective",
              "all_reduce, all_gather, reduce_scatter, all_to_all, broadcast or reduce");
  }
  const JsonReader group = node.at("group");
  m.group = group.as_string();
  static const std::set<std::string, std::less<>> groups = {"tp", "dp", "ep", "esp", "edp"};
  if (!groups.count(m.group)) group.fail("unknown group", "tp, dp, ep, esp or edp");
  const JsonReader dtype_node = node.at("dtype");
  const std::optional<DType> dtype = parse_dtype(dtype_node.as_string());
  if (!dtype) dtype_node.fail("unknown type", "fp32, fp16, bf16 or fp8");
  const JsonReader elements = node.at("elements");
  elements.expect_object({"from", "to", "step"});
  const std::int64_t from = elements.at("from").as_int_at_least(1);
  const std::int64_t to = elements.at("to").as_int_at_least(from + 1);
  const std::int64_t step = elements.at("step").as_int_at_least(1);
  if ((to - from) / step > 10000) elements.fail("too many sizes", "at most 10000 (a larger step)");
  for (std::int64_t e = from; e <= to; e += step) {
    m.fit_bytes.push_back(static_cast<double>(e * dtype_bytes(*dtype)));
  }
  const JsonReader reading = node.at("reading");
  const std::string r = reading.as_string();
  if (r == "alpha_ms") {
    m.reading = report::FitReading::alpha_ms;
  } else if (r == "beta_ms_per_byte") {
    m.reading = report::FitReading::beta_ms_per_byte;
  } else {
    reading.fail("unknown reading", "alpha_ms or beta_ms_per_byte");
  }
}

ClaimMetric read_metric(const JsonReader& node, const report::Claim& claim,
                        const std::vector<ClaimResult>& earlier, bool from_grid) {
  node.expect_object({"kind",       "of",         "over",      "jobs",       "aggregate",
                      "phase",      "tasks",      "per_tasks", "per_op",     "bytes",
                      "decision",   "decision_b", "equals",    "increasing", "above",
                      "collective", "group",      "elements",  "dtype",      "reading"});
  ClaimMetric m;
  m.kind = parse_kind(node.at("kind"));
  auto label = [&](const JsonReader& v) {
    const std::string s = v.as_string();
    if (!claim.strategies.count(s)) {
      std::string known;
      for (const auto& [k, _] : claim.strategies) known += (known.empty() ? "" : ", ") + k;
      v.fail("unknown strategy label", known);
    }
    return s;
  };
  const bool needs_of = m.kind != MetricKind::ordering && m.kind != MetricKind::collective_fit;
  if (needs_of) m.of = label(node.at("of"));
  const bool needs_over = m.kind == MetricKind::speedup || m.kind == MetricKind::exposed_reduction;
  if (needs_over) {
    const JsonReader over = node.at("over");
    if (over.is_string()) {
      m.over.push_back(label(over));
    } else {
      for (const JsonReader& e : over.elements()) m.over.push_back(label(e));
      if (m.over.empty()) over.fail("empty", "one or more strategy labels");
    }
  } else if (node.has("over")) {
    node.at("over").fail("not used by this metric kind", "no \"over\"");
  }
  if (auto jobs = node.find("jobs")) {
    if (from_grid) jobs->fail("a grid claim runs every case", "no \"jobs\"");
    for (const JsonReader& e : jobs->elements()) {
      const std::string name = e.as_string();
      if (std::none_of(claim.jobs.begin(), claim.jobs.end(),
                       [&](const ClaimJob& j) { return j.name == name; })) {
        e.fail("unknown job", "a name under setup/jobs");
      }
      m.jobs.push_back(name);
    }
  }
  if (auto a = node.find("aggregate")) {
    const std::string s = a->as_string();
    if (s == "mean")
      m.aggregate = Aggregate::mean;
    else if (s == "min")
      m.aggregate = Aggregate::min;
    else if (s == "max")
      m.aggregate = Aggregate::max;
    else
      a->fail("unknown aggregate", "mean, min or max");
  }
  if (auto p = node.find("phase")) {
    const std::string s = p->as_string();
    if (s == "forward")
      m.phase = PhaseFilter::forward;
    else if (s == "backward")
      m.phase = PhaseFilter::backward;
    else if (s == "any")
      m.phase = PhaseFilter::any;
    else
      p->fail("unknown phase", "forward, backward or any");
  }
  const bool needs_tasks = m.kind == MetricKind::op_time_ms ||
                           m.kind == MetricKind::op_time_ratio ||
                           m.kind == MetricKind::bandwidth_gbps;
  if (needs_tasks) m.tasks = string_list(node.at("tasks"));
  if (m.kind == MetricKind::op_time_ratio) m.per_tasks = string_list(node.at("per_tasks"));
  m.per_op = node.bool_or("per_op", false);
  if (m.kind == MetricKind::bandwidth_gbps) {
    m.bytes = node.at("bytes").as_positive();
  } else if (node.has("bytes")) {
    node.at("bytes").fail("not used by this metric kind", "no \"bytes\"");
  }
  const bool needs_decision =
      m.kind == MetricKind::decision_fraction || m.kind == MetricKind::decisions_differ ||
      m.kind == MetricKind::decision_max || m.kind == MetricKind::planner_error;
  if (needs_decision) m.decision = node.at("decision").as_string();
  if (m.kind == MetricKind::decisions_differ || m.kind == MetricKind::planner_error) {
    m.decision_b = node.at("decision_b").as_string();
  }
  if (m.kind == MetricKind::decision_fraction) m.equals = node.at("equals").as_string();
  if (m.kind != MetricKind::ordering && node.has("above")) {
    node.at("above").fail("not used by this metric kind", "no \"above\"");
  }
  if (m.kind == MetricKind::ordering) {
    const JsonReader inc = node.at("increasing");
    m.increasing = string_list(inc);
    if (m.increasing.size() < 2) inc.fail("too short", "two or more result names");
    if (node.has("above")) m.above = node.at("above").as_double();
    for (const std::string& name : m.increasing) {
      if (std::none_of(earlier.begin(), earlier.end(),
                       [&](const ClaimResult& r) { return r.name == name; })) {
        inc.fail_got("not an earlier result of this claim", name, "the name of a result above");
      }
    }
  }
  if (m.kind == MetricKind::collective_fit) read_collective_fit(node, m);
  return m;
}

ClaimResult read_result(const JsonReader& node, const report::Claim& claim,
                        const std::vector<ClaimResult>& earlier, bool from_grid) {
  node.expect_object(
      {"name", "metric", "published", "band", "why", "gating", "note", "unsupported"});
  ClaimResult r;
  r.name = node.at("name").as_string();
  if (r.name.empty() || r.name.find('/') != std::string::npos) {
    node.at("name").fail("bad result name", "a non-empty name without '/'");
  }
  for (const ClaimResult& e : earlier) {
    if (e.name == r.name) node.at("name").fail("duplicate result name", "a unique name");
  }
  r.metric = read_metric(node.at("metric"), claim, earlier, from_grid);
  const JsonReader pub = node.at("published");
  if (pub.is_array()) {
    const auto e = pub.elements();
    if (e.size() != 2) pub.fail("a range has two ends", "[low, high]");
    r.published_range = true;
    r.published_low = e[0].as_double();
    r.published_high = e[1].as_double();
    if (r.published_high < r.published_low) pub.fail("range upside down", "low <= high");
    r.published = 0.5 * (r.published_low + r.published_high);
  } else {
    r.published = pub.as_double();
    r.published_low = r.published_high = r.published;
  }
  double relative = kDefaultRelativeBand;
  double absolute = 0.0;
  bool explicit_ends = false;
  if (auto band = node.find("band")) {
    band->expect_object({"relative", "absolute", "low", "high"});
    if (band->has("low") != band->has("high")) {
      band->fail("give both ends or neither", "\"low\" and \"high\"");
    }
    if (band->has("low")) {
      if (band->has("relative") || band->has("absolute")) {
        band->fail("ends and widths together", "either low/high or relative/absolute");
      }
      explicit_ends = true;
      r.low = band->at("low").as_double();
      r.high = band->at("high").as_double();
    } else {
      relative = band->double_or("relative", 0.0);
      absolute = band->double_or("absolute", 0.0);
      if (relative < 0 || absolute < 0) band->fail("negative width", ">= 0");
    }
    r.band_why = node.at("why").as_string();  // a non-default band says why
  }
  if (!explicit_ends) {
    r.low = r.published_low - std::max(relative * std::abs(r.published_low), absolute);
    r.high = r.published_high + std::max(relative * std::abs(r.published_high), absolute);
  }
  if (!(r.low <= r.published_low && r.published_high <= r.high)) {
    node.fail_got("band does not contain the published value",
                  fmt::format("[{}, {}]", r.low, r.high), "low <= published <= high");
  }
  if (r.band_why.empty()) r.band_why = std::string(kDefaultBandText);
  r.gating = node.bool_or("gating", true);
  r.note = node.string_or("note", "");
  r.unsupported = node.string_or("unsupported", "");
  return r;
}

}  // namespace

std::string default_claims_dir() { return MOESIM_CLAIMS_DIR; }

report::Claim load_claim(const std::string& path) {
  const nlohmann::json doc_json = parse_json_file(path);
  const JsonReader doc(doc_json, path);
  doc.expect_object({"id", "paper", "where", "source", "baseline_config", "quick", "quick_jobs",
                     "setup", "results"});
  report::Claim c;
  c.file = path;
  c.id = doc.at("id").as_string();
  const std::string stem = fs::path(path).stem().string();
  if (c.id != stem) doc.at("id").fail("id differs from the file name", stem);
  c.paper = doc.at("paper").as_string();
  c.where = doc.at("where").as_string();
  c.source = doc.at("source").as_string();
  c.baseline_config = doc.string_or("baseline_config", "");
  c.quick = doc.bool_or("quick", false);
  if (doc.has("quick_jobs")) {
    c.quick_jobs = static_cast<std::size_t>(doc.at("quick_jobs").as_int_at_least(1));
  }

  const JsonReader setup = doc.at("setup");
  setup.expect_object({"grid", "base", "jobs", "strategies"});
  ClaimJob base;
  if (auto b = setup.find("base")) read_job(*b, base);
  const bool from_grid = setup.has("grid");
  if (from_grid == setup.has("jobs")) {
    setup.fail("give either \"grid\" or \"jobs\"", "exactly one of them");
  }
  if (from_grid) {
    const JsonReader g = setup.at("grid");
    const fs::path folder = fs::path(path).parent_path();
    for (const std::string& file : string_list(g)) {
      const std::string grid_path = (folder / file).lexically_normal().string();
      if (!fs::exists(grid_path)) g.fail_got("grid file not found", grid_path, "a sweep grid");
      const SweepGrid grid = load_sweep_grid(grid_path);
      // The claim's "base" goes on top of each grid case (overrides are applied left to right).
      for (const SweepCase& sc : grid.cases) {
        ClaimJob j;
        j.name = grid.name + ":" + sc.id;
        j.settings = sc.settings;
        // Grid files name topology files relative to the repository root (docs/sweep-grid.md).
        if (auto t = j.settings.find("topology");
            t != j.settings.end() && fs::path(t->second).extension() == ".json" &&
            fs::path(t->second).is_relative() && !fs::exists(t->second)) {
          t->second = (fs::path(MOESIM_SOURCE_ROOT) / t->second).string();
        }
        for (const auto& [k, v] : base.settings) j.settings[k] = v;
        j.model_set = sc.model_set;
        if (!base.model_set.empty()) {
          j.model_set += (j.model_set.empty() ? "" : ",") + base.model_set;
        }
        c.jobs.push_back(std::move(j));
      }
    }
  } else {
    for (const auto& [name, node] : setup.at("jobs").members()) {
      ClaimJob j = base;
      j.name = name;
      read_job(node, j);
      c.jobs.push_back(std::move(j));
    }
  }
  if (c.jobs.empty()) setup.fail("no jobs", "one or more");
  for (const ClaimJob& j : c.jobs) {
    for (const char* key : {"model", "parallel"}) {
      if (!j.settings.count(key)) {
        setup.fail_got(fmt::format("job has no {}", key), j.name, "set in base or the job");
      }
    }
  }
  for (const auto& [label, spec] : setup.at("strategies").members()) {
    c.strategies[label] = spec.as_string();
  }
  if (c.strategies.empty()) setup.at("strategies").fail("no strategies", "label: spec pairs");

  const JsonReader results = doc.at("results");
  for (const JsonReader& r : results.elements()) {
    c.results.push_back(read_result(r, c, c.results, from_grid));
  }
  if (c.results.empty()) results.fail("no results", "one or more");
  return c;
}

std::vector<report::Claim> load_claims(const std::string& dir) {
  if (!fs::is_directory(dir)) {
    throw input_error("", "--claims", "not a folder", dir, "a folder of claim files");
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const fs::path p = e.path();
    if (p.extension() == ".json" && p.filename() != "known_gaps.json") files.push_back(p.string());
  }
  std::sort(files.begin(), files.end());
  std::vector<report::Claim> claims;
  std::set<std::string> ids;
  for (const std::string& f : files) {
    claims.push_back(load_claim(f));
    if (!ids.insert(claims.back().id).second) {
      throw input_error(f, "/id", "duplicate claim id", claims.back().id, "a unique id");
    }
  }
  if (claims.empty()) throw input_error("", "--claims", "no claim files", dir, "*.json files");
  return claims;
}

std::vector<report::KnownGap> load_known_gaps(const std::string& dir,
                                              const std::vector<report::Claim>& claims) {
  const std::string path = (fs::path(dir) / "known_gaps.json").string();
  std::vector<report::KnownGap> gaps;
  if (!fs::exists(path)) return gaps;
  const nlohmann::json doc_json = parse_json_file(path);
  const JsonReader doc(doc_json, path);
  doc.expect_object({"description", "gaps"});
  for (const JsonReader& g : doc.at("gaps").elements()) {
    g.expect_object({"result", "measured_error", "reason", "would_close"});
    report::KnownGap gap;
    gap.result = g.at("result").as_string();
    const auto slash = gap.result.find('/');
    const std::string id = gap.result.substr(0, slash);
    const std::string name = slash == std::string::npos ? "" : gap.result.substr(slash + 1);
    const auto claim = std::find_if(claims.begin(), claims.end(),
                                    [&](const report::Claim& c) { return c.id == id; });
    if (claim == claims.end() ||
        std::none_of(claim->results.begin(), claim->results.end(),
                     [&](const ClaimResult& r) { return r.name == name; })) {
      g.at("result").fail("names no result of a claim", "\"claim-id/result name\"");
    }
    const JsonReader error = g.at("measured_error");  // null: not runnable yet, not measured
    if (!error.node().is_null()) gap.measured_error = error.as_double();
    gap.reason = g.at("reason").as_string();
    gap.would_close = g.at("would_close").as_string();
    gaps.push_back(std::move(gap));
  }
  return gaps;
}

}  // namespace moesim::io
