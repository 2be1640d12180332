// FakeAppender: an in-memory Appender for ingest tests. It checks the
// AppendBatch contract (labels sorted, unique, non-empty values), stores
// samples bit-exactly, reports identical retries as duplicates, samples before
// `too_old_before_ms` as kTooOld and same-timestamp-different-value as
// kDuplicateConflict, and can be told to fail every Append with a status.
// Thread-safe (one mutex).
#ifndef MERIDIAN_INGEST_FAKE_APPENDER_H_
#define MERIDIAN_INGEST_FAKE_APPENDER_H_

#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "model/appender.h"
#include "model/sync.h"

namespace meridian::ingest::testing {

class FakeAppender : public Appender {
 public:
  // Key of a series: name=value pairs joined by ',' in the given order.
  static std::string Key(std::span<const LabelView> labels) {
    std::string k;
    for (const LabelView& l : labels) {
      if (!k.empty()) k += ',';
      k.append(l.name).append("=").append(l.value);
    }
    return k;
  }

  absl::Status Append(std::string_view tenant, const AppendBatch& batch,
                      AppendResult* result) override {
    MutexLock lock(&mu_);
    ++append_calls_;
    if (!fail_with_.ok()) return fail_with_;
    for (size_t i = 0; i < batch.series.size(); ++i) {
      const AppendSeries& s = batch.series[i];
      for (size_t j = 0; j < s.labels.size(); ++j) {
        if (s.labels[j].value.empty()) contract_violations_.push_back("empty value");
        if (j > 0 && !(s.labels[j - 1].name < s.labels[j].name)) {
          contract_violations_.push_back("unsorted or duplicate labels: " + Key(s.labels));
        }
      }
      auto [it, created] = series_.try_emplace(std::string(tenant) + "|" + Key(s.labels));
      if (created) ++result->series_created;
      bool reported = false;
      for (const Sample& x : s.samples) {
        uint64_t bits;
        std::memcpy(&bits, &x.v, 8);
        AppendErrorKind kind;
        auto old = it->second.find(x.t_ms);
        if (x.t_ms < too_old_before_ms_) {
          kind = AppendErrorKind::kTooOld;
        } else if (old == it->second.end()) {
          it->second[x.t_ms] = bits;
          ++result->samples_appended;
          continue;
        } else if (old->second == bits) {
          ++result->samples_duplicate;
          continue;
        } else {
          kind = AppendErrorKind::kDuplicateConflict;
        }
        ++result->samples_rejected;
        if (!reported) result->errors.push_back({i, kind, x.t_ms});
        reported = true;
      }
    }
    return absl::OkStatus();
  }

  absl::Status PutMetadata(std::string_view tenant,
                           std::span<const MetricMetadata> metadata) override {
    MutexLock lock(&mu_);
    for (const MetricMetadata& m : metadata) metadata_[m.metric_family] = m;
    return absl::OkStatus();
  }

  // Test controls and inspection.
  void set_fail_with(absl::Status s) {
    MutexLock lock(&mu_);
    fail_with_ = std::move(s);
  }
  void set_too_old_before_ms(int64_t t) {
    MutexLock lock(&mu_);
    too_old_before_ms_ = t;
  }
  // Samples of series `key` ("tenant|name=value,..."), t_ms -> value bits.
  std::map<int64_t, uint64_t> SeriesSamples(const std::string& key) const {
    MutexLock lock(&mu_);
    auto it = series_.find(key);
    return it == series_.end() ? std::map<int64_t, uint64_t>{} : it->second;
  }
  std::vector<std::string> SeriesKeys() const {
    MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& [k, v] : series_) out.push_back(k);
    return out;
  }
  std::map<std::string, MetricMetadata> metadata() const {
    MutexLock lock(&mu_);
    return metadata_;
  }
  std::vector<std::string> contract_violations() const {
    MutexLock lock(&mu_);
    return contract_violations_;
  }
  int append_calls() const {
    MutexLock lock(&mu_);
    return append_calls_;
  }

 private:
  mutable Mutex mu_;
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  int64_t too_old_before_ms_ ABSL_GUARDED_BY(mu_) = std::numeric_limits<int64_t>::min();
  std::map<std::string, std::map<int64_t, uint64_t>> series_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, MetricMetadata> metadata_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> contract_violations_ ABSL_GUARDED_BY(mu_);
  int append_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace meridian::ingest::testing

#endif  // MERIDIAN_INGEST_FAKE_APPENDER_H_
