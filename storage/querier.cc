#include "storage/querier.h"

#include <algorithm>
#include <iterator>

#include "absl/container/btree_set.h"
#include "rocksdb/db.h"
#include "storage/rocks_storage.h"

namespace meridian {
namespace {

// A selected series; its labels are decoded up front only when the set is
// sorted by them, otherwise when first asked for.
struct SelectedSeries {
  std::shared_ptr<MemSeries> series;
  Labels labels;
};

class MergedSeriesSet : public SeriesSet {
 public:
  MergedSeriesSet(const ChunkStore* store, std::vector<SelectedSeries> series, bool have_labels,
                  int64_t start_ms, int64_t end_ms)
      : cursor_(store),
        series_(std::move(series)),
        have_labels_(have_labels),
        start_ms_(start_ms),
        end_ms_(end_ms) {}

  bool Next() override {
    labels_ready_ = false;
    while (status_.ok() && ++pos_ < series_.size()) {
      samples_.clear();
      const MemSeries& s = *series_[pos_].series;
      bool on_disk, disk_sorted = false;
      {
        std::lock_guard l(s.mu);
        status_ = s.ReadMemory(start_ms_, end_ms_, &samples_);
        // Changes together with the memory it replaces.
        on_disk = s.DiskOnlyOverlaps(start_ms_, end_ms_);
      }
      if (!status_.ok()) return false;
      if (on_disk) {
        // Read disk after memory: a checkpoint writes chunks before dropping
        // them from memory, and bumps the generation in between, so after
        // CatchUp nothing can fall between the two reads.
        cursor_.CatchUp();
        disk_.clear();
        status_ = cursor_.Read(s.id(), start_ms_, end_ms_, &disk_, &disk_sorted);
        if (!status_.ok()) return false;
      }
      if (samples_.empty() && (!on_disk || disk_.empty())) continue;
      if (samples_.empty()) {
        samples_.swap(disk_);  // all on disk: nothing to merge
        if (!disk_sorted) SortAndDedupe(&samples_);
        return true;
      }
      SortAndDedupe(&samples_);
      if (on_disk && !disk_.empty()) {
        // Both sides are usually sorted already: merge in linear time.
        if (!disk_sorted) SortAndDedupe(&disk_);
        merged_.clear();
        std::merge(samples_.begin(), samples_.end(), disk_.begin(), disk_.end(),
                   std::back_inserter(merged_),
                   [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
        samples_.swap(merged_);
        SortAndDedupe(&samples_);  // drops the timestamps present on both sides
      }
      return true;
    }
    return false;
  }

  const Labels& labels() const override {
    if (have_labels_) return series_[pos_].labels;
    if (!labels_ready_) {
      labels_ = series_[pos_].series->labels();
      labels_ready_ = true;
    }
    return labels_;
  }

  absl::Status Samples(std::vector<Sample>* out) override {
    out->swap(samples_);  // the caller's old buffer becomes the next series' buffer
    return absl::OkStatus();
  }

  absl::Status status() const override { return status_; }

 private:
  ChunkStore::Cursor cursor_;
  std::vector<SelectedSeries> series_;
  const bool have_labels_;
  int64_t start_ms_, end_ms_;
  size_t pos_ = static_cast<size_t>(-1);
  std::vector<Sample> samples_, disk_, merged_;
  mutable Labels labels_;
  mutable bool labels_ready_ = false;
  absl::Status status_;
};

class TenantQuerier : public Querier {
 public:
  TenantQuerier(const RocksStorage* storage, TenantHead* head, int64_t mint_ms, int64_t maxt_ms)
      : storage_(storage), head_(head), mint_ms_(mint_ms), maxt_ms_(maxt_ms) {}

  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& matchers,
                                                    const SelectHints& hints) override {
    if (matchers.empty()) return absl::InvalidArgumentError("select needs at least one matcher");
    int64_t start = hints.start_ms, end = hints.end_ms;
    if (start == 0 && end == 0) {
      start = mint_ms_;
      end = maxt_ms_;
    }
    // Postings come in id order, which is also the order of the chunk keys:
    // unsorted sets read the disk sequentially.
    std::vector<SelectedSeries> series;
    if (head_ != nullptr && start <= end) {
      for (std::shared_ptr<MemSeries>& s : head_->Select(matchers)) {
        if (!s->Overlaps(start, end)) continue;
        series.push_back({std::move(s), {}});
        if (hints.sorted) series.back().labels = series.back().series->labels();
      }
      if (hints.sorted) {
        std::sort(series.begin(), series.end(), [](const SelectedSeries& a, const SelectedSeries& b) {
          return a.labels < b.labels;
        });
      }
    }
    return std::unique_ptr<SeriesSet>(new MergedSeriesSet(
        &storage_->chunk_store(), std::move(series), hints.sorted, start, end));
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<Matcher>& matchers) override {
    absl::btree_set<std::string> names;
    if (head_ == nullptr) return std::vector<std::string>();
    if (matchers.empty()) {
      head_->ReadIndex([&](const PostingsIndex& index, auto lookup) {
        for (const auto& [name, values] : index.names()) {
          if (AnyInRange(values, lookup)) names.insert(name);
        }
      });
    } else {
      for (const auto& s : head_->Select(matchers)) {
        if (!s->Overlaps(mint_ms_, maxt_ms_)) continue;
        const Labels labels = s->labels();
        for (const Label& l : labels) names.insert(l.name);
      }
    }
    return std::vector<std::string>(names.begin(), names.end());
  }

  absl::StatusOr<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<Matcher>& matchers) override {
    absl::btree_set<std::string> values;
    if (head_ == nullptr) return std::vector<std::string>();
    if (matchers.empty()) {
      head_->ReadIndex([&](const PostingsIndex& index, auto lookup) {
        auto it = index.names().find(name);
        if (it == index.names().end()) return;
        for (const auto& [value, ids] : it->second) {
          for (uint64_t id : ids) {
            const MemSeries* s = lookup(id);
            if (s != nullptr && s->Overlaps(mint_ms_, maxt_ms_)) {
              values.insert(value);
              break;
            }
          }
        }
      });
    } else {
      for (const auto& s : head_->Select(matchers)) {
        if (!s->Overlaps(mint_ms_, maxt_ms_)) continue;
        const Labels labels = s->labels();
        std::string_view v = labels.Get(name);
        if (!v.empty()) values.emplace(v);
      }
    }
    return std::vector<std::string>(values.begin(), values.end());
  }

 private:
  template <typename Lookup>
  bool AnyInRange(const PostingsIndex::ValueMap& values, Lookup& lookup) const {
    for (const auto& [value, ids] : values) {
      for (uint64_t id : ids) {
        const MemSeries* s = lookup(id);
        if (s != nullptr && s->Overlaps(mint_ms_, maxt_ms_)) return true;
      }
    }
    return false;
  }

  const RocksStorage* storage_;
  TenantHead* head_;  // null when the tenant has no data
  int64_t mint_ms_, maxt_ms_;
};

class TenantQueryable : public Queryable {
 public:
  TenantQueryable(const RocksStorage* storage, std::string tenant)
      : storage_(storage), tenant_(std::move(tenant)) {}

  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms,
                                                      int64_t maxt_ms) const override {
    return std::unique_ptr<Querier>(
        new TenantQuerier(storage_, storage_->FindTenant(tenant_), mint_ms, maxt_ms));
  }

 private:
  const RocksStorage* storage_;
  std::string tenant_;
};

}  // namespace

std::unique_ptr<Queryable> NewTenantQueryable(const RocksStorage* storage, std::string tenant) {
  return std::make_unique<TenantQueryable>(storage, std::move(tenant));
}

}  // namespace meridian
