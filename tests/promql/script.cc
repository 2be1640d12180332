#include "tests/promql/script.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "model/gofloat.h"
#include "model/sample.h"
#include "re2/re2.h"
#include "tests/promql/strutil.h"

namespace meridian::promqltest {
namespace {

// The command patterns of promqltest/test.go (RE2 syntax, as Go's regexp).
const RE2& PatLoad() {
  static const RE2 re(R"(^load(?:_(with_nhcb))?\s+(.+?)$)");
  return re;
}
const RE2& PatEvalInstant() {
  static const RE2 re(R"(^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$)");
  return re;
}
const RE2& PatEvalRange() {
  static const RE2 re(
      R"(^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$)");
  return re;
}
const RE2& PatExpect() {
  static const RE2 re(
      R"(^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$)");
  return re;
}
const RE2& PatExpectRange() {
  static const RE2 re(R"(^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$)");
  return re;
}
constexpr std::string_view kExpectRangePrefix = "expect range vector";
constexpr std::string_view kExpectStringPrefix = "expect string";

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits the text into trimmed lines; comment lines become blank.
std::vector<std::string> GetLines(std::string_view text) {
  std::vector<std::string> lines;
  for (std::string_view l : SplitLines(text)) {
    std::string_view t = Strip(l);
    if (std::string_view(t).starts_with("#")) t = "";
    lines.emplace_back(t);
  }
  return lines;
}

absl::Status Err(int line, std::string_view msg) {
  return absl::InvalidArgumentError(Cat("line ", line, ": ", msg));
}

// Reads a quoted string starting at s[*i]; advances *i past it.
absl::StatusOr<std::string> ReadQuoted(std::string_view s, size_t* i) {
  char q = s[*i];
  size_t j = *i + 1;
  while (j < s.size() && s[j] != q) {
    if (s[j] == '\\' && q != '`') ++j;
    ++j;
  }
  if (j >= s.size()) return absl::InvalidArgumentError(Cat("unterminated string in ", s));
  auto out = UnquoteGo(s.substr(*i, j + 1 - *i));
  *i = j + 1;
  return out;
}

void SkipSpaces(std::string_view s, size_t* i) {
  while (*i < s.size() && IsSpace(s[*i])) ++*i;
}

// Parses `metric{...}`, `metric` or `{...}` at the start of `s`; sets *rest to
// what follows.
absl::StatusOr<Labels> ParseMetric(std::string_view s, std::string_view* rest) {
  std::vector<Label> labels;
  size_t i = 0;
  if (i < s.size() && IsIdentStart(s[i])) {
    size_t j = i;
    while (j < s.size() && IsIdentChar(s[j])) ++j;
    labels.push_back({std::string(kMetricName), std::string(s.substr(i, j - i))});
    i = j;
  }
  if (i < s.size() && s[i] == '{') {
    ++i;
    for (;;) {
      SkipSpaces(s, &i);
      if (i >= s.size()) return absl::InvalidArgumentError("unterminated label set");
      if (s[i] == '}') {
        ++i;
        break;
      }
      std::string name;
      bool quoted_name = false;
      if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
        MERIDIAN_ASSIGN_OR_RETURN(name, ReadQuoted(s, &i));
        quoted_name = true;
      } else if (IsIdentStart(s[i])) {
        size_t j = i;
        while (j < s.size() && IsIdentChar(s[j])) ++j;
        name = std::string(s.substr(i, j - i));
        i = j;
      } else {
        return absl::InvalidArgumentError(Cat("unexpected character in label set: ", s.substr(i)));
      }
      SkipSpaces(s, &i);
      if (quoted_name && i < s.size() && (s[i] == ',' || s[i] == '}')) {
        // A lone quoted string is the metric name (Prometheus 3 UTF-8 syntax).
        labels.push_back({std::string(kMetricName), name});
      } else {
        if (i >= s.size() || s[i] != '=') {
          return absl::InvalidArgumentError(Cat("expected '=' after label ", name));
        }
        ++i;
        SkipSpaces(s, &i);
        if (i >= s.size() || (s[i] != '"' && s[i] != '\'' && s[i] != '`')) {
          return absl::InvalidArgumentError(Cat("expected a quoted value for label ", name));
        }
        MERIDIAN_ASSIGN_OR_RETURN(std::string value, ReadQuoted(s, &i));
        labels.push_back({std::move(name), std::move(value)});
      }
      SkipSpaces(s, &i);
      if (i < s.size() && s[i] == ',') ++i;
    }
  }
  if (i == 0) return absl::InvalidArgumentError(Cat("expected a series description: ", s));
  *rest = s.substr(i);
  return Labels::FromUnsorted(std::move(labels));
}

// Scans a float literal (digits, '.', exponent) or inf/nan at s[*i].
std::optional<double> ScanSeriesNumber(std::string_view s, size_t* i) {
  size_t j = *i;
  if (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) {
    size_t k = j;
    while (k < s.size() && IsIdentChar(s[k])) ++k;
    std::string word = ToLower(s.substr(j, k - j));
    // The lexer stops a number at 'x' only after digits; an identifier such
    // as "Infx3" is one word, so only exact inf/nan are numbers.
    if (word == "inf") {
      *i = k;
      return std::numeric_limits<double>::infinity();
    }
    if (word == "nan") {
      *i = k;
      return std::numeric_limits<double>::quiet_NaN();
    }
    return std::nullopt;
  }
  size_t start = j;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j < s.size() && s[j] == '.') {
    ++j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  }
  if (j == start || (j == start + 1 && s[start] == '.')) return std::nullopt;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    size_t digits = k;
    while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
    if (k > digits) j = k;
  }
  *i = j;
  // Well-formed by construction; an out-of-range literal comes back as ±Inf.
  double v;
  model::ParseGoFloat(s.substr(start, j - start), &v);
  return v;
}

std::optional<uint64_t> ScanUint(std::string_view s, size_t* i) {
  size_t j = *i;
  uint64_t n = 0;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
    n = n * 10 + static_cast<uint64_t>(s[j] - '0');
    if (n > 10'000'000) return std::nullopt;  // a guard against typos, not a grammar rule
    ++j;
  }
  if (j == *i) return std::nullopt;
  *i = j;
  return n;
}

// Finds the end of a `{{...}}` literal starting at s[i] (which is "{{").
std::optional<size_t> HistogramLiteralEnd(std::string_view s, size_t i) {
  size_t e = s.find("}}", i + 2);
  if (e == std::string_view::npos) return std::nullopt;
  return e + 2;
}

// Parses one whitespace-delimited sequence item (histograms may contain
// spaces, so items are scanned, not split).
absl::Status ParseItem(std::string_view s, size_t* i, std::vector<SeqValue>* out) {
  auto bad = [&](std::string_view why) {
    size_t end = *i;
    while (end < s.size() && !IsSpace(s[end])) ++end;
    return absl::InvalidArgumentError(
        Cat(why, " in series values at \"", s.substr(*i, end - *i), "\""));
  };
  size_t j = *i;
  if (s.compare(j, 2, "{{") == 0) {
    // {{h}}, {{h}}xN, {{h}}+{{h}}xN, {{h}}-{{h}}xN
    auto e = HistogramLiteralEnd(s, j);
    if (!e) return bad("unterminated histogram literal");
    j = *e;
    uint64_t n = 0;
    if (j < s.size() && (s[j] == '+' || s[j] == '-') && s.compare(j + 1, 2, "{{") == 0) {
      auto e2 = HistogramLiteralEnd(s, j + 1);
      if (!e2) return bad("unterminated histogram literal");
      j = *e2;
      if (j >= s.size() || s[j] != 'x') return bad("expected 'x' after histogram increment");
    }
    if (j < s.size() && s[j] == 'x') {
      ++j;
      auto cnt = ScanUint(s, &j);
      if (!cnt) return bad("expected a repeat count");
      n = *cnt;
    }
    for (uint64_t k = 0; k <= n; ++k) out->push_back({.omitted = false, .histogram = true, .v = 0});
    *i = j;
    return absl::OkStatus();
  }
  if (s[j] == '_') {
    ++j;
    uint64_t n = 1;
    if (j < s.size() && s[j] == 'x') {
      ++j;
      auto cnt = ScanUint(s, &j);
      if (!cnt) return bad("expected a repeat count");
      n = *cnt;
    }
    if (j < s.size() && !IsSpace(s[j])) return bad("unexpected character");
    for (uint64_t k = 0; k < n; ++k) out->push_back({.omitted = true});
    *i = j;
    return absl::OkStatus();
  }
  // series_value [signed_number] [x uint]
  double value;
  if (s.compare(j, 5, "stale") == 0 && (j + 5 == s.size() || !IsIdentChar(s[j + 5]))) {
    value = StaleNaN();
    j += 5;
  } else {
    double sign = 1;
    if (s[j] == '+' || s[j] == '-') {
      sign = s[j] == '-' ? -1 : 1;
      ++j;
    }
    auto v = ScanSeriesNumber(s, &j);
    if (!v) return bad("expected a number or \"stale\"");
    value = sign * *v;
  }
  if (j >= s.size() || IsSpace(s[j])) {
    out->push_back({.v = value});
    *i = j;
    return absl::OkStatus();
  }
  double delta = 0;
  if (s[j] == '+' || s[j] == '-') {
    double sign = s[j] == '-' ? -1 : 1;
    ++j;
    auto d = ScanSeriesNumber(s, &j);
    if (!d) return bad("expected an increment");
    delta = sign * *d;
    if (j >= s.size() || s[j] != 'x') return bad("expected 'x' after the increment");
  }
  if (s[j] != 'x') return bad("unexpected character");
  ++j;
  auto n = ScanUint(s, &j);
  if (!n) return bad("expected a repeat count");
  if (j < s.size() && !IsSpace(s[j])) return bad("unexpected character");
  // Accumulate by repeated addition, as Prometheus's grammar does (it matters
  // for increments such as 0.1 that are not exact in binary).
  for (uint64_t k = 0; k <= *n; ++k) {
    out->push_back({.v = value});
    value += delta;
  }
  *i = j;
  return absl::OkStatus();
}

absl::Status ParseExpectLine(std::string_view line, ExpectLine* out) {
  std::string mode, match_type, rest;
  if (!RE2::FullMatch(line, PatExpect(), &mode, &match_type, &rest)) {
    return absl::InvalidArgumentError(
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format");
  }
  static const std::pair<std::string_view, ExpectKind> kKinds[] = {
      {"ordered", ExpectKind::kOrdered}, {"fail", ExpectKind::kFail},
      {"warn", ExpectKind::kWarn},       {"no_warn", ExpectKind::kNoWarn},
      {"info", ExpectKind::kInfo},       {"no_info", ExpectKind::kNoInfo}};
  for (const auto& [name, kind] : kKinds) {
    if (mode == name) out->kind = kind;
  }
  std::string text(Strip(rest));
  if (match_type.empty()) {
    out->regex = "^.*$";  // test.go's patMatchAny
  } else if (match_type == "msg") {
    out->message = text;
  } else if (match_type == "regex") {
    RE2 re(text);
    if (!re.ok()) return absl::InvalidArgumentError(Cat("invalid regex ", text, " for ", mode));
    out->regex = text;
  }
  return absl::OkStatus();
}

absl::Status ParseLoad(const std::vector<std::string>& lines, size_t* i, LoadCmd* cmd) {
  std::string nhcb, step;
  if (!RE2::FullMatch(lines[*i], PatLoad(), &nhcb, &step)) {
    return Err(static_cast<int>(*i + 1),
               "invalid load command. (load[_with_nhcb] <step:duration>)");
  }
  cmd->line = static_cast<int>(*i + 1);
  cmd->with_nhcb = nhcb == "with_nhcb";
  auto gap = ParseDurationMs(step);
  if (!gap.ok()) return Err(cmd->line, Cat("invalid step definition \"", step, "\""));
  cmd->interval_ms = *gap;
  while (*i + 1 < lines.size() && !lines[*i + 1].empty()) {
    ++*i;
    if (lines[*i].substr(0, lines[*i].find_first_of(" \t")).find("@st") != std::string::npos) {
      return Err(static_cast<int>(*i + 1), "start-timestamp (@st) lines are not supported");
    }
    auto series = ParseSeriesLine(lines[*i]);
    if (!series.ok()) return Err(static_cast<int>(*i + 1), SV(series.status().message()));
    cmd->series.push_back(*std::move(series));
  }
  return absl::OkStatus();
}

absl::Status ParseEval(const std::vector<std::string>& lines, size_t* i, EvalCmd* cmd) {
  const std::string& l = lines[*i];
  cmd->line = static_cast<int>(*i + 1);
  std::string mod, at, expr, from, to, step;
  if (RE2::FullMatch(l, PatEvalInstant(), &mod, &at, &expr)) {
    cmd->expr = expr;
    auto t = ParseDurationMs(at);
    if (!t.ok()) return Err(cmd->line, Cat("invalid timestamp definition \"", at, "\""));
    cmd->start_ms = cmd->eval_ms = *t;
  } else if (RE2::FullMatch(l, PatEvalRange(), &mod, &from, &to, &step, &expr)) {
    cmd->expr = expr;
    cmd->is_range = true;
    auto f = ParseDurationMs(from), t = ParseDurationMs(to), s = ParseDurationMs(step);
    if (!f.ok() || !t.ok() || !s.ok()) return Err(cmd->line, "invalid range definition");
    if (*t < *f)
      return Err(cmd->line, "invalid test definition, end timestamp is before start timestamp");
    cmd->start_ms = *f;
    cmd->end_ms = *t;
    cmd->step_ms = *s;
  } else {
    return Err(cmd->line, "invalid evaluation command");
  }
  cmd->legacy_fail = mod == "fail";
  cmd->legacy_warn = mod == "warn";
  cmd->legacy_info = mod == "info";
  cmd->legacy_ordered = mod == "ordered";

  bool expect_range_vector = false;
  // j counts result lines, as test.go's loop variable does (expect lines do
  // not count; `expect range vector` and `expect string` lines do).
  for (int j = 1; *i + 1 < lines.size(); ++j) {
    const std::string& def = lines[*i + 1];
    if (def.empty()) break;
    ++*i;
    const int lineno = static_cast<int>(*i + 1);
    if (cmd->legacy_fail && std::string_view(def).starts_with("expected_fail_message")) {
      cmd->expected_fail_message = std::string(Strip(def.substr(strlen("expected_fail_message"))));
      break;
    }
    if (cmd->legacy_fail && std::string_view(def).starts_with("expected_fail_regexp")) {
      std::string pattern(Strip(def.substr(strlen("expected_fail_regexp"))));
      if (!RE2(pattern).ok()) return Err(lineno, Cat("invalid regexp '", pattern, "'"));
      cmd->expected_fail_regexp = pattern;
      break;
    }
    if (std::string_view(def).starts_with(kExpectRangePrefix)) {
      std::string f, t, s;
      if (!RE2::FullMatch(def, PatExpectRange(), &f, &t, &s)) {
        return Err(lineno, Cat("invalid range vector definition \"", def, "\""));
      }
      auto fm = ParseDurationMs(f), tm = ParseDurationMs(t), sm = ParseDurationMs(s);
      if (!fm.ok() || !tm.ok() || !sm.ok() || *tm < *fm)
        return Err(lineno, "invalid range vector definition");
      expect_range_vector = true;
      cmd->start_ms = *fm;
      cmd->end_ms = *tm;
      cmd->step_ms = *sm;
      cmd->eval_ms = *tm;
      cmd->exclude_from_range_query = true;
      continue;
    }
    if (std::string_view(def).starts_with(kExpectStringPrefix)) {
      std::string_view str = std::string_view(def).substr(kExpectStringPrefix.size());
      if (!std::string_view(str).starts_with(" ") || str.size() < 2) {
        return Err(lineno,
                   "expected string literal not valid - a quoted string literal is required");
      }
      auto s = UnquoteGo(str.substr(1));
      if (!s.ok())
        return Err(lineno,
                   "expected string literal not valid - check that the string is correctly quoted");
      cmd->expected_string = *s;
      cmd->exclude_from_range_query = true;
      continue;
    }
    if (def.substr(0, def.find(' ')) == "expect") {
      ExpectLine e;
      absl::Status st = ParseExpectLine(Strip(def), &e);
      if (!st.ok()) return Err(lineno, SV(st.message()));
      cmd->expects.push_back(std::move(e));
      --j;
      if ((cmd->Has(ExpectKind::kInfo) && cmd->Has(ExpectKind::kNoInfo)) ||
          (cmd->Has(ExpectKind::kWarn) && cmd->Has(ExpectKind::kNoWarn))) {
        return Err(lineno, "invalid expect lines, info/no_info or warn/no_warn used together");
      }
      int fails = 0;
      for (const auto& x : cmd->expects) fails += x.kind == ExpectKind::kFail;
      if (fails > 1)
        return Err(lineno, "invalid expect lines, multiple expect fail lines are not allowed");
      continue;
    }
    if (auto f = ParseNumber(def)) {
      cmd->expect_scalar = true;
      cmd->scalar = *f;
      cmd->series.clear();
      break;
    }
    auto series = ParseSeriesLine(def);
    if (!series.ok()) return Err(lineno, SV(series.status().message()));
    if (series->values.size() > 1 && !cmd->is_range && !expect_range_vector) {
      return Err(lineno, "expecting multiple values in instant evaluation not allowed");
    }
    cmd->expect_scalar = false;
    cmd->expects_histogram |= series->has_histogram;
    // Duplicates: the last line wins, keeping the first one's slot.
    bool replaced = false;
    for (auto& s : cmd->series) {
      if (s.labels == series->labels) {
        s.values = series->values;
        s.pos = j;
        replaced = true;
      }
    }
    if (!replaced) cmd->series.push_back({series->labels, std::move(series->values), j});
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ExpectKindName(ExpectKind k) {
  switch (k) {
    case ExpectKind::kOrdered:
      return "ordered";
    case ExpectKind::kFail:
      return "fail";
    case ExpectKind::kWarn:
      return "warn";
    case ExpectKind::kNoWarn:
      return "no_warn";
    case ExpectKind::kInfo:
      return "info";
    case ExpectKind::kNoInfo:
      return "no_info";
  }
  return "?";
}

bool EvalCmd::Has(ExpectKind k) const {
  for (const auto& e : expects) {
    if (e.kind == k) return true;
  }
  return false;
}
bool EvalCmd::IsFail() const { return legacy_fail || Has(ExpectKind::kFail); }
bool EvalCmd::IsOrdered() const { return legacy_ordered || Has(ExpectKind::kOrdered); }

absl::StatusOr<int64_t> ParseDurationMs(std::string_view s) {
  if (s == "0") return 0;
  if (s.empty()) return absl::InvalidArgumentError("empty duration string");
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {{"y", 365LL * 24 * 3600 * 1000},
                                                                    {"w", 7LL * 24 * 3600 * 1000},
                                                                    {"d", 24LL * 3600 * 1000},
                                                                    {"h", 3600LL * 1000},
                                                                    {"m", 60LL * 1000},
                                                                    {"s", 1000},
                                                                    {"ms", 1}};
  size_t i = 0, next_unit = 0;
  int64_t total = 0;
  while (i < s.size()) {
    size_t j = i;
    int64_t n = 0;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
      if (n > std::numeric_limits<int64_t>::max() / 10)
        return absl::InvalidArgumentError("duration out of range");
      n = n * 10 + (s[j] - '0');
      ++j;
    }
    if (j == i) return absl::InvalidArgumentError(Cat("not a valid duration string: \"", s, "\""));
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string_view unit = s.substr(j, k - j);
    bool found = false;
    for (size_t u = next_unit; u < std::size(kUnits); ++u) {
      if (kUnits[u].first == unit) {
        if (n > std::numeric_limits<int64_t>::max() / kUnits[u].second) {
          return absl::InvalidArgumentError("duration out of range");
        }
        total += n * kUnits[u].second;
        next_unit = u + 1;
        found = true;
        break;
      }
    }
    if (!found) return absl::InvalidArgumentError(Cat("not a valid duration string: \"", s, "\""));
    i = k;
  }
  return total;
}

absl::StatusOr<std::vector<SeqValue>> ParseSequence(std::string_view seq) {
  std::vector<SeqValue> out;
  size_t i = 0;
  for (;;) {
    SkipSpaces(seq, &i);
    if (i >= seq.size()) break;
    MERIDIAN_RETURN_IF_ERROR(ParseItem(seq, &i, &out));
  }
  return out;
}

absl::StatusOr<SeriesLine> ParseSeriesLine(std::string_view line) {
  std::string_view rest;
  MERIDIAN_ASSIGN_OR_RETURN(Labels labels, ParseMetric(line, &rest));
  if (!rest.empty() && !IsSpace(rest[0])) {
    return absl::InvalidArgumentError(Cat("unexpected text after series: ", rest));
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<SeqValue> values, ParseSequence(rest));
  SeriesLine out;
  out.labels = std::move(labels);
  for (const auto& v : values) out.has_histogram |= v.histogram;
  out.values = std::move(values);
  return out;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // strconv.ParseInt(s, 0, 64): sign, then 0x / 0o / 0b / leading-0 octal /
  // decimal digits, underscores allowed between digits with base 0.
  {
    size_t i = 0;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') {
      neg = s[i] == '-';
      ++i;
    }
    int base = 10;
    std::string_view digits = s.substr(i);
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      base = 16, digits.remove_prefix(2);
    } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
      base = 8, digits.remove_prefix(2);
    } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
      base = 2, digits.remove_prefix(2);
    } else if (digits.size() > 1 && digits[0] == '0') {
      base = 8, digits.remove_prefix(1);
    }
    bool ok = !digits.empty();
    unsigned __int128 n = 0;
    for (char c : digits) {
      int d;
      if (c == '_') continue;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else {
        ok = false;
        break;
      }
      if (d >= base) {
        ok = false;
        break;
      }
      n = n * static_cast<unsigned>(base) + static_cast<unsigned>(d);
      if (n > (static_cast<unsigned __int128>(1) << 64)) {
        ok = false;
        break;
      }
    }
    if (ok &&
        n <= static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max()) + (neg ? 1 : 0)) {
      double v = static_cast<double>(static_cast<uint64_t>(n));
      return neg ? -v : v;
    }
  }
  // strconv.ParseFloat; an error (syntax or range) means "not a number", as
  // in promqltest's parseNumber.
  double v;
  if (model::ParseGoFloat(s, &v) != model::GoParse::kOk) return std::nullopt;
  return v;
}

absl::StatusOr<std::string> UnquoteGo(std::string_view s) {
  if (s.size() < 2 || s.front() != s.back() || (s[0] != '"' && s[0] != '\'' && s[0] != '`')) {
    return absl::InvalidArgumentError(Cat("invalid quoted string: ", s));
  }
  char q = s[0];
  std::string_view body = s.substr(1, s.size() - 2);
  if (q == '`') {
    if ((std::string_view(body).find('`') != std::string_view::npos))
      return absl::InvalidArgumentError("invalid raw string");
    return std::string(body);
  }
  std::string out;
  auto append_utf8 = [&out](uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  };
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == q) return absl::InvalidArgumentError("unescaped quote in string");
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= body.size()) return absl::InvalidArgumentError("trailing backslash");
    char e = body[i];
    auto hex = [&](size_t n) -> std::optional<uint32_t> {
      uint32_t v = 0;
      for (size_t k = 1; k <= n; ++k) {
        if (i + k >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[i + k])))
          return std::nullopt;
        char h = body[i + k];
        v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                               ? h - '0'
                                               : (std::tolower(h) - 'a' + 10));
      }
      i += n;
      return v;
    };
    switch (e) {
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
      case '"':
        if (e != q) return absl::InvalidArgumentError("invalid escape");
        out.push_back(e);
        break;
      case 'x': {
        auto v = hex(2);
        if (!v) return absl::InvalidArgumentError("invalid \\x escape");
        out.push_back(static_cast<char>(*v));
        break;
      }
      case 'u':
      case 'U': {
        auto v = hex(e == 'u' ? 4 : 8);
        if (!v) return absl::InvalidArgumentError("invalid unicode escape");
        append_utf8(*v);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          if (i + 2 >= body.size()) return absl::InvalidArgumentError("invalid octal escape");
          uint32_t v = 0;
          for (size_t k = 0; k < 3; ++k) {
            char o = body[i + k];
            if (o < '0' || o > '7') return absl::InvalidArgumentError("invalid octal escape");
            v = v * 8 + static_cast<uint32_t>(o - '0');
          }
          if (v > 255) return absl::InvalidArgumentError("invalid octal escape");
          out.push_back(static_cast<char>(v));
          i += 2;
          break;
        }
        return absl::InvalidArgumentError(Cat("invalid escape \\", std::string(1, e)));
    }
  }
  return out;
}

Script ParseScript(std::string_view text) {
  Script script;
  std::vector<std::string> lines = GetLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) continue;
    std::string word = ToLower(l.substr(0, l.find_first_of(" \t")));
    absl::Status st;
    const size_t first = i;
    if (word == "clear") {
      script.commands.push_back(ClearCmd{static_cast<int>(i + 1)});
      continue;
    }
    if (std::string_view(word).starts_with("load")) {
      LoadCmd cmd;
      st = ParseLoad(lines, &i, &cmd);
      if (st.ok()) script.commands.push_back(std::move(cmd));
    } else if (std::string_view(word).starts_with("eval")) {
      EvalCmd cmd;
      st = ParseEval(lines, &i, &cmd);
      if (st.ok()) script.commands.push_back(std::move(cmd));
    } else {
      st = Err(static_cast<int>(i + 1), Cat("invalid command \"", l, "\""));
    }
    if (!st.ok()) {
      script.commands.push_back(
          ParseErrorCmd{static_cast<int>(first + 1), std::string(SV(st.message()))});
      // Skip the rest of the block.
      while (i + 1 < lines.size() && !lines[i + 1].empty()) ++i;
    }
  }
  return script;
}

}  // namespace meridian::promqltest
