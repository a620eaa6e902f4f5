// Output files, written the way a careful standard tool writes them:
//  - a regular file (or a new one) is written to "<file>.tmp-<pid>" beside it and renamed over it
//    only when complete, so a failed or interrupted run never leaves a partial file;
//  - a symlink is followed: its target is written (the link stays a link);
//  - a FIFO, character device or socket is written through (opened and written, never
//    replaced: `-o /dev/null` keeps /dev/null a device);
//  - "-" writes to standard output.
// A run's outputs are checked together before the work starts (directory exists, path is not a
// directory, not one of the run's inputs, not another output of the run) and written together
// at the end: when one of them fails, none of the others is left behind.
#pragma once

#include <string>
#include <vector>

namespace moesim::io {

struct OutputRequest {
  std::string flag;  ///< for messages, e.g. "--trace"
  std::string path;  ///< empty = not requested
};

struct PendingOutput {
  std::string flag;
  std::string path;  ///< empty = skipped
  std::string content;
};

/// Fails (InputError naming the flag) before a long run if an output cannot be written where
/// asked, is the same file as one of `inputs` (paths the run reads; names that are not files,
/// such as presets, are ignored) or is the same file as another output.
void check_outputs(const std::vector<OutputRequest>& outputs,
                   const std::vector<std::string>& inputs = {});

/// Writes every output with a non-empty path (see above); throws InputError naming the path of
/// the first that fails, after removing the temporary files of all of them.
void write_outputs(const std::vector<PendingOutput>& outputs);

/// One output: write_outputs({{"", path, content}}).
void write_file_atomically(const std::string& path, const std::string& content);

/// One output: check_outputs({{flag, path}}, inputs).
void check_output_path(const std::string& path, const std::string& flag,
                       const std::vector<std::string>& inputs = {});

}  // namespace moesim::io
