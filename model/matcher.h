// Matcher: a label matcher as in PromQL selectors: =, !=, =~, !~.
//
// Regular expressions are RE2 syntax, fully anchored and with `.` matching
// newlines, as in Prometheus 3 (the pattern p is compiled as ^(?s:p)$).
// A Matcher is immutable after construction and safe to share across threads.
#ifndef MERIDIAN_MODEL_MATCHER_H_
#define MERIDIAN_MODEL_MATCHER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace re2 {
class RE2;
}

namespace meridian {

enum class MatchType { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

// "=", "!=", "=~", "!~".
std::string_view MatchTypeString(MatchType t);

class Matcher {
 public:
  // Returns InvalidArgument when a regex does not compile.
  static absl::StatusOr<Matcher> Make(MatchType type, std::string name, std::string value);

  // True when the label value `v` satisfies the matcher. An absent label has
  // value "" (so `foo=""` matches series without foo).
  bool Matches(std::string_view v) const;
  bool MatchesEmpty() const { return matches_empty_; }

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }
  // e.g. job=~"api|web"
  std::string ToString() const;

 private:
  Matcher() = default;
  MatchType type_ = MatchType::kEqual;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;  // set for the regex types
  bool matches_empty_ = false;
};

// True when the series labels satisfy all matchers.
class Labels;
bool MatchesAll(const std::vector<Matcher>& matchers, const Labels& labels);

}  // namespace meridian

#endif  // MERIDIAN_MODEL_MATCHER_H_
