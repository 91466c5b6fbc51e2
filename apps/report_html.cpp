#include "report_html.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "kappa/error.hpp"

#include "study/manifest.hpp"
#include "study/root_attributes.hpp"
#include "svg_plot.hpp"

namespace kappa::cli {

void print_text_table(std::ostream& out, const ReportTable& table) {
  std::vector<std::size_t> width(table.header.size(), 0);
  const auto widen = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  widen(table.header);
  for (const auto& row : table.rows) widen(row);
  out << '\n' << table.title << '\n';
  const auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
      std::ostringstream cell;
      if (c < table.left_columns) cell << std::left << std::setw(static_cast<int>(width[c]) + 2) << row[c];
      else cell << std::right << std::setw(static_cast<int>(width[c]) + (c == table.left_columns ? 0 : 2)) << row[c];
      text += cell.str();
    }
    out << text.substr(0, text.find_last_not_of(' ') + 1) << '\n';
  };
  line(table.header);
  for (const auto& row : table.rows) line(row);
}

std::string base64(const std::string& bytes) {
  static const char* const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string encoded;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) encoded += digits[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    encoded += digits[(v >> 18) & 63];
    encoded += digits[(v >> 12) & 63];
    encoded += i + 1 < bytes.size() ? digits[(v >> 6) & 63] : '=';
    encoded += '=';
  }
  return encoded;
}

HtmlSection manifest_section(const std::string& file, const std::string& grid_text) {
  const auto shortened = [](const std::string& value) { return value.size() > 400 ? value.substr(0, 400) + " ..." : value; };
  HtmlSection section{"Manifest", "What made the results file: its manifest (build, libraries, plugins, data, command line, times) "
                      "and its root attributes, as recorded.", {}, {}, grid_text};
  ReportTable manifest{"manifest of " + file, {"key", "value"}, 2, {}};
  try {
    for (const auto& [key, value] : read_manifest(file)) manifest.rows.push_back({key, shortened(value)});
  } catch (const InputError& error) {
    section.text += "\n" + std::string(error.what()) + ".";
  }
  if (!manifest.rows.empty()) section.tables.push_back(std::move(manifest));
  ReportTable attributes{"attributes of " + file, {"attribute", "value"}, 2, {}};
  for (const auto& [name, value] : read_root_attributes(file))
    if (name != "grid_text") attributes.rows.push_back({name, shortened(value)});
  section.tables.push_back(std::move(attributes));
  return section;
}

std::string render_html(const HtmlPage& page) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" << xml_escape(page.title)
      << "</title>\n<style>\n"
      << "body{font-family:sans-serif;max-width:1250px;margin:1em auto;padding:0 1em;color:#222}\n"
      << "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}h3{font-size:1em}\n"
      << "table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}\n"
      << "th,td{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left}th{background:#f2f2f2;white-space:nowrap}\n"
      << "td{max-width:48em;overflow-wrap:anywhere}p{white-space:pre-line}\n"
      << "td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\n"
      << ".scroll{overflow-x:auto}figure{display:inline-block;margin:.5em 1em .5em 0}img{max-width:100%}\n"
      << "figcaption{font-size:12px;color:#555}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}\n"
      << "nav a{margin-right:1em}\n</style>\n</head>\n<body>\n<h1>" << xml_escape(page.title) << "</h1>\n<nav>";
  for (std::size_t s = 0; s < page.sections.size(); ++s)
    out << "<a href=\"#s" << s << "\">" << xml_escape(page.sections[s].heading) << "</a>";
  out << "</nav>\n";
  for (std::size_t s = 0; s < page.sections.size(); ++s) {
    const HtmlSection& section = page.sections[s];
    out << "<section id=\"s" << s << "\">\n<h2>" << xml_escape(section.heading) << "</h2>\n";
    if (!section.text.empty()) out << "<p>" << xml_escape(section.text) << "</p>\n";
    for (const auto& [caption, svg] : section.figures)
      out << "<figure><img alt=\"" << xml_escape(caption) << "\" src=\"data:image/svg+xml;base64," << base64(svg)
          << "\"><figcaption>" << xml_escape(caption) << "</figcaption></figure>\n";
    for (const ReportTable& table : section.tables) {
      out << "<h3>" << xml_escape(table.title) << "</h3>\n<div class=\"scroll\"><table>\n<tr>";
      for (const std::string& name : table.header) out << "<th>" << xml_escape(name) << "</th>";
      out << "</tr>\n";
      for (const auto& row : table.rows) {
        out << "<tr>";
        for (std::size_t c = 0; c < row.size(); ++c)
          out << (c < table.left_columns ? "<td>" : "<td class=\"n\">") << xml_escape(row[c]) << "</td>";
        out << "</tr>\n";
      }
      out << "</table></div>\n";
    }
    if (!section.preformatted.empty()) out << "<pre>" << xml_escape(section.preformatted) << "</pre>\n";
    out << "</section>\n";
  }
  out << "</body>\n</html>\n";
  return out.str();
}

}  // namespace kappa::cli
