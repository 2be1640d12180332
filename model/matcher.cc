#include "model/matcher.h"

#include <re2/re2.h>

#include "model/labels.h"

namespace meridian {

std::string_view MatchTypeString(MatchType t) {
  switch (t) {
    case MatchType::kEqual:
      return "=";
    case MatchType::kNotEqual:
      return "!=";
    case MatchType::kRegexMatch:
      return "=~";
    case MatchType::kRegexNoMatch:
      return "!~";
  }
  return "?";
}

absl::StatusOr<Matcher> Matcher::Make(MatchType type, std::string name, std::string value) {
  Matcher m;
  m.type_ = type;
  m.name_ = std::move(name);
  m.value_ = std::move(value);
  if (type == MatchType::kRegexMatch || type == MatchType::kRegexNoMatch) {
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_dot_nl(true);
    auto re = std::make_shared<RE2>("^(?:" + m.value_ + ")$", opts);
    if (!re->ok()) {
      return absl::InvalidArgumentError("invalid regular expression \"" + m.value_ +
                                        "\": " + re->error());
    }
    m.re_ = std::move(re);
  }
  m.matches_empty_ = m.Matches("");
  return m;
}

bool Matcher::Matches(std::string_view v) const {
  switch (type_) {
    case MatchType::kEqual:
      return v == value_;
    case MatchType::kNotEqual:
      return v != value_;
    case MatchType::kRegexMatch:
      return RE2::FullMatch(v, *re_);
    case MatchType::kRegexNoMatch:
      return !RE2::FullMatch(v, *re_);
  }
  return false;
}

std::string Matcher::ToString() const {
  std::string out = name_;
  out.append(MatchTypeString(type_));
  out.push_back('"');
  for (char c : value_) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool MatchesAll(const std::vector<Matcher>& matchers, const Labels& labels) {
  for (const auto& m : matchers) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

}  // namespace meridian
