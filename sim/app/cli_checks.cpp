#include "sim/app/cli_checks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "sim/app/hardware_job.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/core/errors.hpp"

namespace moesim::app {
namespace {

std::string plain(double v) { return fmt::format("{}", v); }

/// The whole of `text` as a finite double, or nothing.
bool parse_finite(const std::string& text, double& out) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string subcommand_names(const CLI::App& root) {
  std::string names;
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; })) {
    names += fmt::format("{}{}", names.empty() ? "" : ", ", sub->get_name());
  }
  return names;
}

}  // namespace

CLI::Validator number_in(double lo, double hi, bool lo_open) {
  const std::string expected = fmt::format("{}{}, {}]", lo_open ? "(" : "[", plain(lo), plain(hi));
  return CLI::Validator(
      [lo, hi, lo_open, expected](std::string& text) -> std::string {
        double v = 0;
        if (!parse_finite(text, v)) {
          return fmt::format("not a finite number (got {}, expected a number in {})", text,
                             expected);
        }
        if ((lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi)) {
          return fmt::format("out of range (got {}, expected a number in {})", text, expected);
        }
        return {};
      },
      "NUMBER in " + expected);
}

CLI::Validator count_in(std::int64_t lo, std::int64_t hi) {
  const std::string expected = fmt::format("a whole number in [{}, {}]", lo, hi);
  return CLI::Validator(
      [lo, hi, expected](std::string& text) -> std::string {
        std::int64_t v = 0;
        const char* first = text.data();
        const char* last = text.data() + text.size();
        const auto [end, ec] = std::from_chars(first, last, v);
        if (text.empty() || end != last || ec == std::errc::invalid_argument) {
          return fmt::format("not a whole number (got {}, expected {})", text, expected);
        }
        if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
          return fmt::format("out of range (got {}, expected {})", text, expected);
        }
        return {};
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

CLI::Validator existing_file() {
  return CLI::Validator(
      [](std::string& path) -> std::string {
        std::error_code ec;
        const auto status = std::filesystem::status(path, ec);
        if (ec || !std::filesystem::exists(status)) {
          return fmt::format("file does not exist (got {}, expected an existing file)", path);
        }
        if (std::filesystem::is_directory(status)) {
          return fmt::format("is a directory (got {}, expected a file)", path);
        }
        return {};
      },
      "FILE");
}

std::int64_t parse_byte_size(const std::string& text, const std::string& flag) {
  // nccl-tests style: 8, 64K, 8M, 8G (powers of two).
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  double scale = 1;
  const std::string rest = text.substr(used);
  if (rest == "K" || rest == "k") scale = 1024.0;
  if (rest == "M" || rest == "m") scale = 1024.0 * 1024;
  if (rest == "G" || rest == "g") scale = 1024.0 * 1024 * 1024;
  if (used == 0 || !std::isfinite(v) || !(v > 0) || (!rest.empty() && scale == 1) ||
      !std::isdigit(static_cast<unsigned char>(text.front()))) {
    throw input_error("", flag, "not a size", text, "bytes, optionally with K, M or G (e.g. 8G)");
  }
  // 1 TiB: 8x the memory of the largest GPU; beyond it no collective exists to simulate.
  constexpr double kMaxBytes = 1099511627776.0;
  if (!(v * scale >= 1.0 && v * scale <= kMaxBytes)) {
    throw input_error("", flag, "size out of range", text,
                      fmt::format("1 byte to {} bytes (1T)", kMaxBytes));
  }
  return static_cast<std::int64_t>(v * scale);
}

std::vector<RankId> parse_rank_list(const std::string& text, std::size_t gpus,
                                    const std::string& flag) {
  std::vector<RankId> out;
  if (text.empty()) {
    for (std::uint32_t r = 0; r < gpus; ++r) out.push_back(RankId{r});
    return out;
  }
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    try {
      std::size_t a_used = 0, b_used = 0;
      const long a = std::stol(item.substr(0, dash), &a_used);
      const long b = dash == std::string::npos ? a : std::stol(item.substr(dash + 1), &b_used);
      const bool whole = dash == std::string::npos
                             ? a_used == item.size()
                             : a_used == dash && b_used == item.size() - dash - 1;
      if (a < 0 || b < a || !whole) throw 0;
      for (long r = a; r <= b; ++r) {
        if (static_cast<std::size_t>(r) >= gpus) {
          throw input_error("", flag, "rank outside the topology", std::to_string(r),
                            fmt::format("0..{}", gpus - 1));
        }
        out.push_back(RankId{static_cast<std::uint32_t>(r)});
      }
    } catch (const InputError&) {
      throw;
    } catch (...) {
      throw input_error("", flag, "not a rank list", text, "e.g. 0-63 or 0,8,16");
    }
    pos = comma + 1;
  }
  std::vector<RankId> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    throw input_error("", flag, "rank listed twice", text, "distinct ranks");
  }
  if (out.size() < 2) throw input_error("", flag, "too few ranks", text, "at least 2");
  return out;
}

std::vector<std::string> job_input_paths(const job::JobOptions& job) {
  return {job.model, job.topology, job.gpu, job.routing, job.calibration};
}

std::vector<std::string> hardware_input_paths(const HardwareJobOptions& job) {
  std::vector<std::string> out = job_input_paths(job.job);
  out.push_back(job.graph_file);
  return out;
}

std::string usage_error_message(const CLI::ParseError& error, const CLI::App& root) {
  const std::string what = error.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    // CLI11's message lists the extras last first; the apps keep them in command-line order.
    std::string extras;
    for (const std::string& arg : root.remaining(true)) extras += (extras.empty() ? "" : " ") + arg;
    if (extras.empty()) {
      const std::size_t colon = what.find(": ");
      extras = colon == std::string::npos ? what : what.substr(colon + 2);
    }
    return fmt::format("{}: unexpected argument (got {}, expected an option listed by --help)",
                       extras, extras);
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    if (what.find("subcommand") != std::string::npos) {
      return fmt::format("moesim: missing subcommand (expected one of: {})",
                         subcommand_names(root));
    }
    const std::size_t is = what.find(" is required");
    if (is != std::string::npos) {
      const std::string flag = what.substr(0, is);
      return fmt::format("{}: missing required option (expected {} VALUE; see --help)", flag, flag);
    }
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    const std::size_t colon = what.find(": ");
    if (colon != std::string::npos) {
      return fmt::format("{}: missing or extra value (got {}, expected one value)",
                         what.substr(0, colon), what.substr(colon + 2));
    }
  }
  if (dynamic_cast<const CLI::ConversionError*>(&error) != nullptr ||
      dynamic_cast<const CLI::ValidationError*>(&error) != nullptr) {
    // Validators above already say "<what> (got X, expected Y)"; CLI11 prefixes the flag.
    return what;
  }
  return what;
}

std::string unknown_subcommand_message(int argc, const char* const* argv, const CLI::App& root) {
  if (argc < 2 || argv[1][0] == '-' || argv[1][0] == '\0') return {};
  const std::string name = argv[1];
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(name)) return {};
  }
  return fmt::format("{}: unknown subcommand (got {}, expected one of: {})", name, name,
                     subcommand_names(root));
}

}  // namespace moesim::app
