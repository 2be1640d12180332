// The compactor's narrow access to persisted data (docs/format/downsampled.md,
// docs/format/storage.md "Downsampled data"): aggregate windows and their
// pure chunk codec, per-tenant downsampling progress, raw and aggregate
// reads, aggregate writes, late-sample marks and retention per resolution.
// Public: compactor/ (and later the query side) use this header and
// storage.h only.
//
// Invariants the storage enforces itself, whatever the caller asks:
//  - raw data is deleted only below the tenant's durable 5m progress and
//    below every pending late mark, in whole 5m blocks (days);
//  - 5m data only below the durable 1h progress, in whole 1h blocks, and
//    never in the 1h block holding the oldest raw data still kept (a late
//    raw sample there re-derives that 1h block from 5m data);
//  - an accepted sample below the claimed 5m progress (and at or above the
//    raw deletion floor) leaves a durable late mark (series, day) written in
//    the same batch as the sample;
//  - a sample below the raw deletion floor (a backfill older than the raw
//    retention) is "staged": kept durably apart from raw data until the
//    compactor merges it into the aggregates, if its window at the finest
//    resolution still kept (5m, or 1h below the 5m deletion floor) is
//    empty or holds only older samples (then the merge is exact, and a
//    sample sent twice is never counted twice). Refused as too old: a sample
//    older than every kept resolution (below the 1h deletion floor), one
//    where no aggregates are kept (downsampling never ran there), and one
//    not after the samples its downsampled window already holds;
//  - 5m and 1h data are not deleted below a staged sample's 1h block.
//
// Thread-safety: all methods are thread-safe; one compaction pass at a time
// is the caller's business.
#ifndef MERIDIAN_STORAGE_COMPACTION_H_
#define MERIDIAN_STORAGE_COMPACTION_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/aggregate.h"
#include "model/queryable.h"
#include "model/status.h"

namespace meridian {

enum class Resolution : uint8_t { kRaw = 0, k5m = 1, k1h = 2 };

inline constexpr int64_t kRes5mMs = 5 * 60'000;
inline constexpr int64_t kRes1hMs = 3'600'000;
// Aggregate chunks cover aligned blocks (multiples of the block since the
// epoch): a day of 5m windows (288), ten days of 1h windows (240).
inline constexpr int64_t kBlock5mMs = 86'400'000;
inline constexpr int64_t kBlock1hMs = 10 * 86'400'000LL;
// "Nothing yet" for progress and deletion floors.
inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

// Window length of a resolution (0 for raw).
int64_t ResolutionMs(Resolution r);
// The block of aggregate chunks of `r`; for raw, the unit in which raw data
// is downsampled and deleted (the 5m block).
int64_t BlockMs(Resolution r);
std::string_view ResolutionName(Resolution r);  // "raw", "5m", "1h"
// Floor of t to a multiple of `m` (towards -inf).
int64_t AlignDown(int64_t t, int64_t m);

// AggregateWindow (model/aggregate.h): the aggregates of one series over one
// window, as stored and as the read interface carries them.

// Byte layout: docs/format/downsampled.md. `windows` sorted by t_ms, unique,
// all inside [block_start, block_start + BlockMs(r)), non-empty.
void EncodeAggrChunk(Resolution r, int64_t block_start, std::span<const AggregateWindow> windows,
                     std::string* out);
// Appends the windows of `chunk` to *out. DataLoss when malformed (then *out
// is as it was). *r and *block_start optional.
absl::Status DecodeAggrChunk(std::string_view chunk, std::vector<AggregateWindow>* out,
                             Resolution* r = nullptr, int64_t* block_start = nullptr);

// Downsampling arithmetic, pure (storage/downsample_math.cc): raw samples
// to aggregate windows, and fine windows to coarser ones, so that the coarse
// aggregates equal what the raw samples of the same windows would give. The
// compactor writes these windows; the read path folds recent raw data with
// the same code (storage/aggregate_cache.h), so both agree bit for bit.
//
// Appends the windows of `res_ms` that hold samples of `samples` (sorted by
// time, unique timestamps) to *out. Stale markers count only as `last`.
void DownsampleRaw(std::span<const Sample> samples, int64_t res_ms,
                   std::vector<AggregateWindow>* out);
// Appends the windows of `res_ms` made of `fine` (sorted, finer windows
// that each lie inside one coarse window) to *out.
void MergeWindows(std::span<const AggregateWindow> fine, int64_t res_ms,
                  std::vector<AggregateWindow>* out);
// Adds one sample (t later than every sample added before) to *w, as
// DownsampleRaw does. `w->count == 0 && w->last_t == kNoTime` is empty.
void AddSample(const Sample& s, AggregateWindow* w);

// Per tenant: how far downsampling got and below what each resolution was
// deleted (kNoTime: nothing). "through" is exclusive: every window before it
// is written.
struct DownsampleState {
  int64_t downsampled_5m_through = kNoTime;
  int64_t downsampled_1h_through = kNoTime;
  int64_t raw_deleted_before = kNoTime;
  int64_t deleted_5m_before = kNoTime;
  int64_t deleted_1h_before = kNoTime;
};

// A (series, 5m block) that received samples after it was downsampled.
struct LateMark {
  uint64_t series_id = 0;
  int64_t block_start = 0;
  std::string token;  // changes with every append that marks it again
};

// Staged samples of one (series, day) (see the file comment), with the keys
// that hold them (opaque to the caller).
struct StagedGroup {
  uint64_t series_id = 0;
  int64_t block_start = 0;      // the day (a multiple of kBlock5mMs)
  std::vector<Sample> samples;  // sorted, unique timestamps (the first copy kept)
  std::vector<std::string> keys;
};

// One aggregate chunk to write.
struct SeriesAggregates {
  uint64_t series_id = 0;
  int64_t block_start = 0;
  std::vector<AggregateWindow> windows;  // as EncodeAggrChunk wants
};

struct DeleteOutcome {
  int64_t cutoff = kNoTime;  // effective: everything below it is deleted
  uint64_t bytes_freed = 0;  // estimated from the deleted key ranges, then compacted
  uint64_t series_touched = 0;
};

class CompactionAccess {
 public:
  virtual ~CompactionAccess() = default;

  virtual std::vector<std::string> Tenants() const = 0;
  virtual absl::StatusOr<DownsampleState> State(std::string_view tenant) const = 0;
  // Oldest raw sample time of the tenant at or after `from` (approximate
  // from the series' time spans: never later than the real one); nullopt
  // when there is none.
  virtual std::optional<int64_t> RawDataFrom(std::string_view tenant, int64_t from) const = 0;
  // Oldest aggregate block start of `r` at or after `from`, or nullopt.
  virtual absl::StatusOr<std::optional<int64_t>> AggregatesFrom(std::string_view tenant,
                                                                Resolution r,
                                                                int64_t from) const = 0;

  // Raises the in-memory 5m progress that appends compare with (after the
  // appends in flight finished): from now on an append below `through`
  // leaves a late mark. Call before reading raw data to downsample.
  virtual absl::Status ClaimRaw(std::string_view tenant, int64_t through) = 0;

  // Raw samples of every series of the tenant with data in [start, end)
  // (memory and disk, sorted, unique timestamps), in series id order. A
  // series whose stored data is corrupt is skipped and counted.
  using RawFn = std::function<absl::Status(uint64_t series_id, std::span<const Sample>)>;
  virtual absl::Status ReadRaw(std::string_view tenant, int64_t start, int64_t end,
                               const RawFn& fn) = 0;
  virtual absl::Status ReadRawSeries(std::string_view tenant, uint64_t series_id, int64_t start,
                                     int64_t end, std::vector<Sample>* out) = 0;
  // Aggregate windows of `r` with t in [start, end), per series in id order.
  using AggrFn = std::function<absl::Status(uint64_t series_id, std::span<const AggregateWindow>)>;
  virtual absl::Status ReadAggregates(std::string_view tenant, Resolution r, int64_t start,
                                      int64_t end, const AggrFn& fn) = 0;
  virtual absl::Status ReadSeriesAggregates(std::string_view tenant, Resolution r,
                                            uint64_t series_id, int64_t start, int64_t end,
                                            std::vector<AggregateWindow>* out) = 0;

  // Writes aggregate chunks (replacing any chunk of the same series and
  // block). Not synced: durable with the next SetDownsampledThrough or
  // ClearLateMarks.
  virtual absl::Status PutAggregates(std::string_view tenant, Resolution r,
                                     std::span<const SeriesAggregates> chunks) = 0;
  // Durably records progress of `r` (5m or 1h); never moves it back.
  virtual absl::Status SetDownsampledThrough(std::string_view tenant, Resolution r,
                                             int64_t through) = 0;

  // Pending late marks of the tenant (every append that wrote one has
  // finished, so its samples are readable).
  virtual absl::StatusOr<std::vector<LateMark>> LateMarks(std::string_view tenant) = 0;
  // Durably deletes the marks whose token is unchanged (a mark renewed
  // meanwhile stays for the next pass).
  virtual absl::Status ClearLateMarks(std::string_view tenant, std::span<const LateMark> marks) = 0;

  // Staged samples of the tenant, per (series, day) in key order.
  virtual absl::StatusOr<std::vector<StagedGroup>> Staged(std::string_view tenant) = 0;
  // In one atomic write: the chunks (replacing those of the same series and
  // block) and the deletion of `g`'s keys. Aborted, writing nothing, when
  // samples were staged for the same (series, day) since `g` was read (read
  // again and merge those too).
  virtual absl::Status CommitStaged(std::string_view tenant, const StagedGroup& g,
                                    std::span<const SeriesAggregates> chunks_5m,
                                    std::span<const SeriesAggregates> chunks_1h) = 0;

  // Flushes RocksDB's memtables, so that its logs holding the pass's writes
  // are deleted now (else the data dir holds those writes twice until
  // RocksDB flushes by itself).
  virtual absl::Status FlushWrites() = 0;

  // Deletes data of `r` older than `cutoff` (lowered to the invariants in
  // the file comment and aligned down to BlockMs(r)), compacts the deleted
  // key ranges, and records the floor durably. `require_coarser` false
  // (raw only): raw data may go although no 5m data replaces it
  // (downsampling disabled).
  virtual absl::StatusOr<DeleteOutcome> DeleteBefore(std::string_view tenant, Resolution r,
                                                     int64_t cutoff, bool require_coarser) = 0;
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_COMPACTION_H_
