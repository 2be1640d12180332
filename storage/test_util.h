// Helpers shared by storage's unit tests (storage_test, maintenance_test,
// durability_test): a temporary directory, matcher shorthands, and the
// materialised form of a selected series.
#ifndef MERIDIAN_STORAGE_TEST_UTIL_H_
#define MERIDIAN_STORAGE_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
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

// One selected series with all its samples.
struct Result {
  Labels labels;
  std::vector<Sample> samples;
};

}  // namespace meridian::storage_testing

#endif  // MERIDIAN_STORAGE_TEST_UTIL_H_
