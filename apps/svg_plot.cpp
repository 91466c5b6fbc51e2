#include "svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace kappa::cli {
namespace {

constexpr double kWidth = 640, kHeight = 400, kLeft = 70, kRight = 170, kTop = 36, kBottom = 50;
// A palette distinguishable in colour and in grey (Okabe-Ito).
const char* const kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

std::string tick_label(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

struct Scale {
  double low, high, from, to;
  bool log;
  double operator()(double value) const {
    const double a = log ? std::log10(low) : low, b = log ? std::log10(high) : high;
    const double v = log ? std::log10(value) : value;
    return b == a ? (from + to) / 2 : from + (v - a) / (b - a) * (to - from);
  }
  std::vector<double> ticks() const {
    std::vector<double> ticks;
    if (log) {
      const int first = static_cast<int>(std::floor(std::log10(low))), last = static_cast<int>(std::ceil(std::log10(high)));
      const int step = std::max(1, (last - first) / 8);
      for (int e = first; e <= last; e += step) {
        const double value = std::pow(10.0, e);
        if (value >= low * (1 - 1e-12) && value <= high * (1 + 1e-12)) ticks.push_back(value);
      }
      if (ticks.empty()) ticks = {low, high};
      return ticks;
    }
    const double span = high - low;
    const double raw = span / 5, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / magnitude < 2 ? magnitude : raw / magnitude < 5 ? 2 * magnitude : 5 * magnitude;
    for (double value = std::ceil(low / step) * step; value <= high + step * 1e-9; value += step)
      ticks.push_back(std::abs(value) < step * 1e-9 ? 0 : value);
    return ticks;
  }
};

bool usable(double value, bool log) { return std::isfinite(value) && (!log || value > 0); }

// The range of the usable values, widened when empty or a single point.
std::pair<double, double> range(const std::vector<double>& values, bool log) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (double value : values)
    if (usable(value, log)) {
      low = std::min(low, value);
      high = std::max(high, value);
    }
  if (low > high) return log ? std::make_pair(1.0, 10.0) : std::make_pair(0.0, 1.0);
  if (low == high) return log ? std::make_pair(low / 10, high * 10) : std::make_pair(low - 1, high + 1);
  return {low, high};
}

void text(std::ostringstream& out, double x, double y, const std::string& content, const char* anchor = "middle",
          const char* extra = "") {
  out << "<text x=\"" << number(x) << "\" y=\"" << number(y) << "\" text-anchor=\"" << anchor << "\"" << extra << ">"
      << xml_escape(content) << "</text>\n";
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string svg_plot(const Plot& plot) {
  std::vector<double> xs, ys;
  for (const Series& series : plot.series) {
    xs.insert(xs.end(), series.x.begin(), series.x.end());
    ys.insert(ys.end(), series.y.begin(), series.y.end());
    ys.insert(ys.end(), series.low.begin(), series.low.end());
    ys.insert(ys.end(), series.high.begin(), series.high.end());
  }
  const auto [x_low, x_high] = range(xs, plot.log_x);
  const auto [y_low, y_high] = range(ys, plot.log_y);
  const Scale sx{x_low, x_high, kLeft, kWidth - kRight, plot.log_x};
  const Scale sy{y_low, y_high, kHeight - kBottom, kTop, plot.log_y};
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" viewBox=\"0 0 "
      << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(out, kWidth / 2, 20, plot.title, "middle", " font-size=\"14\"");
  out << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kWidth - kLeft - kRight << "\" height=\""
      << kHeight - kTop - kBottom << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double tick : sx.ticks()) {
    const double x = sx(tick);
    out << "<line x1=\"" << number(x) << "\" y1=\"" << kHeight - kBottom << "\" x2=\"" << number(x) << "\" y2=\""
        << kHeight - kBottom + 5 << "\" stroke=\"#444\"/>\n";
    text(out, x, kHeight - kBottom + 18, tick_label(tick));
  }
  for (double tick : sy.ticks()) {
    const double y = sy(tick);
    out << "<line x1=\"" << kLeft - 5 << "\" y1=\"" << number(y) << "\" x2=\"" << kLeft << "\" y2=\"" << number(y)
        << "\" stroke=\"#444\"/>\n";
    text(out, kLeft - 8, y + 4, tick_label(tick), "end");
  }
  text(out, (kLeft + kWidth - kRight) / 2, kHeight - 12, plot.x_label);
  out << "<text transform=\"translate(16," << number((kTop + kHeight - kBottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(plot.y_label) << "</text>\n";
  for (std::size_t s = 0; s < plot.series.size(); ++s) {
    const Series& series = plot.series[s];
    const char* colour = kColours[s % std::size(kColours)];
    std::vector<std::pair<double, double>> points, low, high;
    for (std::size_t i = 0; i < series.x.size(); ++i) {
      if (!usable(series.x[i], plot.log_x)) continue;
      if (usable(series.y[i], plot.log_y)) points.emplace_back(sx(series.x[i]), sy(series.y[i]));
      if (!series.low.empty() && usable(series.low[i], plot.log_y) && usable(series.high[i], plot.log_y)) {
        low.emplace_back(sx(series.x[i]), sy(series.low[i]));
        high.emplace_back(sx(series.x[i]), sy(series.high[i]));
      }
    }
    if (low.size() > 1) {
      out << "<polygon fill=\"" << colour << "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"";
      for (const auto& [x, y] : low) out << number(x) << "," << number(y) << " ";
      for (auto it = high.rbegin(); it != high.rend(); ++it) out << number(it->first) << "," << number(it->second) << " ";
      out << "\"/>\n";
    }
    if (!points.empty()) {
      out << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
      for (std::size_t i = 0; i < points.size(); ++i) {
        if (series.steps && i > 0) out << number(points[i].first) << "," << number(points[i - 1].second) << " ";
        out << number(points[i].first) << "," << number(points[i].second) << " ";
      }
      if (series.steps) out << number(kWidth - kRight) << "," << number(points.back().second);
      out << "\"/>\n";
    }
    const double y = kTop + 14 + 18 * static_cast<double>(s);
    out << "<line x1=\"" << kWidth - kRight + 10 << "\" y1=\"" << number(y - 4) << "\" x2=\"" << kWidth - kRight + 30
        << "\" y2=\"" << number(y - 4) << "\" stroke=\"" << colour << "\" stroke-width=\"3\"/>\n";
    text(out, kWidth - kRight + 35, y, series.name, "start");
  }
  out << "</svg>\n";
  return out.str();
}

std::string svg_heatmap(const Heatmap& heatmap) {
  const double cell_width = std::max(40.0, 420.0 / static_cast<double>(std::max<std::size_t>(1, heatmap.x_values.size())));
  const double cell_height = 28, left = 150, top = 40;
  const double width = left + cell_width * static_cast<double>(heatmap.x_values.size()) + 90;
  const double height = top + cell_height * static_cast<double>(heatmap.y_values.size()) + 60;
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << number(width) << "\" height=\"" << number(height)
      << "\" viewBox=\"0 0 " << number(width) << " " << number(height) << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(out, width / 2, 20, heatmap.title, "middle", " font-size=\"14\"");
  for (std::size_t r = 0; r < heatmap.y_values.size(); ++r) {
    const double y = top + cell_height * static_cast<double>(r);
    text(out, left - 6, y + cell_height / 2 + 4, heatmap.y_values[r], "end");
    for (std::size_t c = 0; c < heatmap.x_values.size(); ++c) {
      const double x = left + cell_width * static_cast<double>(c), share = heatmap.share[r][c];
      // White (0) to dark blue (1); grey where there is no task.
      char fill[16];
      if (std::isnan(share)) std::snprintf(fill, sizeof fill, "#dddddd");
      else std::snprintf(fill, sizeof fill, "#%02x%02x%02x", static_cast<int>(255 - 255 * share), static_cast<int>(255 - 141 * share),
                         static_cast<int>(255 - 77 * share));
      out << "<rect x=\"" << number(x) << "\" y=\"" << number(y) << "\" width=\"" << number(cell_width) << "\" height=\""
          << cell_height << "\" fill=\"" << fill << "\" stroke=\"white\"/>\n";
      const std::string note = heatmap.notes.empty() ? "" : heatmap.notes[r][c];
      text(out, x + cell_width / 2, y + cell_height / 2 + 4, note, "middle",
           !std::isnan(share) && share > 0.6 ? " fill=\"white\"" : "");
    }
  }
  const double bottom = top + cell_height * static_cast<double>(heatmap.y_values.size());
  for (std::size_t c = 0; c < heatmap.x_values.size(); ++c)
    text(out, left + cell_width * (static_cast<double>(c) + 0.5), bottom + 16, heatmap.x_values[c]);
  text(out, left + cell_width * static_cast<double>(heatmap.x_values.size()) / 2, bottom + 40, heatmap.x_label);
  text(out, 8, top - 8, heatmap.y_label, "start");
  out << "</svg>\n";
  return out.str();
}

}  // namespace kappa::cli
