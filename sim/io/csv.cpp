#include "sim/io/csv.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "sim/core/errors.hpp"

namespace moesim::io {
namespace {

std::string escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void CsvTable::add_row(std::vector<std::string> fields) {
  if (fields.size() != header_.size()) {
    throw std::logic_error(
        fmt::format("CSV row of {} fields for a header of {}", fields.size(), header_.size()));
  }
  rows_.push_back(std::move(fields));
}

std::string CsvTable::to_string() const {
  std::string out;
  auto line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) out += ',';
      out += escape(fields[i]);
    }
    out += '\n';
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return out;
}

CsvTable CsvTable::parse(const std::string& text, const std::string& origin) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      record.push_back(std::move(field));
      field.clear();
      field_started = false;
      if (!(record.size() == 1 && record[0].empty())) records.push_back(std::move(record));
      record.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw input_error(origin, fmt::format("line {}", line), "unterminated quoted field");
  if (field_started || !record.empty()) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
  }
  if (records.empty()) throw input_error(origin, "", "empty CSV file", {}, "a header row");
  CsvTable table(records.front());
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header_.size()) {
      throw input_error(origin, fmt::format("row {}", r + 1), "wrong number of fields",
                        std::to_string(records[r].size()), std::to_string(table.header_.size()));
    }
    table.rows_.push_back(std::move(records[r]));
  }
  return table;
}

CsvTable CsvTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file", {}, "a readable CSV file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), path);
}

std::size_t CsvTable::column(const std::string& name, const std::string& origin) const {
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  throw input_error(origin, "header", fmt::format("missing column \"{}\"", name));
}

}  // namespace moesim::io
