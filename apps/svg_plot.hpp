#pragma once
// A small SVG writer for kappa report --html: line and step plots (linear or log axes, ticks,
// legend, an optional band per series) and a heatmap of shares. kappa is C++ and its report
// needs no Python, so the figures are drawn here; each returns one self-contained <svg> document.

#include <string>
#include <vector>

namespace kappa::cli {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> low, high;  // a band (same length as x), or empty
  bool steps = false;             // right-continuous steps (profiles) instead of straight segments
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
};

struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> x_values, y_values;  // column and row labels
  std::vector<std::vector<double>> share;       // [row][column] in [0, 1]; NaN: no task
  std::vector<std::vector<std::string>> notes;  // [row][column] text drawn in the cell
};

// Points with a non-finite coordinate, or <= 0 on a log axis, are left out of a plot.
std::string svg_plot(const Plot& plot);
std::string svg_heatmap(const Heatmap& heatmap);

// Text for XML/HTML content and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace kappa::cli
