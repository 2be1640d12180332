// The read path of downsampled data (docs/downsampling.md): a Select whose
// hints allow aggregates answers each part of its time range from one
// resolution, chosen from where each resolution holds data for the tenant
// (DownsampleState), and stitches the parts: the windows of a coarser part
// end where the finer part begins, so nothing is missed or counted twice.
#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "rocksdb/db.h"
#include "storage/aggregate_cache.h"
#include "storage/coding.h"
#include "storage/compaction.h"
#include "storage/keys.h"
#include "storage/querier.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"
#include "storage/tenant_head.h"

namespace meridian {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();
constexpr std::array<Resolution, 3> kAll = {Resolution::kRaw, Resolution::k5m, Resolution::k1h};

struct Interval {
  int64_t lo = 0, hi = 0;  // [lo, hi); empty when lo >= hi
  bool Contains(int64_t t) const { return t >= lo && t < hi; }
};

// Where each resolution holds data, tenant-wide.
std::array<Interval, 3> Availability(const DownsampleState& ds) {
  auto floor = [](int64_t f) { return f == kNoTime ? kMinT : f; };
  auto upto = [](int64_t through) { return through == kNoTime ? kMinT : through; };
  return {Interval{floor(ds.raw_deleted_before), kMaxT},
          Interval{floor(ds.deleted_5m_before), upto(ds.downsampled_5m_through)},
          Interval{floor(ds.deleted_1h_before), upto(ds.downsampled_1h_through)}};
}

}  // namespace

std::vector<ReadSegment> PlanReadSegments(const DownsampleState& ds, int64_t start, int64_t end,
                                          int64_t resolution_ms, int64_t max_resolution_ms) {
  std::vector<ReadSegment> out;
  if (end < start) return out;
  const std::array<Interval, 3> avail = Availability(ds);
  const int64_t stop = end == kMaxT ? kMaxT : end + 1;
  std::vector<int64_t> cuts = {start, stop};
  for (const Interval& i : avail) {
    for (int64_t b : {i.lo, i.hi}) {
      if (b > start && b < stop) cuts.push_back(b);
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    const int64_t at = cuts[k];
    // The coarsest resolution at or below the preferred one that holds
    // data here; else the finest one up to the maximum; else raw (which
    // then finds nothing).
    std::optional<Resolution> pick;
    for (Resolution r : kAll) {
      if (ResolutionMs(r) <= resolution_ms && avail[static_cast<int>(r)].Contains(at)) pick = r;
    }
    if (!pick) {
      for (Resolution r : kAll) {
        if (ResolutionMs(r) > resolution_ms && ResolutionMs(r) <= max_resolution_ms &&
            avail[static_cast<int>(r)].Contains(at)) {
          pick = r;
          break;
        }
      }
    }
    const Resolution r = pick.value_or(Resolution::kRaw);
    if (!out.empty() && out.back().resolution == r) {
      out.back().hi = cuts[k + 1];
    } else {
      out.push_back({r, at, cuts[k + 1]});
    }
  }
  return out;
}

namespace {

// One series at a time, read inline (aggregate reads are small).
class DownsampledSeriesSet : public SeriesSet {
 public:
  DownsampledSeriesSet(const RocksStorage* storage, std::vector<std::shared_ptr<MemSeries>> series,
                       std::vector<Labels> labels, std::vector<ReadSegment> segments, int64_t start,
                       int64_t end, bool fold, bool merge_1h, const SelectHints& hints,
                       const ReadContext& ctx)
      : storage_(storage),
        cache_(storage->aggregate_cache()),
        series_(std::move(series)),
        labels_(std::move(labels)),
        segments_(std::move(segments)),
        start_(start),
        end_(end),
        fold_(fold),
        merge_1h_(fold && merge_1h),
        range_(hints.range_ms),
        step_(hints.step_ms),
        first_step_(hints.first_step_ms),
        ctx_(ctx) {
    // Steps wider than the range leave windows no step reads (bounded:
    // the engine asks for at most 11,000 points a series).
    step_hint_ = range_ > 0 && step_ > range_ && step_ < kMaxT / 4 && first_step_ > kMinT / 2 &&
                 end_ < kMaxT / 2 && first_step_ <= end_ &&
                 (end_ - first_step_) / step_ < 1'000'000;
    // Before the iterator: entries of this generation hold what it sees,
    // or what a reader saw that started with it (storage/aggregate_cache.h).
    generation_ = cache_.generation();
    for (const ReadSegment& s : segments_) {
      if (s.resolution == Resolution::kRaw) {
        readers_.push_back(std::make_unique<SeriesReader>(
            &storage_->chunk_store(), std::max(s.lo, start_), std::min(s.hi - 1, end_)));
      } else {
        readers_.push_back(nullptr);
        if (it_ == nullptr) it_ = storage_->NewAggregateIterator();
      }
    }
  }

  bool Next() override {
    while (status_.ok() && ++pos_ < series_.size()) {
      if ((++since_check_ & 63) == 0) {
        if (ctx_.Cancelled()) {
          status_ = absl::CancelledError("query canceled");
          return false;
        }
        if (ctx_.Expired()) {
          status_ = absl::DeadlineExceededError("query timed out while reading series");
          return false;
        }
      }
      labels_ready_ = false;
      absl::Status st = Read(*series_[pos_]);
      if (st.code() == absl::StatusCode::kDataLoss) {
        storage_->chunk_store().CountCorruption(std::string(st.message()));
        if (warnings_.size() < 10) {
          warnings_.push_back("series " + labels().ToString() +
                              " skipped: its stored data is corrupt (partial result)");
        }
        continue;
      }
      if (!st.ok()) {
        status_ = st;
        return false;
      }
      if (!data_.runs.empty()) return true;
    }
    return false;
  }

  const Labels& labels() const override {
    if (!labels_.empty()) return labels_[pos_];
    if (!labels_ready_) {
      current_labels_ = series_[pos_]->labels();
      labels_ready_ = true;
    }
    return current_labels_;
  }

  // Only the raw part: callers that allowed aggregates read Data().
  absl::Status Samples(std::vector<Sample>* out) override {
    out->clear();
    for (const SeriesData::Run& r : data_.runs) {
      if (r.resolution_ms != 0) continue;
      out->insert(out->end(), data_.samples.begin() + static_cast<ptrdiff_t>(r.begin),
                  data_.samples.begin() + static_cast<ptrdiff_t>(r.end));
    }
    return absl::OkStatus();
  }

  absl::Status Data(SeriesData* out) override {
    std::swap(*out, data_);
    return absl::OkStatus();
  }

  absl::Status status() const override { return status_; }
  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  absl::Status Read(const MemSeries& s) {
    data_.Clear();
    for (size_t k = 0; k < segments_.size(); ++k) {
      const ReadSegment& seg = segments_[k];
      if (seg.resolution == Resolution::kRaw && fold_) {
        MERIDIAN_RETURN_IF_ERROR(
            ReadRawFolded(s, std::max(seg.lo, start_), std::min(seg.hi - 1, end_)));
      } else if (seg.resolution == Resolution::kRaw) {
        MERIDIAN_RETURN_IF_ERROR(readers_[k]->Read(s, &buf_));
        SeriesData::Run run;
        run.begin = data_.samples.size();
        data_.samples.insert(data_.samples.end(), buf_.begin(), buf_.end());
        run.end = data_.samples.size();
        if (run.end > run.begin) data_.runs.push_back(run);
      } else {
        MERIDIAN_RETURN_IF_ERROR(ReadWindows(s.id(), seg));
      }
    }
    if (step_hint_) KeepStepWindows();
    return absl::OkStatus();
  }

  // Windows of the segment's resolution with start in
  // [AlignDown(max(lo, start)), min(hi, end + 1)), one run per block that
  // points into the block's cached windows (no copy); 5m ones merged into
  // 1h windows when the consumer folds into 1h anyway (merge_1h_).
  absl::Status ReadWindows(uint64_t id, const ReadSegment& seg) {
    const Resolution r = seg.resolution;
    const bool merge = merge_1h_ && r == Resolution::k5m;
    const int64_t out_res = merge ? kRes1hMs : ResolutionMs(r);
    const int64_t source = merge ? kRes5mMs : -1;
    const int64_t from = AlignDown(std::max(seg.lo, start_), out_res);
    const int64_t to = std::min(seg.hi, end_ == kMaxT ? kMaxT : end_ + 1);
    const int64_t bms = BlockMs(r);
    const AggregateCache::Kind kind = merge                  ? AggregateCache::Kind::kMerged1h
                                      : r == Resolution::k1h ? AggregateCache::Kind::kChunk1h
                                                             : AggregateCache::Kind::kChunk5m;
    int64_t block = AlignDown(from, bms);
    while (block < to) {
      if (std::optional<AggregateCache::Entry> e = cache_.Find(kind, id, block);
          e && e->tag == generation_) {
        if (e->windows) PushShared(e->windows, from, to, out_res, source);
        block += bms;
        continue;
      }
      // Not cached: the next chunk stored at or after `block`.
      const std::string first = keys::AggrKey(static_cast<uint8_t>(r), id, block);
      const rocksdb::Slice prefix(first.data(), 9);
      it_->Seek(first);
      MERIDIAN_RETURN_IF_ERROR(FromRocks(it_->status(), "reading aggregates"));
      const bool found = it_->Valid() && it_->key().starts_with(prefix);
      if (found && it_->key().size() != 17) return absl::DataLossError("corrupt aggregate key");
      const int64_t at = found ? coding::DecodeTimeKey(it_->key().data() + 9) : kMaxT;
      if (at != block) {
        cache_.Put(kind, id, block, {generation_, 0, 0, nullptr});  // none here
        if (!found || at >= to) break;
        block = std::max(AlignDown(at, bms), block + bms);
        continue;
      }
      chunk_.clear();
      absl::Status st =
          DecodeAggrChunk(std::string_view(it_->value().data(), it_->value().size()), &chunk_);
      if (!st.ok()) {
        // One damaged chunk: its windows are missing, the rest is read.
        storage_->chunk_store().CountCorruption("aggregate chunk of series " + std::to_string(id) +
                                                ": " + std::string(st.message()));
        if (warnings_.size() < 10) {
          warnings_.push_back("series " + labels().ToString() +
                              ": a downsampled chunk is corrupt and was skipped (partial result)");
        }
        block += bms;
        continue;
      }
      std::shared_ptr<std::vector<AggregateWindow>> w;
      if (merge) {
        w = std::make_shared<std::vector<AggregateWindow>>();
        MergeWindows(chunk_, kRes1hMs, w.get());
      } else {
        w = std::make_shared<std::vector<AggregateWindow>>(chunk_);
      }
      AggregateCache::Windows shared = std::move(w);
      PushShared(shared, from, to, out_res, source);
      cache_.Put(kind, id, block, {generation_, 0, 0, std::move(shared)});
      block += bms;
    }
    return absl::OkStatus();
  }

  // [lo, hi) of `w` (sorted) for windows with t_ms in [from, to).
  static std::pair<size_t, size_t> Between(std::span<const AggregateWindow> w, int64_t from,
                                           int64_t to) {
    if (w.empty() || (from <= w.front().t_ms && to > w.back().t_ms)) return {0, w.size()};
    auto lo = std::lower_bound(w.begin(), w.end(), from,
                               [](const AggregateWindow& a, int64_t t) { return a.t_ms < t; });
    auto hi = std::lower_bound(lo, w.end(), to,
                               [](const AggregateWindow& a, int64_t t) { return a.t_ms < t; });
    return {static_cast<size_t>(lo - w.begin()), static_cast<size_t>(hi - w.begin())};
  }
  // A run of the windows of `w` with t_ms in [from, to), pointing into `w`.
  void PushShared(const AggregateCache::Windows& w, int64_t from, int64_t to, int64_t res,
                  int64_t source) {
    if (from >= to) return;
    const auto [lo, hi] = Between(*w, from, to);
    if (hi <= lo) return;
    SeriesData::Run run;
    run.resolution_ms = res;
    run.source_ms = source;
    run.begin = lo;
    run.end = hi;
    run.shared = w;
    data_.runs.push_back(std::move(run));
  }

  // Raw samples with t in [a, b] as raw runs, except the closed 5m windows
  // inside that range: those come as runs of 5m windows (1h ones inside
  // whole hours when merge_1h_), folded with the compactor's arithmetic and
  // kept in the cache (storage/aggregate_cache.h) while the series' older
  // data does not change; the 5m runs point into the cached windows.
  absl::Status ReadRawFolded(const MemSeries& s, int64_t a, int64_t b) {
    if (b < a) return absl::OkStatus();
    if (a <= kMinT / 2 || b >= kMaxT / 2) return ReadRawRun(s, a, b);  // no such data
    // In this order: an out-of-order sample stored after the epoch was read
    // changes it, so what is folded below is never kept under a newer one.
    const uint64_t epoch = s.data_epoch();
    const int64_t newest = s.max_t_ms();
    if (newest <= kMinT / 2) return ReadRawRun(s, a, b);
    // The closed windows inside [a, b]: an in-order append lands at or
    // after the window holding `newest`.
    const int64_t c_lo = AlignDown(a, kRes5mMs) == a ? a : AlignDown(a, kRes5mMs) + kRes5mMs;
    const int64_t c_hi = std::min(AlignDown(b + 1, kRes5mMs), AlignDown(newest, kRes5mMs));
    if (c_hi <= c_lo) return ReadRawRun(s, a, b);
    if (a < c_lo) MERIDIAN_RETURN_IF_ERROR(ReadRawRun(s, a, c_lo - 1));
    // 1h windows in [m_lo, m_hi) when merge_1h_, 5m ones around them.
    const int64_t m_lo =
        merge_1h_ ? std::min(c_hi, AlignDown(c_lo + kRes1hMs - 1, kRes1hMs)) : c_hi;
    const int64_t m_hi = merge_1h_ ? std::max(m_lo, AlignDown(c_hi, kRes1hMs)) : c_hi;
    for (int64_t day = AlignDown(c_lo, kBlock5mMs); day < c_hi; day += kBlock5mMs) {
      const int64_t lo = std::max(c_lo, day), hi = std::min(c_hi, day + kBlock5mMs);
      std::optional<AggregateCache::Entry> e =
          cache_.Find(AggregateCache::Kind::kFolded5m, s.id(), day);
      if (!e || e->tag != epoch || e->from > lo || !e->windows) e.reset();
      if (e && e->through < hi) {
        // Newer windows closed since: fold only those.
        MERIDIAN_RETURN_IF_ERROR(RawRange(s, e->through, hi - 1, &buf_));
        auto grown = std::make_shared<std::vector<AggregateWindow>>(*e->windows);
        DownsampleRaw(buf_, kRes5mMs, grown.get());
        e->windows = std::move(grown);
        e->through = hi;
        cache_.Put(AggregateCache::Kind::kFolded5m, s.id(), day, *e);
      } else if (!e) {
        MERIDIAN_RETURN_IF_ERROR(RawRange(s, lo, hi - 1, &buf_));
        auto w = std::make_shared<std::vector<AggregateWindow>>();
        DownsampleRaw(buf_, kRes5mMs, w.get());
        e = AggregateCache::Entry{epoch, lo, hi, std::move(w)};
        cache_.Put(AggregateCache::Kind::kFolded5m, s.id(), day, *e);
      }
      // Days are whole hours: a 1h window never spans two.
      PushShared(e->windows, lo, std::min(hi, m_lo), kRes5mMs, 0);
      if (const int64_t x = std::max(lo, m_lo), y = std::min(hi, m_hi); x < y) {
        // Whole hours of [e->from, e->through): [x, y) lies within them.
        PushShared(FoldedHours(s.id(), day, *e), x, y, kRes1hMs, 0);
      }
      PushShared(e->windows, std::max(lo, m_hi), hi, kRes5mMs, 0);
    }
    return c_hi <= b ? ReadRawTail(s, c_hi, b) : absl::OkStatus();
  }

  // The folded 5m windows of a day (entry `e`) merged into 1h windows, those
  // of its whole hours, cached beside them under the same epoch and span.
  AggregateCache::Windows FoldedHours(uint64_t id, int64_t day, const AggregateCache::Entry& e) {
    std::optional<AggregateCache::Entry> h =
        cache_.Find(AggregateCache::Kind::kFoldedMerged1h, id, day);
    if (h && h->tag == e.tag && h->from == e.from && h->through == e.through && h->windows) {
      return h->windows;
    }
    const int64_t a = AlignDown(e.from + kRes1hMs - 1, kRes1hMs);
    const int64_t b = AlignDown(e.through, kRes1hMs);
    auto w = std::make_shared<std::vector<AggregateWindow>>();
    if (a < b) {
      const auto [i, j] = Between(*e.windows, a, b);
      MergeWindows(std::span<const AggregateWindow>(*e.windows).subspan(i, j - i), kRes1hMs,
                   w.get());
    }
    AggregateCache::Windows shared = std::move(w);
    cache_.Put(AggregateCache::Kind::kFoldedMerged1h, id, day, {e.tag, e.from, e.through, shared});
    return shared;
  }

  // SelectHints::range_ms with a step wider than the range: of the runs of
  // windows, only the windows some step reads stay (the rule of
  // SelectHints::range_ms, which is query/downsampled.cc WindowsFn's): for
  // each step T, those with their last millisecond in (T - E, T], where E
  // is the range, or the resolution of the newest window at or before T
  // when it is coarser than the range and T falls within a window after
  // it (WindowsFn then widens the range to it); and that newest window.
  // Raw runs stay whole. The kept windows are copied into data_.windows
  // (one in step/range of them), the runs keep their order.
  struct WinRun {
    std::span<const AggregateWindow> w;
    int64_t res;
    int64_t last_attr;
  };
  struct Pos {  // window i of window run r; {n_runs, 0} past the end
    size_t r, i;
    bool operator<(const Pos& o) const { return r < o.r || (r == o.r && i < o.i); }
  };
  struct KeptRange {
    size_t r, begin, end;
  };
  // The first window of `x` whose last millisecond is after t. Windows are
  // distinct multiples of the resolution, so window k starts at or after
  // w[0] + k * res: the guess for dense runs is exact, sparse ones walk back.
  static size_t UpperIn(const WinRun& x, int64_t t) {
    const int64_t lim = t - x.res + 1;  // attr > t <=> t_ms > lim
    if (x.w.front().t_ms > lim) return 0;
    if (x.w.back().t_ms <= lim) return x.w.size();
    size_t i =
        std::min<size_t>(x.w.size() - 1, static_cast<size_t>((lim - x.w.front().t_ms) / x.res) + 1);
    for (int k = 0; k < 8 && i > 0 && x.w[i - 1].t_ms > lim; ++k) --i;
    if (i > 0 && x.w[i - 1].t_ms > lim) {
      i = static_cast<size_t>(
          std::upper_bound(x.w.begin(), x.w.begin() + static_cast<ptrdiff_t>(i), lim,
                           [](int64_t v, const AggregateWindow& a) { return v < a.t_ms; }) -
          x.w.begin());
    }
    return i;
  }
  Pos After(int64_t t) const {
    auto it = std::upper_bound(wruns_.begin(), wruns_.end(), t,
                               [](int64_t v, const WinRun& x) { return v < x.last_attr; });
    if (it == wruns_.end()) return {wruns_.size(), 0};
    return {static_cast<size_t>(it - wruns_.begin()), UpperIn(*it, t)};
  }
  void Keep(Pos a, const Pos& b) {
    if (a < kept_through_) a = kept_through_;
    while (a < b) {
      const size_t end = a.r == b.r ? b.i : wruns_[a.r].w.size();
      if (end > a.i) {
        if (!kept_.empty() && kept_.back().r == a.r && kept_.back().end == a.i) {
          kept_.back().end = end;
        } else {
          kept_.push_back({a.r, a.i, end});
        }
      }
      a = a.r == b.r ? b : Pos{a.r + 1, 0};
    }
    if (kept_through_ < b) kept_through_ = b;
  }
  void KeepStepWindows() {
    wruns_.clear();
    for (const SeriesData::Run& r : data_.runs) {
      if (r.resolution_ms <= 0 || r.end <= r.begin) continue;
      std::span<const AggregateWindow> w = data_.Windows(r);
      wruns_.push_back({w, r.resolution_ms, w.back().t_ms + r.resolution_ms - 1});
    }
    if (wruns_.empty()) return;
    kept_.clear();
    kept_through_ = {0, 0};
    for (int64_t t = first_step_; t <= end_; t += step_) {
      const Pos hi = After(t);
      // The newest window (with samples) at or before t.
      std::optional<Pos> newest;
      for (Pos p = hi; p.r > 0 || p.i > 0;) {
        p = p.i > 0 ? Pos{p.r, p.i - 1} : Pos{p.r - 1, wruns_[p.r - 1].w.size() - 1};
        if (wruns_[p.r].w[p.i].count > 0) {
          newest = p;
          break;
        }
      }
      int64_t e = range_;
      if (newest) {
        const WinRun& x = wruns_[newest->r];
        if (x.res > range_ && x.w[newest->i].t_ms + x.res - 1 > t - x.res) e = x.res;
      }
      const Pos lo = After(t - e);
      // In order: the newest when it is before the range, then the range.
      if (newest && *newest < lo) Keep(*newest, Pos{newest->r, newest->i + 1});
      Keep(lo, hi);
    }
    // The runs again, those of windows with their kept windows only.
    kept_windows_.clear();
    runs_.clear();
    size_t wr = 0, k = 0;
    for (SeriesData::Run& r : data_.runs) {
      if (r.resolution_ms <= 0 || r.end <= r.begin) {
        runs_.push_back(std::move(r));
        continue;
      }
      SeriesData::Run o;
      o.resolution_ms = r.resolution_ms;
      o.source_ms = r.source_ms;
      o.begin = kept_windows_.size();
      for (; k < kept_.size() && kept_[k].r == wr; ++k) {
        const std::span<const AggregateWindow> w = wruns_[wr].w;
        kept_windows_.insert(kept_windows_.end(),
                             w.begin() + static_cast<ptrdiff_t>(kept_[k].begin),
                             w.begin() + static_cast<ptrdiff_t>(kept_[k].end));
      }
      o.end = kept_windows_.size();
      if (o.end > o.begin) runs_.push_back(std::move(o));
      ++wr;
    }
    data_.runs.swap(runs_);
    data_.windows.swap(kept_windows_);
    runs_.clear();  // releases the runs' shared windows
  }

  absl::Status RawRange(const MemSeries& s, int64_t a, int64_t b, std::vector<Sample>* out) {
    SeriesReader reader(&storage_->chunk_store(), a, b);
    return reader.Read(s, out);
  }

  // The raw samples after the last closed 5m window, read for every series
  // of the set: through one reader, whose RocksDB iterator is made once
  // instead of once a series. Once per series only (the reader's cursor
  // skips what it already passed, which a second read of the same series
  // could need).
  absl::Status ReadRawTail(const MemSeries& s, int64_t a, int64_t b) {
    tail_reader_.SetRange(a, b);
    MERIDIAN_RETURN_IF_ERROR(tail_reader_.Read(s, &buf_));
    PushRawRun();
    return absl::OkStatus();
  }

  absl::Status ReadRawRun(const MemSeries& s, int64_t a, int64_t b) {
    MERIDIAN_RETURN_IF_ERROR(RawRange(s, a, b, &buf_));
    PushRawRun();
    return absl::OkStatus();
  }

  // buf_ as a raw run.
  void PushRawRun() {
    SeriesData::Run run;
    run.begin = data_.samples.size();
    data_.samples.insert(data_.samples.end(), buf_.begin(), buf_.end());
    run.end = data_.samples.size();
    if (run.end > run.begin) data_.runs.push_back(run);
  }

  const RocksStorage* const storage_;
  AggregateCache& cache_;
  const std::vector<std::shared_ptr<MemSeries>> series_;
  const std::vector<Labels> labels_;  // parallel to series_ when sorted; else empty
  const std::vector<ReadSegment> segments_;
  const int64_t start_, end_;
  const bool fold_;  // raw parts may come as closed 5m windows (SelectHints::fold_raw)
  // The consumer folds into 1h windows: 5m ones may come merged into 1h.
  const bool merge_1h_;
  // SelectHints::range_ms, step_ms, first_step_ms; step_hint_: windows no
  // step reads are left out (KeepStepWindows).
  const int64_t range_, step_, first_step_;
  bool step_hint_ = false;
  uint64_t generation_ = 0;  // of the cached chunks this set may use
  const ReadContext ctx_;
  std::vector<std::unique_ptr<SeriesReader>> readers_;         // per segment; raw ones only
  SeriesReader tail_reader_{&storage_->chunk_store(), 0, -1};  // ReadRawTail's
  std::unique_ptr<rocksdb::Iterator> it_;
  size_t pos_ = static_cast<size_t>(-1);
  int since_check_ = 0;
  SeriesData data_;
  std::vector<Sample> buf_;
  std::vector<AggregateWindow> chunk_;
  // KeepStepWindows' buffers.
  std::vector<WinRun> wruns_;
  std::vector<KeptRange> kept_;
  Pos kept_through_{0, 0};
  std::vector<AggregateWindow> kept_windows_;
  std::vector<SeriesData::Run> runs_;
  mutable Labels current_labels_;
  mutable bool labels_ready_ = false;
  absl::Status status_;
  std::vector<std::string> warnings_;
};

}  // namespace

std::unique_ptr<rocksdb::Iterator> RocksStorage::NewAggregateIterator() const {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(), downsampled_));
}

std::vector<int64_t> AggregateResolutionsOf(const DownsampleState& ds) {
  std::vector<int64_t> out;
  if (ds.downsampled_5m_through != kNoTime) out.push_back(kRes5mMs);
  if (ds.downsampled_1h_through != kNoTime) out.push_back(kRes1hMs);
  return out;
}

absl::StatusOr<std::unique_ptr<SeriesSet>> NewDownsampledSeriesSet(
    const RocksStorage* storage, TenantHead* head, const std::vector<Matcher>& matchers,
    const SelectHints& hints, std::vector<ReadSegment> segments, const ReadContext& ctx) {
  const int64_t start = hints.start_ms, end = hints.end_ms;
  // A series whose raw data is gone (or never reached the range) may still
  // have aggregates there: the aggregate parts select by the series' newest
  // sample only, and an empty series is dropped when read.
  int64_t agg_lo = kMaxT;
  for (const ReadSegment& s : segments) {
    if (s.resolution != Resolution::kRaw) agg_lo = std::min(agg_lo, std::max(s.lo, start));
  }
  std::vector<std::shared_ptr<MemSeries>> series;
  std::vector<uint64_t> in_head;  // sorted: Select returns id order
  for (std::shared_ptr<MemSeries>& s : head->Select(matchers)) {
    in_head.push_back(s->id());
    const bool no_raw_bounds = s->min_t_ms() > s->max_t_ms();
    const bool maybe_aggregates = agg_lo != kMaxT && (no_raw_bounds || s->max_t_ms() >= agg_lo);
    if (!maybe_aggregates && !s->Overlaps(start, end)) continue;
    series.push_back(std::move(s));
  }
  // Series that left the head, from the on-disk index of the days in range
  // (after the head: a series evicted meanwhile is found there), picked by
  // the same rule.
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<std::shared_ptr<MemSeries>> inactive,
      storage->InactiveSeries(head, matchers, start, end, in_head, /*with_labels=*/true,
                              agg_lo == kMaxT ? RocksStorage::kNoAggregates : agg_lo));
  for (std::shared_ptr<MemSeries>& s : inactive) series.push_back(std::move(s));
  std::vector<Labels> labels;
  if (hints.sorted) {
    std::vector<std::pair<Labels, std::shared_ptr<MemSeries>>> by;
    by.reserve(series.size());
    for (auto& s : series) by.emplace_back(s->labels(), std::move(s));
    std::sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    series.clear();
    for (auto& [l, s] : by) {
      labels.push_back(std::move(l));
      series.push_back(std::move(s));
    }
  } else {
    std::sort(series.begin(), series.end(),
              [](const auto& a, const auto& b) { return a->id() < b->id(); });
  }
  return std::unique_ptr<SeriesSet>(
      new DownsampledSeriesSet(storage, std::move(series), std::move(labels), std::move(segments),
                               start, end, hints.fold_raw && hints.resolution_ms >= kRes5mMs,
                               hints.resolution_ms >= kRes1hMs, hints, ctx));
}

}  // namespace meridian
