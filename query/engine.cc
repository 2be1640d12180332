#include "query/engine.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "query/downsampled.h"
#include "query/eval.h"
#include "query/parser.h"

namespace meridian::promql {
namespace {

using eval::EvalMatrix;
using eval::EvalResult;
using eval::Evaluator;
using eval::QueryContext;

// Drops __name__ where delayed removal asked for it, then rejects duplicate
// label sets (Prometheus's cleanupMetricLabels).
absl::Status CleanupMetricLabels(EvalMatrix* m, bool merge) {
  for (auto& s : *m) {
    if (s.drop_name && s.metric.Has(kMetricName)) {
      s.metric = LabelsBuilder(s.metric).Del(kMetricName).Build();
    }
  }
  if (m->size() < 2) return absl::OkStatus();
  if (merge) {
    MERIDIAN_ASSIGN_OR_RETURN(*m, eval::MergeSameLabelset(std::move(*m)));
    return absl::OkStatus();
  }
  absl::flat_hash_map<uint64_t, size_t> seen;
  seen.reserve(m->size());
  for (size_t i = 0; i < m->size(); ++i) {
    auto [it, inserted] = seen.try_emplace((*m)[i].metric.Hash(), i);
    if (!inserted && (*m)[it->second].metric == (*m)[i].metric) {
      return absl::FailedPreconditionError("vector cannot contain metrics with the same labelset");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parse(const EngineOptions& o, std::string_view query) {
  ParseOptions po;
  po.enable_experimental_functions = o.enable_experimental_functions;
  return ParseExpr(query, po);
}

void InitContext(const EngineOptions& o, const QueryOptions& qo, const Queryable& queryable,
                 std::string_view query, QueryContext* ctx) {
  ctx->queryable = &queryable;
  ctx->query = query;
  ctx->lookback_ms = qo.lookback_delta_ms > 0 ? qo.lookback_delta_ms : o.lookback_delta_ms;
  ctx->default_eval_interval_ms = o.default_eval_interval_ms;
  ctx->max_samples = o.max_samples;
  auto timeout = qo.timeout.count() > 0 ? std::min(qo.timeout, o.timeout) : o.timeout;
  ctx->deadline = std::chrono::steady_clock::now() + timeout;
  ctx->cancelled = qo.cancelled;
  ctx->max_source_resolution_ms = qo.max_source_resolution_ms;
  ctx->executor = o.executor;
}

// The infos entry naming the resolutions that answered, when downsampled
// data did (also in *out).
void NoteResolutions(QueryContext* ctx, QueryResult* out) {
  std::vector<int64_t> r = ctx->resolutions_used;
  if (std::none_of(r.begin(), r.end(), [](int64_t x) { return x > 0; })) return;
  std::sort(r.rbegin(), r.rend());
  ctx->annos.Info(ResolutionsInfo(r));
  out->resolutions = std::move(r);
}

// Reports an admitted query's QueryStats to EngineOptions::on_query_done
// when it goes out of scope; ok() marks success.
class Reporter {
 public:
  Reporter(const EngineOptions& o, const QueryOptions& qo, bool range,
           std::chrono::steady_clock::time_point queued_at, const QueryContext* ctx)
      : done_(o.on_query_done), ctx_(ctx), admitted_(std::chrono::steady_clock::now()) {
    stats_.priority = qo.priority;
    stats_.range = range;
    stats_.queue_seconds = std::chrono::duration<double>(admitted_ - queued_at).count();
  }
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;
  ~Reporter() {
    if (!done_) return;
    stats_.eval_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - admitted_).count();
    stats_.samples_loaded = ctx_->samples_loaded;
    stats_.peak_samples = ctx_->peak_samples;
    done_(stats_);
  }
  void ok() { stats_.ok = true; }

 private:
  const std::function<void(const QueryStats&)>& done_;
  const QueryContext* ctx_;
  const std::chrono::steady_clock::time_point admitted_;
  QueryStats stats_;
};

// Maps evaluation-time error texts to Prometheus's "in query execution" wording.
absl::Status FinalStatus(absl::Status st) {
  if (st.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError("query timed out in query execution");
  }
  if (st.code() == absl::StatusCode::kCancelled) {
    return absl::CancelledError("query was canceled in query execution");
  }
  return st;
}

}  // namespace

std::string ResolutionsInfo(const std::vector<int64_t>& resolutions) {
  if (std::none_of(resolutions.begin(), resolutions.end(), [](int64_t x) { return x > 0; })) {
    return "";
  }
  std::string names;
  for (int64_t x : resolutions) {
    if (!names.empty()) names += ", ";
    names += eval::ResolutionText(x);
  }
  return "PromQL info: answered from downsampled data, resolutions " + names;
}

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      admission_(std::make_shared<QueryAdmission>(options_.admission)) {}

absl::StatusOr<QueryResult> Engine::InstantQuery(const Queryable& queryable, std::string_view query,
                                                 int64_t t_ms, const QueryOptions& opts) const {
  MERIDIAN_ASSIGN_OR_RETURN(ExprPtr expr, Parse(options_, query));
  QueryContext ctx;
  InitContext(options_, opts, queryable, query, &ctx);
  const auto queued_at = std::chrono::steady_clock::now();
  MERIDIAN_ASSIGN_OR_RETURN(QueryAdmission::Ticket ticket,
                            admission_->Admit(opts.priority, ctx.deadline, opts.cancelled));
  Reporter report(options_, opts, /*range=*/false, queued_at, &ctx);
  ctx.query_start_ms = t_ms;
  ctx.query_end_ms = t_ms;
  Evaluator ev(&ctx, t_ms, t_ms, 1);
  absl::StatusOr<EvalResult> r = ev.Eval(*expr);
  if (!r.ok()) return FinalStatus(r.status());
  QueryResult out;
  switch (r->type) {
    case ValueType::kScalar:
      out.value = Scalar{t_ms, r->scalar.empty() ? 0 : r->scalar[0]};
      break;
    case ValueType::kString:
      out.value = String{t_ms, std::move(r->str)};
      break;
    case ValueType::kMatrix: {
      MERIDIAN_RETURN_IF_ERROR(CleanupMetricLabels(&r->matrix, false));
      Matrix m;
      m.reserve(r->matrix.size());
      for (auto& s : r->matrix) m.push_back(Series{std::move(s.metric), std::move(s.points)});
      out.value = std::move(m);
      break;
    }
    default: {
      MERIDIAN_RETURN_IF_ERROR(CleanupMetricLabels(&r->matrix, false));
      Vector v;
      v.reserve(r->matrix.size());
      for (auto& s : r->matrix) {
        if (s.points.empty()) continue;
        v.push_back(VectorElement{std::move(s.metric), t_ms, s.points[0].v});
      }
      out.value = std::move(v);
      break;
    }
  }
  NoteResolutions(&ctx, &out);
  out.warnings = ctx.annos.TakeWarnings();
  out.infos = ctx.annos.TakeInfos();
  report.ok();
  return out;
}

absl::StatusOr<QueryResult> Engine::RangeQuery(const Queryable& queryable, std::string_view query,
                                               int64_t start_ms, int64_t end_ms, int64_t step_ms,
                                               const QueryOptions& opts) const {
  if (step_ms <= 0) {
    return absl::InvalidArgumentError(
        "zero or negative query resolution step widths are not accepted. Try a positive integer");
  }
  if (end_ms < start_ms) {
    return absl::InvalidArgumentError("end timestamp must not be before start time");
  }
  // In 128 bits: end - start overflows int64 for extreme timestamps.
  if ((static_cast<__int128>(end_ms) - start_ms) / step_ms > options_.max_points_per_series) {
    return absl::InvalidArgumentError(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
        "resolution (?step=XX)");
  }
  MERIDIAN_ASSIGN_OR_RETURN(ExprPtr expr, Parse(options_, query));
  if (expr->type() != ValueType::kScalar && expr->type() != ValueType::kVector) {
    return absl::InvalidArgumentError(std::string("invalid expression type \"") +
                                      std::string(ValueTypeName(expr->type())) +
                                      "\" for range query, must be Scalar or instant Vector");
  }
  QueryContext ctx;
  InitContext(options_, opts, queryable, query, &ctx);
  const auto queued_at = std::chrono::steady_clock::now();
  MERIDIAN_ASSIGN_OR_RETURN(QueryAdmission::Ticket ticket,
                            admission_->Admit(opts.priority, ctx.deadline, opts.cancelled));
  Reporter report(options_, opts, /*range=*/true, queued_at, &ctx);
  ctx.query_start_ms = start_ms;
  ctx.query_end_ms = end_ms;
  ctx.range_query = true;
  ctx.query_step_ms = step_ms;
  Evaluator ev(&ctx, start_ms, end_ms, step_ms);
  absl::StatusOr<EvalResult> r = ev.Eval(*expr);
  if (!r.ok()) return FinalStatus(r.status());
  Matrix m;
  if (r->type == ValueType::kScalar) {
    Series s;
    for (int i = 0; i < ev.num_steps(); ++i)
      s.points.push_back(Point{ev.StepTime(i), r->scalar[i]});
    m.push_back(std::move(s));
  } else {
    MERIDIAN_RETURN_IF_ERROR(CleanupMetricLabels(&r->matrix, true));
    m.reserve(r->matrix.size());
    for (auto& s : r->matrix) {
      if (s.points.empty()) continue;
      m.push_back(Series{std::move(s.metric), std::move(s.points)});
    }
    auto by_labels = [](const Series& a, const Series& b) {
      return Labels::Compare(a.metric, b.metric) < 0;
    };
    if (!std::is_sorted(m.begin(), m.end(), by_labels)) std::sort(m.begin(), m.end(), by_labels);
  }
  QueryResult out;
  out.value = std::move(m);
  NoteResolutions(&ctx, &out);
  out.warnings = ctx.annos.TakeWarnings();
  out.infos = ctx.annos.TakeInfos();
  report.ok();
  return out;
}

}  // namespace meridian::promql
