// WAL records: the compact encoding of one Append's accepted samples, keyed by
// series id. A pure codec (no I/O). Byte layout: docs/format/storage.md.
//
//   WalRecordWriter w(&buf, tenant_id);
//   w.AddSeries(series_id, samples);
//   ...
//   WalRecordReader r(buf);
//   while (r.Next(&series_id, &samples)) ...
//   if (!r.status().ok()) ...
//
// Not thread-safe; instances are cheap and meant to be per call.
#ifndef MERIDIAN_STORAGE_WAL_RECORD_H_
#define MERIDIAN_STORAGE_WAL_RECORD_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/queryable.h"
#include "model/status.h"
#include "storage/coding.h"

namespace meridian {

class WalRecordWriter {
 public:
  // Starts a record for `tenant_id` in *out, which is borrowed for the
  // writer's lifetime and used as a growable buffer (its capacity is reused
  // across records): the record is record(), not *out.
  WalRecordWriter(std::string* out, uint32_t tenant_id);
  // Appends one series entry. Samples may be in any order. No-op when empty.
  void AddSeries(uint64_t series_id, std::span<const Sample> samples);
  // Number of series entries added so far.
  size_t num_series() const { return num_series_; }
  // The encoded record so far.
  std::string_view record() const { return std::string_view(out_->data(), pos_); }

 private:
  std::string* out_;
  size_t pos_ = 0;
  size_t num_series_ = 0;
};

class WalRecordReader {
 public:
  // `record` must outlive the reader.
  explicit WalRecordReader(std::string_view record);
  uint32_t tenant_id() const { return tenant_id_; }
  // Replaces *samples with the next series entry; false at the end or on
  // corruption (then status() is DataLoss).
  bool Next(uint64_t* series_id, std::vector<Sample>* samples);
  const absl::Status& status() const { return status_; }

 private:
  coding::Reader r_;
  uint32_t tenant_id_ = 0;
  absl::Status status_;
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_WAL_RECORD_H_
