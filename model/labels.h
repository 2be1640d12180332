// Labels: the identity of a series, a set of (name, value) pairs sorted by
// name. Prometheus vocabulary: the metric name is the label "__name__".
//
// Invariants of a Labels value: names are unique and sorted bytewise, and no
// value is empty (an empty value means "label absent", as in Prometheus).
// Labels is a plain value type: copyable, not thread-safe for concurrent
// mutation, safe to share once immutable.
//
//   LabelsBuilder b;
//   b.Set("__name__", "up").Set("job", "node");
//   Labels ls = b.Build();        // {__name__="up", job="node"}
//   ls.Get("job") == "node";
#ifndef MERIDIAN_MODEL_LABELS_H_
#define MERIDIAN_MODEL_LABELS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

inline constexpr std::string_view kMetricName = "__name__";

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};

// A label borrowed from a buffer owned by someone else (e.g. a decoded
// remote-write request). Used on the hot ingest path to avoid copies.
struct LabelView {
  std::string_view name;
  std::string_view value;
};

class Labels {
 public:
  Labels() = default;
  // REQUIRES: `sorted` is sorted by name, names unique, values non-empty.
  static Labels FromSorted(std::vector<Label> sorted);
  // Sorts, drops empty values; on duplicate names the last one wins.
  static Labels FromUnsorted(std::vector<Label> labels);
  // Copies borrowed views. REQUIRES: views sorted, unique, non-empty values.
  static Labels FromViews(const LabelView* views, size_t n);

  // Returns the value of `name`, or "" when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const { return !Get(name).empty(); }
  std::string_view MetricName() const { return Get(kMetricName); }

  const std::vector<Label>& items() const { return labels_; }
  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  auto begin() const { return labels_.begin(); }
  auto end() const { return labels_.end(); }

  // A stable 64-bit hash of the whole set (xxhash-style over name\xff value\xff ...).
  uint64_t Hash() const;
  // Hash of only the named labels (include=true) or of all but them (include=false).
  // `names` need not be sorted. Used for grouping in aggregations and matching.
  uint64_t HashFor(const std::vector<std::string>& names, bool include) const;

  // Prometheus text form: {__name__="up", job="node"} -> up{job="node"}.
  std::string ToString() const;

  friend bool operator==(const Labels& a, const Labels& b) { return a.labels_ == b.labels_; }
  // Prometheus ordering: compares label by label (name, then value), shorter first.
  friend bool operator<(const Labels& a, const Labels& b) { return Compare(a, b) < 0; }
  static int Compare(const Labels& a, const Labels& b);

 private:
  std::vector<Label> labels_;
};

// Hashes a sorted run of label views exactly as Labels::Hash() hashes the same set.
uint64_t HashLabelViews(const LabelView* views, size_t n);

// Mutable construction and editing of label sets.
class LabelsBuilder {
 public:
  LabelsBuilder() = default;
  explicit LabelsBuilder(const Labels& base);
  // Sets name=value; an empty value deletes the label.
  LabelsBuilder& Set(std::string_view name, std::string_view value);
  LabelsBuilder& Del(std::string_view name);
  // Keeps only the named labels.
  LabelsBuilder& Keep(const std::vector<std::string>& names);
  std::string_view Get(std::string_view name) const;
  Labels Build() const;

 private:
  std::vector<Label> labels_;  // kept sorted by name
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_LABELS_H_
