#include "sim/io/routing_trace.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sim/core/errors.hpp"
#include "sim/io/json_reader.hpp"

namespace moesim::io {
namespace {

// Largest index or count a trace may hold: far above real traces (tens of layers, thousands
// of ranks, hundreds of experts), and every sum of counts stays inside int64.
constexpr std::array<std::int64_t, 5> kFieldMax{1 << 20, 1024, 1 << 20, 1 << 16,
                                                std::int64_t{1} << 40};
// The trace is stored densely, one block per (iteration, layer) (RoutingTraceLayer): 8 B per
// cell plus a block's vector and heap header. At most 1 GiB of that. (One allocation per
// source row, as before, let a 150-byte CSV of 128 x 104,857 one-expert rows make 13 M
// allocations, 13 s under ASan: the fuzzer's timeout.)
constexpr double kMaxTraceBytes = 1024.0 * 1024 * 1024;
constexpr double kBytesPerCell = 8;
constexpr double kBytesPerLayer = 64;  ///< a layer's block: vector header and heap chunk

RoutingTrace read_json(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader r(doc, origin);
  r.expect_object({"experts", "iterations", "source", "note"});
  RoutingTrace t;
  t.origin = origin;
  t.experts = r.at("experts").as_int_in(1, kFieldMax[3]);
  const auto iterations = r.at("iterations").elements();
  if (iterations.empty()) r.at("iterations").fail("no iterations", "at least one");
  for (const JsonReader& it : iterations) {
    auto& layers = t.counts.emplace_back();
    const auto ls = it.elements();
    if (ls.empty()) it.fail("no layers", "at least one MoE layer");
    for (const JsonReader& l : ls) {
      RoutingTraceLayer& layer = layers.emplace_back();
      const auto ss = l.elements();
      if (ss.empty()) l.fail("no sources", "at least one source");
      layer.sources = static_cast<std::int64_t>(ss.size());
      layer.cells.reserve(ss.size() * static_cast<std::size_t>(t.experts));
      for (const JsonReader& s : ss) {
        const auto es = s.elements();
        if (static_cast<std::int64_t>(es.size()) != t.experts) {
          s.fail_got("wrong number of experts", std::to_string(es.size()),
                     std::to_string(t.experts));
        }
        for (const JsonReader& e : es) layer.cells.push_back(e.as_int_in(0, kFieldMax[4]));
      }
    }
  }
  return t;
}

std::int64_t field(std::string_view text, const std::string& origin, std::size_t line,
                   std::string_view name, std::int64_t max) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && v > max)) {
    throw input_error(origin, fmt::format("line {}", line), fmt::format("{} out of range", name),
                      text, fmt::format("0..{}", max));
  }
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    throw input_error(origin, fmt::format("line {}", line), fmt::format("bad {}", name), text,
                      "an integer >= 0");
  }
  return v;
}

}  // namespace

RoutingTrace routing_trace_from_json_text(const std::string& text, const std::string& origin) {
  return read_json(parse_json_text(text, origin), origin);
}

RoutingTrace routing_trace_from_csv_text(const std::string& text, const std::string& origin) {
  static constexpr std::string_view kHeader = "iteration,layer,source,expert,tokens";
  std::istringstream in(text);
  std::string line;
  std::size_t number = 0;
  std::map<std::array<std::int64_t, 4>, std::int64_t> cells;
  std::array<std::int64_t, 4> extent{0, 0, 0, 0};
  bool header = false;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (!header) {
      if (line != kHeader) {
        throw input_error(origin, fmt::format("line {}", number), "bad header", line, kHeader);
      }
      header = true;
      continue;
    }
    std::array<std::string_view, 5> parts;
    std::size_t pos = 0;
    const std::string_view view(line);
    for (std::size_t i = 0; i < 5; ++i) {
      const std::size_t comma = view.find(',', pos);
      if ((i < 4) != (comma != std::string_view::npos)) {
        throw input_error(origin, fmt::format("line {}", number), "wrong number of columns", line,
                          "5 columns: " + std::string(kHeader));
      }
      parts[i] = view.substr(pos, comma == std::string_view::npos ? view.npos : comma - pos);
      pos = comma + 1;
    }
    static constexpr std::array<std::string_view, 5> kNames{"iteration", "layer", "source",
                                                            "expert", "tokens"};
    std::array<std::int64_t, 4> key{};
    for (std::size_t i = 0; i < 4; ++i) {
      key[i] = field(parts[i], origin, number, kNames[i], kFieldMax[i]);
      extent[i] = std::max(extent[i], key[i] + 1);
    }
    if (!cells.emplace(key, field(parts[4], origin, number, "tokens", kFieldMax[4])).second) {
      throw input_error(origin, fmt::format("line {}", number), "repeated cell", line,
                        "each (iteration, layer, source, expert) once");
    }
  }
  if (cells.empty()) throw input_error(origin, "", "no data rows", "", kHeader);
  const double blocks = static_cast<double>(extent[0]) * static_cast<double>(extent[1]);
  const double dense = blocks * static_cast<double>(extent[2]) * static_cast<double>(extent[3]);
  const double bytes = dense * kBytesPerCell + blocks * kBytesPerLayer;
  if (bytes > kMaxTraceBytes) {
    throw input_error(
        origin, "", "trace too large",
        fmt::format(
            "{} iterations x {} layers x {} sources x {} experts = {:.3g} cells, about {:.0f} "
            "MiB stored densely",
            extent[0], extent[1], extent[2], extent[3], dense, bytes / (1024.0 * 1024)),
        fmt::format("at most {:.0f} MiB", kMaxTraceBytes / (1024.0 * 1024)));
  }
  RoutingTrace t;
  t.origin = origin;
  t.experts = extent[3];
  // Filled layer by layer: a whole-iteration prototype to copy from would double the peak.
  t.counts.resize(static_cast<std::size_t>(extent[0]));
  for (auto& layers : t.counts) {
    layers.resize(static_cast<std::size_t>(extent[1]));
    for (RoutingTraceLayer& layer : layers) {
      layer.sources = extent[2];
      layer.cells.assign(static_cast<std::size_t>(extent[2] * extent[3]), 0);
    }
  }
  for (const auto& [k, v] : cells) {
    t.counts[static_cast<std::size_t>(k[0])][static_cast<std::size_t>(k[1])]
        .cells[static_cast<std::size_t>(k[2] * extent[3] + k[3])] = v;
  }
  return t;
}

RoutingTrace load_routing_trace(const std::string& path) {
  const bool csv = path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  const bool json = path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  std::error_code ec;
  if (!csv && !json && !std::filesystem::is_regular_file(path, ec)) {
    throw input_error("", "--routing", "unknown routing", path,
                      "uniform, zipf:S, dirichlet:A, drift:S, or a routing trace file (.json or "
                      ".csv)");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw input_error(path, "", "is a directory", {}, "a routing trace file");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw input_error(path, "", "cannot open routing trace", {}, "a readable file");
  std::stringstream ss;
  ss << f.rdbuf();
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
    return routing_trace_from_csv_text(ss.str(), path);
  }
  return routing_trace_from_json_text(ss.str(), path);
}

}  // namespace moesim::io
