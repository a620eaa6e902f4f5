// Writes an output file all at once: the content goes to "<path>.tmp-<pid>" and is renamed over
// <path> only when complete, so a failed or interrupted run never leaves a partial file behind.
// "-" writes to standard output.
#pragma once

#include <string>

namespace moesim::io {

/// Throws InputError if the file cannot be written (naming the path).
void write_file_atomically(const std::string& path, const std::string& content);

/// Fails early, before a long run, if `path` is in a directory that does not exist.
void check_output_path(const std::string& path, const std::string& flag);

}  // namespace moesim::io
