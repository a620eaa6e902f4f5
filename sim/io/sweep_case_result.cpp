#include "sim/io/sweep_case_result.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/io/json_reader.hpp"
#include "sim/io/output_file.hpp"

namespace moesim::io {
namespace {

// The format tag: a reader refuses a file of another format or version instead of misreading it.
constexpr const char* kFormat = "moesim-sweep-result/1";

SweepCaseStatus parse_status(const JsonReader& v) {
  const std::string s = v.as_string();
  if (s == "ok") return SweepCaseStatus::ok;
  if (s == "invalid") return SweepCaseStatus::invalid;
  if (s == "failed") return SweepCaseStatus::failed;
  v.fail("unknown status", "ok, invalid or failed");
}

}  // namespace

std::string to_string(SweepCaseStatus status) {
  switch (status) {
    case SweepCaseStatus::ok:
      return "ok";
    case SweepCaseStatus::invalid:
      return "invalid";
    case SweepCaseStatus::failed:
      return "failed";
  }
  return "failed";
}

std::string case_result_path(const std::string& dir, std::size_t index) {
  return (std::filesystem::path(dir) / fmt::format("case-{}.json", index)).string();
}

std::string to_json_text(const SweepCaseResult& r) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["index"] = r.index;
  j["fingerprint"] = r.fingerprint;
  j["case"] = r.config_id;
  j["strategy"] = r.strategy;
  j["status"] = to_string(r.status);
  if (r.status == SweepCaseStatus::ok) {
    // nlohmann writes the shortest text that parses back to the same double.
    j["iteration_us"] = r.iteration_us;
    j["exposed_comm_us"] = r.exposed_comm_us;
    j["tokens_per_s"] = r.tokens_per_s;
    j["decisions"] = r.decisions;
  } else {
    j["error"] = r.error;
  }
  return j.dump() + "\n";
}

void write_case_result(const std::string& dir, const SweepCaseResult& r) {
  write_file_atomically(case_result_path(dir, r.index), to_json_text(r));
}

SweepCaseResult parse_case_result(const std::string& text, const std::string& where) {
  const nlohmann::json doc = parse_json_text(text, where);
  const JsonReader j(doc, where);
  j.expect_object({"format", "index", "fingerprint", "case", "strategy", "status", "iteration_us",
                   "exposed_comm_us", "tokens_per_s", "decisions", "error"});
  const JsonReader format = j.at("format");
  if (format.as_string() != kFormat) format.fail("not a sweep result of this version", kFormat);
  SweepCaseResult r;
  r.index = static_cast<std::size_t>(j.at("index").as_int_at_least(0));
  r.fingerprint = j.at("fingerprint").as_string();
  r.config_id = j.at("case").as_string();
  r.strategy = j.at("strategy").as_string();
  r.status = parse_status(j.at("status"));
  if (r.status == SweepCaseStatus::ok) {
    r.iteration_us = j.at("iteration_us").as_positive();
    r.exposed_comm_us = j.at("exposed_comm_us").as_double_at_least(0.0);
    r.tokens_per_s = j.at("tokens_per_s").as_double_at_least(0.0);
    r.decisions = j.at("decisions").as_string();
  } else {
    r.error = j.at("error").as_string();
  }
  return r;
}

std::optional<SweepCaseResult> find_case_result(const std::string& dir, std::size_t index,
                                                const std::string& fingerprint) {
  const std::string path = case_result_path(dir, index);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  try {
    SweepCaseResult r = parse_case_result(text.str(), path);
    if (r.index != index || r.fingerprint != fingerprint) return std::nullopt;
    return r;
  } catch (const InputError&) {
    // Truncated (a crash of the machine between write and rename) or foreign: run it again.
    return std::nullopt;
  }
}

}  // namespace moesim::io
