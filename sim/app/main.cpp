// moesim: discrete-event simulator of Mixture-of-Experts training on GPU clusters.
// The one list of subcommands; each lives in its own *_command.cpp.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  CLI::App app(
      "moesim " MOESIM_VERSION
      ": a discrete-event simulator of Mixture-of-Experts training on GPU clusters.\n"
      "Strategies build a task graph per iteration; moesim replays it over modelled NVLink,\n"
      "NVSwitch, PCIe and InfiniBand with calibrated kernel and collective costs.\n"
      "Run 'moesim SUBCOMMAND --help' for each subcommand.",
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the parse error
    return code == 0 ? 0 : 2;
  } catch (const moesim::app::CommandExit& e) {
    fmt::print(stderr, "{}\n", e.what());
    return e.code();
  } catch (const moesim::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const moesim::SimulationError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 3;
  }
  return 0;
}
