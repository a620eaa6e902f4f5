// Host-only part of bench_support: JSON output through sim/io (compiled by the C++ compiler;
// nvcc 13 rejects fmt's consteval format strings).
#include "bench/kernels/bench_support.hpp"
#include "sim/io/measurement_json.hpp"
#include "sim/io/output_file.hpp"

namespace moesim::bench {

void write_measurements(const calibration::MeasurementSet& set, const std::string& path) {
  io::write_file_atomically(path, io::measurements_to_json(set).dump(1) + "\n");
}

}  // namespace moesim::bench
