#include "sim/io/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "sim/core/errors.hpp"

namespace moesim::io {
namespace fs = std::filesystem;

namespace {

/// The file a write to `path` lands in: symlinks followed (also a dangling one, whose target is
/// then created). Gives up after 40 links, as the kernel does.
fs::path write_target(const std::string& path, const std::string& flag) {
  fs::path p(path);
  std::error_code ec;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    if (hops == 40) throw input_error("", flag, "too many levels of symbolic links", path);
    const fs::path link = fs::read_symlink(p, ec);
    if (ec) throw input_error("", flag, "cannot read symbolic link", path, ec.message());
    p = link.is_absolute() ? link : p.parent_path() / link;
  }
  return p;
}

/// True for a FIFO, character device or socket: written through, never replaced.
bool is_stream(const fs::path& target) {
  std::error_code ec;
  const auto status = fs::status(target, ec);
  return !ec && (fs::is_fifo(status) || fs::is_character_file(status) || fs::is_socket(status));
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
  // Neither exists yet: the same spelling after normalisation is still the same file.
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

void write_all(int fd, const std::string& content, const std::string& path) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw input_error(path, "", "failed while writing output file", std::strerror(errno),
                        "a writable file with room for the output");
    }
    done += static_cast<std::size_t>(n);
  }
}

/// Writes straight into a FIFO or device.
void write_through(const fs::path& target, const std::string& content, const std::string& path) {
  const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    throw input_error(path, "", "cannot write output file", std::strerror(errno),
                      "a writable path");
  }
  try {
    write_all(fd, content, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) {
    throw input_error(path, "", "failed while writing output file", std::strerror(errno),
                      "a writable file with room for the output");
  }
}

/// Writes `content` to a new temporary beside `target` and returns its name.
std::string write_temporary(const fs::path& target, const std::string& content,
                            const std::string& path) {
  const std::string tmp = target.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw input_error(path, "", "cannot write output file", std::strerror(errno),
                      "a writable path");
  }
  try {
    write_all(fd, content, path);
    if (::fsync(fd) != 0 && errno != EINVAL) {
      throw input_error(path, "", "failed while writing output file", std::strerror(errno));
    }
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    std::remove(tmp.c_str());
    throw input_error(path, "", "failed while writing output file", std::strerror(errno));
  }
  return tmp;
}

}  // namespace

void check_outputs(const std::vector<OutputRequest>& outputs,
                   const std::vector<std::string>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const OutputRequest& o = outputs[i];
    if (o.path.empty() || o.path == "-") continue;
    const fs::path target = write_target(o.path, o.flag);
    std::error_code ec;
    if (fs::is_directory(target, ec)) {
      throw input_error("", o.flag, "output path is a directory", o.path, "a file name");
    }
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) {
      throw input_error("", o.flag, "output directory does not exist", dir.string(),
                        "an existing directory");
    }
    for (const std::string& input : inputs) {
      if (input.empty() || input == "-" || !fs::exists(input, ec)) continue;
      if (same_file(target, input)) {
        throw input_error("", o.flag, "output file is an input of this run", o.path,
                          fmt::format("a path other than the input {}", input));
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      const OutputRequest& other = outputs[j];
      if (other.path.empty() || other.path == "-") continue;
      if (same_file(target, write_target(other.path, other.flag))) {
        throw input_error("", o.flag, "output file is also written by another flag", o.path,
                          fmt::format("a path other than that of {}", other.flag));
      }
    }
  }
}

void write_outputs(const std::vector<PendingOutput>& outputs) {
  struct Staged {
    std::string tmp;
    fs::path target;
    const PendingOutput* output;
  };
  std::vector<Staged> staged;
  auto discard = [&staged]() {
    for (const Staged& s : staged) std::remove(s.tmp.c_str());
  };
  try {
    // Regular files first, to temporaries; then FIFOs and devices; then the renames, so a
    // failure anywhere before the renames leaves nothing behind.
    std::vector<std::pair<fs::path, const PendingOutput*>> streams;
    for (const PendingOutput& o : outputs) {
      if (o.path.empty() || o.path == "-") continue;
      const fs::path target = write_target(o.path, o.flag);
      if (is_stream(target)) {
        streams.emplace_back(target, &o);
      } else {
        staged.push_back({write_temporary(target, o.content, o.path), target, &o});
      }
    }
    for (const auto& [target, o] : streams) write_through(target, o->content, o->path);
    for (const PendingOutput& o : outputs) {
      if (o.path != "-") continue;
      std::cout << o.content;
      std::cout.flush();
      if (!std::cout) {
        throw input_error("-", "", "failed while writing standard output", {},
                          "a writable standard output");
      }
    }
    for (std::size_t i = 0; i < staged.size(); ++i) {
      std::error_code ec;
      fs::rename(staged[i].tmp, staged[i].target, ec);
      if (ec) {
        const std::string path = staged[i].output->path;
        staged.erase(staged.begin(), staged.begin() + static_cast<std::ptrdiff_t>(i));
        throw input_error(path, "", "cannot move output file into place", ec.message());
      }
    }
  } catch (...) {
    discard();
    throw;
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_outputs({PendingOutput{"", path, content}});
}

void check_output_path(const std::string& path, const std::string& flag,
                       const std::vector<std::string>& inputs) {
  check_outputs({OutputRequest{flag, path}}, inputs);
}

}  // namespace moesim::io
