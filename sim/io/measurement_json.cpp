#include "sim/io/measurement_json.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "sim/io/json_reader.hpp"
#include "sim/io/kernel_traits_json.hpp"
#include "sim/io/nccl_tests_parser.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::io {
namespace {

using calibration::Verification;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file", {}, "a readable file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

calibration::Provenance read_provenance(const JsonReader& r) {
  r.expect_object({"source", "gpu", "sm_count", "driver", "cuda", "cublas", "nccl", "git_sha",
                   "date", "notes"});
  calibration::Provenance p;
  p.source = r.at("source").as_string();
  p.gpu = r.at("gpu").as_string();
  p.date = r.at("date").as_string();
  if (const auto sm = r.find("sm_count")) p.sm_count = static_cast<int>(sm->as_int_in(0, 1 << 16));
  p.driver = r.string_or("driver", "unknown");
  p.cuda = r.string_or("cuda", "unknown");
  p.cublas = r.string_or("cublas", "unknown");
  p.nccl = r.string_or("nccl", "unknown");
  p.git_sha = r.string_or("git_sha", "unknown");
  p.notes = r.string_or("notes", "");
  return p;
}

KernelKind read_kernel_kind(const JsonReader& r) {
  const std::string s = r.as_string();
  const auto kind = parse_kernel_kind(s);
  if (!kind) {
    r.fail("unknown kernel kind",
           "one of gemm, attention, softmax, layernorm, elementwise, gate, permute, unpermute, "
           "optimizer, memcpy, other");
  }
  return *kind;
}

DType read_dtype(const JsonReader& r) {
  const auto t = parse_dtype(r.as_string());
  if (!t) r.fail("unknown dtype", "one of fp32, fp16, bf16, fp8");
  return *t;
}

Verification read_verified(const JsonReader& r) {
  const std::string s = r.as_string();
  if (s == "pass") return Verification::pass;
  if (s == "fail") return Verification::fail;
  if (s == "unchecked") return Verification::unchecked;
  r.fail("unknown verification", "one of pass, fail, unchecked");
}

CommKind read_comm_kind(const JsonReader& r) {
  const auto k = parse_comm_kind(r.as_string());
  if (!k) {
    r.fail("unknown collective", "one of " + comm_kind_names());
  }
  return *k;
}

}  // namespace

calibration::MeasurementSet measurements_from_json(const nlohmann::json& doc,
                                                   const std::string& origin) {
  const JsonReader root(doc, origin);
  root.expect_object({"schema", "provenance", "kernels", "collectives", "contention"});
  const JsonReader schema = root.at("schema");
  if (schema.as_string() != kMeasurementSchema)
    schema.fail("unsupported schema", kMeasurementSchema);
  calibration::MeasurementSet set;
  set.provenance = read_provenance(root.at("provenance"));
  set.provenance.file = origin;
  if (const auto kernels = root.find("kernels")) {
    for (const JsonReader& r : kernels->elements()) {
      r.expect_object({"kind", "m", "n", "k", "batch", "dtype", "time_us", "verified", "variant",
                       "pass", "causal", "fused", "tflops", "gbps"});
      calibration::KernelMeasurement m;
      m.kind = read_kernel_kind(r.at("kind"));
      // 2^31 per dimension, as in task graphs (task_graph_json.cpp).
      constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;
      m.shape.m = r.at("m").as_int_in(1, kMaxDim);
      m.shape.n = r.find("n") ? r.at("n").as_int_in(0, kMaxDim) : 0;
      m.shape.k = r.find("k") ? r.at("k").as_int_in(0, kMaxDim) : 0;
      m.shape.batch = r.find("batch") ? r.at("batch").as_int_in(1, kMaxDim) : 1;
      m.dtype = read_dtype(r.at("dtype"));
      m.time_us = r.at("time_us").as_positive();
      m.verified = read_verified(r.at("verified"));
      m.variant = r.string_or("variant", "");
      m.traits = read_kernel_traits(r, m.kind);
      if (const auto t = r.find("tflops")) (void)t->as_double_at_least(0.0);
      if (const auto g = r.find("gbps")) (void)g->as_double_at_least(0.0);
      set.kernels.push_back(m);
    }
  }
  if (const auto colls = root.find("collectives")) {
    for (const JsonReader& r : colls->elements()) {
      r.expect_object(
          {"op", "ranks", "nodes", "size_bytes", "time_us", "algbw_gbps", "busbw_gbps", "wrong"});
      calibration::CollectiveMeasurement c;
      c.op = read_comm_kind(r.at("op"));
      c.ranks = static_cast<int>(r.at("ranks").as_int_at_least(1));
      c.nodes = r.find("nodes") ? static_cast<int>(r.at("nodes").as_int_at_least(1)) : 1;
      c.size_bytes = r.at("size_bytes").as_int_at_least(0);
      c.time_us = r.at("time_us").as_positive();
      c.algbw_gbps = r.at("algbw_gbps").as_double_at_least(0.0);
      c.busbw_gbps = r.at("busbw_gbps").as_double_at_least(0.0);
      c.wrong = r.find("wrong") ? r.at("wrong").as_int_at_least(-1) : 0;
      set.collectives.push_back(c);
    }
  }
  if (const auto cont = root.find("contention")) {
    for (const JsonReader& r : cont->elements()) {
      r.expect_object(
          {"victim", "aggressor", "m", "n", "k", "bytes", "alone_us", "concurrent_us", "slowdown"});
      calibration::ContentionMeasurement c;
      c.victim = r.at("victim").as_string();
      c.aggressor = r.at("aggressor").as_string();
      c.shape.m = r.int_or("m", 0);
      c.shape.n = r.int_or("n", 0);
      c.shape.k = r.int_or("k", 0);
      c.bytes = r.find("bytes") ? r.at("bytes").as_int_at_least(0) : 0;
      c.alone_us = r.at("alone_us").as_positive();
      c.concurrent_us = r.at("concurrent_us").as_positive();
      if (const auto s = r.find("slowdown")) (void)s->as_positive();
      set.contention.push_back(c);
    }
  }
  return set;
}

calibration::MeasurementSet load_measurements(const std::string& path) {
  return measurements_from_json(parse_json_file(path), path);
}

nlohmann::json measurements_to_json(const calibration::MeasurementSet& set) {
  const calibration::Provenance& p = set.provenance;
  nlohmann::json doc = nlohmann::json::object();
  doc["schema"] = kMeasurementSchema;
  doc["provenance"] = {{"source", p.source}, {"gpu", p.gpu},         {"sm_count", p.sm_count},
                       {"driver", p.driver}, {"cuda", p.cuda},       {"cublas", p.cublas},
                       {"nccl", p.nccl},     {"git_sha", p.git_sha}, {"date", p.date},
                       {"notes", p.notes}};
  nlohmann::json kernels = nlohmann::json::array();
  for (const auto& k : set.kernels) {
    kernels.push_back({{"kind", to_string(k.kind)},
                       {"m", k.shape.m},
                       {"n", k.shape.n},
                       {"k", k.shape.k},
                       {"batch", k.shape.batch},
                       {"dtype", to_string(k.dtype)},
                       {"time_us", k.time_us},
                       {"verified", to_string(k.verified)},
                       {"variant", k.variant}});
    nlohmann::json& row = kernels.back();
    if (calibration::has_pass(k.kind) || k.traits.pass != OpDirection::forward)
      row["pass"] = to_string(k.traits.pass);
    if (k.kind == KernelKind::attention) {
      row["causal"] = k.traits.causal;
      row["fused"] = k.traits.fused;
    }
  }
  doc["kernels"] = kernels;
  nlohmann::json colls = nlohmann::json::array();
  for (const auto& c : set.collectives) {
    colls.push_back({{"op", to_string(c.op)},
                     {"ranks", c.ranks},
                     {"nodes", c.nodes},
                     {"size_bytes", c.size_bytes},
                     {"time_us", c.time_us},
                     {"algbw_gbps", c.algbw_gbps},
                     {"busbw_gbps", c.busbw_gbps},
                     {"wrong", c.wrong}});
  }
  doc["collectives"] = colls;
  nlohmann::json cont = nlohmann::json::array();
  for (const auto& c : set.contention) {
    cont.push_back({{"victim", c.victim},
                    {"aggressor", c.aggressor},
                    {"m", c.shape.m},
                    {"n", c.shape.n},
                    {"k", c.shape.k},
                    {"bytes", c.bytes},
                    {"alone_us", c.alone_us},
                    {"concurrent_us", c.concurrent_us},
                    {"slowdown", c.slowdown()}});
  }
  doc["contention"] = cont;
  return doc;
}

calibration::MeasurementSet load_any_measurements(const std::string& path) {
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (!json) return parse_nccl_tests_text(read_text(path), path);
  const nlohmann::json doc = parse_json_file(path);
  if (doc.is_object() && doc.contains("schema")) return measurements_from_json(doc, path);
  if (doc.is_object() && doc.contains("results")) return parse_nccl_tests_json(doc, path);
  throw input_error(path, "/", "not a measurement file", json_excerpt(doc),
                    fmt::format("an object with \"schema\": \"{}\" or nccl-tests -J output "
                                "(with \"results\")",
                                kMeasurementSchema));
}

}  // namespace moesim::io
