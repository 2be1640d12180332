// The one conversion of a rocksdb::Status into meridian's absl::Status
// (storage-internal: nothing outside storage/ sees RocksDB).
//   ok          -> OkStatus
//   Corruption  -> kDataLoss  (the bytes on disk are bad; see status.h)
//   anything else (IOError, NoSpace, Busy, ...) -> kInternal
// The message is "<what>: <RocksDB's message>".
#ifndef MERIDIAN_STORAGE_ROCKS_STATUS_H_
#define MERIDIAN_STORAGE_ROCKS_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace meridian {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_ROCKS_STATUS_H_
