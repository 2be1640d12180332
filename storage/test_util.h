// Helpers shared by storage's unit tests (storage_test, maintenance_test,
// durability_test): a temporary directory, matcher shorthands, and the
// materialised form of a selected series.
#ifndef MERIDIAN_STORAGE_TEST_UTIL_H_
#define MERIDIAN_STORAGE_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "model/labels.h"
#include "model/matcher.h"
#include "model/queryable.h"

namespace meridian::storage_testing {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/meridian_storage_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Matcher M(MatchType t, std::string n, std::string v) {
  return *Matcher::Make(t, std::move(n), std::move(v));
}
inline Matcher Eq(std::string n, std::string v) {
  return M(MatchType::kEqual, std::move(n), std::move(v));
}
inline Matcher Re(std::string n, std::string v) {
  return M(MatchType::kRegexMatch, std::move(n), std::move(v));
}

// Apparent bytes of the files directly in `dir` (or below it, with
// `recursive`) whose name ends with `suffix` ("" for all). RocksDB deletes
// files in the background (a compaction's inputs, an obsolete log), so a
// file listed a moment ago may be gone: it counts as 0 bytes rather than
// throwing.
inline uint64_t FileBytes(const std::string& dir, std::string_view suffix = "",
                          bool recursive = false) {
  namespace fs = std::filesystem;
  uint64_t bytes = 0;
  auto add = [&](const fs::directory_entry& e) {
    const std::string name = e.path().filename().string();
    if (name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return;
    }
    std::error_code ec;
    if (!e.is_regular_file(ec) || ec) return;
    const uintmax_t n = fs::file_size(e.path(), ec);
    if (!ec) bytes += n;
  };
  std::error_code ec;
  if (recursive) {
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      add(*it);
    }
  } else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) add(*it);
  }
  return bytes;
}

// One selected series with all its samples.
struct Result {
  Labels labels;
  std::vector<Sample> samples;
};

}  // namespace meridian::storage_testing

#endif  // MERIDIAN_STORAGE_TEST_UTIL_H_
