// CSV in the RFC 4180 dialect: comma-separated, fields quoted when they hold a comma, a quote or
// a line break (quotes doubled), "\n" line ends, a header row first.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace moesim::io {

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}
  /// Adds a row; it must have as many fields as the header.
  void add_row(std::vector<std::string> fields);
  std::string to_string() const;
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

  /// Parses CSV text (InputError naming `origin` and the line on malformed input or a row whose
  /// field count differs from the header's).
  static CsvTable parse(const std::string& text, const std::string& origin);
  static CsvTable load(const std::string& path);
  /// Index of a column; InputError naming `origin` if it is missing.
  std::size_t column(const std::string& name, const std::string& origin) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace moesim::io
