#include "storage/format.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "rocksdb/db.h"
#include "storage/storage.h"

namespace meridian {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFormatPrefix = "meridian storage format ";

absl::Status FsyncPath(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return absl::InternalError("opening " + path + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError("syncing " + path);
  return absl::OkStatus();
}

// True when `dir` holds a RocksDB database with exactly the column families
// of the version-1 layout (the layout before the FORMAT file existed).
absl::Status CheckVersion1Layout(const std::string& dir) {
  std::vector<std::string> families;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &families);
  if (!s.ok()) {
    return absl::FailedPreconditionError(
        "data dir " + dir + " has no FORMAT file and its database cannot be read (" + s.ToString() +
        "); it is not a meridian data dir: use an empty or new directory");
  }
  std::set<std::string> got(families.begin(), families.end());
  if (got != std::set<std::string>{"default", "chunks", "wal"}) {
    std::string list;
    for (const std::string& f : got) list += (list.empty() ? "" : ", ") + f;
    return absl::FailedPreconditionError(
        "data dir " + dir +
        " has no FORMAT file and holds a RocksDB database with column families [" + list +
        "], not meridian's layout; use an empty or new directory");
  }
  return absl::OkStatus();
}

absl::Status CheckVersion(const std::string& dir, int version) {
  if (version >= kOldestReadableFormatVersion && version <= kStorageFormatVersion) {
    return absl::OkStatus();
  }
  if (version > kStorageFormatVersion) {
    return absl::FailedPreconditionError(
        "data dir " + dir + " has storage format version " + std::to_string(version) +
        ", newer than this meridian reads (" + std::to_string(kStorageFormatVersion) +
        "): run the meridian release that wrote it (or a newer one); nothing was changed");
  }
  return absl::FailedPreconditionError("data dir " + dir + " has unknown storage format version " +
                                       std::to_string(version) + "; nothing was changed");
}

}  // namespace

absl::StatusOr<int> ReadFormatVersion(const std::string& dir) {
  const std::string path = dir + "/" + kFormatFileName;
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.rfind(kFormatPrefix, 0) != 0) {
    return absl::InvalidArgumentError("unreadable " + path + " (want a first line \"" +
                                      std::string(kFormatPrefix) + "N\")");
  }
  std::string_view num = std::string_view(line).substr(kFormatPrefix.size());
  int v = 0;
  auto [p, err] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (err != std::errc() || p != num.data() + num.size() || v <= 0) {
    return absl::InvalidArgumentError("unreadable " + path + ": bad version \"" + std::string(num) +
                                      "\"");
  }
  return v;
}

absl::Status WriteFormatFile(const std::string& dir, int version) {
  const std::string path = dir + "/" + kFormatFileName;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kFormatPrefix << version << "\n"
        << "# The layout of this meridian data dir; see docs/format/storage.md.\n";
    out.close();
    if (!out) return absl::InternalError("writing " + tmp);
  }
  MERIDIAN_RETURN_IF_ERROR(FsyncPath(tmp, false));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError("renaming " + tmp + ": " + ec.message());
  return FsyncPath(dir, true);
}

absl::Status PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError("creating data dir " + dir + ": " + ec.message());
    return WriteFormatFile(dir);
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError("data dir " + dir + " is not a directory");
  }
  absl::StatusOr<int> version = ReadFormatVersion(dir);
  if (!version.ok()) {
    return absl::FailedPreconditionError(
        std::string(version.status().message()) +
        "; restore the file (or the data dir from a snapshot) before starting meridian");
  }
  if (*version != 0) return CheckVersion(dir, *version);
  // No marker: an empty dir is new; a database is the version-1 layout,
  // written before the marker existed.
  if (fs::exists(dir + "/CURRENT", ec)) {
    MERIDIAN_RETURN_IF_ERROR(CheckVersion1Layout(dir));
    std::fprintf(stderr,
                 "meridian: data dir %s has no FORMAT file: storage format version 1 (the layout "
                 "before the marker); marking it\n",
                 dir.c_str());
    return WriteFormatFile(dir, 1);  // migrated to the current version once open
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename() == "lost+found") continue;
    return absl::FailedPreconditionError(
        "data dir " + dir +
        " is not empty and is not a meridian data dir (no FORMAT file, no "
        "database; found " +
        e.path().filename().string() + "): use an empty or new directory");
  }
  if (ec) return absl::InternalError("listing data dir " + dir + ": " + ec.message());
  return WriteFormatFile(dir);
}

absl::Status RestoreSnapshot(const std::string& snapshot_dir, const std::string& data_dir,
                             std::string* summary) {
  std::error_code ec;
  if (!fs::is_directory(snapshot_dir, ec) || !fs::exists(snapshot_dir + "/CURRENT", ec)) {
    return absl::InvalidArgumentError(snapshot_dir +
                                      " is not a snapshot (no database in it): pass a directory "
                                      "made by POST /api/v1/admin/tsdb/snapshot, "
                                      "<data-dir>/snapshots/<name>");
  }
  MERIDIAN_ASSIGN_OR_RETURN(int version, ReadFormatVersion(snapshot_dir));
  if (version == 0) {
    MERIDIAN_RETURN_IF_ERROR(CheckVersion1Layout(snapshot_dir));
  } else {
    MERIDIAN_RETURN_IF_ERROR(CheckVersion(snapshot_dir, version));
  }
  if (fs::exists(data_dir, ec) && !fs::is_empty(data_dir, ec)) {
    return absl::FailedPreconditionError("data dir " + data_dir +
                                         " exists and is not empty: restore into a new directory");
  }
  const fs::path target = fs::absolute(data_dir, ec);
  const std::string tmp = target.string() + ".restore-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError("creating " + tmp + ": " + ec.message());
  auto fail = [&](absl::Status st) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    return st;
  };
  for (const auto& e : fs::directory_iterator(snapshot_dir, ec)) {
    if (!e.is_regular_file()) continue;  // a snapshot is flat
    const std::string to = tmp + "/" + e.path().filename().string();
    fs::copy_file(e.path(), to, ec);
    if (ec) return fail(absl::InternalError("copying " + e.path().string() + ": " + ec.message()));
    absl::Status st = FsyncPath(to, false);
    if (!st.ok()) return fail(st);
  }
  if (ec) return fail(absl::InternalError("listing " + snapshot_dir + ": " + ec.message()));
  if (version == 0) {
    absl::Status st = WriteFormatFile(tmp);
    if (!st.ok()) return fail(st);
  }
  {
    // It must open as a data dir (this also replays its WAL records).
    StorageOptions o;
    o.dir = tmp;
    auto opened = Storage::Open(o);
    if (!opened.ok()) {
      return fail(absl::FailedPreconditionError("the restored copy does not open: " +
                                                std::string(opened.status().message())));
    }
    StorageStats s = (*opened)->Stats();
    std::ostringstream out;
    out << s.series << " series";
    if (s.series > 0)
      out << ", samples from " << s.min_time_ms << " to " << s.max_time_ms << " (ms)";
    *summary = out.str();
  }
  if (fs::exists(target, ec)) fs::remove(target, ec);  // empty, checked above
  fs::rename(tmp, target, ec);
  if (ec) return fail(absl::InternalError("renaming " + tmp + ": " + ec.message()));
  return FsyncPath(target.parent_path().string(), true);
}

}  // namespace meridian
