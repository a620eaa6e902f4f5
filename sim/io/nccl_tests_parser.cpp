#include "sim/io/nccl_tests_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include "sim/core/errors.hpp"
#include "sim/io/json_reader.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::io {
namespace {

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

/// A finite number spelling the whole token (from_chars alone also takes "nan" and "inf").
std::optional<double> to_number(const std::string& s) {
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// Message sizes nccl-tests can run: 2^50 bytes is far beyond any GPU's memory.
constexpr double kMaxSizeBytes = 1125899906842624.0;
/// Ranks in one measurement: 2^20 GPUs.
constexpr std::int64_t kMaxRanks = std::int64_t{1} << 20;

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// NCCL_VERSION_CODE (e.g. 22005) -> "2.20.5"; codes before 2.9 used major*1000+minor*100+patch.
std::string nccl_version_string(long code) {
  if (code >= 10000) return fmt::format("{}.{}.{}", code / 10000, (code % 10000) / 100, code % 100);
  return fmt::format("{}.{}.{}", code / 1000, (code % 1000) / 100, code % 100);
}

void set_provenance_field(calibration::Provenance& p, const std::string& key,
                          const std::string& value, const std::string& origin, int line) {
  if (key == "source") {
    p.source = value;
  } else if (key == "gpu") {
    p.gpu = value;
  } else if (key == "date") {
    p.date = value;
  } else if (key == "driver") {
    p.driver = value;
  } else if (key == "cuda") {
    p.cuda = value;
  } else if (key == "nccl") {
    p.nccl = value;
  } else if (key == "notes") {
    p.notes = value;
  } else {
    throw input_error(origin, fmt::format("line {}", line), "unknown moesim-provenance key", key,
                      "one of source, gpu, date, driver, cuda, nccl, notes");
  }
}

}  // namespace

std::optional<CommKind> nccl_tests_op(std::string_view name) {
  return comm_kind_from_nccl_tests_name(name);
}

calibration::MeasurementSet parse_nccl_tests_text(const std::string& text,
                                                  const std::string& origin) {
  calibration::MeasurementSet set;
  set.provenance.file = origin;
  set.provenance.source = "nccl-tests";
  std::optional<CommKind> op;
  int rank_lines = 0;
  int threads_times_gpus = 0;
  std::set<std::string> hosts;
  struct Row {
    std::int64_t size;
    double time_us, algbw, busbw;
    std::int64_t wrong;
  };
  std::vector<Row> rows;
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty()) continue;
    if (t[0] == '#') {
      const std::string body = trim(t.substr(1));
      if (body.rfind("moesim-provenance:", 0) == 0) {
        const std::string kv = trim(body.substr(18));
        const auto eq = kv.find('=');
        if (eq == std::string::npos) {
          throw input_error(origin, fmt::format("line {}", line_no), "malformed provenance line",
                            kv, "key=value");
        }
        set_provenance_field(set.provenance, trim(kv.substr(0, eq)), trim(kv.substr(eq + 1)),
                             origin, line_no);
      } else if (body.rfind("Collective test starting:", 0) == 0) {
        op = nccl_tests_op(trim(body.substr(25)));
      } else if (body.rfind("Rank", 0) == 0) {
        ++rank_lines;
        const auto tok = split_ws(body);
        const auto on = std::find(tok.begin(), tok.end(), "on");
        if (on != tok.end() && std::next(on) != tok.end()) hosts.insert(*std::next(on));
        const auto bracket = body.find(']');
        if (rank_lines == 1 && bracket != std::string::npos && set.provenance.gpu == "unknown") {
          set.provenance.gpu = trim(body.substr(bracket + 1));
        }
      } else if (body.rfind("nThread", 0) == 0) {
        const auto tok = split_ws(body);
        if (tok.size() >= 4) {
          const double product = to_number(tok[1]).value_or(0) * to_number(tok[3]).value_or(0);
          if (!(product >= 1.0 && product <= static_cast<double>(kMaxRanks))) {
            throw input_error(origin, fmt::format("line {}", line_no), "bad nThread/nGpus line",
                              body.substr(0, 60), fmt::format("1..{} ranks", kMaxRanks));
          }
          threads_times_gpus = static_cast<int>(product);
        }
      } else if (const auto pos = body.find("nccl-library="); pos != std::string::npos) {
        if (set.provenance.nccl == "unknown") {
          const auto words = split_ws(body.substr(pos + 13));
          long code = 0;
          const std::string word = words.empty() ? std::string() : words.front();
          const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), code);
          if (ec != std::errc() || end != word.data() + word.size() || code <= 0) {
            throw input_error(origin, fmt::format("line {}", line_no), "bad NCCL version code",
                              word, "NCCL_VERSION_CODE digits such as 21805");
          }
          set.provenance.nccl = nccl_version_string(code);
        }
      }
      continue;
    }
    const auto tok = split_ws(t);
    const std::string where = fmt::format("line {}", line_no);
    if (tok.size() < 11 || !to_number(tok[0])) {
      throw input_error(origin, where, "not an nccl-tests result row", t.substr(0, 60),
                        "size count type ... time algbw busbw #wrong time algbw busbw #wrong");
    }
    const double size = *to_number(tok[0]);
    if (size < 0 || size > kMaxSizeBytes || size != std::floor(size)) {
      throw input_error(origin, where, "size out of range", tok[0],
                        fmt::format("a whole number of bytes in [0, {}]", kMaxSizeBytes));
    }
    const std::size_t base = tok.size() - 8;  // out-of-place: base..base+3, in-place: base+4..
    // Each half (out-of-place, in-place) is four numbers or "N/A"s (a half nccl-tests did not
    // run); anything else is garbage and fails, rather than silently using the other half.
    auto metrics = [&](std::size_t at) -> std::optional<Row> {
      bool all_na = true;
      for (std::size_t i = at; i < at + 3; ++i) all_na = all_na && tok[i] == "N/A";
      if (all_na) return std::nullopt;
      const auto time = to_number(tok[at]);
      const auto alg = to_number(tok[at + 1]);
      const auto bus = to_number(tok[at + 2]);
      // Times up to 1e12 us (11.6 days), bandwidths up to 1e6 GB/s: physical ranges.
      if (!time || !alg || !bus || !(*time > 0.0 && *time <= 1e12) ||
          !(*alg >= 0.0 && *alg <= 1e6) || !(*bus >= 0.0 && *bus <= 1e6)) {
        throw input_error(origin, where, "result row with a bad time or bandwidth",
                          fmt::format("{} {} {}", tok[at], tok[at + 1], tok[at + 2]),
                          "time in (0, 1e12] us and bandwidths in [0, 1e6] GB/s, or N/A");
      }
      const auto wrong = to_number(tok[at + 3]);
      return Row{static_cast<std::int64_t>(size), *time, *alg, *bus,
                 wrong && *wrong >= 0 && *wrong < 1e15 ? static_cast<std::int64_t>(*wrong) : -1};
    };
    auto row = metrics(base);
    if (!row) row = metrics(base + 4);
    if (!row) {
      throw input_error(origin, where, "result row without a usable time", t.substr(0, 60),
                        "positive time, algbw and busbw numbers");
    }
    rows.push_back(*row);
  }
  if (!op) op = nccl_tests_op(origin);
  if (!op) {
    throw input_error(origin, "", "cannot tell which collective this is", {},
                      "a '# Collective test starting: <op>_perf' line or the op name "
                      "(all_reduce, alltoall, ...) in the file name");
  }
  if (rows.empty()) {
    throw input_error(origin, "", "no result rows", {}, "nccl-tests output with a results table");
  }
  const int ranks = rank_lines > 0 ? rank_lines : threads_times_gpus;
  if (ranks <= 0) {
    throw input_error(origin, "", "cannot tell the number of ranks", {},
                      "'#  Rank' lines or a '# nThread N nGpus G' line");
  }
  for (const Row& r : rows) {
    set.collectives.push_back({*op, ranks, std::max<int>(1, static_cast<int>(hosts.size())), r.size,
                               r.time_us, r.algbw, r.busbw, r.wrong});
  }
  return set;
}

calibration::MeasurementSet parse_nccl_tests_json(const nlohmann::json& doc,
                                                  const std::string& origin) {
  const JsonReader root(doc, origin);
  calibration::MeasurementSet set;
  set.provenance.file = origin;
  set.provenance.source = "nccl-tests";
  const auto args = root.at("args").elements();
  if (args.empty()) root.at("args").fail("empty", "the benchmark's command line");
  const auto op = nccl_tests_op(args.front().as_string());
  if (!op) args.front().fail("cannot tell which collective this is", "a path ending in <op>_perf");
  if (const auto v = root.find("nccl_version"))
    set.provenance.nccl = nccl_version_string(static_cast<long>(v->as_int_in(1, 1 << 30)));
  if (const auto start = root.find("start_time"))
    set.provenance.date = start->as_string().substr(0, 10);
  const JsonReader config = root.at("config");
  const auto threads = config.at("nthreads").as_int_in(1, 1 << 10);
  const auto gpus = config.at("ngpus").as_int_in(1, 1 << 10);
  std::set<std::string> hosts;
  std::size_t processes = 1;
  if (const auto devices = config.find("devices")) {
    const auto list = devices->elements();
    processes = std::max<std::size_t>(1, list.size());
    for (const JsonReader& d : list) {
      hosts.insert(d.at("hostname").as_string());
      if (set.provenance.gpu == "unknown") set.provenance.gpu = d.at("device_info").as_string();
    }
  }
  const std::int64_t all_ranks = static_cast<std::int64_t>(processes) * threads * gpus;
  if (all_ranks > kMaxRanks) {
    config.fail_got("too many ranks", std::to_string(all_ranks), fmt::format("<= {}", kMaxRanks));
  }
  const int ranks = static_cast<int>(all_ranks);
  const int nodes = std::max<int>(1, static_cast<int>(hosts.size()));
  for (const JsonReader& r : root.at("results").elements()) {
    const std::int64_t size = r.at("size").as_int_in(0, static_cast<std::int64_t>(kMaxSizeBytes));
    std::optional<JsonReader> m;
    for (const char* key : {"out_of_place", "in_place"}) {
      if (const auto x = r.find(key); x && x->is_object()) {
        m = x;
        break;
      }
    }
    if (!m) r.fail("result without out_of_place or in_place numbers", "an object with time");
    const JsonReader time = m->find("time") ? m->at("time") : m->at("cpu_time");
    const auto wrong = m->find("nwrong");
    set.collectives.push_back(
        {*op, ranks, nodes, size, time.as_positive(), m->at("alg_bw").as_double_at_least(0.0),
         m->at("bus_bw").as_double_at_least(0.0),
         wrong && wrong->is_number() ? wrong->as_int_in(-1, JsonReader::kMaxInteger) : -1});
  }
  if (set.collectives.empty()) root.at("results").fail("no result rows", "at least one row");
  return set;
}

}  // namespace moesim::io
