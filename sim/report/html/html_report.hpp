// One self-contained HTML file per report: the data of a command's --json, the page's script and
// style, and the charting library, all inlined, so the file opens offline in any browser and can
// be mailed or archived as is. Four kinds, one per command that writes --json:
//  - compare:   where the time goes per strategy (compute alone, communication overlapped with
//               compute, exposed communication, idle), exposed and overlapped communication per
//               group, the planners' decisions, and a timeline of the streams of rank 0 and of
//               the slowest rank per strategy;
//  - sweep:     the distribution of every strategy's speedup over the first one, and the cases
//               slower than a baseline;
//  - reproduce: published vs simulated with each result's two-sided band;
//  - validate:  predicted vs measured per task kind, per stream and end to end.
// The page draws with Chart.js (sim/report/html/web) and reports, once drawn, how many charts it
// drew in window.__moesimReport and in <body data-moesim-report>, which the browser test reads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace moesim::report::html {

enum class ReportKind { compare, sweep, reproduce, validate };

std::string_view to_string(ReportKind kind);
std::optional<ReportKind> parse_report_kind(std::string_view name);
/// "compare, sweep, reproduce, validate"
std::string report_kind_names();

/// The page for `data`, a command's --json document (checked first: InputError naming `origin`
/// and the JSON path of what is missing or of the wrong type). `title` heads the page.
/// Deterministic: the same data gives the same bytes.
std::string render_html_report(ReportKind kind, const nlohmann::ordered_json& data,
                               std::string_view title, std::string_view origin);

}  // namespace moesim::report::html
