// moesim report KIND JSON -o FILE: the HTML report of a saved --json of compare, sweep,
// reproduce or validate; the same page their --html writes, from a file instead of a run (a
// validate run measured on a GPU machine, drawn anywhere).
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/json_reader.hpp"
#include "sim/io/output_file.hpp"
#include "sim/report/html/html_report.hpp"

namespace moesim::app {
namespace {

using report::html::ReportKind;

struct ReportOptions {
  std::string kind;
  std::string json_file;
  std::string output;
  std::string title;
};

void write_report(const ReportOptions& o) {
  const auto kind = report::html::parse_report_kind(o.kind);
  if (!kind) {
    throw input_error("", "KIND", "unknown report kind", o.kind, report::html::report_kind_names());
  }
  io::check_output_path(o.output, "-o", {o.json_file});
  // Parsed once by the project's reader for its messages (line and column, duplicate keys,
  // depth), then again keeping the file's key order for the page.
  io::parse_json_file(o.json_file);
  std::ifstream in(o.json_file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::ordered_json data = nlohmann::ordered_json::parse(text.str());
  const std::string title =
      o.title.empty() ? fmt::format("moesim {}: {}", o.kind, o.json_file) : o.title;
  io::write_file_atomically(o.output,
                            report::html::render_html_report(*kind, data, title, o.json_file));
  if (o.output != "-") fmt::print(stderr, "{} report written to {}\n", o.kind, o.output);
}

}  // namespace

void register_report_command(CLI::App& root) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* cmd = root.add_subcommand(
      "report", "Draw a saved --json of compare, sweep, reproduce or validate as an HTML report");
  cmd->footer(
      "One self-contained HTML file (data, script, style and the Chart.js library inlined):\n"
      "it opens offline in any browser and can be mailed or archived as is. The same page as\n"
      "the --html option of the command that wrote the JSON:\n"
      "  compare    time breakdown per strategy (compute alone, communication overlapped with\n"
      "             compute, exposed communication, idle), communication per group, the\n"
      "             planners' decisions, timelines of rank 0 and the slowest rank\n"
      "  sweep      distribution of each strategy's speedup over the first, regressions\n"
      "             against --baseline\n"
      "  reproduce  published vs simulated with each result's band, the known gaps\n"
      "  validate   predicted vs measured per task kind, per stream and end to end\n"
      "A JSON that lacks a field the page needs fails naming its JSON path (exit 2).\n"
      "Examples:\n"
      "  moesim compare --json cmp.json && moesim report compare cmp.json -o cmp.html\n"
      "  moesim validate ... --json measured.json   # on the GPU machine\n"
      "  moesim report validate measured.json -o validate.html");
  cmd->add_option("KIND", o->kind, report::html::report_kind_names())->required();
  cmd->add_option("JSON", o->json_file, "The command's --json output")
      ->required()
      ->check(existing_file());
  cmd->add_option("-o,--output", o->output, "HTML file to write ('-' = stdout)")->required();
  cmd->add_option("--title", o->title, "Page title (default: the kind and the JSON file)");
  cmd->callback([o]() { write_report(*o); });
}

}  // namespace moesim::app
