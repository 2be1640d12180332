#include "storage/querier.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <iterator>
#include <memory>

#include "absl/container/btree_set.h"
#include "model/executor.h"
#include "model/sync.h"
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

// Selects of at least this many series read ahead on the storage's
// read-ahead executor, so that reading and decoding overlaps with the
// caller's evaluation.
constexpr size_t kReadAheadMinSeries = 256;
// Series the read-ahead task may hold decoded before the caller takes them.
constexpr size_t kReadAheadDepth = 16;
// How long a caller waits for its read-ahead task to start before it reads
// the series itself (the executor is busy with other queries' tasks).
constexpr auto kReadAheadStartWait = std::chrono::milliseconds(2);

// The life of a read-ahead task. The task holds the state (shared), not the
// set: a task that never started may run after the set is gone, sees
// kAbandoned and touches nothing else.
enum ReadAheadState : int { kPending, kRunning, kDone, kAbandoned };

class MergedSeriesSet : public SeriesSet {
 public:
  MergedSeriesSet(const ChunkStore* store, std::vector<SelectedSeries> series, bool have_labels,
                  int64_t start_ms, int64_t end_ms, const ReadContext& ctx, Executor* executor)
      : ctx_(ctx),
        store_(store),
        reader_(store, start_ms, end_ms),
        series_(std::move(series)),
        have_labels_(have_labels) {
    if (executor == nullptr || series_.size() < kReadAheadMinSeries) return;
    task_ = std::make_shared<std::atomic<int>>(kPending);
    executor->Schedule([this, state = task_] {
      int expected = kPending;
      if (!state->compare_exchange_strong(expected, kRunning)) return;  // abandoned
      ReadAhead();
    });
  }

  ~MergedSeriesSet() override {
    if (task_ == nullptr) return;
    int expected = kPending;
    // Never started (now, or when Next() took over): it will not touch *this.
    if (task_->compare_exchange_strong(expected, kAbandoned) || expected == kAbandoned) return;
    MutexLock l(&mu_);
    stop_ = true;
    cv_.SignalAll();
    while (task_->load() != kDone) cv_.Wait(&mu_);  // at most one series read after stop_
  }

  bool Next() override {
    labels_ready_ = false;
    if (!status_.ok() || Stopped()) return false;
    if (task_ != nullptr && !read_inline_) return NextReadAhead();
    return NextInline();
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
    out->swap(samples_);  // the caller's old buffer becomes a read buffer
    return absl::OkStatus();
  }

  absl::Status status() const override { return status_; }

  std::vector<std::string> warnings() const override {
    MutexLock l(&warn_mu_);
    return warnings_;
  }

 private:
  // The query's deadline or cancellation, checked every kCheckEvery series
  // (a clock read per series would cost more than reading a small one).
  bool Stopped() {
    if (++since_check_ < kCheckEvery) return false;
    since_check_ = 0;
    if (ctx_.Cancelled()) {
      status_ = absl::CancelledError("query canceled");
    } else if (ctx_.Expired()) {
      status_ = absl::DeadlineExceededError("query timed out while reading series");
    } else {
      return false;
    }
    return true;
  }

  // Corrupt stored data makes the damage local: the series is skipped with
  // a warning (a partial result), counted and logged; the rest is read.
  // Clears *st and returns true when the series at `pos` was skipped.
  bool Skipped(size_t pos, absl::Status* st) {
    if (st->code() != absl::StatusCode::kDataLoss) return false;
    store_->CountCorruption(std::string(st->message()));
    const MemSeries& s = *series_[pos].series;
    std::string w = "series " + (have_labels_ ? series_[pos].labels : s.labels()).ToString() +
                    " skipped: its stored data is corrupt (partial result)";
    {
      MutexLock l(&warn_mu_);
      if (warnings_.size() < kMaxWarnings) warnings_.push_back(std::move(w));
    }
    *st = absl::OkStatus();
    return true;
  }

  bool NextInline() {
    while (status_.ok() && ++pos_ < series_.size()) {
      status_ = reader_.Read(*series_[pos_].series, &samples_);
      if (Skipped(pos_, &status_)) continue;
      if (!status_.ok()) return false;
      if (!samples_.empty()) return true;
    }
    return false;
  }

  struct Item {
    size_t pos = 0;  // series_.size(): the end (status_ of the worker says why)
    std::vector<Sample> samples;
  };

  // The read-ahead task: reads series in order into a bounded queue. Its
  // last touch of *this is marking itself done under mu_.
  void ReadAhead() {
    std::vector<Sample> buf;
    for (size_t pos = 0; pos < series_.size() && !stop_.load(std::memory_order_relaxed); ++pos) {
      absl::Status st = reader_.Read(*series_[pos].series, &buf);
      if (Skipped(pos, &st)) continue;
      if (st.ok() && buf.empty()) continue;
      {
        MutexLock l(&mu_);
        while (!stop_ && queue_.size() >= kReadAheadDepth) cv_.Wait(&mu_);
        if (stop_) {
          FinishLocked();
          return;
        }
        if (!st.ok()) {
          worker_status_ = st;
          break;
        }
        queue_.push_back(Item{pos, std::move(buf)});
        buf.clear();
        if (!free_.empty()) {
          buf.swap(free_.back());
          free_.pop_back();
        }
      }
      cv_.SignalAll();
    }
    MutexLock l(&mu_);
    queue_.push_back(Item{series_.size(), {}});
    FinishLocked();
  }

  // Signals while holding mu_: once the destructor sees kDone it may free
  // mu_ and cv_, which it can do only after this thread released mu_.
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    task_->store(kDone);
    cv_.SignalAll();
  }

  bool NextReadAhead() {
    if (done_) return false;
    Item item;
    {
      MutexLock l(&mu_);
      if (samples_.capacity() > 0 && free_.size() < kReadAheadDepth) {
        free_.push_back(std::move(samples_));
        samples_.clear();
      }
      while (queue_.empty() && !read_inline_) {
        if (task_->load() != kPending) {
          cv_.Wait(&mu_);
          continue;
        }
        // The executor has not started the task: give it a moment, then
        // read the series here (nothing was queued: from the first one).
        if (cv_.WaitFor(&mu_, kReadAheadStartWait) && queue_.empty()) {
          int expected = kPending;
          read_inline_ = task_->compare_exchange_strong(expected, kAbandoned);
        }
      }
      if (!read_inline_) {
        item = std::move(queue_.front());
        queue_.pop_front();
        if (item.pos == series_.size()) {
          done_ = true;
          status_ = worker_status_;
          return false;
        }
      }
    }
    if (read_inline_) return NextInline();
    cv_.SignalAll();
    pos_ = item.pos;
    samples_.swap(item.samples);
    return true;
  }

  // At most this many warnings per set (each names a skipped series).
  static constexpr size_t kMaxWarnings = 10;
  static constexpr int kCheckEvery = 64;

  const ReadContext ctx_;
  int since_check_ = 0;
  const ChunkStore* const store_;
  SeriesReader reader_;  // the read-ahead task's alone while it runs
  const std::vector<SelectedSeries> series_;
  const bool have_labels_;
  size_t pos_ = static_cast<size_t>(-1);
  std::vector<Sample> samples_;
  mutable Labels labels_;
  mutable bool labels_ready_ = false;
  absl::Status status_;
  bool done_ = false;

  Mutex mu_;
  CondVar cv_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<Sample>> free_ ABSL_GUARDED_BY(mu_);  // buffers to reuse
  absl::Status worker_status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};  // set under mu_
  mutable Mutex warn_mu_;
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(warn_mu_);
  // Null without read-ahead; else the task's ReadAheadState, set before the
  // task is scheduled (the task starts last, after the rest exists).
  std::shared_ptr<std::atomic<int>> task_;
  bool read_inline_ = false;  // the task never started: Next() reads here
};

class TenantQuerier : public Querier {
 public:
  TenantQuerier(const RocksStorage* storage, TenantHead* head, int64_t mint_ms, int64_t maxt_ms,
                const ReadContext& ctx)
      : storage_(storage), head_(head), mint_ms_(mint_ms), maxt_ms_(maxt_ms), ctx_(ctx) {}

  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& matchers,
                                                    const SelectHints& hints) override {
    if (matchers.empty()) return absl::InvalidArgumentError("select needs at least one matcher");
    int64_t start = hints.start_ms, end = hints.end_ms;
    if (start == 0 && end == 0) {
      start = mint_ms_;
      end = maxt_ms_;
    }
    if (hints.max_resolution_ms > 0 && head_ != nullptr && start <= end) {
      std::vector<ReadSegment> segments = PlanReadSegments(
          head_->PublishedDownsample(), start, end, hints.resolution_ms, hints.max_resolution_ms);
      // Raw data answers it all (recent data): the usual read path.
      if (segments.size() != 1 || segments[0].resolution != Resolution::kRaw) {
        SelectHints h = hints;
        h.start_ms = start;
        h.end_ms = end;
        return NewDownsampledSeriesSet(storage_, head_, matchers, h, std::move(segments), ctx_);
      }
    }
    // Postings come in id order, which is also the order of the chunk keys:
    // unsorted sets read the disk sequentially.
    std::vector<SelectedSeries> series;
    if (head_ != nullptr && start <= end) {
      std::vector<uint64_t> in_head;  // sorted: Select returns id order
      for (std::shared_ptr<MemSeries>& s : head_->Select(matchers)) {
        in_head.push_back(s->id());
        if (!s->Overlaps(start, end)) continue;
        series.push_back({std::move(s), {}});
      }
      // Series that left the head, from the on-disk index of the days in
      // range (after the head: a series evicted meanwhile is found there).
      MERIDIAN_ASSIGN_OR_RETURN(
          std::vector<std::shared_ptr<MemSeries>> inactive,
          storage_->InactiveSeries(head_, matchers, start, end, in_head, /*with_labels=*/true));
      if (!inactive.empty()) {
        for (std::shared_ptr<MemSeries>& s : inactive) series.push_back({std::move(s), {}});
        std::sort(series.begin(), series.end(),
                  [](const SelectedSeries& a, const SelectedSeries& b) {
                    return a.series->id() < b.series->id();
                  });
      }
      if (hints.sorted) {
        for (SelectedSeries& s : series) s.labels = s.series->labels();
        std::sort(
            series.begin(), series.end(),
            [](const SelectedSeries& a, const SelectedSeries& b) { return a.labels < b.labels; });
      }
    }
    return std::unique_ptr<SeriesSet>(
        new MergedSeriesSet(&storage_->chunk_store(), std::move(series), hints.sorted, start, end,
                            ctx_, storage_->read_ahead_executor()));
  }

  std::vector<int64_t> AggregateResolutions() const override {
    if (head_ == nullptr) return {};
    return AggregateResolutionsOf(head_->PublishedDownsample());
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<Matcher>& matchers) override {
    absl::btree_set<std::string> names;
    if (head_ == nullptr) return std::vector<std::string>();
    if (matchers.empty()) {
      head_->ReadIndex([&](const PostingsIndex& index, auto lookup) {
        for (const auto& [name, values] : index.names()) {
          if (AnyInRange(values, lookup)) names.insert(name);
        }
      });
      if (head_->may_have_inactive.load(std::memory_order_acquire) && mint_ms_ <= maxt_ms_) {
        MERIDIAN_RETURN_IF_ERROR(storage_->disk_index().LabelNames(
            head_->id(), IndexDayOf(mint_ms_), IndexDayOf(maxt_ms_), &names));
      }
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(auto selected, SelectAll(matchers));
      for (const auto& s : selected) {
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
      if (head_->may_have_inactive.load(std::memory_order_acquire) && mint_ms_ <= maxt_ms_) {
        MERIDIAN_RETURN_IF_ERROR(storage_->disk_index().LabelValues(
            head_->id(), name, IndexDayOf(mint_ms_), IndexDayOf(maxt_ms_), &values));
      }
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(auto selected, SelectAll(matchers));
      for (const auto& s : selected) {
        const Labels labels = s->labels();
        std::string_view v = labels.Get(name);
        if (!v.empty()) values.emplace(v);
      }
    }
    return std::vector<std::string>(values.begin(), values.end());
  }

 private:
  // The series (head and on disk) matching `matchers` with data in the
  // querier's range.
  absl::StatusOr<std::vector<std::shared_ptr<MemSeries>>> SelectAll(
      const std::vector<Matcher>& matchers) {
    std::vector<std::shared_ptr<MemSeries>> out;
    std::vector<uint64_t> in_head;
    for (auto& s : head_->Select(matchers)) {
      in_head.push_back(s->id());
      if (s->Overlaps(mint_ms_, maxt_ms_)) out.push_back(std::move(s));
    }
    MERIDIAN_ASSIGN_OR_RETURN(
        std::vector<std::shared_ptr<MemSeries>> inactive,
        storage_->InactiveSeries(head_, matchers, mint_ms_, maxt_ms_, in_head, true));
    for (auto& s : inactive) out.push_back(std::move(s));
    return out;
  }

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
  const ReadContext ctx_;
};

class TenantQueryable : public Queryable {
 public:
  TenantQueryable(const RocksStorage* storage, std::string tenant)
      : storage_(storage), tenant_(std::move(tenant)) {}

  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms, int64_t maxt_ms,
                                                      const ReadContext& ctx) const override {
    return std::unique_ptr<Querier>(
        new TenantQuerier(storage_, storage_->FindTenant(tenant_), mint_ms, maxt_ms, ctx));
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
