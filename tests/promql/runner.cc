#include "tests/promql/runner.h"

#include <filesystem>
#include <iostream>
#include <map>
#include <utility>

#include "model/matcher.h"
#include "re2/re2.h"
#include "tests/promql/compare.h"
#include "tests/promql/expr_walk.h"
#include "tests/promql/strutil.h"

namespace meridian::promqltest {
namespace {

constexpr int64_t kMinuteMs = 60'000;

std::string Diff(const EvalCmd& cmd, const promql::Value& got) {
  return Cat("\n  expected:\n", FormatExpected(cmd), "  got:\n", FormatValue(got));
}

absl::Status Failure(std::string_view what, const std::string& expr, int64_t t_ms,
                     absl::string_view why) {
  return absl::InvalidArgumentError(Cat(what, " ", expr, " at t=", t_ms, "ms: ", why));
}

// The classic-histogram series a load_with_nhcb block turns into native
// histograms: foo_bucket{le=..}, foo_count, foo_sum -> foo{...}.
std::optional<Labels> NhcbSeries(const Labels& ls) {
  std::string_view name = ls.MetricName();
  for (std::string_view suffix : {"_bucket", "_count", "_sum"}) {
    if (std::string_view(name).ends_with(suffix)) {
      LabelsBuilder b(ls);
      b.Set(kMetricName, name.substr(0, name.size() - suffix.size()));
      b.Del("le");
      return b.Build();
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "PASS";
    case Outcome::kFail:
      return "FAIL";
    case Outcome::kSkip:
      return "SKIP";
  }
  return "?";
}

ScriptRunner::ScriptRunner(const promql::Engine* engine, RunnerOptions options)
    : engine_(engine), options_(std::move(options)) {}

absl::Status ScriptRunner::OpenFreshStorage() {
  queryable_.reset();
  storage_.reset();
  std::error_code ec;
  if (!epoch_dir_.empty()) std::filesystem::remove_all(epoch_dir_, ec);
  epoch_dir_ = Cat(options_.storage_dir, "/epoch-", epoch_++);
  std::filesystem::create_directories(epoch_dir_, ec);
  StorageOptions opts;
  opts.dir = epoch_dir_;
  opts.out_of_order_window_ms = int64_t{1} << 50;  // ~35,000 years: scripts load in any order
  opts.allow_backfill = true;
  opts.retention_ms = 0;
  opts.sync_wal = false;  // a crash of the test loses nothing that matters
  opts.now_ms = [] { return int64_t{0}; };
  auto st = Storage::Open(opts);
  if (!st.ok()) return st.status();
  storage_ = *std::move(st);
  queryable_ = storage_->ForTenant("default");
  histogram_series_.clear();
  load_error_.clear();
  return absl::OkStatus();
}

void ScriptRunner::Load(const LoadCmd& cmd) {
  // A series given twice in one block keeps its last line (test.go keys its
  // definitions by the label hash).
  std::map<Labels, const SeriesLine*> defs;
  for (const auto& s : cmd.series) defs[s.labels] = &s;

  std::vector<std::vector<LabelView>> views;
  std::vector<std::vector<Sample>> samples;
  views.reserve(defs.size());
  samples.reserve(defs.size());
  for (const auto& [labels, line] : defs) {
    std::vector<Sample> ss;
    bool has_histogram = false;
    for (size_t i = 0; i < line->values.size(); ++i) {
      const SeqValue& v = line->values[i];
      if (v.histogram) has_histogram = true;
      if (v.omitted || v.histogram) continue;
      ss.push_back({static_cast<int64_t>(i) * cmd.interval_ms, v.v});
    }
    if (has_histogram) histogram_series_.push_back(labels);
    if (cmd.with_nhcb) {
      if (auto nh = NhcbSeries(labels)) histogram_series_.push_back(*nh);
    }
    if (ss.empty()) continue;
    std::vector<LabelView> lv;
    for (const auto& l : labels) lv.push_back({l.name, l.value});
    views.push_back(std::move(lv));
    samples.push_back(std::move(ss));
  }
  AppendBatch batch;
  for (size_t i = 0; i < views.size(); ++i) batch.series.push_back({views[i], samples[i]});
  if (batch.series.empty()) return;
  AppendResult result;
  absl::Status st = storage_->Append("default", batch, &result);
  if (!st.ok()) {
    Append(&load_error_, "load at line ", cmd.line, ": ", st.ToString(), "; ");
    return;
  }
  for (const auto& e : result.errors) {
    Append(&load_error_, "load at line ", cmd.line, ": sample of ",
           Labels::FromViews(views[e.series_index].data(), views[e.series_index].size()).ToString(),
           " at t=", e.t_ms, " rejected (",
           e.kind == AppendErrorKind::kTooOld ? "too old" : "duplicate conflict", "); ");
  }
}

std::string ScriptRunner::SkipReason(const EvalCmd& cmd) const {
  if (cmd.expects_histogram) return "expects native histogram results";
  if (histogram_series_.empty()) return "";
  auto selectors = SelectorMatchers(cmd.expr);
  if (!selectors.ok()) {
    // Our parser could not read it: fall back to the metric names.
    for (const auto& ls : histogram_series_) {
      if (cmd.expr.find(ls.MetricName()) != std::string::npos)
        return "reads native-histogram series (by name)";
    }
    return "";
  }
  for (const auto& matchers : *selectors) {
    for (const auto& ls : histogram_series_) {
      if (MatchesAll(matchers, ls)) return Cat("reads native-histogram series ", ls.ToString());
    }
  }
  return "";
}

absl::Status ScriptRunner::Run(const Script& script,
                               const std::function<void(const CaseResult&)>& report) {
  MERIDIAN_RETURN_IF_ERROR(OpenFreshStorage());
  for (const Command& c : script.commands) {
    if (const auto* load = std::get_if<LoadCmd>(&c)) {
      Load(*load);
    } else if (std::holds_alternative<ClearCmd>(c)) {
      MERIDIAN_RETURN_IF_ERROR(OpenFreshStorage());
    } else if (const auto* perr = std::get_if<ParseErrorCmd>(&c)) {
      if (perr->line <= options_.skip_through_line) continue;
      report({perr->line, Outcome::kFail, Cat("script parse error: ", perr->message)});
    } else {
      const auto& eval = std::get<EvalCmd>(c);
      if (eval.line <= options_.skip_through_line) continue;
      if (options_.on_case_start) options_.on_case_start(eval.line);
      std::string skip = SkipReason(eval);
      if (eval.expects_histogram) {
        report({eval.line, Outcome::kSkip, skip});
        continue;
      }
      CaseResult r = RunEval(eval);
      // An eval that reads series whose histogram samples were left out still
      // counts when it gives Prometheus's answer (the histogram samples did
      // not matter to it); when it does not, the missing data may be why.
      if (!skip.empty() && r.outcome == Outcome::kFail) {
        r.outcome = Outcome::kSkip;
        r.detail = Cat(skip, "; fails without them: ", r.detail.substr(0, r.detail.find('\n')));
      }
      report(r);
    }
  }
  queryable_.reset();
  storage_.reset();
  std::error_code ec;
  std::filesystem::remove_all(epoch_dir_, ec);
  return absl::OkStatus();
}

CaseResult ScriptRunner::RunEval(const EvalCmd& cmd) {
  CaseResult r{cmd.line, Outcome::kPass, ""};
  absl::Status st;
  if (cmd.is_range) {
    st = RunRange(cmd);
  } else {
    std::vector<AtVariant> queries = {{cmd.expr, cmd.eval_ms}};
    if (options_.at_modifier_variants) {
      auto variants = AtModifierVariants(cmd.expr, cmd.eval_ms);
      if (variants.ok()) queries.insert(queries.end(), variants->begin(), variants->end());
    }
    for (const auto& q : queries) {
      st = RunInstant(cmd, q.expr, q.eval_ms);
      if (!st.ok()) break;
    }
  }
  if (!st.ok()) {
    r.outcome = Outcome::kFail;
    r.detail = std::string(st.message());
    if (!load_error_.empty()) Append(&r.detail, "\n  (data set incomplete: ", load_error_, ")");
  }
  return r;
}

absl::Status ScriptRunner::RunRange(const EvalCmd& cmd) {
  if (options_.trace) {
    std::cerr << "  range " << cmd.expr << " from " << cmd.start_ms << " to " << cmd.end_ms
              << " step " << cmd.step_ms << "\n";
  }
  auto res = engine_->RangeQuery(*queryable_, cmd.expr, cmd.start_ms, cmd.end_ms, cmd.step_ms, {});
  const std::string where =
      Cat(cmd.expr, " from ", cmd.start_ms, " to ", cmd.end_ms, " step ", cmd.step_ms);
  if (!res.ok()) {
    if (cmd.IsFail()) return CheckExpectedFailure(cmd, std::string(res.status().message()));
    return absl::InvalidArgumentError(
        Cat("error evaluating range query ", where, ": ", res.status().ToString()));
  }
  if (cmd.IsFail())
    return absl::InvalidArgumentError(Cat("expected an error evaluating ", where, " but got none"));
  absl::Status st = CheckAnnotations(cmd, res->warnings, res->infos);
  if (st.ok()) st = CompareResult(cmd, res->value);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        Cat("range query ", where, ": ", st.message(), Diff(cmd, res->value)));
  }
  return absl::OkStatus();
}

absl::Status ScriptRunner::RunInstant(const EvalCmd& cmd, const std::string& expr, int64_t t_ms) {
  if (options_.trace) std::cerr << "  instant " << expr << " at " << t_ms << "\n";
  auto res = engine_->InstantQuery(*queryable_, expr, t_ms, {});
  if (!res.ok()) {
    if (cmd.IsFail()) {
      absl::Status st = CheckExpectedFailure(cmd, std::string(res.status().message()));
      if (!st.ok()) return Failure("instant query", expr, t_ms, st.message());
      return absl::OkStatus();
    }
    return Failure("error evaluating instant query", expr, t_ms, res.status().ToString());
  }
  if (cmd.IsFail()) return Failure("instant query", expr, t_ms, "expected an error but got none");
  absl::Status st = CheckAnnotations(cmd, res->warnings, res->infos);
  if (st.ok()) st = CompareResult(cmd, res->value);
  if (!st.ok())
    return Failure("instant query", expr, t_ms, Cat(st.message(), Diff(cmd, res->value)));

  if (cmd.exclude_from_range_query || !options_.range_mode_check) return absl::OkStatus();
  // test.go skips queries whose result depends on the query's own range.
  static const RE2 kQueryContextFuncs(R"((start|end|range|step)\(\))");
  if (RE2::PartialMatch(expr, kQueryContextFuncs)) return absl::OkStatus();

  if (options_.trace) std::cerr << "  range-mode " << expr << " around " << t_ms << "\n";
  auto range =
      engine_->RangeQuery(*queryable_, expr, t_ms - kMinuteMs, t_ms + kMinuteMs, kMinuteMs, {});
  if (!range.ok()) {
    return Failure("instant query run as range query", expr, t_ms,
                   Cat("error in range mode: ", range.status().ToString()));
  }
  if (cmd.IsOrdered()) return absl::OkStatus();  // range results are sorted by labels
  const auto* mat = std::get_if<promql::Matrix>(&range->value);
  if (mat == nullptr)
    return Failure("instant query run as range query", expr, t_ms,
                   "range query did not return a matrix");
  st = CheckMatrixSorted(*mat);
  if (!st.ok()) return Failure("instant query run as range query", expr, t_ms, st.message());
  promql::Vector vec;
  for (const auto& s : *mat) {
    for (const auto& p : s.points) {
      if (p.t_ms == t_ms) {
        vec.push_back({s.metric, p.t_ms, p.v});
        break;
      }
    }
  }
  promql::Value mid;
  if (std::holds_alternative<promql::Scalar>(res->value)) {
    if (vec.empty()) {
      return Failure("instant query run as range query", expr, t_ms,
                     "scalar result has no point at the middle step");
    }
    mid = promql::Scalar{t_ms, vec[0].v};
  } else {
    mid = std::move(vec);
  }
  st = CompareResult(cmd, mid);
  if (!st.ok()) {
    return Failure("instant query run as range query (middle step)", expr, t_ms,
                   Cat(st.message(), Diff(cmd, mid)));
  }
  return absl::OkStatus();
}

}  // namespace meridian::promqltest
