#include "tests/promql/compare.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "model/queryable.h"
#include "model/sample.h"
#include "re2/re2.h"
#include "tests/promql/strutil.h"

namespace meridian::promqltest {
namespace {

absl::Status Fail(std::string msg) { return absl::InvalidArgumentError(std::move(msg)); }

bool Matches(const ExpectLine& e, const std::string& s) {
  if (e.regex) {
    RE2 re(*e.regex);
    return RE2::PartialMatch(s, re);
  }
  return e.message.value_or("") == s;
}

std::string Describe(const ExpectLine& e) {
  return e.regex ? Cat("pattern \"", *e.regex, "\"")
                 : Cat("message \"", e.message.value_or(""), "\"");
}

absl::Status ValidateOfType(const EvalCmd& cmd, ExpectKind kind,
                            const std::vector<std::string>& actual) {
  std::vector<const ExpectLine*> expected;
  for (const auto& e : cmd.expects) {
    if (e.kind == kind) expected.push_back(&e);
  }
  if (expected.empty()) return absl::OkStatus();
  std::string_view name = ExpectKindName(kind);
  if (actual.empty()) return Fail(Cat("expected ", name, " annotations but none were found"));
  for (const ExpectLine* e : expected) {
    bool found = false;
    for (const auto& a : actual) found |= Matches(*e, a);
    if (!found) {
      return Fail(Cat("expected ", name, " annotation matching ", Describe(*e),
                      " but no matching annotation was found, found: [", Join(actual, "; "), "]"));
    }
  }
  for (const auto& a : actual) {
    bool found = false;
    for (const ExpectLine* e : expected) found |= Matches(*e, a);
    if (!found) return Fail(Cat("unexpected ", name, " annotation \"", a, "\""));
  }
  return absl::OkStatus();
}

const ExpectedSeries* FindExpected(const EvalCmd& cmd, const Labels& ls) {
  for (const auto& s : cmd.series) {
    if (s.labels == ls) return &s;
  }
  return nullptr;
}

std::string FormatPoints(const std::vector<promql::Point>& pts) {
  std::string out;
  for (const auto& p : pts) Append(&out, out.empty() ? "" : " ", FormatFloat(p.v), "@", p.t_ms);
  return out;
}

}  // namespace

bool AlmostEqual(double a, double b, double epsilon) {
  if (IsStaleNaN(a) || IsStaleNaN(b)) return IsStaleNaN(a) && IsStaleNaN(b);
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  constexpr double kMinNormal = std::numeric_limits<double>::min();  // 0x0010000000000000
  double abs_sum = std::fabs(a) + std::fabs(b);
  double diff = std::fabs(a - b);
  if (a == 0 || b == 0 || abs_sum < kMinNormal) return diff < epsilon * kMinNormal;
  return diff / std::min(abs_sum, std::numeric_limits<double>::max()) < epsilon;
}

std::string FormatFloat(double v) {
  if (IsStaleNaN(v)) return "stale";
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

absl::Status CheckMatrixSorted(const promql::Matrix& m) {
  for (size_t i = 1; i < m.size(); ++i) {
    if (Labels::Compare(m[i - 1].metric, m[i].metric) > 0) {
      return Fail(Cat("matrix results should always be sorted by labels, but series ", i - 1, " ",
                      m[i - 1].metric.ToString(), " sorts after series ", i, " ",
                      m[i].metric.ToString()));
    }
  }
  return absl::OkStatus();
}

absl::Status CompareResult(const EvalCmd& cmd, const promql::Value& value) {
  if (const auto* mat = std::get_if<promql::Matrix>(&value)) {
    if (cmd.IsOrdered()) return Fail("expected ordered result, but query returned a matrix");
    if (cmd.expect_scalar) return Fail("expected scalar result, but got a matrix");
    MERIDIAN_RETURN_IF_ERROR(CheckMatrixSorted(*mat));
    std::vector<bool> seen(cmd.series.size());
    for (const auto& s : *mat) {
      const ExpectedSeries* exp = FindExpected(cmd, s.metric);
      if (exp == nullptr) {
        return Fail(Cat("unexpected metric ", s.metric.ToString(), " in result, has ",
                        FormatPoints(s.points)));
      }
      seen[static_cast<size_t>(exp - cmd.series.data())] = true;
      std::vector<promql::Point> want;
      for (size_t i = 0; i < exp->values.size(); ++i) {
        int64_t t = cmd.start_ms + static_cast<int64_t>(i) * cmd.step_ms;
        if (t > cmd.end_ms) {
          return Fail(Cat("expected ", exp->values.size(), " points for ", exp->labels.ToString(),
                          ", but query time range cannot return this many points"));
        }
        if (exp->values[i].histogram)
          return Fail("expected a native histogram (unsupported by this runner)");
        if (!exp->values[i].omitted) want.push_back({t, exp->values[i].v});
      }
      if (want.size() != s.points.size()) {
        return Fail(Cat("expected ", want.size(), " float points for ", exp->labels.ToString(),
                        ", but got ", s.points.size(), ": ", FormatPoints(s.points)));
      }
      for (size_t i = 0; i < want.size(); ++i) {
        if (want[i].t_ms != s.points[i].t_ms) {
          return Fail(Cat("expected float value at index ", i, " for ", exp->labels.ToString(),
                          " to have timestamp ", want[i].t_ms, ", but it had timestamp ",
                          s.points[i].t_ms));
        }
        if (!AlmostEqual(s.points[i].v, want[i].v)) {
          return Fail(Cat("expected float value at index ", i, " (t=", s.points[i].t_ms, ") for ",
                          exp->labels.ToString(), " to be ", FormatFloat(want[i].v), ", but got ",
                          FormatFloat(s.points[i].v)));
        }
      }
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (!seen[i])
        return Fail(Cat("expected metric ", cmd.series[i].labels.ToString(), " not found"));
    }
    return absl::OkStatus();
  }
  if (const auto* vec = std::get_if<promql::Vector>(&value)) {
    if (cmd.expect_scalar) return Fail("expected scalar result, but got a vector");
    std::vector<bool> seen(cmd.series.size());
    for (size_t pos = 0; pos < vec->size(); ++pos) {
      const auto& e = (*vec)[pos];
      const ExpectedSeries* exp = FindExpected(cmd, e.metric);
      if (exp == nullptr) {
        return Fail(Cat("unexpected metric ", e.metric.ToString(), " in result, has value ",
                        FormatFloat(e.v)));
      }
      if (cmd.IsOrdered() && exp->pos != static_cast<int>(pos) + 1) {
        return Fail(Cat("expected metric ", e.metric.ToString(), " at position ", exp->pos,
                        " but was at ", pos + 1));
      }
      if (exp->values.empty()) return Fail(Cat("no expected value for ", e.metric.ToString()));
      const SeqValue& want = exp->values[0];
      if (want.histogram) return Fail("expected a native histogram (unsupported by this runner)");
      if (!AlmostEqual(want.v, e.v)) {
        return Fail(Cat("expected ", FormatFloat(want.v), " for ", e.metric.ToString(), " but got ",
                        FormatFloat(e.v)));
      }
      seen[static_cast<size_t>(exp - cmd.series.data())] = true;
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (!seen[i])
        return Fail(Cat("expected metric ", cmd.series[i].labels.ToString(), " not found"));
    }
    return absl::OkStatus();
  }
  if (const auto* sc = std::get_if<promql::Scalar>(&value)) {
    if (!cmd.expect_scalar)
      return Fail(Cat("expected vector or matrix result, but got scalar ", FormatFloat(sc->v)));
    if (!AlmostEqual(cmd.scalar, sc->v)) {
      return Fail(
          Cat("expected scalar ", FormatFloat(cmd.scalar), " but got ", FormatFloat(sc->v)));
    }
    return absl::OkStatus();
  }
  const auto& str = std::get<promql::String>(value);
  std::string want = cmd.expected_string.value_or("");
  if (want != str.v) return Fail(Cat("expected string \"", want, "\" but got \"", str.v, "\""));
  return absl::OkStatus();
}

absl::Status CheckAnnotations(const EvalCmd& cmd, const std::vector<std::string>& warnings,
                              const std::vector<std::string>& infos) {
  if (cmd.legacy_warn && warnings.empty()) return Fail("expected warnings but got none");
  if (cmd.legacy_info && infos.empty()) return Fail("expected info annotations but got none");
  MERIDIAN_RETURN_IF_ERROR(ValidateOfType(cmd, ExpectKind::kWarn, warnings));
  MERIDIAN_RETURN_IF_ERROR(ValidateOfType(cmd, ExpectKind::kInfo, infos));
  if (cmd.Has(ExpectKind::kNoWarn) && !warnings.empty()) {
    return Fail(Cat("unexpected warning annotations: [", Join(warnings, "; "), "]"));
  }
  if (cmd.Has(ExpectKind::kNoInfo) && !infos.empty()) {
    return Fail(Cat("unexpected info annotations: [", Join(infos, "; "), "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckExpectedFailure(const EvalCmd& cmd, const std::string& error_message) {
  if (cmd.expected_fail_message && *cmd.expected_fail_message != error_message) {
    return Fail(
        Cat("expected error \"", *cmd.expected_fail_message, "\", but got: ", error_message));
  }
  if (cmd.expected_fail_regexp &&
      !RE2::PartialMatch(error_message, RE2(*cmd.expected_fail_regexp))) {
    return Fail(Cat("expected error matching pattern \"", *cmd.expected_fail_regexp,
                    "\", but got: ", error_message));
  }
  for (const auto& e : cmd.expects) {
    if (e.kind != ExpectKind::kFail) continue;
    if (!Matches(e, error_message)) {
      return Fail(Cat("expected error matching ", Describe(e), ", but got: ", error_message));
    }
    break;  // only the first (and only) expect fail line counts
  }
  return absl::OkStatus();
}

std::string FormatValue(const promql::Value& value) {
  std::string out;
  if (const auto* mat = std::get_if<promql::Matrix>(&value)) {
    if (mat->empty()) return "    (empty matrix)\n";
    for (const auto& s : *mat)
      Append(&out, "    ", s.metric.ToString(), " ", FormatPoints(s.points), "\n");
  } else if (const auto* vec = std::get_if<promql::Vector>(&value)) {
    if (vec->empty()) return "    (empty vector)\n";
    for (const auto& e : *vec)
      Append(&out, "    ", e.metric.ToString(), " ", FormatFloat(e.v), "\n");
  } else if (const auto* sc = std::get_if<promql::Scalar>(&value)) {
    Append(&out, "    scalar ", FormatFloat(sc->v), "\n");
  } else {
    Append(&out, "    string \"", std::get<promql::String>(value).v, "\"\n");
  }
  return out;
}

std::string FormatExpected(const EvalCmd& cmd) {
  if (cmd.expect_scalar) return Cat("    scalar ", FormatFloat(cmd.scalar), "\n");
  if (cmd.expected_string) return Cat("    string \"", *cmd.expected_string, "\"\n");
  if (cmd.series.empty()) return "    (nothing)\n";
  std::string out;
  for (const auto& s : cmd.series) {
    Append(&out, "    ", s.labels.ToString());
    for (size_t i = 0; i < s.values.size(); ++i) {
      const SeqValue& v = s.values[i];
      Append(&out, " ", v.omitted ? "_" : v.histogram ? "{{...}}" : FormatFloat(v.v));
      if (cmd.step_ms > 0 && !v.omitted)
        Append(&out, "@", cmd.start_ms + static_cast<int64_t>(i) * cmd.step_ms);
    }
    Append(&out, "\n");
  }
  return out;
}

}  // namespace meridian::promqltest
