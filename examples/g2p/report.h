/** \file
 * What the G2P demo writes besides the model: the training curves (`curves.csv`, read back when a
 * run resumes), the results (`results.json`), and one self-contained HTML report with the PER/WER
 * table, decoded samples, the loss and dev-PER curves, attention heatmaps (letters × phonemes, each
 * head of each cross-attention layer and their mean) and the model's graph, all as inline SVG.
 */
#pragma once

#include <string>
#include <vector>

#include "examples/g2p/evaluate.h"

namespace g2p {

struct CurvePoint {
  int64_t step = 0;
  double seconds = 0.0;  // training seconds so far
  double value = 0.0;
};

struct Curves {
  std::vector<CurvePoint> loss, tokens_per_s, dev_per;
};

/// OUT/curves.csv: `curve,step,seconds,value` rows.
void write_curves(const std::string& out_dir, const Curves& curves);
/// The curves of OUT/curves.csv; empty when there is no such file. Throws weft::Error naming the
/// line of a malformed row.
Curves read_curves(const std::string& out_dir);

struct ResultRow {
  std::string name;
  ErrorRates rates;
  double seconds = 0.0;
};

struct Sample {
  std::string spelling, reference, decoded;
  bool right = false;
};

struct Results {
  std::string model = "the Transformer";  // a line describing it
  double minutes = 0.0;
  int64_t steps = 0;
  double tokens_per_s = 0.0;
  int64_t beam = 4;
  /// Heads per decoder layer, when the attention holds several layers' heads side by side (0: one layer).
  int64_t heads_per_layer = 0;
  std::vector<ResultRow> rows;
  std::vector<Sample> samples;
  std::vector<std::pair<std::string, Pronunciation>> attention;  // words drawn as heatmaps
};

void write_results_json(const std::string& path, const Results& results);

/// The report; `graph_svg` is the path of the model's drawing (weft-dump), or empty.
void write_report(const std::string& path, const Results& results, const Curves& curves, const std::string& graph_svg);

/// One heatmap as an SVG element: `weights` [rows, columns] row-major, labelled.
std::string heatmap_svg(const std::vector<float>& weights, const std::vector<std::string>& row_labels,
                        const std::vector<std::string>& column_labels, const std::string& title);

}  // namespace g2p
