#include "sim/report/html/html_report.hpp"

#include <array>
#include <utility>

#include "sim/report/html/embedded_assets.hpp"
#include "sim/report/html/report_data_check.hpp"

namespace moesim::report::html {
namespace {

constexpr std::array<std::pair<ReportKind, std::string_view>, 4> kKinds{{
    {ReportKind::compare, "compare"},
    {ReportKind::sweep, "sweep"},
    {ReportKind::reproduce, "reproduce"},
    {ReportKind::validate, "validate"},
}};

// Text for an HTML element's content: the characters that could open or end markup, escaped.
std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// JSON inside <script type="application/json">: '<' only occurs inside JSON strings, where
// \u003c means the same, so no "</script>" or "<!--" in the data can end the element early.
std::string script_safe_json(const nlohmann::ordered_json& j) {
  const std::string text = j.dump();
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view to_string(ReportKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

std::optional<ReportKind> parse_report_kind(std::string_view name) {
  for (const auto& [k, n] : kKinds) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string report_kind_names() {
  std::string names;
  for (const auto& [k, n] : kKinds) names += (names.empty() ? "" : ", ") + std::string(n);
  return names;
}

std::string render_html_report(ReportKind kind, const nlohmann::ordered_json& data,
                               std::string_view title, std::string_view origin) {
  check_report_data(kind, data, origin);
  nlohmann::ordered_json page;
  page["kind"] = std::string(to_string(kind));
  page["title"] = std::string(title);
  page["data"] = data;
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"moesim\">\n";
  html += "<title>" + escape_html(title) + "</title>\n";
  html += "<style>\n" + std::string(assets::report_css()) + "\n</style>\n";
  // The error hook runs first, so an error in any later script is recorded.
  html += "<script>\n" + std::string(assets::error_hook_js()) + "\n</script>\n";
  html += "</head>\n<body>\n<main id=\"report\"></main>\n";
  html += "<script type=\"application/json\" id=\"moesim-data\">" + script_safe_json(page) +
          "</script>\n";
  html += "<script>\n" + std::string(assets::chart_js()) + "\n</script>\n";
  html += "<script>\n" + std::string(assets::report_js()) + "\n</script>\n";
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace moesim::report::html
