// RocksDB key and value layouts of the storage (docs/format/storage.md).
// Pure functions; no I/O.
#ifndef MERIDIAN_STORAGE_KEYS_H_
#define MERIDIAN_STORAGE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "model/labels.h"
#include "model/status.h"
#include "storage/compaction.h"
#include "storage/storage.h"

namespace meridian::keys {

// Column family "default" (small metadata), one-byte prefixes.
inline constexpr char kTenantPrefix = 't';    // 't' name                -> fixed32BE tenant id
inline constexpr char kSeriesPrefix = 's';    // 's' fixed64BE series id -> SeriesValue
inline constexpr char kRangePrefix = 'r';     // 'r' fixed64BE series id -> RangeValue
inline constexpr char kMetadataPrefix = 'm';  // 'm' fixed32BE tenant family -> MetadataValue
inline constexpr std::string_view kCheckpointKey = "c";  // -> fixed64BE last checkpointed wal seq
inline constexpr std::string_view kSeriesIdReservationKey =
    "i";  // -> fixed64BE: ids below it may be in use
inline constexpr std::string_view kMemtableSentinelKey = "x";  // never stored: deleted without WAL
inline constexpr char kDownsampleStatePrefix = 'w';  // 'w' fixed32BE tenant -> DownsampleState
inline constexpr char kLateMarkPrefix =
    'l';  // 'l' fixed32BE tenant fixed64BE series TimeKey block -> token
// Backfilled samples below the raw deletion floor, waiting to be merged into
// the aggregates (storage/compaction.h "staged"): 'b' fixed32BE tenant
// fixed64BE series TimeKey day, then a 16-byte unique token -> samples
// (fixed64BE time, fixed64BE value bits each, sorted by time).
inline constexpr char kStagedPrefix = 'b';
// The series a tenant's head held at the last checkpoint (counting those not
// back since the open before it) and its newest sample then: 'h' fixed32BE
// tenant -> fixed64BE count, fixed64BE newest t (two's complement). After a
// restart they count toward the tenant's series limit until they are back in
// the head or would be idle (TenantHead::CarryOver).
inline constexpr char kHeadCountPrefix = 'h';

// Column family names.
inline constexpr const char* kChunksFamily = "chunks";  // SeriesId(8) TimeKey(8) -> chunk
inline constexpr const char* kWalFamily = "wal";        // fixed64BE seq -> wal record
// u8 resolution, fixed64BE series id, TimeKey block start -> aggregate chunk
inline constexpr const char* kDownsampledFamily = "downsampled";
// On-disk postings and label-set hashes (storage/disk_index.h).
inline constexpr const char* kIndexFamily = "index";

std::string TenantKey(std::string_view name);
std::string SeriesKey(uint64_t series_id);
std::string RangeKey(uint64_t series_id);
std::string MetadataKey(uint32_t tenant_id, std::string_view family);
std::string MetadataPrefix(uint32_t tenant_id);
std::string ChunkKey(uint64_t series_id, int64_t min_t_ms);
std::string WalKey(uint64_t seq);
std::string AggrKey(uint8_t resolution, uint64_t series_id, int64_t block_start_ms);
std::string DownsampleStateKey(uint32_t tenant_id);
std::string HeadCountKey(uint32_t tenant_id);
std::string LateMarkKey(uint32_t tenant_id, uint64_t series_id, int64_t block_start_ms);
std::string LateMarkPrefix(uint32_t tenant_id);
std::string StagedPrefix(uint32_t tenant_id);
std::string StagedPrefix(uint32_t tenant_id, uint64_t series_id, int64_t day_ms);

// Downsample state: five svarints (5m through, 1h through, raw/5m/1h
// deleted before).
std::string EncodeDownsampleState(const DownsampleState& s);
absl::Status DecodeDownsampleState(std::string_view value, DownsampleState* s);

// Series value: varint tenant id, varint label count, then per label the
// length-prefixed name and value.
std::string EncodeSeriesValue(uint32_t tenant_id, const LabelView* labels, size_t n);
absl::Status DecodeSeriesValue(std::string_view value, uint32_t* tenant_id, Labels* labels);

// Head count value ('h' key): a tenant's head series and its newest sample.
std::string EncodeHeadCountValue(uint64_t count, int64_t newest_t_ms);
absl::Status DecodeHeadCountValue(std::string_view value, uint64_t* count, int64_t* newest_t_ms);

// Range value: time span of the series' persisted chunks.
std::string EncodeRangeValue(int64_t min_t_ms, int64_t max_t_ms);
absl::Status DecodeRangeValue(std::string_view value, int64_t* min_t_ms, int64_t* max_t_ms);

std::string EncodeMetadataValue(const MetricMetadata& m);
absl::Status DecodeMetadataValue(std::string_view family, std::string_view value,
                                 MetricMetadata* m);

}  // namespace meridian::keys

#endif  // MERIDIAN_STORAGE_KEYS_H_
