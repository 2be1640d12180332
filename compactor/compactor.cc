#include "compactor/compactor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "storage/compaction.h"

namespace meridian::compactor {
namespace {

constexpr size_t kMaxKeptFailures = 50;
constexpr size_t kPutBatchSeries = 1000;

std::string JsonString(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o + "\"";
}

std::string TimeText(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A time in JSON: null for "nothing yet".
std::string JsonTime(int64_t ms) { return ms == kNoTime ? "null" : JsonString(TimeText(ms)); }

}  // namespace

RetentionPolicy PolicyFor(const CompactorOptions& o, const std::string& tenant) {
  RetentionPolicy p = o.retention;
  auto it = o.tenant_retention.find(tenant);
  if (it != o.tenant_retention.end()) {
    if (it->second.raw_ms) p.raw_ms = *it->second.raw_ms;
    if (it->second.res_5m_ms) p.res_5m_ms = *it->second.res_5m_ms;
    if (it->second.res_1h_ms) p.res_1h_ms = *it->second.res_1h_ms;
  }
  return p;
}

Compactor::Compactor(Storage* storage, CompactorOptions options)
    : storage_(storage), access_(storage->Compaction()), options_(std::move(options)) {}

int64_t Compactor::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Compactor::Attempt(const std::string& tenant, const std::string& unit,
                        const std::function<absl::Status()>& fn, PassSummary* sum) {
  absl::Status st;
  for (int i = 0; i < std::max(1, options_.attempts); ++i) {
    st = fn();
    if (st.ok()) return true;
    if (stop_.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 << i));
  }
  std::fprintf(stderr, "meridian: compactor: tenant %s: %s failed: %s\n", tenant.c_str(),
               unit.c_str(), st.ToString().c_str());
  ++sum->failures;
  MutexLock l(&mu_);
  failures_.push_back({NowMs(), tenant, unit, std::string(absl::StatusCodeToString(st.code()))});
  while (failures_.size() > kMaxKeptFailures) failures_.pop_front();
  return false;
}

void Compactor::Throttle(std::chrono::steady_clock::time_point unit_start, bool throttled) {
  if (!throttled || options_.throttle_sleep_ratio <= 0) return;
  auto took = std::chrono::steady_clock::now() - unit_start;
  auto pause =
      std::chrono::duration_cast<std::chrono::milliseconds>(took * options_.throttle_sleep_ratio);
  std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(pause, std::chrono::seconds(5)));
}

absl::Status Compactor::Downsample5mBlock(const std::string& tenant, int64_t block,
                                          PassSummary* sum) {
  std::vector<SeriesAggregates> batch;
  uint64_t windows = 0, samples = 0;
  auto put = [&]() -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(access_->PutAggregates(tenant, Resolution::k5m, batch));
    batch.clear();
    return absl::OkStatus();
  };
  MERIDIAN_RETURN_IF_ERROR(
      access_->ReadRaw(tenant, block, block + kBlock5mMs,
                       [&](uint64_t id, std::span<const Sample> raw) -> absl::Status {
                         SeriesAggregates a{id, block, {}};
                         DownsampleRaw(raw, kRes5mMs, &a.windows);
                         samples += raw.size();
                         windows += a.windows.size();
                         batch.push_back(std::move(a));
                         if (batch.size() >= kPutBatchSeries) return put();
                         return absl::OkStatus();
                       }));
  MERIDIAN_RETURN_IF_ERROR(put());
  MERIDIAN_RETURN_IF_ERROR(
      access_->SetDownsampledThrough(tenant, Resolution::k5m, block + kBlock5mMs));
  sum->raw_samples_read += samples;
  sum->windows_5m += windows;
  ++sum->blocks_5m;
  return absl::OkStatus();
}

absl::Status Compactor::Downsample1hBlock(const std::string& tenant, int64_t block,
                                          PassSummary* sum) {
  std::vector<SeriesAggregates> batch;
  uint64_t windows = 0, read = 0;
  auto put = [&]() -> absl::Status {
    MERIDIAN_RETURN_IF_ERROR(access_->PutAggregates(tenant, Resolution::k1h, batch));
    batch.clear();
    return absl::OkStatus();
  };
  MERIDIAN_RETURN_IF_ERROR(access_->ReadAggregates(
      tenant, Resolution::k5m, block, block + kBlock1hMs,
      [&](uint64_t id, std::span<const AggregateWindow> fine) -> absl::Status {
        SeriesAggregates a{id, block, {}};
        MergeWindows(fine, kRes1hMs, &a.windows);
        read += fine.size();
        windows += a.windows.size();
        batch.push_back(std::move(a));
        if (batch.size() >= kPutBatchSeries) return put();
        return absl::OkStatus();
      }));
  MERIDIAN_RETURN_IF_ERROR(put());
  MERIDIAN_RETURN_IF_ERROR(
      access_->SetDownsampledThrough(tenant, Resolution::k1h, block + kBlock1hMs));
  sum->windows_read += read;
  sum->windows_1h += windows;
  ++sum->blocks_1h;
  return absl::OkStatus();
}

namespace {

// `base` (one chunk's windows, sorted) with `add` merged in: a window of
// both becomes their concatenation (`add`'s samples all come after `base`'s,
// as the storage checked when it staged them).
std::vector<AggregateWindow> Combine(std::span<const AggregateWindow> base,
                                     std::span<const AggregateWindow> add, int64_t res_ms) {
  std::vector<AggregateWindow> out;
  size_t i = 0, j = 0;
  while (i < base.size() || j < add.size()) {
    if (j == add.size() || (i < base.size() && base[i].t_ms < add[j].t_ms)) {
      out.push_back(base[i++]);
    } else if (i == base.size() || add[j].t_ms < base[i].t_ms) {
      out.push_back(add[j++]);
    } else {
      const AggregateWindow pair[] = {base[i++], add[j++]};
      MergeWindows(pair, res_ms, &out);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<bool> Compactor::MergeStaged(const std::string& tenant, const StagedGroup& g,
                                            const DownsampleState& state, PassSummary* sum) {
  std::vector<SeriesAggregates> c5, c1;
  uint64_t windows5 = 0, windows1 = 0;
  const int64_t b1 = AlignDown(g.block_start, kBlock1hMs);
  std::vector<AggregateWindow> fresh, old;
  if (state.deleted_5m_before == kNoTime || g.block_start >= state.deleted_5m_before) {
    // Into the day's 5m chunk, then its 1h block again from 5m data (whole
    // above the 5m deletion floor) if that block was downsampled.
    DownsampleRaw(g.samples, kRes5mMs, &fresh);
    MERIDIAN_RETURN_IF_ERROR(access_->ReadSeriesAggregates(
        tenant, Resolution::k5m, g.series_id, g.block_start, g.block_start + kBlock5mMs, &old));
    c5.push_back({g.series_id, g.block_start, Combine(old, fresh, kRes5mMs)});
    windows5 = c5[0].windows.size();
    if (state.downsampled_1h_through != kNoTime && g.block_start < state.downsampled_1h_through) {
      // 1h windows below the 5m deletion floor (a day boundary, possibly
      // inside this 1h block) stay; those above come from the 5m windows.
      const int64_t from = std::max(b1, state.deleted_5m_before);
      std::vector<AggregateWindow> fine, all, kept;
      MERIDIAN_RETURN_IF_ERROR(access_->ReadSeriesAggregates(tenant, Resolution::k5m, g.series_id,
                                                             from, b1 + kBlock1hMs, &fine));
      for (const AggregateWindow& w : fine) {
        if (w.t_ms < g.block_start) all.push_back(w);
      }
      all.insert(all.end(), c5[0].windows.begin(), c5[0].windows.end());
      for (const AggregateWindow& w : fine) {
        if (w.t_ms >= g.block_start + kBlock5mMs) all.push_back(w);
      }
      if (from > b1) {
        MERIDIAN_RETURN_IF_ERROR(
            access_->ReadSeriesAggregates(tenant, Resolution::k1h, g.series_id, b1, from, &kept));
      }
      c1.push_back({g.series_id, b1, std::move(kept)});
      MergeWindows(all, kRes1hMs, &c1[0].windows);
      sum->windows_read += fine.size();
      windows1 = c1[0].windows.size();
    }
  } else {
    // Only 1h data is kept there.
    DownsampleRaw(g.samples, kRes1hMs, &fresh);
    MERIDIAN_RETURN_IF_ERROR(access_->ReadSeriesAggregates(tenant, Resolution::k1h, g.series_id, b1,
                                                           b1 + kBlock1hMs, &old));
    c1.push_back({g.series_id, b1, Combine(old, fresh, kRes1hMs)});
    windows1 = c1[0].windows.size();
  }
  absl::Status st = access_->CommitStaged(tenant, g, c5, c1);
  if (st.code() == absl::StatusCode::kAborted) return false;
  MERIDIAN_RETURN_IF_ERROR(st);
  sum->staged_samples += g.samples.size();
  sum->windows_5m += windows5;
  sum->windows_1h += windows1;
  return true;
}

absl::Status Compactor::RedoLate(const std::string& tenant, const LateMark& m, int64_t through_1h,
                                 PassSummary* sum) {
  std::vector<Sample> raw;
  MERIDIAN_RETURN_IF_ERROR(
      access_->ReadRawSeries(tenant, m.series_id, m.block_start, m.block_start + kBlock5mMs, &raw));
  SeriesAggregates a{m.series_id, m.block_start, {}};
  DownsampleRaw(raw, kRes5mMs, &a.windows);
  if (a.windows.empty()) return absl::OkStatus();  // nothing to redo (the samples are gone)
  MERIDIAN_RETURN_IF_ERROR(access_->PutAggregates(tenant, Resolution::k5m, {&a, 1}));
  sum->raw_samples_read += raw.size();
  sum->windows_5m += a.windows.size();
  if (through_1h != kNoTime && m.block_start < through_1h) {
    const int64_t b1 = AlignDown(m.block_start, kBlock1hMs);
    std::vector<AggregateWindow> fine;
    MERIDIAN_RETURN_IF_ERROR(access_->ReadSeriesAggregates(tenant, Resolution::k5m, m.series_id, b1,
                                                           b1 + kBlock1hMs, &fine));
    SeriesAggregates c{m.series_id, b1, {}};
    MergeWindows(fine, kRes1hMs, &c.windows);
    MERIDIAN_RETURN_IF_ERROR(access_->PutAggregates(tenant, Resolution::k1h, {&c, 1}));
    sum->windows_read += fine.size();
    sum->windows_1h += c.windows.size();
  }
  ++sum->late_blocks;
  return absl::OkStatus();
}

void Compactor::CompactTenant(const std::string& tenant, int64_t now, bool throttled,
                              PassSummary* sum) {
  using SteadyClock = std::chrono::steady_clock;
  absl::StatusOr<DownsampleState> state = access_->State(tenant);
  if (!Attempt(
          tenant, "reading state", [&] { return state.status(); }, sum))
    return;
  const int64_t after5m = options_.downsample_5m_after_ms;
  const int64_t after1h = options_.downsample_1h_after_ms;

  // 0. Backfilled samples below the raw floor: into the aggregates.
  absl::StatusOr<std::vector<StagedGroup>> staged = access_->Staged(tenant);
  if (Attempt(
          tenant, "reading staged backfill", [&] { return staged.status(); }, sum)) {
    for (const StagedGroup& g : *staged) {
      if (stop_.load()) break;
      auto t0 = SteadyClock::now();
      Attempt(
          tenant,
          "backfill of series " + std::to_string(g.series_id) + " on " + TimeText(g.block_start),
          [&] { return MergeStaged(tenant, g, *state, sum).status(); }, sum);
      Throttle(t0, throttled);
    }
  }

  // 1. Late samples into downsampled days: redo those (series, day).
  absl::StatusOr<std::vector<LateMark>> marks = access_->LateMarks(tenant);
  if (Attempt(
          tenant, "reading late marks", [&] { return marks.status(); }, sum)) {
    std::vector<LateMark> done;
    for (const LateMark& m : *marks) {
      if (stop_.load()) break;
      auto t0 = SteadyClock::now();
      if (Attempt(
              tenant,
              "late samples of series " + std::to_string(m.series_id) + " on " +
                  TimeText(m.block_start),
              [&] { return RedoLate(tenant, m, state->downsampled_1h_through, sum); }, sum)) {
        done.push_back(m);
      }
      Throttle(t0, throttled);
    }
    Attempt(
        tenant, "clearing late marks", [&] { return access_->ClearLateMarks(tenant, done); }, sum);
  }

  // 2. raw -> 5m, a day at a time, in order (progress is contiguous).
  if (after5m > 0) {
    const int64_t due = AlignDown(now - after5m, kBlock5mMs);
    int64_t b = state->downsampled_5m_through;
    if (b == kNoTime) {
      std::optional<int64_t> first = access_->RawDataFrom(tenant, kNoTime);
      b = first ? AlignDown(*first, kBlock5mMs) : due;
    }
    if (b < due &&
        Attempt(
            tenant, "claiming raw data", [&] { return access_->ClaimRaw(tenant, due); }, sum)) {
      while (b < due && !stop_.load()) {
        std::optional<int64_t> next = access_->RawDataFrom(tenant, b);
        if (!next || *next >= due) {
          // Nothing more to downsample before `due`.
          Attempt(
              tenant, "recording progress",
              [&] { return access_->SetDownsampledThrough(tenant, Resolution::k5m, due); }, sum);
          break;
        }
        b = std::max(b, AlignDown(*next, kBlock5mMs));
        auto t0 = SteadyClock::now();
        if (!Attempt(
                tenant, "downsample 5m block " + TimeText(b),
                [&] { return Downsample5mBlock(tenant, b, sum); }, sum)) {
          break;  // progress stays before this block; the next pass retries it
        }
        b += kBlock5mMs;
        Throttle(t0, throttled);
      }
    }
  }
  state = access_->State(tenant);
  if (!state.ok()) return;

  // 3. 5m -> 1h, ten days at a time, only over complete 5m data.
  if (after5m > 0 && after1h > 0 && state->downsampled_5m_through != kNoTime) {
    const int64_t due = std::min(AlignDown(now - after1h, kBlock1hMs),
                                 AlignDown(state->downsampled_5m_through, kBlock1hMs));
    int64_t b = state->downsampled_1h_through;
    if (b == kNoTime) {
      absl::StatusOr<std::optional<int64_t>> first =
          access_->AggregatesFrom(tenant, Resolution::k5m, kNoTime);
      b = (first.ok() && *first) ? AlignDown(**first, kBlock1hMs) : due;
    }
    while (b < due && !stop_.load()) {
      absl::StatusOr<std::optional<int64_t>> next =
          access_->AggregatesFrom(tenant, Resolution::k5m, b);
      if (!next.ok() || !*next || **next >= due) {
        if (next.ok()) {
          Attempt(
              tenant, "recording progress",
              [&] { return access_->SetDownsampledThrough(tenant, Resolution::k1h, due); }, sum);
        }
        break;
      }
      b = std::max(b, AlignDown(**next, kBlock1hMs));
      auto t0 = SteadyClock::now();
      if (!Attempt(
              tenant, "downsample 1h block " + TimeText(b),
              [&] { return Downsample1hBlock(tenant, b, sum); }, sum)) {
        break;
      }
      b += kBlock1hMs;
      Throttle(t0, throttled);
    }
  }
  if (stop_.load()) return;

  // 4. Retention per resolution (the storage keeps what nothing coarser
  // replaces yet).
  const RetentionPolicy p = PolicyFor(options_, tenant);
  struct {
    Resolution r;
    int64_t keep;
    uint64_t* freed;
  } steps[] = {{Resolution::kRaw, p.raw_ms, &sum->bytes_freed_raw},
               {Resolution::k5m, p.res_5m_ms, &sum->bytes_freed_5m},
               {Resolution::k1h, p.res_1h_ms, &sum->bytes_freed_1h}};
  for (const auto& s : steps) {
    if (s.keep <= 0) continue;
    Attempt(
        tenant, "retention " + std::string(ResolutionName(s.r)),
        [&]() -> absl::Status {
          MERIDIAN_ASSIGN_OR_RETURN(DeleteOutcome o,
                                    access_->DeleteBefore(tenant, s.r, now - s.keep, after5m > 0));
          *s.freed += o.bytes_freed;
          return absl::OkStatus();
        },
        sum);
  }
}

absl::StatusOr<PassSummary> Compactor::RunPass(bool flush, bool throttled) {
  if (access_ == nullptr) return absl::UnimplementedError("this storage has no compaction access");
  MutexLock pass(&pass_mu_);
  {
    MutexLock l(&mu_);
    running_ = true;
  }
  PassSummary sum;
  sum.started_ms = NowMs();
  auto t0 = std::chrono::steady_clock::now();
  absl::Status st;
  if (flush) st = storage_->Flush();
  if (st.ok()) {
    const int64_t now = NowMs();
    for (const std::string& tenant : access_->Tenants()) {
      if (stop_.load()) break;
      ++sum.tenants;
      CompactTenant(tenant, now, throttled, &sum);
    }
  }
  if (st.ok() && sum.windows_5m + sum.windows_1h + sum.staged_samples + sum.bytes_freed_raw +
                         sum.bytes_freed_5m + sum.bytes_freed_1h >
                     0) {
    // The pass's writes leave RocksDB's logs now (its chunks were written
    // unsynced, then synced with the progress).
    Attempt(
        "", "flushing the pass's writes", [&] { return access_->FlushWrites(); }, &sum);
  }
  sum.stopped = stop_.load();
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MutexLock l(&mu_);
  running_ = false;
  ++passes_;
  last_ = sum;
  if (st.ok() && sum.failures == 0 && !sum.stopped) last_success_ms_ = NowMs();
  totals_.blocks_5m += sum.blocks_5m;
  totals_.blocks_1h += sum.blocks_1h;
  totals_.windows_5m += sum.windows_5m;
  totals_.windows_1h += sum.windows_1h;
  totals_.raw_samples_read += sum.raw_samples_read;
  totals_.windows_read += sum.windows_read;
  totals_.late_blocks += sum.late_blocks;
  totals_.staged_samples += sum.staged_samples;
  totals_.bytes_freed_raw += sum.bytes_freed_raw;
  totals_.bytes_freed_5m += sum.bytes_freed_5m;
  totals_.bytes_freed_1h += sum.bytes_freed_1h;
  totals_.failures += sum.failures;
  if (!st.ok()) return st;
  return sum;
}

std::string Compactor::SummaryJson(const PassSummary& s) {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.3f", s.seconds);
  auto n = [](uint64_t x) { return std::to_string(x); };
  return std::string("{\"started\":") + JsonString(TimeText(s.started_ms)) +
         ",\"seconds\":" + secs + ",\"tenants\":" + n(s.tenants) +
         ",\"blocks5m\":" + n(s.blocks_5m) + ",\"blocks1h\":" + n(s.blocks_1h) +
         ",\"windows5m\":" + n(s.windows_5m) + ",\"windows1h\":" + n(s.windows_1h) +
         ",\"rawSamplesRead\":" + n(s.raw_samples_read) + ",\"windowsRead\":" + n(s.windows_read) +
         ",\"lateBlocks\":" + n(s.late_blocks) + ",\"stagedSamples\":" + n(s.staged_samples) +
         ",\"bytesFreed\":{\"raw\":" + n(s.bytes_freed_raw) + ",\"5m\":" + n(s.bytes_freed_5m) +
         ",\"1h\":" + n(s.bytes_freed_1h) + "},\"failures\":" + n(s.failures) +
         ",\"stopped\":" + (s.stopped ? "true" : "false") + "}";
}

std::string Compactor::StatusJson() const {
  const int64_t now = NowMs();
  std::string o = "{";
  {
    MutexLock l(&mu_);
    o += std::string("\"running\":") + (running_ ? "true" : "false");
    o += ",\"passes\":" + std::to_string(passes_);
    o += ",\"lastPass\":" + (last_ ? SummaryJson(*last_) : std::string("null"));
    o += ",\"lastSuccess\":" + (last_success_ms_ ? JsonString(TimeText(last_success_ms_)) : "null");
    o += ",\"failures\":[";
    bool first = true;
    for (const UnitFailure& f : failures_) {
      if (!first) o += ",";
      first = false;
      o += "{\"time\":" + JsonString(TimeText(f.time_ms)) + ",\"tenant\":" + JsonString(f.tenant) +
           ",\"unit\":" + JsonString(f.unit) + ",\"error\":" + JsonString(f.error) + "}";
    }
    o += "]";
  }
  auto dur = [](int64_t ms) { return std::to_string(ms / 1000) + "s"; };
  o += ",\"config\":{\"downsample5mAfter\":" + JsonString(dur(options_.downsample_5m_after_ms)) +
       ",\"downsample1hAfter\":" + JsonString(dur(options_.downsample_1h_after_ms)) + "}";
  o += ",\"tenants\":[";
  bool first = true;
  if (access_ != nullptr) {
    for (const std::string& t : access_->Tenants()) {
      absl::StatusOr<DownsampleState> s = access_->State(t);
      if (!s.ok()) continue;
      const RetentionPolicy p = PolicyFor(options_, t);
      // Behind the last block that is due (0: up to date).
      auto lag = [&](int64_t through, int64_t after, int64_t block) -> std::string {
        if (after <= 0) return "null";
        if (through == kNoTime) return "null";
        return std::to_string(std::max<int64_t>(0, AlignDown(now - after, block) - through) / 1000);
      };
      if (!first) o += ",";
      first = false;
      o += "{\"tenant\":" + JsonString(t) +
           ",\"downsampled5mThrough\":" + JsonTime(s->downsampled_5m_through) +
           ",\"downsampled1hThrough\":" + JsonTime(s->downsampled_1h_through) +
           ",\"lag5mSeconds\":" +
           lag(s->downsampled_5m_through, options_.downsample_5m_after_ms, kBlock5mMs) +
           ",\"lag1hSeconds\":" +
           lag(s->downsampled_1h_through, options_.downsample_1h_after_ms, kBlock1hMs) +
           ",\"rawDeletedBefore\":" + JsonTime(s->raw_deleted_before) +
           ",\"deleted5mBefore\":" + JsonTime(s->deleted_5m_before) +
           ",\"deleted1hBefore\":" + JsonTime(s->deleted_1h_before) +
           ",\"retention\":{\"raw\":" + JsonString(dur(p.raw_ms)) +
           ",\"5m\":" + JsonString(dur(p.res_5m_ms)) + ",\"1h\":" + JsonString(dur(p.res_1h_ms)) +
           "}}";
    }
  }
  o += "]}";
  return o;
}

std::string Compactor::MetricsText() const {
  std::string o;
  // Lag per resolution: how far the oldest tenant's progress is behind what
  // is due (0 when up to date; absent before any progress).
  int64_t lag5m = -1, lag1h = -1;
  if (access_ != nullptr) {
    const int64_t now = NowMs();
    for (const std::string& t : access_->Tenants()) {
      absl::StatusOr<DownsampleState> s = access_->State(t);
      if (!s.ok()) continue;
      int64_t block = kBlock5mMs;
      auto lag = [&](int64_t through, int64_t after, int64_t* out) {
        if (after <= 0 || through == kNoTime) return;
        *out = std::max(*out, std::max<int64_t>(0, AlignDown(now - after, block) - through));
      };
      lag(s->downsampled_5m_through, options_.downsample_5m_after_ms, &lag5m);
      block = kBlock1hMs;
      lag(s->downsampled_1h_through, options_.downsample_1h_after_ms, &lag1h);
    }
  }
  o += "# HELP meridian_compactor_lag_seconds How far downsampling is behind what is due, by "
       "resolution (the most behind tenant).\n# TYPE meridian_compactor_lag_seconds gauge\n";
  if (lag5m >= 0)
    o += "meridian_compactor_lag_seconds{resolution=\"5m\"} " + std::to_string(lag5m / 1000) + "\n";
  if (lag1h >= 0)
    o += "meridian_compactor_lag_seconds{resolution=\"1h\"} " + std::to_string(lag1h / 1000) + "\n";
  auto head = [&o](const char* name, const char* type, const char* help) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  MutexLock l(&mu_);
  const PassSummary& t = totals_;
  head("meridian_compactor_windows_written_total", "counter",
       "Aggregate windows the compactor wrote, by resolution.");
  o += "meridian_compactor_windows_written_total{resolution=\"5m\"} " +
       std::to_string(t.windows_5m) + "\n";
  o += "meridian_compactor_windows_written_total{resolution=\"1h\"} " +
       std::to_string(t.windows_1h) + "\n";
  head("meridian_compactor_blocks_downsampled_total", "counter",
       "Blocks (a day for 5m, ten days for 1h) downsampled, by resolution.");
  o += "meridian_compactor_blocks_downsampled_total{resolution=\"5m\"} " +
       std::to_string(t.blocks_5m) + "\n";
  o += "meridian_compactor_blocks_downsampled_total{resolution=\"1h\"} " +
       std::to_string(t.blocks_1h) + "\n";
  head("meridian_compactor_samples_read_total", "counter",
       "Raw samples (resolution raw) and 5m windows (resolution 5m) read by the compactor.");
  o += "meridian_compactor_samples_read_total{resolution=\"raw\"} " +
       std::to_string(t.raw_samples_read) + "\n";
  o += "meridian_compactor_samples_read_total{resolution=\"5m\"} " +
       std::to_string(t.windows_read) + "\n";
  head("meridian_compactor_late_blocks_total", "counter",
       "(series, day) blocks downsampled again because late samples arrived.");
  o += "meridian_compactor_late_blocks_total " + std::to_string(t.late_blocks) + "\n";
  head("meridian_compactor_staged_samples_merged_total", "counter",
       "Backfilled samples older than the raw data kept, merged into the aggregates.");
  o += "meridian_compactor_staged_samples_merged_total " + std::to_string(t.staged_samples) + "\n";
  head("meridian_compactor_bytes_freed_total", "counter",
       "Estimated bytes of data deleted by retention, by resolution.");
  o += "meridian_compactor_bytes_freed_total{resolution=\"raw\"} " +
       std::to_string(t.bytes_freed_raw) + "\n";
  o += "meridian_compactor_bytes_freed_total{resolution=\"5m\"} " +
       std::to_string(t.bytes_freed_5m) + "\n";
  o += "meridian_compactor_bytes_freed_total{resolution=\"1h\"} " +
       std::to_string(t.bytes_freed_1h) + "\n";
  head("meridian_compactor_failures_total", "counter",
       "Units of compactor work that failed after their retries.");
  o += "meridian_compactor_failures_total " + std::to_string(t.failures) + "\n";
  head("meridian_compactor_passes_total", "counter", "Compactor passes run.");
  o += "meridian_compactor_passes_total " + std::to_string(passes_) + "\n";
  head("meridian_compactor_last_success_timestamp_seconds", "gauge",
       "When the last pass without failures ended (0: none yet).");
  o += "meridian_compactor_last_success_timestamp_seconds " +
       std::to_string(last_success_ms_ / 1000) + "\n";
  return o;
}

}  // namespace meridian::compactor
