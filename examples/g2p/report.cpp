#include "examples/g2p/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "ir/error.h"

namespace g2p {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// White to dark blue, for a weight in [0, 1].
std::string shade(double w) {
  w = std::clamp(w, 0.0, 1.0);
  auto mix = [&](int from, int to) { return static_cast<int>(std::lround(from + (to - from) * w)); };
  return fmt::format("rgb({},{},{})", mix(255, 8), mix(255, 48), mix(255, 107));
}

/// A line chart of (x, y) points as an SVG element.
std::string line_chart(const std::vector<std::pair<double, double>>& points, const std::string& title,
                       const std::string& x_label, const std::string& y_label) {
  const double w = 420, h = 240, left = 56, right = 12, top = 28, bottom = 40;
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)", w, h);
  svg += fmt::format(R"(<text x="{}" y="18" font-size="14" font-weight="bold">{}</text>)", left, escape(title));
  if (points.empty()) return svg + R"(<text x="60" y="120">(no points yet)</text></svg>)";
  double x0 = points.front().first, x1 = points.front().first, y0 = points.front().second, y1 = y0;
  for (auto [x, y] : points) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  y0 = std::min(y0, 0.0);
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (w - left - right); };
  auto py = [&](double y) { return h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom); };
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", left, top,
                     w - left - right, h - top - bottom);
  for (int i = 0; i <= 4; ++i) {
    double y = y0 + (y1 - y0) * i / 4;
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" font-size="10" text-anchor="end">{:.3g}</text>)", left - 4, py(y) + 3,
                       y);
    double x = x0 + (x1 - x0) * i / 4;
    svg += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="10" text-anchor="middle">{:.3g}</text>)", px(x),
                       h - bottom + 14, x);
  }
  svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>)", left + (w - left) / 2,
                     h - 6, escape(x_label));
  svg += fmt::format(
      R"svg(<text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>)svg",
      top + (h - top - bottom) / 2, top + (h - top - bottom) / 2, escape(y_label));
  std::string path;
  for (auto [x, y] : points) path += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
  svg += fmt::format(R"(<polyline fill="none" stroke="#1f5fa0" stroke-width="1.5" points="{}"/>)", path);
  if (points.size() < 30)
    for (auto [x, y] : points)
      svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="#1f5fa0"/>)", px(x), py(y));
  return svg + "</svg>";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

std::string heatmap_svg(const std::vector<float>& weights, const std::vector<std::string>& row_labels,
                        const std::vector<std::string>& column_labels, const std::string& title) {
  const int cell = 22, left = 40, top = 40;
  const auto rows = static_cast<int>(row_labels.size()), columns = static_cast<int>(column_labels.size());
  WEFT_CHECK(weights.size() == static_cast<size_t>(rows) * static_cast<size_t>(columns),
             "heatmap_svg: weights and labels disagree");
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                                left + cell * columns + 8, top + cell * rows + 8);
  svg += fmt::format(R"(<text x="0" y="14" font-size="12" font-weight="bold">{}</text>)", escape(title));
  for (int c = 0; c < columns; ++c)
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>)",
                       left + cell * c + cell / 2, top - 6, escape(column_labels[static_cast<size_t>(c)]));
  for (int r = 0; r < rows; ++r) {
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>)", left - 4,
                       top + cell * r + cell / 2 + 4, escape(row_labels[static_cast<size_t>(r)]));
    for (int c = 0; c < columns; ++c) {
      double w = weights[static_cast<size_t>(r * columns + c)];
      svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{:.3f}</title></rect>)",
                         left + cell * c, top + cell * r, cell, cell, shade(w), w);
    }
  }
  return svg + "</svg>";
}

void write_curves(const std::string& out_dir, const Curves& curves) {
  std::ofstream f(out_dir + "/curves.csv");
  f << "curve,step,seconds,value\n";
  auto rows = [&](const char* name, const std::vector<CurvePoint>& points) {
    for (const CurvePoint& p : points) f << fmt::format("{},{},{:.3f},{:.6g}\n", name, p.step, p.seconds, p.value);
  };
  rows("loss", curves.loss);
  rows("tokens_per_s", curves.tokens_per_s);
  rows("dev_per", curves.dev_per);
  if (!f) throw weft::Error(fmt::format("g2p: cannot write '{}/curves.csv'", out_dir));
}

Curves read_curves(const std::string& out_dir) {
  Curves curves;
  std::string path = out_dir + "/curves.csv";
  std::ifstream f(path);
  if (!f) return curves;
  std::string line;
  for (int64_t number = 1; std::getline(f, line); ++number) {
    if (number == 1) continue;
    std::istringstream in(line);
    std::string name, step, seconds, value;
    CurvePoint p;
    try {
      if (!std::getline(in, name, ',') || !std::getline(in, step, ',') || !std::getline(in, seconds, ',') ||
          !std::getline(in, value))
        throw std::invalid_argument("fields");
      p = {std::stoll(step), std::stod(seconds), std::stod(value)};
    } catch (const std::exception&) {
      throw weft::Error(fmt::format("{}:{}: a row is curve,step,seconds,value, but got '{}'", path, number, line));
    }
    if (name == "loss")
      curves.loss.push_back(p);
    else if (name == "tokens_per_s")
      curves.tokens_per_s.push_back(p);
    else if (name == "dev_per")
      curves.dev_per.push_back(p);
    else
      throw weft::Error(fmt::format("{}:{}: unknown curve '{}'", path, number, name));
  }
  return curves;
}

void write_results_json(const std::string& path, const Results& r) {
  std::ofstream f(path);
  f << fmt::format(
      "{{\"model\": \"transformer\", \"train_minutes\": {:.2f}, \"steps\": {}, \"train_tokens_per_s\": {:.0f}",
      r.minutes, r.steps, r.tokens_per_s);
  for (const ResultRow& row : r.rows) {
    std::string key = row.name;
    std::replace(key.begin(), key.end(), ' ', '_');
    key.erase(std::remove(key.begin(), key.end(), ','), key.end());
    f << fmt::format(", \"{0}_per\": {1:.2f}, \"{0}_wer\": {2:.2f}", key, row.rates.per(), row.rates.wer());
  }
  f << "}\n";
  if (!f) throw weft::Error(fmt::format("g2p: cannot write '{}'", path));
}

void write_report(const std::string& path, const Results& r, const Curves& curves, const std::string& graph_svg) {
  std::string html = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Weft: grapheme-to-phoneme on the CMU dictionary</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} .bad{color:#a00} figure{display:inline-block;margin:6px}
.graph svg{max-width:100%;height:auto}</style></head><body>
<h1>Grapheme-to-phoneme on the CMU dictionary</h1>
)";
  html += fmt::format(
      "<p>{}, trained {:.1f} minutes ({} steps, {:.0f} target tokens/s). Test and dev words: the split of "
      "<code>data.py</code>.</p>\n",
      escape(r.model), r.minutes, r.steps, r.tokens_per_s);
  html +=
      "<h2>Error rates</h2>\n<table id=\"results\"><tr><th>words, search</th><th>PER %</th><th>WER %</th><th>"
      "words</th><th>seconds</th></tr>\n";
  for (const ResultRow& row : r.rows)
    html += fmt::format("<tr><td>{}</td><td>{:.2f}</td><td>{:.2f}</td><td>{}</td><td>{:.1f}</td></tr>\n",
                        escape(row.name), row.rates.per(), row.rates.wer(), row.rates.words(), row.seconds);
  html +=
      "</table>\n<h2>Decoded test words</h2>\n<table id=\"samples\"><tr><th>word</th><th>decoded</th><th>"
      "dictionary</th></tr>\n";
  for (const Sample& s : r.samples)
    html += fmt::format("<tr><td>{}</td><td{}>{}</td><td>{}</td></tr>\n", escape(s.spelling),
                        s.right ? "" : " class=\"bad\"", escape(s.decoded), escape(s.reference));
  html += "</table>\n<h2>Training</h2>\n";
  std::vector<std::pair<double, double>> loss, per;
  // One point per ~200 steps' mean keeps the page small for long runs.
  const size_t every = std::max<size_t>(1, curves.loss.size() / 400);
  for (size_t i = 0; i < curves.loss.size(); i += every) {
    double sum = 0;
    size_t n = std::min(every, curves.loss.size() - i);
    for (size_t j = i; j < i + n; ++j) sum += curves.loss[j].value;
    loss.emplace_back(static_cast<double>(curves.loss[i + n - 1].step), sum / static_cast<double>(n));
  }
  for (const CurvePoint& p : curves.dev_per) per.emplace_back(p.seconds / 60.0, p.value);
  html += "<figure>" + line_chart(loss, "training loss", "step", "loss") + "</figure>\n";
  html += "<figure>" + line_chart(per, "dev PER (greedy)", "training minutes", "PER %") + "</figure>\n";
  html +=
      "<h2>Where the decoder looked</h2>\n<p>The attention weights while decoding greedily, one row per phoneme "
      "produced, one column per letter: for the Transformer, each head of each decoder layer's cross-attention, "
      "and their mean.</p>\n";
  for (const auto& [word, p] : r.attention) {
    // Per head and their mean (the Transformer), or the one attention of the LSTM as one "head".
    const weft::Tensor& a = p.attention_heads.defined() ? p.attention_heads : p.attention;
    if (a.shape().size() != 3 && a.shape().size() != 2) continue;
    const bool one = a.shape().size() == 2;
    const int64_t heads = one ? 1 : a.shape()[0], steps = a.shape()[one ? 0 : 1], letters = a.shape()[one ? 1 : 2];
    std::vector<std::string> columns, rows = p.phonemes;
    for (char c : word) columns.emplace_back(1, c);
    columns.emplace_back("</s>");
    rows.emplace_back("</s>");
    // Words decoded together are padded to the longest: its padding columns hold zeros.
    if (static_cast<int64_t>(columns.size()) > letters || static_cast<int64_t>(rows.size()) > steps) continue;
    const size_t width = columns.size();
    std::vector<float> all = a.to_vector<float>(), mean(rows.size() * width);
    html += "<div><h3>" + escape(word) + "</h3>";
    for (int64_t h = 0; h < heads; ++h) {
      std::vector<float> head(mean.size());
      for (size_t t = 0; t < rows.size(); ++t)
        for (size_t s = 0; s < width; ++s) {
          float w = all[static_cast<size_t>((h * steps + static_cast<int64_t>(t)) * letters) + s];
          head[t * width + s] = w;
          mean[t * width + s] += w / static_cast<float>(heads);
        }
      const int64_t per_layer = r.heads_per_layer > 0 ? r.heads_per_layer : heads;
      std::string title = one                 ? std::string("attention")
                          : per_layer < heads ? fmt::format("layer {}, head {}", h / per_layer + 1, h % per_layer + 1)
                                              : fmt::format("head {}", h + 1);
      html += "<figure>" + heatmap_svg(head, rows, columns, title) + "</figure>";
    }
    if (!one) html += "<figure>" + heatmap_svg(mean, rows, columns, "mean") + "</figure>";
    html += "</div>\n";
  }
  html += "<h2>The model's graph</h2>\n";
  std::string svg = graph_svg.empty() ? std::string() : slurp(graph_svg);
  size_t start = svg.find("<svg");
  if (start == std::string::npos)
    html += "<p>(not drawn: run with --weft-dump PATH and Graphviz installed)</p>\n";
  else
    html += "<div class=\"graph\">" + svg.substr(start) + "</div>\n";
  // A check a headless browser can read back (tests/g2p): every drawing laid out with a size.
  html += R"js(<p id="render-check"></p>
<script>
window.addEventListener("load", () => {
  const drawings = [...document.querySelectorAll("svg")].filter(s => !s.parentElement.closest("svg"));
  const drawn = drawings.filter(s => { const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  const rows = document.querySelectorAll("#results tr").length - 1;
  document.getElementById("render-check").textContent =
      `${drawn.length} of ${drawings.length} drawings rendered; ${rows} result rows`;
});
</script>
)js";
  html += "</body></html>\n";
  std::ofstream f(path);
  f << html;
  if (!f) throw weft::Error(fmt::format("g2p: cannot write '{}'", path));
}

}  // namespace g2p
