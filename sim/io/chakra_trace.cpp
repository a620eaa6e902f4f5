// Whether Chakra support was built, and what the Chakra functions do when it was not: the
// protobuf-based export and import live in chakra_export.cpp and chakra_import.cpp.
#include "sim/io/chakra_trace.hpp"

#include "sim/core/errors.hpp"

namespace moesim::io {

#ifdef MOESIM_HAS_CHAKRA

bool chakra_supported() { return true; }

#else

bool chakra_supported() { return false; }

namespace {
[[noreturn]] void unsupported() {
  throw input_error("", "--chakra", "this moesim was built without protobuf", {},
                    "a build with libprotobuf-dev and protobuf-compiler installed");
}
}  // namespace

std::vector<std::string> chakra_rank_traces(const TaskGraph&, const ExecutionRecord&) {
  unsupported();
}
std::vector<std::string> write_chakra_traces(const TaskGraph&, const ExecutionRecord&,
                                             const std::string&, const std::string&) {
  unsupported();
}
TaskGraph task_graph_from_chakra(const std::vector<std::string>&, const std::vector<std::string>&) {
  unsupported();
}
TaskGraph load_chakra_traces(const std::string&) { unsupported(); }

#endif

}  // namespace moesim::io
