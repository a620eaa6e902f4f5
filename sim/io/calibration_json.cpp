#include "sim/io/calibration_json.hpp"

#include <fmt/format.h>

#include "sim/io/json_reader.hpp"
#include "sim/io/kernel_traits_json.hpp"

namespace moesim::io {
namespace {

using namespace moesim::calibration;

nlohmann::json provenance_json(const Provenance& p) {
  return {{"file", p.file},         {"source", p.source}, {"gpu", p.gpu},
          {"sm_count", p.sm_count}, {"driver", p.driver}, {"cuda", p.cuda},
          {"cublas", p.cublas},     {"nccl", p.nccl},     {"git_sha", p.git_sha},
          {"date", p.date},         {"notes", p.notes}};
}

int read_source(const JsonReader& r, std::size_t sources, bool allow_none = false) {
  const std::int64_t s = r.as_int_at_least(allow_none ? -1 : 0);
  if (s >= static_cast<std::int64_t>(sources)) {
    r.fail("source index out of range", fmt::format("< {} (the number of sources)", sources));
  }
  return static_cast<int>(s);
}

}  // namespace

nlohmann::json profile_to_json(const CalibrationProfile& profile) {
  nlohmann::json doc = nlohmann::json::object();
  doc["schema"] = kProfileSchema;
  nlohmann::json sources = nlohmann::json::array();
  for (const Provenance& p : profile.sources) sources.push_back(provenance_json(p));
  doc["sources"] = sources;
  nlohmann::json tables = nlohmann::json::array();
  for (const KernelCostTable& t : profile.kernel_tables) {
    nlohmann::json points = nlohmann::json::array();
    for (const KernelPoint& p : t.points()) {
      points.push_back(
          {{"m", p.m}, {"n", p.n}, {"k", p.k}, {"time_us", p.time_us}, {"source", p.source}});
    }
    nlohmann::json table = {
        {"kind", to_string(t.kind())}, {"dtype", to_string(t.dtype())}, {"batch", t.batch()}};
    if (calibration::has_pass(t.kind())) table["pass"] = to_string(t.traits().pass);
    if (t.kind() == KernelKind::attention) {
      table["causal"] = t.traits().causal;
      table["fused"] = t.traits().fused;
    }
    table["interpolation"] =
        "measured shape: its time; else rate = work/time linear in log(m), then log(n), then "
        "log(k) between bracketing points; outside: fallback";
    table["points"] = points;
    tables.push_back(std::move(table));
  }
  doc["kernel_tables"] = tables;
  const RooflineFallback& r = profile.roofline;
  doc["roofline_fallback"] = {
      {"peak_tflops", r.peak_tflops},
      {"peak_source", r.peak_source},
      {"memory_gbps", r.memory_gbps},
      {"memory_source", r.memory_source},
      {"floor_us", r.floor_us},
      {"floor_source", r.floor_source},
      {"derived_from",
       "highest GEMM TFLOP/s, highest effective bandwidth and shortest time among the measured "
       "kernel rows; time = max(work/peak, bytes/bandwidth, floor)"},
      {"used_for", "kernels outside every measured range (reported as 'fallback')"}};
  doc["contention"] = {
      {"gemm_slowdown", profile.contention.gemm_slowdown},
      {"rows", profile.contention.rows},
      {"sources", profile.contention.sources},
      {"derived_from",
       profile.contention.rows > 0
           ? "median of concurrent_us / alone_us over overlap rows of a GEMM beside a collective"
           : "no overlap measurement: no contention modelled"}};
  nlohmann::json colls = nlohmann::json::array();
  for (const CollectiveFit& f : profile.collectives) {
    colls.push_back(
        {{"op", to_string(f.op)},
         {"ranks", f.ranks},
         {"nodes", f.nodes},
         {"level", to_string(f.level)},
         {"alpha_us", f.alpha_us},
         {"busbw_gbps", f.busbw_gbps},
         {"bus_factor", f.bus_factor},
         {"min_size_bytes", f.min_size_bytes},
         {"max_size_bytes", f.max_size_bytes},
         {"rows", f.rows},
         {"fit_mape", f.mape},
         {"fit_max_error", f.max_error},
         {"source", f.source},
         {"model", "time_us = alpha_us + size_bytes * bus_factor / (busbw_gbps * 1e3)"}});
  }
  doc["collectives"] = colls;
  return doc;
}

CalibrationProfile profile_from_json(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader root(doc, origin);
  root.expect_object(
      {"schema", "sources", "kernel_tables", "roofline_fallback", "contention", "collectives"});
  const JsonReader schema = root.at("schema");
  if (schema.as_string() != kProfileSchema) schema.fail("unsupported schema", kProfileSchema);
  CalibrationProfile p;
  for (const JsonReader& s : root.at("sources").elements()) {
    s.expect_object({"file", "source", "gpu", "sm_count", "driver", "cuda", "cublas", "nccl",
                     "git_sha", "date", "notes"});
    Provenance v;
    v.file = s.at("file").as_string();
    v.source = s.at("source").as_string();
    v.gpu = s.at("gpu").as_string();
    v.sm_count = static_cast<int>(s.at("sm_count").as_int_at_least(0));
    v.driver = s.at("driver").as_string();
    v.cuda = s.at("cuda").as_string();
    v.cublas = s.at("cublas").as_string();
    v.nccl = s.at("nccl").as_string();
    v.git_sha = s.at("git_sha").as_string();
    v.date = s.at("date").as_string();
    v.notes = s.at("notes").as_string();
    p.sources.push_back(v);
  }
  const std::size_t n_sources = p.sources.size();
  for (const JsonReader& t : root.at("kernel_tables").elements()) {
    t.expect_object(
        {"kind", "dtype", "batch", "pass", "causal", "fused", "interpolation", "points"});
    const auto kind = parse_kernel_kind(t.at("kind").as_string());
    if (!kind) t.at("kind").fail("unknown kernel kind", "a kernel kind such as gemm");
    const auto dtype = parse_dtype(t.at("dtype").as_string());
    if (!dtype) t.at("dtype").fail("unknown dtype", "one of fp32, fp16, bf16, fp8");
    KernelCostTable table(*kind, *dtype, t.at("batch").as_int_at_least(1),
                          read_kernel_traits(t, *kind));
    for (const JsonReader& pt : t.at("points").elements()) {
      pt.expect_object({"m", "n", "k", "time_us", "source"});
      table.add({pt.at("m").as_int_at_least(1), pt.at("n").as_int_at_least(0),
                 pt.at("k").as_int_at_least(0), pt.at("time_us").as_positive(),
                 read_source(pt.at("source"), n_sources)});
    }
    table.finalize();
    p.kernel_tables.push_back(std::move(table));
  }
  const JsonReader r = root.at("roofline_fallback");
  r.expect_object({"peak_tflops", "peak_source", "memory_gbps", "memory_source", "floor_us",
                   "floor_source", "derived_from", "used_for"});
  // Same ranges as a GPU spec (gpu_spec_json.cpp); 0 only when no measurement gave a value.
  p.roofline.peak_tflops = r.at("peak_tflops").as_double_in(0.0, 1e5);
  p.roofline.peak_source = read_source(r.at("peak_source"), n_sources, true);
  if (p.roofline.peak_source >= 0 && p.roofline.peak_tflops < 1e-3) {
    r.at("peak_tflops").fail("out of range", "a number in [0.001, 100000] when peak_source is set");
  }
  p.roofline.memory_gbps = r.at("memory_gbps").as_double_in(0.0, 1e6);
  p.roofline.memory_source = read_source(r.at("memory_source"), n_sources, true);
  if (p.roofline.memory_source >= 0 && p.roofline.memory_gbps < 1e-3) {
    r.at("memory_gbps")
        .fail("out of range", "a number in [0.001, 1000000] when memory_source is set");
  }
  p.roofline.floor_us = r.at("floor_us").as_double_at_least(0.0);
  p.roofline.floor_source = read_source(r.at("floor_source"), n_sources, true);
  const JsonReader c = root.at("contention");
  c.expect_object({"gemm_slowdown", "rows", "sources", "derived_from"});
  p.contention.gemm_slowdown = c.at("gemm_slowdown").as_double_in(0.0, 100.0, true);
  p.contention.rows = static_cast<int>(c.at("rows").as_int_at_least(0));
  for (const JsonReader& s : c.at("sources").elements()) {
    p.contention.sources.push_back(read_source(s, n_sources));
  }
  for (const JsonReader& f : root.at("collectives").elements()) {
    f.expect_object({"op", "ranks", "nodes", "level", "alpha_us", "busbw_gbps", "bus_factor",
                     "min_size_bytes", "max_size_bytes", "rows", "fit_mape", "fit_max_error",
                     "source", "model"});
    CollectiveFit fit;
    const auto op = parse_comm_kind(f.at("op").as_string());
    if (!op) f.at("op").fail("unknown collective", "a collective such as all_reduce");
    fit.op = *op;
    fit.ranks = static_cast<int>(f.at("ranks").as_int_at_least(1));
    fit.nodes = static_cast<int>(f.at("nodes").as_int_at_least(1));
    fit.level = fit.nodes > 1 ? TopologyLevel::inter_node : TopologyLevel::intra_node;
    if (f.at("level").as_string() != to_string(fit.level)) {
      f.at("level").fail("level disagrees with nodes", std::string(to_string(fit.level)));
    }
    // A collective's fixed cost is microseconds (NCCL: 5-100 us); 1 s is beyond any fit.
    fit.alpha_us = f.at("alpha_us").as_double_in(0.0, 1e6);
    fit.busbw_gbps = f.at("busbw_gbps").as_double_in(1e-3, 1e6);
    fit.bus_factor = f.at("bus_factor").as_double_at_least(0.0);
    fit.min_size_bytes = f.at("min_size_bytes").as_int_at_least(0);
    fit.max_size_bytes = f.at("max_size_bytes").as_int_at_least(0);
    fit.rows = static_cast<int>(f.at("rows").as_int_at_least(1));
    fit.mape = f.at("fit_mape").as_double_at_least(0.0);
    fit.max_error = f.at("fit_max_error").as_double_at_least(0.0);
    fit.source = read_source(f.at("source"), n_sources);
    p.collectives.push_back(fit);
  }
  return p;
}

CalibrationProfile load_profile(const std::string& path) {
  return profile_from_json(parse_json_file(path), path);
}

}  // namespace moesim::io
