// PromQL functions over labels and series order, following Prometheus's
// promql/functions.go: sort, sort_desc, sort_by_label[_desc], label_replace,
// label_join; and the merge of series that end up with the same labels.
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {
namespace {

// facette/natsort.Compare: true when a sorts before b.
bool NatLess(std::string_view a, std::string_view b) {
  auto chunks = [](std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
      const bool digit = std::isdigit(static_cast<unsigned char>(s[i]));
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) != 0) == digit) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  };
  auto atoi = [](std::string_view s, int64_t* v) {
    if (s.empty() || s.size() > 18) return false;
    int64_t n = 0;
    for (char ch : s) {
      if (ch < '0' || ch > '9') return false;
      n = n * 10 + (ch - '0');
    }
    *v = n;
    return true;
  };
  const auto ca = chunks(a), cb = chunks(b);
  for (size_t i = 0; i < ca.size(); ++i) {
    if (i >= cb.size()) return false;
    int64_t ai, bi;
    if (atoi(ca[i], &ai) && atoi(cb[i], &bi)) {
      if (ai == bi) {
        if (i == ca.size() - 1) return true;
        if (i == cb.size() - 1) return false;
        continue;
      }
      return ai < bi;
    }
    if (ca[i] == cb[i]) {
      if (i == ca.size() - 1) return true;
      if (i == cb.size() - 1) return false;
      continue;
    }
    return ca[i] < cb[i];
  }
  return false;
}

// Go's regexp.Expand template semantics.
std::string ExpandTemplate(const RE2& re, std::string_view tmpl,
                           const std::vector<re2::StringPiece>& groups,
                           const std::vector<bool>& matched) {
  std::string out;
  const auto& named = re.NamedCapturingGroups();
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t d = tmpl.find('$', i);
    if (d == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, d - i));
    std::string_view rest = tmpl.substr(d + 1);
    if (!rest.empty() && rest[0] == '$') {
      out.push_back('$');
      i = d + 2;
      continue;
    }
    bool brace = false;
    size_t k = 0;
    if (!rest.empty() && rest[0] == '{') {
      brace = true;
      k = 1;
    }
    size_t name_start = k;
    while (k < rest.size()) {
      unsigned char ch = static_cast<unsigned char>(rest[k]);
      if (std::isalnum(ch) || ch == '_' || ch >= 0x80) {
        ++k;
      } else {
        break;
      }
    }
    if (k == name_start || (brace && (k >= rest.size() || rest[k] != '}'))) {
      out.push_back('$');
      i = d + 1;
      continue;
    }
    std::string_view name = rest.substr(name_start, k - name_start);
    if (brace) ++k;
    i = d + 1 + k;
    int num = 0;
    for (char ch : name) {
      if (ch < '0' || ch > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (ch - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;
    int idx = -1;
    if (num >= 0) {
      idx = num;
    } else {
      auto it = named.find(std::string(name));
      if (it != named.end()) idx = it->second;
    }
    if (idx >= 0 && idx < static_cast<int>(groups.size()) && matched[idx]) {
      out.append(groups[idx].data(), groups[idx].size());
    }
  }
  return out;
}

bool ValidLabelName(std::string_view s) {
  if (s.empty()) return false;
  // Prometheus 3 accepts any valid UTF-8 label name.
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

// sort* orders an instant query's result only.
void WarnSortInRangeQuery(const FunctionCall& fc) {
  if (fc.q->range_query) {
    fc.q->annos.Warn(absl::StrCat(
        "PromQL warning: sort is ineffective for range queries since results are always "
        "ordered by labels (",
        fc.q->Pos(fc.call), ")"));
  }
}

}  // namespace

std::string StringArg(const Expr& e) {
  const Expr& a = Unwrap(e);
  if (a.kind == ExprKind::kString) return static_cast<const StringLiteral&>(a).value;
  return "";
}

// Merges series that ended up with the same labels (Prometheus's
// mergeSeriesWithSameLabelset); overlapping points are an error.
absl::StatusOr<EvalMatrix> MergeSameLabelset(EvalMatrix m) {
  if (m.size() < 2) return m;
  absl::flat_hash_map<uint64_t, size_t> first;
  EvalMatrix out;
  out.reserve(m.size());
  for (auto& s : m) {
    uint64_t h = s.metric.Hash();
    auto [it, inserted] = first.try_emplace(h, out.size());
    if (inserted) {
      out.push_back(std::move(s));
      continue;
    }
    EvalSeries& t = out[it->second];
    std::vector<Point> pts;
    pts.reserve(t.points.size() + s.points.size());
    std::merge(t.points.begin(), t.points.end(), s.points.begin(), s.points.end(),
               std::back_inserter(pts),
               [](const Point& a, const Point& b) { return a.t_ms < b.t_ms; });
    for (size_t i = 1; i < pts.size(); ++i) {
      if (pts[i].t_ms == pts[i - 1].t_ms) {
        return absl::FailedPreconditionError(
            "vector cannot contain metrics with the same labelset");
      }
    }
    t.points = std::move(pts);
  }
  return out;
}

std::string EscapeInvalidUtf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) ok = false;
    }
    if (!ok) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out.append(buf);
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

absl::StatusOr<EvalResult> FnSort(const FunctionCall& fc) {
  const Call& c = fc.call;
  WarnSortInRangeQuery(fc);
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, fc.ev->Eval(*c.args[0]));
  if (fc.ev->num_steps() != 1) return r;
  auto& m = r.matrix;
  auto val = [](const EvalSeries& s) { return s.points[0].v; };
  if (fc.fn == Fn::kSort) {
    std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
      const double a = val(x), b = val(y);
      return (std::isnan(b) && !std::isnan(a)) || a < b;
    });
  } else {
    std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
      const double a = val(x), b = val(y);
      return (std::isnan(b) && !std::isnan(a)) || a > b;
    });
  }
  return r;
}

absl::StatusOr<EvalResult> FnSortByLabel(const FunctionCall& fc) {
  const Call& c = fc.call;
  WarnSortInRangeQuery(fc);
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, fc.ev->Eval(*c.args[0]));
  if (fc.ev->num_steps() != 1) return r;
  auto& m = r.matrix;
  std::vector<std::string> names;
  for (size_t i = 1; i < c.args.size(); ++i) names.push_back(StringArg(*c.args[i]));
  const bool desc = fc.fn == Fn::kSortByLabelDesc;
  std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
    for (const auto& n : names) {
      std::string_view a = x.metric.Get(n), b = y.metric.Get(n);
      if (a == b) continue;
      return desc ? !NatLess(a, b) : NatLess(a, b);
    }
    int cmp = Labels::Compare(x.metric, y.metric);
    return desc ? cmp > 0 : cmp < 0;
  });
  return r;
}

absl::StatusOr<EvalResult> FnLabelReplace(const FunctionCall& fc) {
  const Call& c = fc.call;
  const std::string dst = StringArg(*c.args[1]);
  const std::string repl = StringArg(*c.args[2]);
  const std::string src = StringArg(*c.args[3]);
  const std::string regex = StringArg(*c.args[4]);
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_dot_nl(true);
  RE2 re("^(?s:" + regex + ")$", opts);
  if (!re.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("invalid regular expression in label_replace(): ", EscapeInvalidUtf8(regex)));
  }
  if (!ValidLabelName(dst)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "invalid destination label name in label_replace(): ", EscapeInvalidUtf8(dst)));
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, fc.ev->Eval(*c.args[0]));
  const int ngroups = re.NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> groups(ngroups);
  std::vector<bool> matched_vec(ngroups);
  for (auto& s : r.matrix) {
    std::string_view sv = s.metric.Get(src);
    if (!re.Match(re2::StringPiece(sv.data(), sv.size()), 0, sv.size(), RE2::UNANCHORED,
                  groups.data(), ngroups)) {
      continue;
    }
    for (int g = 0; g < ngroups; ++g) matched_vec[g] = groups[g].data() != nullptr;
    std::string res = ExpandTemplate(re, repl, groups, matched_vec);
    s.metric = LabelsBuilder(s.metric).Set(dst, res).Build();
    if (dst == kMetricName) s.drop_name = false;
  }
  MERIDIAN_ASSIGN_OR_RETURN(r.matrix, MergeSameLabelset(std::move(r.matrix)));
  return r;
}

absl::StatusOr<EvalResult> FnLabelJoin(const FunctionCall& fc) {
  const Call& c = fc.call;
  const std::string dst = StringArg(*c.args[1]);
  const std::string sep = StringArg(*c.args[2]);
  std::vector<std::string> srcs;
  for (size_t i = 3; i < c.args.size(); ++i) {
    std::string s = StringArg(*c.args[i]);
    if (!ValidLabelName(s)) {
      return absl::FailedPreconditionError(
          absl::StrCat("invalid source label name in label_join(): ", EscapeInvalidUtf8(s)));
    }
    srcs.push_back(std::move(s));
  }
  if (!ValidLabelName(dst)) {
    return absl::FailedPreconditionError(
        absl::StrCat("invalid destination label name in label_join(): ", EscapeInvalidUtf8(dst)));
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, fc.ev->Eval(*c.args[0]));
  std::vector<std::string> vals(srcs.size());
  for (auto& s : r.matrix) {
    for (size_t i = 0; i < srcs.size(); ++i) vals[i] = std::string(s.metric.Get(srcs[i]));
    s.metric = LabelsBuilder(s.metric).Set(dst, absl::StrJoin(vals, sep)).Build();
    if (dst == kMetricName) s.drop_name = false;
  }
  MERIDIAN_ASSIGN_OR_RETURN(r.matrix, MergeSameLabelset(std::move(r.matrix)));
  return r;
}

}  // namespace meridian::promql::eval
