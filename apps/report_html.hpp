#pragma once
// The tables of kappa report as values, printed to the terminal or laid out in one
// self-contained HTML page (kappa report --html): CSS inline, figures as SVG data URIs, nothing
// fetched from the network.

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace kappa::cli {

struct ReportTable {
  std::string title;
  std::vector<std::string> header;
  std::size_t left_columns = 1;  // the first columns are labels (left-aligned), the rest numbers
  std::vector<std::vector<std::string>> rows;
};

// A blank line, the title, the header and the rows; each column as wide as its widest cell.
void print_text_table(std::ostream& out, const ReportTable& table);

struct HtmlSection {
  std::string heading;
  std::string text;                  // a paragraph before the tables (plain text)
  std::vector<ReportTable> tables;
  std::vector<std::pair<std::string, std::string>> figures;  // (caption, SVG document)
  std::string preformatted;         // e.g. the grid text
};

struct HtmlPage {
  std::string title;
  std::vector<HtmlSection> sections;
};

// The page's manifest section of a results file: its manifest group (study/manifest.hpp; a note
// when it has none), its root attributes (grid_text shown preformatted, long values cut at 400
// characters) and the grid text. Throws InputError like read_root_attributes.
HtmlSection manifest_section(const std::string& file, const std::string& grid_text);

std::string render_html(const HtmlPage& page);

// RFC 4648 base64, for the data URIs.
std::string base64(const std::string& bytes);

}  // namespace kappa::cli
