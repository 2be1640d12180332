#include "storage/rocks_status.h"

#include <string>

namespace meridian {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return absl::DataLossError(msg);
  return absl::InternalError(msg);
}

}  // namespace meridian
