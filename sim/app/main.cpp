// moesim: discrete-event simulator of Mixture-of-Experts training on GPU clusters.
// The one list of subcommands; each lives in its own *_command.cpp.
//
// Nothing escapes main: every failure becomes one "error: ..." message and an exit code
// (sim/core/errors.hpp ExitCode): 2 bad input or usage, 3 the model cannot go on (or the machine
// has not the memory for the job), 4 a bug in moesim (with "please report").
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <new>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "unknown"
#endif

namespace {

int code(moesim::ExitCode c) { return static_cast<int>(c); }

int report_internal(const char* what) {
  fmt::print(stderr,
             "error: internal error: {}\nThis is a bug in moesim: please report it with the "
             "command line and input files.\n",
             what);
  return code(moesim::ExitCode::internal_error);
}

int run(int argc, char** argv) {
  CLI::App app(
      "moesim " MOESIM_VERSION
      ": a discrete-event simulator of Mixture-of-Experts training on GPU clusters.\n"
      "Strategies build a task graph per iteration; moesim replays it over modelled NVLink,\n"
      "NVSwitch, PCIe and InfiniBand with calibrated kernel and collective costs.\n"
      "Run 'moesim SUBCOMMAND --help' for each subcommand.\n"
      "Exit codes: 0 ok, 1 a requested check failed (sweep --baseline), 2 bad input or usage,\n"
      "3 the model cannot go on, 4 internal error (a bug: please report).",
      "moesim");
  app.set_version_flag("--version", std::string(MOESIM_VERSION));
  app.require_subcommand(1);
  app.fallthrough();
  moesim::app::register_simulate_command(app);
  moesim::app::register_topology_command(app);
  moesim::app::register_collective_command(app);
  moesim::app::register_run_command(app);
  moesim::app::register_compare_command(app);
  moesim::app::register_sweep_command(app);
  moesim::app::register_run_case_command(app);
  moesim::app::register_execute_command(app);
  moesim::app::register_validate_command(app);
  moesim::app::register_calibrate_command(app);
  moesim::app::register_reproduce_command(app);
  moesim::app::register_routing_command(app);
  moesim::app::register_export_command(app);
  moesim::app::register_report_command(app);
  if (const std::string unknown = moesim::app::unknown_subcommand_message(argc, argv, app);
      !unknown.empty()) {
    fmt::print(stderr, "error: {}\n", unknown);
    return code(moesim::ExitCode::bad_input);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "error: {}\nRun with --help for more information.\n",
               moesim::app::usage_error_message(e, app));
    return code(moesim::ExitCode::bad_input);
  }
  return code(moesim::ExitCode::ok);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const moesim::app::CommandExit& e) {
    fmt::print(stderr, "{}\n", e.what());
    return e.code();
  } catch (const moesim::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return code(moesim::ExitCode::bad_input);
  } catch (const moesim::SimulationError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return code(moesim::ExitCode::model_failure);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr,
               "error: out of memory: the job needs more memory than this machine has "
               "(expected a smaller model, cluster or sweep)\n");
    return code(moesim::ExitCode::model_failure);
  } catch (const moesim::InternalError& e) {
    return report_internal(e.what());
  } catch (const std::exception& e) {
    return report_internal(e.what());
  } catch (...) {
    return report_internal("unknown exception");
  }
}
