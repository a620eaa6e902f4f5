// The shape a report's data must have before a page is drawn from it: what each kind's script
// reads (sim/report/html/web/report.js), so a hand-edited or foreign JSON fails with the path of
// the first missing or mistyped field instead of a half-drawn page.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "sim/report/html/html_report.hpp"

namespace moesim::report::html {

/// Throws InputError "<origin>: <json path>: <what> (got X, expected Y)" on the first field of
/// `data` that `kind`'s page needs and that is missing or of the wrong type.
void check_report_data(ReportKind kind, const nlohmann::ordered_json& data,
                       std::string_view origin);

}  // namespace moesim::report::html
