#include "examples/g2p/metrics.h"

#include <algorithm>
#include <numeric>

namespace g2p {

int64_t edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row.back();
}

void ErrorRates::add(const std::vector<std::string>& decoded, const std::vector<std::string>& reference) {
  int64_t d = edit_distance(decoded, reference);
  errors_ += d;
  reference_length_ += static_cast<int64_t>(reference.size());
  wrong_ += d > 0;
  ++words_;
}

double ErrorRates::per() const {
  return reference_length_ ? 100.0 * static_cast<double>(errors_) / static_cast<double>(reference_length_) : 0.0;
}

double ErrorRates::wer() const {
  return words_ ? 100.0 * static_cast<double>(wrong_) / static_cast<double>(words_) : 0.0;
}

}  // namespace g2p
