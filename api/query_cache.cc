#include "api/query_cache.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <variant>

namespace meridian::api {

// One key's kept answer: the points at the steps [start_ms, end_ms] of
// every series that has one there, sorted by labels.
struct RangeQueryCache::Extent {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  uint64_t generation = 0;
  promql::Matrix series;
  std::vector<std::string> infos;    // without the resolutions entry
  std::vector<int64_t> resolutions;  // descending
  size_t bytes = 0;
};

namespace {

// Series of one source, points within [lo, hi].
struct Piece {
  const Labels* labels;
  const promql::Point* begin;
  const promql::Point* end;
};

void Collect(const promql::Matrix& m, int64_t lo, int64_t hi, std::vector<Piece>* out) {
  for (const promql::Series& s : m) {
    const promql::Point* first = s.points.data();
    const promql::Point* last = first + s.points.size();
    const promql::Point* b = std::lower_bound(
        first, last, lo, [](const promql::Point& p, int64_t t) { return p.t_ms < t; });
    const promql::Point* e =
        std::upper_bound(b, last, hi, [](int64_t t, const promql::Point& p) { return t < p.t_ms; });
    if (b != e) out->push_back({&s.metric, b, e});
  }
}

// The pieces (given in time order per series) as one matrix sorted by labels.
promql::Matrix Merge(std::vector<Piece> pieces) {
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return Labels::Compare(*a.labels, *b.labels) < 0;
  });
  promql::Matrix out;
  for (size_t i = 0; i < pieces.size();) {
    size_t j = i;
    size_t n = 0;
    while (j < pieces.size() && (j == i || *pieces[j].labels == *pieces[i].labels)) {
      n += static_cast<size_t>(pieces[j].end - pieces[j].begin);
      ++j;
    }
    promql::Series s;
    s.metric = *pieces[i].labels;
    s.points.reserve(n);
    for (size_t k = i; k < j; ++k) s.points.insert(s.points.end(), pieces[k].begin, pieces[k].end);
    out.push_back(std::move(s));
    i = j;
  }
  return out;
}

size_t BytesOf(const promql::Matrix& m, const std::vector<std::string>& infos) {
  size_t n = 256 + m.capacity() * sizeof(promql::Series);
  for (const promql::Series& s : m) {
    n += s.points.capacity() * sizeof(promql::Point);
    for (const Label& l : s.metric) n += sizeof(Label) + l.name.size() + l.value.size();
  }
  for (const std::string& i : infos) n += sizeof(std::string) + i.size();
  return n;
}

void AppendUnique(const std::vector<std::string>& from, std::vector<std::string>* to) {
  for (const std::string& s : from) {
    if (std::find(to->begin(), to->end(), s) == to->end()) to->push_back(s);
  }
}

void AddResolutions(const std::vector<int64_t>& from, std::vector<int64_t>* to) {
  for (int64_t r : from) {
    if (std::find(to->begin(), to->end(), r) == to->end()) to->push_back(r);
  }
  std::sort(to->rbegin(), to->rend());
}

// One evaluation of the steps [start_ms, end_ms].
struct Part {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  promql::QueryResult result;
  std::vector<std::string> infos;  // without the resolutions entry
};

absl::StatusOr<Part> Evaluate(const RangeQueryCache::EvalFn& eval, int64_t start_ms,
                              int64_t end_ms) {
  MERIDIAN_ASSIGN_OR_RETURN(promql::QueryResult r, eval(start_ms, end_ms));
  if (!std::holds_alternative<promql::Matrix>(r.value)) {
    return absl::InternalError("range query answered with a non-matrix value");
  }
  Part p{start_ms, end_ms, std::move(r), {}};
  const std::string res = promql::ResolutionsInfo(p.result.resolutions);
  for (const std::string& i : p.result.infos) {
    if (res.empty() || i != res) p.infos.push_back(i);
  }
  return p;
}

std::string KeyString(const RangeCacheKey& k, int64_t phase_ms) {
  std::string s;
  auto add = [&s](std::string_view f) {
    s += std::to_string(f.size());
    s += ':';
    s += f;
  };
  add(k.tenant);
  add(k.expr);
  add(k.extra);
  for (int64_t v : {k.step_ms, phase_ms, k.lookback_ms, k.max_source_resolution_ms}) {
    add(std::to_string(v));
  }
  return s;
}

// Whether any node of the tree has `@`, a negative offset, or reads the
// range's start or end.
bool AnyStepVariant(const promql::Expr& e) {
  using promql::ExprKind;
  switch (e.kind) {
    case ExprKind::kNumber:
    case ExprKind::kString:
      return false;
    case ExprKind::kVectorSelector: {
      const auto& v = static_cast<const promql::VectorSelector&>(e);
      return v.at != promql::AtKind::kNone || v.offset_ms < 0;
    }
    case ExprKind::kMatrixSelector:
      return AnyStepVariant(*static_cast<const promql::MatrixSelector&>(e).selector);
    case ExprKind::kSubquery: {
      const auto& q = static_cast<const promql::SubqueryExpr&>(e);
      return q.at != promql::AtKind::kNone || q.offset_ms < 0 || AnyStepVariant(*q.expr);
    }
    case ExprKind::kCall: {
      const auto& c = static_cast<const promql::Call&>(e);
      // The experimental start(), end() and range() are the range's own
      // parameters (step() is in the key).
      const std::string& f = c.func->name;
      if (f == "start" || f == "end" || f == "range") return true;
      return std::any_of(c.args.begin(), c.args.end(),
                         [](const promql::ExprPtr& a) { return AnyStepVariant(*a); });
    }
    case ExprKind::kAggregate: {
      const auto& a = static_cast<const promql::AggregateExpr&>(e);
      return AnyStepVariant(*a.expr) || (a.param && AnyStepVariant(*a.param));
    }
    case ExprKind::kBinary: {
      const auto& b = static_cast<const promql::BinaryExpr&>(e);
      return AnyStepVariant(*b.lhs) || AnyStepVariant(*b.rhs);
    }
    case ExprKind::kUnary:
      return AnyStepVariant(*static_cast<const promql::UnaryExpr&>(e).expr);
    case ExprKind::kParen:
      return AnyStepVariant(*static_cast<const promql::ParenExpr&>(e).expr);
    case ExprKind::kStepInvariant:
      return true;  // made for `@` (evaluated once, at the range's start)
  }
  return true;
}

}  // namespace

RangeQueryCache::RangeQueryCache(QueryCacheOptions options, GenerationFn generation)
    : options_(std::move(options)), generation_(std::move(generation)) {}

bool RangeQueryCache::Cacheable(const promql::Expr& expr) { return !AnyStepVariant(expr); }

int64_t RangeQueryCache::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<promql::QueryResult> RangeQueryCache::RangeQuery(const RangeCacheKey& key,
                                                                int64_t start_ms, int64_t end_ms,
                                                                const EvalFn& eval) {
  const int64_t step = key.step_ms;
  // Both read before anything is evaluated (docs/query-cache.md).
  const std::optional<uint64_t> gen = generation_ ? generation_(key.tenant) : std::nullopt;
  const int64_t keep_until = NowMs() - options_.offset_ms;
  if (!gen || options_.max_bytes == 0) {
    {
      MutexLock l(&mu_);
      ++stats_.misses;
    }
    return eval(start_ms, end_ms);
  }
  const int64_t phase = ((start_ms % step) + step) % step;
  const std::string k = KeyString(key, phase);
  std::shared_ptr<const Extent> kept = Find(k, *gen);
  if (kept != nullptr && (kept->start_ms - step > end_ms || kept->end_ms + step < start_ms)) {
    kept = nullptr;  // neither overlaps nor touches the request: replaced below
  }
  std::vector<Part> parts;  // in time order around `kept`
  if (kept == nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(Part p, Evaluate(eval, start_ms, end_ms));
    parts.push_back(std::move(p));
  } else {
    if (start_ms < kept->start_ms) {
      MERIDIAN_ASSIGN_OR_RETURN(Part p, Evaluate(eval, start_ms, kept->start_ms - step));
      parts.push_back(std::move(p));
    }
    if (end_ms > kept->end_ms) {
      MERIDIAN_ASSIGN_OR_RETURN(Part p, Evaluate(eval, kept->end_ms + step, end_ms));
      parts.push_back(std::move(p));
    }
  }
  {
    MutexLock l(&mu_);
    if (kept == nullptr) {
      ++stats_.misses;
    } else if (parts.empty()) {
      ++stats_.hits;
    } else {
      ++stats_.partial_hits;
    }
  }
  // Sources in time order: the parts before the kept steps, the kept
  // steps, the parts after them.
  const Part* before =
      !parts.empty() && kept != nullptr && parts[0].start_ms < kept->start_ms ? &parts[0] : nullptr;
  std::vector<const Part*> after;
  for (const Part& p : parts) {
    if (&p != before) after.push_back(&p);
  }

  promql::QueryResult out;
  std::vector<Piece> pieces;
  std::vector<int64_t> resolutions;
  auto add_part = [&](const Part& p, int64_t lo, int64_t hi, std::vector<Piece>* to) {
    Collect(std::get<promql::Matrix>(p.result.value), lo, hi, to);
  };
  if (before != nullptr) {
    add_part(*before, INT64_MIN, INT64_MAX, &pieces);
    AppendUnique(before->result.warnings, &out.warnings);
    AppendUnique(before->infos, &out.infos);
    AddResolutions(before->result.resolutions, &resolutions);
  }
  if (kept != nullptr) {
    Collect(kept->series, start_ms, end_ms, &pieces);
    AppendUnique(kept->infos, &out.infos);
    AddResolutions(kept->resolutions, &resolutions);
  }
  for (const Part* p : after) {
    add_part(*p, INT64_MIN, INT64_MAX, &pieces);
    AppendUnique(p->result.warnings, &out.warnings);
    AppendUnique(p->infos, &out.infos);
    AddResolutions(p->result.resolutions, &resolutions);
  }
  out.value = Merge(std::move(pieces));
  std::string res = promql::ResolutionsInfo(resolutions);
  if (!res.empty()) out.infos.push_back(std::move(res));
  out.resolutions = resolutions;

  // Keep the union, up to the newest step that may be kept, unless an
  // evaluation warned (a partial answer is not kept) or nothing is new.
  const bool warned = std::any_of(parts.begin(), parts.end(),
                                  [](const Part& p) { return !p.result.warnings.empty(); });
  if (parts.empty() || warned || keep_until < start_ms) return out;
  const int64_t last = start_ms + (keep_until - start_ms) / step * step;
  auto e = std::make_shared<Extent>();
  e->start_ms = kept != nullptr ? std::min(start_ms, kept->start_ms) : start_ms;
  e->end_ms = std::min(last, kept != nullptr ? std::max(end_ms, kept->end_ms) : end_ms);
  if (e->end_ms < e->start_ms) return out;
  e->generation = *gen;
  std::vector<Piece> keep;
  if (before != nullptr) {
    add_part(*before, INT64_MIN, last, &keep);
    AppendUnique(before->infos, &e->infos);
    AddResolutions(before->result.resolutions, &e->resolutions);
  }
  if (kept != nullptr) {
    Collect(kept->series, INT64_MIN, INT64_MAX, &keep);
    AppendUnique(kept->infos, &e->infos);
    AddResolutions(kept->resolutions, &e->resolutions);
  }
  for (const Part* p : after) {
    if (p->start_ms > last) continue;
    add_part(*p, INT64_MIN, last, &keep);
    AppendUnique(p->infos, &e->infos);
    AddResolutions(p->result.resolutions, &e->resolutions);
  }
  e->series = Merge(std::move(keep));
  e->bytes = BytesOf(e->series, e->infos);
  Keep(k, std::move(e));
  return out;
}

std::shared_ptr<const RangeQueryCache::Extent> RangeQueryCache::Find(const std::string& key,
                                                                     uint64_t generation) {
  MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.extent->generation != generation) {
    ++stats_.invalidations;
    EraseLocked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.extent;
}

void RangeQueryCache::EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator it) {
  stats_.bytes -= it->second.extent->bytes;
  --stats_.entries;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void RangeQueryCache::Keep(const std::string& key, std::shared_ptr<const Extent> e) {
  MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) EraseLocked(it);
  if (e->bytes > options_.max_bytes) return;
  lru_.push_front(key);
  stats_.bytes += e->bytes;
  ++stats_.entries;
  entries_.emplace(key, Entry{std::move(e), lru_.begin()});
  while (stats_.bytes > options_.max_bytes && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    EraseLocked(victim);
    ++stats_.evictions;
  }
}

QueryCacheStats RangeQueryCache::Stats() const {
  MutexLock l(&mu_);
  return stats_;
}

}  // namespace meridian::api
