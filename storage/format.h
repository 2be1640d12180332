// The data dir's format marker (docs/format/storage.md, "Format version") and
// snapshots of a data dir.
//
// Every data dir holds a file FORMAT naming the layout version of what is
// stored. Opening refuses a dir of another version with a message that says
// what to do, so a layout is never misread; a dir of the layout before the
// marker existed (version 1 without the file) is marked when opened.
#ifndef MERIDIAN_STORAGE_FORMAT_H_
#define MERIDIAN_STORAGE_FORMAT_H_

#include <string>

#include "model/status.h"

namespace meridian {

// The layout this build writes. Version 2 added the `downsampled` column
// family and the compactor's keys; a version-1 dir opens and is migrated
// (the family is created, FORMAT rewritten) on its first open.
// Version 3 added the `index` family (on-disk postings per tenant and day,
// label-set hashes; an older dir gets it built on its first open) and chunk
// value encoding 2 (decimal with residuals, docs/format/chunks.md), which a
// version-2 build would read as corrupt chunks: such a build refuses a
// version-3 dir as newer instead.
// Version 4 stores the on-disk postings as one list per (tenant, day, label
// pair) under 'q' keys, united by the index family's merge operator, where
// 3 had one 'p' key per (pair, series); a version-3 dir's 'p' keys are
// rewritten as lists on its first open. A version-3 build refuses a
// version-4 dir as newer (it would find no postings).
inline constexpr int kStorageFormatVersion = 4;
// The oldest layout this build opens (and migrates).
inline constexpr int kOldestReadableFormatVersion = 1;
inline constexpr char kFormatFileName[] = "FORMAT";
// Snapshots are written under <data dir>/<kSnapshotsDirName>/<name>.
inline constexpr char kSnapshotsDirName[] = "snapshots";

// The version recorded in `dir`'s FORMAT file; 0 when the file is missing.
// InvalidArgument when the file exists but cannot be parsed.
absl::StatusOr<int> ReadFormatVersion(const std::string& dir);

// Writes FORMAT (kStorageFormatVersion) into `dir` durably (temporary file,
// fsync, rename, fsync of the dir).
absl::Status WriteFormatFile(const std::string& dir, int version = kStorageFormatVersion);

// Makes `dir` ready to be opened as a data dir: creates it and its marker
// when it does not exist or is empty; accepts a dir of an older readable
// version (the caller migrates it once the database is open and then calls
// WriteFormatFile); marks an unmarked version-1 dir as version 1;
// returns FailedPrecondition (with what to do) for a dir of another
// version, an unreadable marker, or a non-empty dir that is not meridian's.
absl::Status PrepareDataDir(const std::string& dir);

// Copies the snapshot in `snapshot_dir` into the new data dir `data_dir`
// (which must not exist, or be empty), checks that it opens, and reports
// what it holds in *summary. The copy is made under a temporary name and
// renamed into place, so a failed restore leaves no half data dir.
absl::Status RestoreSnapshot(const std::string& snapshot_dir, const std::string& data_dir,
                             std::string* summary);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_FORMAT_H_
