#include "query/eval.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "query/downsampled.h"

namespace meridian::promql::eval {

void Annotations::Warn(std::string msg) {
  if (seen_.insert(msg).second) warnings_.push_back(std::move(msg));
}
void Annotations::Info(std::string msg) {
  if (seen_.insert(msg).second) infos_.push_back(std::move(msg));
}

absl::Status QueryContext::CheckInterrupt() const {
  if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
    return absl::CancelledError("query was canceled in expression evaluation");
  }
  if (std::chrono::steady_clock::now() > deadline) {
    return absl::DeadlineExceededError("query timed out in expression evaluation");
  }
  return absl::OkStatus();
}

absl::Status QueryContext::AddSamples(int64_t n) {
  current_samples += n;
  if (n > 0) samples_loaded += n;
  peak_samples = std::max(peak_samples, current_samples);
  if (current_samples > max_samples) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query execution");
  }
  return absl::OkStatus();
}

std::string QueryContext::Pos(const Expr& e) const {
  int pos = std::clamp(e.pos.start, 0, static_cast<int>(query.size()));
  int line = 1;
  int col = pos + 1;
  for (int i = 0; i < pos; ++i) {
    if (query[i] == '\n') {
      ++line;
      col = pos - i;
    }
  }
  return absl::StrCat(line, ":", col);
}

namespace {

void AppendGoQuoted(std::string* out, std::string_view v) {
  out->push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string LabelsString(const Labels& ls) {
  std::string out = "{";
  bool first = true;
  for (const auto& l : ls) {
    if (!first) out.append(", ");
    first = false;
    out.append(l.name);
    out.push_back('=');
    AppendGoQuoted(&out, l.value);
  }
  out.push_back('}');
  return out;
}

absl::Status SeriesAccumulator::Add(int series, int64_t t_ms, double v) {
  if (last_t_[series] == t_ms) {
    return absl::FailedPreconditionError("vector cannot contain metrics with the same labelset");
  }
  last_t_[series] = t_ms;
  out_[series].points.push_back(Point{t_ms, v});
  return absl::OkStatus();
}

const Expr& Unwrap(const Expr& e) {
  const Expr* p = &e;
  while (true) {
    if (p->kind == ExprKind::kParen) {
      p = static_cast<const ParenExpr*>(p)->expr.get();
    } else if (p->kind == ExprKind::kStepInvariant) {
      p = static_cast<const StepInvariantExpr*>(p)->expr.get();
    } else {
      return *p;
    }
  }
}

int64_t CountPoints(const EvalMatrix& m) {
  int64_t n = 0;
  for (const auto& s : m) n += static_cast<int64_t>(s.points.size());
  return n;
}

absl::StatusOr<std::vector<double>> EvalScalarSteps(Evaluator* ev, const Expr& e) {
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, ev->Eval(e));
  if (r.type != ValueType::kScalar) {
    return absl::InvalidArgumentError("expected scalar expression");
  }
  return std::move(r.scalar);
}

Evaluator::Evaluator(QueryContext* q, int64_t start_ms, int64_t end_ms, int64_t interval_ms)
    : q_(q), start_(start_ms), end_(end_ms), interval_(interval_ms > 0 ? interval_ms : 1) {
  // In 128 bits: end - start overflows int64 for extreme timestamps, and the
  // count may not fit an int. Every step holds at least one value, so more
  // steps than max_samples could never be evaluated anyway.
  const __int128 steps =
      end_ >= start_ ? (static_cast<__int128>(end_) - start_) / interval_ + 1 : 0;
  const __int128 max_steps =
      std::min<__int128>(std::numeric_limits<int>::max(), std::max<int64_t>(q_->max_samples, 1));
  too_many_steps_ = steps > max_steps;
  num_steps_ = too_many_steps_ ? 0 : static_cast<int>(steps);
}

int64_t Evaluator::AtTime(AtKind k, int64_t at_ms) const {
  switch (k) {
    case AtKind::kStart:
      return q_->query_start_ms;
    case AtKind::kEnd:
      return q_->query_end_ms;
    default:
      return at_ms;
  }
}

absl::StatusOr<EvalResult> Evaluator::Eval(const Expr& e) {
  if (too_many_steps_) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query execution");
  }
  MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
  switch (e.kind) {
    case ExprKind::kNumber: {
      EvalResult r;
      r.type = ValueType::kScalar;
      r.scalar.assign(num_steps_, static_cast<const NumberLiteral&>(e).value);
      return r;
    }
    case ExprKind::kString: {
      EvalResult r;
      r.type = ValueType::kString;
      r.str = static_cast<const StringLiteral&>(e).value;
      return r;
    }
    case ExprKind::kParen:
      return Eval(*static_cast<const ParenExpr&>(e).expr);
    case ExprKind::kStepInvariant:
      return EvalStepInvariant(static_cast<const StepInvariantExpr&>(e));
    case ExprKind::kVectorSelector:
      return EvalVectorSelector(static_cast<const VectorSelector&>(e), false);
    case ExprKind::kMatrixSelector:
      return EvalMatrixSelectorTop(static_cast<const MatrixSelector&>(e));
    case ExprKind::kSubquery:
      return EvalSubquery(static_cast<const SubqueryExpr&>(e));
    case ExprKind::kUnary:
      return EvalUnary(static_cast<const UnaryExpr&>(e));
    case ExprKind::kBinary:
      return EvalBinary(static_cast<const BinaryExpr&>(e));
    case ExprKind::kAggregate:
      return EvalAggregate(static_cast<const AggregateExpr&>(e));
    case ExprKind::kCall:
      return EvalCall(static_cast<const Call&>(e));
  }
  return absl::InternalError("unhandled expression kind");
}

absl::Status Evaluator::SelectSeries(const VectorSelector& vs, int64_t mint_ms, int64_t maxt_ms,
                                     std::unique_ptr<Querier>* querier,
                                     std::unique_ptr<SeriesSet>* set, const DownsampleAsk* ask,
                                     int64_t* preferred_ms, int64_t* max_ms) {
  ReadContext rctx;
  rctx.deadline = q_->deadline;
  rctx.cancelled = q_->cancelled;
  MERIDIAN_ASSIGN_OR_RETURN(*querier, q_->queryable->NewQuerier(mint_ms, maxt_ms, rctx));
  SelectHints hints;
  hints.start_ms = mint_ms;
  hints.end_ms = maxt_ms;
  if (ask != nullptr) {
    hints.step_ms = ask->pinned || num_steps_ <= 1 ? 0 : interval_;
    hints.func = std::string(ask->func);
    ResolutionChoice rc =
        ChooseResolution(ask->use, (*querier)->AggregateResolutions(), q_->max_source_resolution_ms,
                         ask->range_ms, hints.step_ms, ask->ref_ms);
    hints.resolution_ms = rc.preferred_ms;
    hints.max_resolution_ms = rc.max_ms;
    hints.fold_raw = ask->fold_raw && rc.preferred_ms > 0;
    // A range function's steps (as Prometheus's hints): storage may leave
    // out the windows no step reads when the step is wider than the range.
    if (ask->use == DownsampleUse::kWindows && hints.step_ms > 0 && rc.max_ms > 0) {
      hints.range_ms = ask->range_ms;
      hints.first_step_ms = ask->ref_ms;
    }
    // A window coarser than the range or the lookback may answer from
    // before the range (the engine widens to it).
    if (rc.max_ms > 0) hints.start_ms = mint_ms - rc.max_ms;
    if (preferred_ms != nullptr) *preferred_ms = rc.preferred_ms;
    if (max_ms != nullptr) *max_ms = rc.max_ms;
  }
  // Range query results are sorted at the end, so their selectors may come
  // in storage order (cheaper); instant results keep the selectors' order.
  hints.sorted = !q_->range_query;
  MERIDIAN_ASSIGN_OR_RETURN(*set, (*querier)->Select(vs.matchers, hints));
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluator::EvalVectorSelector(const VectorSelector& vs,
                                                         bool want_timestamps) {
  EvalResult r;
  r.type = ValueType::kVector;
  MERIDIAN_RETURN_IF_ERROR(StreamVectorSelector(
      vs, want_timestamps,
      [&](const Labels& ls, bool drop, std::vector<Point>* pts) -> absl::Status {
        r.matrix.push_back(EvalSeries{ls, std::move(*pts), drop});
        return absl::OkStatus();
      }));
  return r;
}

absl::Status Evaluator::StreamVectorSelector(const VectorSelector& vs, bool want_timestamps,
                                             SeriesSink sink) {
  if (num_steps_ == 0) return absl::OkStatus();
  const bool has_at = vs.at != AtKind::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  const int64_t lo_ref = (has_at ? at : start_) - vs.offset_ms;
  const int64_t hi_ref = (has_at ? at : end_) - vs.offset_ms;
  const int64_t lookback = q_->lookback_ms;
  std::unique_ptr<Querier> querier;
  std::unique_ptr<SeriesSet> set;
  DownsampleAsk ask;
  ask.use = DownsampleUse::kPlain;
  ask.ref_ms = lo_ref;
  ask.pinned = has_at;
  int64_t preferred_ms = 0, max_ms = 0;
  MERIDIAN_RETURN_IF_ERROR(SelectSeries(vs, lo_ref - lookback + 1, hi_ref, &querier, &set, &ask,
                                        &preferred_ms, &max_ms));
  std::vector<Sample> buf;
  std::vector<Point> points;
  SeriesData data;
  int n_series = 0;
  while (set->Next()) {
    if ((++n_series & 255) == 0) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    points.clear();
    if (max_ms > 0) {
      MERIDIAN_RETURN_IF_ERROR(set->Data(&data));
      if (data.HasAggregates()) {
        MERIDIAN_RETURN_IF_ERROR(
            PlainFromWindows(vs, want_timestamps, data, preferred_ms, &points));
        if (points.empty()) continue;
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(points.size())));
        MERIDIAN_RETURN_IF_ERROR(sink(set->labels(), false, &points));
        continue;
      }
      buf.swap(data.samples);
    } else {
      MERIDIAN_RETURN_IF_ERROR(set->Samples(&buf));
    }
    size_t j = 0;  // number of samples with t <= ref
    auto pick = [&](int64_t ref, Sample* s) -> bool {
      while (j < buf.size() && buf[j].t_ms <= ref) ++j;
      if (j == 0) return false;
      const Sample& c = buf[j - 1];
      if (c.t_ms <= ref - lookback || IsStaleMarker(c.v)) return false;
      *s = c;
      return true;
    };
    if (has_at) {
      Sample s;
      if (pick(at - vs.offset_ms, &s)) {
        points.reserve(num_steps_);
        double v = want_timestamps ? static_cast<double>(s.t_ms) / 1000.0 : s.v;
        for (int i = 0; i < num_steps_; ++i) points.push_back(Point{StepTime(i), v});
      }
    } else {
      for (int i = 0; i < num_steps_; ++i) {
        int64_t ts = StepTime(i);
        Sample s;
        if (!pick(ts - vs.offset_ms, &s)) continue;
        if (points.empty()) points.reserve(num_steps_ - i);
        points.push_back(Point{ts, want_timestamps ? static_cast<double>(s.t_ms) / 1000.0 : s.v});
      }
    }
    if (points.empty()) continue;
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(points.size())));
    MERIDIAN_RETURN_IF_ERROR(sink(set->labels(), false, &points));
  }
  for (std::string& w : set->warnings()) q_->annos.Warn(std::move(w));
  for (std::string& w : querier->Warnings()) q_->annos.Warn(std::move(w));
  for (std::string& i : querier->Infos()) q_->annos.Info(std::move(i));
  return set->status();
}

namespace {

// A series with windows in one of ForEachRangeSeries' batches.
struct WindowsBatchItem {
  Labels labels;
  SeriesData data;
  std::vector<AggregateWindow> own;
  std::vector<DsWindow> windows;
  std::vector<Point> out;
  bool widened = false;
  absl::Status status;
};
constexpr size_t kWindowsBatch = 4;

// A batch of series with windows (ForEachRangeSeries): computed on an
// executor's thread while the query's thread reads the next series and
// emits the batch before; when the query's thread needs the results
// (Finish) it computes what the executor's task has not taken, and it never
// waits for a task that has not started (a busy pool).
class WindowsBatch {
 public:
  using Work = std::function<void(WindowsBatchItem&)>;
  WindowsBatch() : items(kWindowsBatch) {}
  WindowsBatch(const WindowsBatch&) = delete;
  WindowsBatch& operator=(const WindowsBatch&) = delete;
  // Waits for a running task (an early return): what no thread took yet
  // is not computed.
  ~WindowsBatch() {
    if (shared_ != nullptr) shared_->next.store(shared_->n);
    Finish();
  }

  std::vector<WindowsBatchItem> items;  // never resized: a running task indexes it
  size_t n = 0;                         // items [0, n) are in use

  // Begins computing items [0, n) with `work` on `ex`'s thread (on none
  // without an executor or with fewer than two items: Finish computes them).
  // `work` outlives Finish.
  void Start(Executor* ex, const Work* work) {
    work_ = work;
    shared_ = std::make_shared<Shared>();
    shared_->n = n;
    if (ex == nullptr || n < 2) return;
    ex->Schedule([sh = shared_, items = items.data(), work] {
      int expected = 0;
      if (!sh->state.compare_exchange_strong(expected, 1)) return;
      for (size_t i; (i = sh->next.fetch_add(1)) < sh->n;) (*work)(items[i]);
      MutexLock l(&sh->mu);
      sh->done = true;
      sh->cv.SignalAll();
    });
  }
  // Computes on this thread the items no thread took yet, then waits for
  // the task if it started. No-op when not started.
  void Finish() {
    if (shared_ == nullptr) return;
    Shared* sh = shared_.get();
    for (size_t i; (i = sh->next.fetch_add(1)) < sh->n;) (*work_)(items[i]);
    int expected = 0;
    if (!sh->state.compare_exchange_strong(expected, 2)) {
      MutexLock l(&sh->mu);
      while (!sh->done) sh->cv.Wait(&sh->mu);
    }
    shared_.reset();
  }

 private:
  struct Shared {
    size_t n = 0;
    std::atomic<size_t> next{0};
    std::atomic<int> state{0};  // 0 not started, 1 running, 2 not to run
    Mutex mu;
    CondVar cv;
    bool done ABSL_GUARDED_BY(mu) = false;
  };
  std::shared_ptr<Shared> shared_;
  const Work* work_ = nullptr;
};

}  // namespace

absl::Status Evaluator::ForEachRangeSeries(
    const Expr& arg, RangeSpec* spec,
    absl::FunctionRef<absl::Status(const Labels&, bool, std::span<const Point>)> fn,
    DownsampleUse use, const WindowsSink* on_windows, bool fold_raw) {
  const Expr& a = Unwrap(arg);
  if (a.kind == ExprKind::kMatrixSelector) {
    const auto& ms = static_cast<const MatrixSelector&>(a);
    const VectorSelector& vs = *ms.selector;
    spec->range_ms = ms.range_ms;
    spec->offset_ms = vs.offset_ms;
    spec->has_at = vs.at != AtKind::kNone;
    spec->at_ms = AtTime(vs.at, vs.at_ms);
    spec->selector = &vs;
    const int64_t hi = (spec->has_at ? spec->at_ms : end_) - vs.offset_ms;
    const int64_t lo = (spec->has_at ? spec->at_ms : start_) - vs.offset_ms - ms.range_ms;
    std::unique_ptr<Querier> querier;
    std::unique_ptr<SeriesSet> set;
    DownsampleAsk ask;
    ask.use =
        use == DownsampleUse::kWindows && on_windows == nullptr ? DownsampleUse::kPoints : use;
    ask.range_ms = ms.range_ms;
    ask.ref_ms = (spec->has_at ? spec->at_ms : start_) - vs.offset_ms;
    ask.pinned = spec->has_at;
    ask.fold_raw = fold_raw && ask.use == DownsampleUse::kWindows;
    int64_t preferred_ms = 0, max_ms = 0;
    MERIDIAN_RETURN_IF_ERROR(
        SelectSeries(vs, lo + 1, hi, &querier, &set, &ask, &preferred_ms, &max_ms));
    // Raw samples between windows fold into windows of the preferred
    // resolution (every step's range is aligned to it), unless the function
    // needs single samples (irate, idelta).
    const int64_t fold_ms = fold_raw ? preferred_ms : 0;
    std::vector<Sample> buf;
    SeriesData data;
    // Series with windows are evaluated in batches, each computed on the
    // executor's thread while this thread reads the next batch and emits the
    // one before (and helps with what is left when it needs the results);
    // batches are emitted in their order, and a series read raw first emits
    // every batch before it, so the order of the series never changes.
    const WindowsBatch::Work work = [&](WindowsBatchItem& b) {
      WindowsOf(b.data, fold_ms, nullptr, &b.own, &b.windows);
      b.out.clear();
      b.widened = false;
      b.status =
          b.windows.empty() ? absl::OkStatus() : on_windows->compute(b.windows, &b.out, &b.widened);
    };
    // After `work`: destroyed first, each waiting for its task.
    std::array<WindowsBatch, 2> batches;
    WindowsBatch* filling = &batches[0];
    WindowsBatch* running = nullptr;  // started; emitted before `filling`
    auto emit = [&](WindowsBatch* batch) -> absl::Status {
      const size_t n = std::exchange(batch->n, 0);
      for (size_t i = 0; i < n; ++i) {
        WindowsBatchItem& b = batch->items[i];
        if (b.windows.empty()) continue;
        const auto nw = static_cast<int64_t>(b.windows.size());
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(nw));
        absl::Status st = b.status.ok() ? on_windows->emit(b.labels, b.widened, &b.out) : b.status;
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-nw));
        MERIDIAN_RETURN_IF_ERROR(st);
      }
      return absl::OkStatus();
    };
    // `filling` is full: it starts, the batch before it is finished and
    // emitted while it runs, and the next series go into that one's place.
    auto launch = [&]() -> absl::Status {
      filling->Start(q_->executor, &work);
      WindowsBatch* prev = std::exchange(running, filling);
      filling = filling == &batches[0] ? &batches[1] : &batches[0];
      if (prev == nullptr) return absl::OkStatus();
      prev->Finish();
      return emit(prev);
    };
    // Emits every batch, in order.
    auto flush = [&]() -> absl::Status {
      WindowsBatch* last = filling->n > 0 ? filling : nullptr;
      if (last != nullptr) last->Start(q_->executor, &work);
      if (WindowsBatch* prev = std::exchange(running, nullptr); prev != nullptr) {
        prev->Finish();
        MERIDIAN_RETURN_IF_ERROR(emit(prev));
      }
      if (last == nullptr) return absl::OkStatus();
      last->Finish();
      return emit(last);
    };
    int n_series = 0;
    while (set->Next()) {
      if ((++n_series & 255) == 0) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
      if (max_ms > 0) {
        MERIDIAN_RETURN_IF_ERROR(set->Data(&data));
        if (data.HasAggregates() && ask.use == DownsampleUse::kWindows) {
          for (const SeriesData::Run& run : data.runs) {
            if (run.end > run.begin) q_->NoteResolution(run.SourceMs());
          }
          WindowsBatchItem& b = filling->items[filling->n++];
          b.labels = set->labels();
          std::swap(b.data, data);
          if (filling->n == kWindowsBatch) MERIDIAN_RETURN_IF_ERROR(launch());
          continue;
        }
        MERIDIAN_RETURN_IF_ERROR(flush());
        if (data.HasAggregates()) {
          PointsOf(data, ask.use == DownsampleUse::kPointsMean, q_, &buf);
        } else {
          buf.swap(data.samples);
        }
      } else {
        MERIDIAN_RETURN_IF_ERROR(set->Samples(&buf));
      }
      // Drop stale markers and anything outside (lo, hi] in place.
      size_t w = 0;
      for (size_t i = 0; i < buf.size(); ++i) {
        if (buf[i].t_ms <= lo || buf[i].t_ms > hi || IsStaleMarker(buf[i].v)) continue;
        buf[w++] = buf[i];
      }
      buf.resize(w);
      if (buf.empty()) continue;
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(w)));
      absl::Status st = fn(set->labels(), false, std::span<const Point>(buf.data(), buf.size()));
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-static_cast<int64_t>(w)));
      MERIDIAN_RETURN_IF_ERROR(st);
    }
    MERIDIAN_RETURN_IF_ERROR(flush());
    for (std::string& w : set->warnings()) q_->annos.Warn(std::move(w));
    for (std::string& w : querier->Warnings()) q_->annos.Warn(std::move(w));
    for (std::string& i : querier->Infos()) q_->annos.Info(std::move(i));
    return set->status();
  }
  if (a.kind == ExprKind::kSubquery) {
    const auto& sq = static_cast<const SubqueryExpr&>(a);
    spec->range_ms = sq.range_ms;
    spec->offset_ms = sq.offset_ms;
    spec->has_at = sq.at != AtKind::kNone;
    spec->at_ms = AtTime(sq.at, sq.at_ms);
    MERIDIAN_ASSIGN_OR_RETURN(EvalResult sub, EvalSubquery(sq));
    for (auto& s : sub.matrix) {
      MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
      if (s.drop_name) s.metric = LabelsBuilder(s.metric).Del(kMetricName).Build();
      MERIDIAN_RETURN_IF_ERROR(fn(s.metric, false, s.points));
    }
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(sub.matrix)));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("expected a range vector argument");
}

absl::StatusOr<EvalResult> Evaluator::EvalMatrixSelectorTop(const MatrixSelector& ms) {
  if (start_ != end_) {
    return absl::InvalidArgumentError("cannot do range evaluation of matrix selector");
  }
  EvalResult r;
  r.type = ValueType::kMatrix;
  RangeSpec spec;
  // Evaluate exactly the window at the single step.
  const VectorSelector& vs = *ms.selector;
  const bool has_at = vs.at != AtKind::kNone;
  const int64_t hi = (has_at ? AtTime(vs.at, vs.at_ms) : start_) - vs.offset_ms;
  const int64_t lo = hi - ms.range_ms;
  MERIDIAN_RETURN_IF_ERROR(ForEachRangeSeries(
      ms, &spec, [&](const Labels& ls, bool drop, std::span<const Point> pts) -> absl::Status {
        EvalSeries s;
        for (const Point& p : pts) {
          if (p.t_ms > lo && p.t_ms <= hi) s.points.push_back(p);
        }
        if (s.points.empty()) return absl::OkStatus();
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(s.points.size())));
        s.metric = ls;
        s.drop_name = drop;
        r.matrix.push_back(std::move(s));
        return absl::OkStatus();
      }));
  return r;
}

absl::StatusOr<EvalResult> Evaluator::EvalSubquery(const SubqueryExpr& sq) {
  const bool has_at = sq.at != AtKind::kNone;
  const int64_t at = AtTime(sq.at, sq.at_ms);
  int64_t step = sq.step_ms > 0 ? sq.step_ms : q_->default_eval_interval_ms;
  if (step <= 0) step = 60'000;
  const int64_t hi = (has_at ? at : end_) - sq.offset_ms;
  const int64_t lo = (has_at ? at : start_) - sq.offset_ms - sq.range_ms;
  int64_t sub_start = step * (lo / step);
  if (sub_start <= lo) sub_start += step;
  Evaluator sub(q_, sub_start, hi, step);
  EvalResult r;
  r.type = ValueType::kMatrix;
  if (sub.num_steps() == 0 && !sub.too_many_steps()) return r;
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult inner, sub.Eval(*sq.expr));
  if (inner.type == ValueType::kScalar) {
    EvalSeries s;
    for (int i = 0; i < sub.num_steps(); ++i) {
      s.points.push_back(Point{sub.StepTime(i), inner.scalar[i]});
    }
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(s.points.size())));
    r.matrix.push_back(std::move(s));
    return r;
  }
  r.matrix = std::move(inner.matrix);
  return r;
}

absl::StatusOr<EvalResult> Evaluator::EvalUnary(const UnaryExpr& u) {
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, Eval(*u.expr));
  if (!u.negate) return r;
  if (r.type == ValueType::kScalar) {
    for (double& v : r.scalar) v = -v;
    return r;
  }
  for (auto& s : r.matrix) {
    s.drop_name = true;
    for (auto& p : s.points) p.v = -p.v;
  }
  return r;
}

absl::StatusOr<EvalResult> Evaluator::EvalStepInvariant(const StepInvariantExpr& e) {
  const Expr& inner = *e.expr;
  if (inner.kind == ExprKind::kNumber || inner.kind == ExprKind::kString) return Eval(inner);
  if (num_steps_ <= 1) return Eval(inner);
  Evaluator once(q_, start_, start_, interval_);
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, once.Eval(inner));
  if (r.type == ValueType::kMatrix || r.type == ValueType::kString) return r;
  if (r.type == ValueType::kScalar) {
    double v = r.scalar.empty() ? 0 : r.scalar[0];
    r.scalar.assign(num_steps_, v);
    return r;
  }
  for (auto& s : r.matrix) {
    if (s.points.empty()) continue;
    double v = s.points[0].v;
    s.points.clear();
    s.points.reserve(num_steps_);
    for (int i = 0; i < num_steps_; ++i) s.points.push_back(Point{StepTime(i), v});
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(num_steps_ - 1));
  }
  return r;
}

}  // namespace meridian::promql::eval
