#include "sim/io/sweep_case_line.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sim/io/json_reader.hpp"

namespace moesim::io {

std::string to_json_line(const SweepCaseLine& c) {
  // ordered_json: keys in insertion order, so the text (and the fingerprint) is canonical.
  nlohmann::ordered_json job;
  job["model"] = c.job.model;
  job["set"] = c.job.set;
  job["topology"] = c.job.topology;
  job["nodes"] = c.job.nodes;
  job["network"] = c.job.network;
  job["gpu"] = c.job.gpu;
  job["parallel"] = c.job.parallel;
  job["order"] = c.job.order;
  job["expert_order"] = c.job.expert_order;
  job["routing"] = c.job.routing;
  job["iterations"] = c.job.iterations;
  job["calibration"] = c.job.calibration;
  nlohmann::ordered_json varied = nlohmann::ordered_json::object();
  for (const auto& [k, v] : c.varied) varied[k] = v;
  nlohmann::ordered_json line;
  line["sweep"] = c.sweep;
  line["index"] = c.index;
  line["cases"] = c.cases;
  line["case"] = c.config_id;
  line["strategy"] = c.strategy;
  line["seed"] = c.seed;
  line["job"] = std::move(job);
  line["varied"] = std::move(varied);
  return line.dump();
}

SweepCaseLine parse_case_line(const std::string& text, const std::string& where) {
  const nlohmann::json doc = parse_json_text(text, where);
  const JsonReader line(doc, where);
  line.expect_object({"sweep", "index", "cases", "case", "strategy", "seed", "job", "varied"});
  SweepCaseLine c;
  c.sweep = line.at("sweep").as_string();
  c.cases = static_cast<std::size_t>(line.at("cases").as_int_at_least(1));
  const JsonReader index = line.at("index");
  c.index = static_cast<std::size_t>(index.as_int_at_least(0));
  if (c.index >= c.cases) {
    index.fail_got("index past the end of the sweep", std::to_string(c.index),
                   fmt::format("0..{}", c.cases - 1));
  }
  c.config_id = line.at("case").as_string();
  c.strategy = line.at("strategy").as_string();
  c.seed = static_cast<std::uint64_t>(line.at("seed").as_int_at_least(0));
  const JsonReader job = line.at("job");
  job.expect_object({"model", "set", "topology", "nodes", "network", "gpu", "parallel", "order",
                     "expert_order", "routing", "iterations", "calibration"});
  c.job.model = job.at("model").as_string();
  c.job.set = job.at("set").as_string();
  c.job.topology = job.at("topology").as_string();
  c.job.nodes = static_cast<std::uint64_t>(job.at("nodes").as_int_at_least(0));
  c.job.network = job.at("network").as_string();
  c.job.gpu = job.at("gpu").as_string();
  c.job.parallel = job.at("parallel").as_string();
  c.job.order = job.at("order").as_string();
  c.job.expert_order = job.at("expert_order").as_string();
  c.job.routing = job.at("routing").as_string();
  c.job.iterations = job.at("iterations").as_int_at_least(1);
  c.job.calibration = job.at("calibration").as_string();
  for (const auto& [k, v] : line.at("varied").members()) c.varied[k] = v.as_string();
  return c;
}

std::string case_fingerprint(const SweepCaseLine& c) {
  // FNV-1a, 64 bit: not cryptographic, only a guard against reusing another case's result.
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char ch : to_json_line(c)) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace moesim::io
