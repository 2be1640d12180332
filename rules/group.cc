#include "rules/group.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "model/gofloat.h"
#include "query/parser.h"

namespace meridian::rules {
namespace {

constexpr int64_t kResolvedRetentionMs = 15 * 60 * 1000;  // rules/alerting.go
constexpr char kAlertMetric[] = "ALERTS";
constexpr char kAlertForStateMetric[] = "ALERTS_FOR_STATE";

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
constexpr uint64_t kP1 = 11400714785074694791ULL;
constexpr uint64_t kP2 = 14029467366897019727ULL;
constexpr uint64_t kP3 = 1609587929392839161ULL;
constexpr uint64_t kP4 = 9650029242287828579ULL;
constexpr uint64_t kP5 = 2870177450012600261ULL;
inline uint64_t Round(uint64_t acc, uint64_t in) {
  acc += in * kP2;
  acc = Rotl(acc, 31);
  return acc * kP1;
}
inline uint64_t Merge(uint64_t acc, uint64_t v) {
  acc ^= Round(0, v);
  return acc * kP1 + kP4;
}
inline uint64_t Read64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t Read32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Prometheus's labels.Labels.Hash: xxhash of name 0xff value 0xff ...
uint64_t PromLabelsHash(const Labels& ls) {
  std::string b;
  for (const Label& l : ls) {
    b += l.name;
    b.push_back('\xff');
    b += l.value;
    b.push_back('\xff');
  }
  return XxHash64(b);
}

std::string Key(const Labels& ls) {
  std::string b;
  for (const Label& l : ls) {
    b += l.name;
    b.push_back('\xff');
    b += l.value;
    b.push_back('\xff');
  }
  return b;
}

Labels SortedLabels(const std::vector<Label>& ls) {
  std::vector<Label> v;
  for (const Label& l : ls) {
    if (!l.value.empty()) v.push_back(l);
  }
  return Labels::FromUnsorted(std::move(v));
}

}  // namespace

std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
    default:
      return "inactive";
  }
}

uint64_t XxHash64(std::string_view data) {
  const char* p = data.data();
  const char* end = p + data.size();
  uint64_t h;
  if (data.size() >= 32) {
    uint64_t v1 = kP1 + kP2, v2 = kP2, v3 = 0, v4 = 0 - kP1;
    const char* limit = end - 32;
    do {
      v1 = Round(v1, Read64(p));
      v2 = Round(v2, Read64(p + 8));
      v3 = Round(v3, Read64(p + 16));
      v4 = Round(v4, Read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = Rotl(v1, 1) + Rotl(v2, 7) + Rotl(v3, 12) + Rotl(v4, 18);
    h = Merge(h, v1);
    h = Merge(h, v2);
    h = Merge(h, v3);
    h = Merge(h, v4);
  } else {
    h = kP5;
  }
  h += data.size();
  while (p + 8 <= end) {
    h ^= Round(0, Read64(p));
    h = Rotl(h, 27) * kP1 + kP4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= static_cast<uint64_t>(Read32(p)) * kP1;
    h = Rotl(h, 23) * kP2 + kP3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<uint64_t>(static_cast<unsigned char>(*p)) * kP5;
    h = Rotl(h, 11) * kP1;
    ++p;
  }
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

std::string ExpandTemplate(std::string_view text, const Labels& labels, double value) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, open - i));
    std::string_view action = text.substr(open + 2, close - open - 2);
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
      return s;
    };
    action = trim(action);
    auto after = [&](std::string_view prefix, std::string_view* rest) {
      if (action.substr(0, prefix.size()) != prefix) return false;
      *rest = action.substr(prefix.size());
      return true;
    };
    std::string_view name;
    if (action == "$value" || action == ".Value") {
      model::AppendGoFloat(&out, value, 'g');
    } else if (after("$labels.", &name) || after(".Labels.", &name)) {
      out.append(labels.Get(name));
    } else if (after("$externalLabels.", &name) || after(".ExternalLabels.", &name)) {
      // meridian has no external labels: missing keys expand to "" (missingkey=zero).
    } else {
      out.append(text.substr(open, close + 2 - open));
    }
    i = close + 2;
  }
  return out;
}

struct Group::Rule {
  RuleSpec spec;
  std::string query;
  Labels labels;
  Labels annotations;
  std::string name_and_labels;
  // Guarded by Group::mu_ (written by Eval, read by Status).
  std::string health = "unknown";
  std::string last_error;
  double evaluation_seconds = 0;
  int64_t last_evaluation_ns = 0;
  std::unordered_map<uint64_t, Alert> active;
  // Series appended at the last successful evaluation, by key.
  std::unordered_map<std::string, Labels> previous;
  // False while an alerting rule waits for its `for` state to be restored:
  // it writes no ALERTS / ALERTS_FOR_STATE samples meanwhile.
  bool restored = true;
};

Group::Group(GroupSpec spec, std::string file, std::string tenant, int64_t interval_ms,
             Appender* appender, const TenantQueryable& queryable, const promql::Engine* engine)
    : spec_(std::move(spec)),
      file_(std::move(file)),
      tenant_(std::move(tenant)),
      interval_ms_(interval_ms),
      appender_(appender),
      engine_(engine),
      queryable_(queryable(tenant_)) {
  for (const RuleSpec& rs : spec_.rules) {
    auto r = std::make_unique<Rule>();
    r->spec = rs;
    auto e = promql::ParseExpr(rs.expr);
    r->query = e.ok() ? promql::Format(**e) : rs.expr;
    r->labels = SortedLabels(rs.labels);
    r->annotations = SortedLabels(rs.annotations);
    r->name_and_labels = rs.name() + r->labels.ToString();
    rules_.push_back(std::move(r));
  }
}

Group::~Group() = default;

int64_t Group::EvalTimestampNs(int64_t now_ns) const {
  const uint64_t interval_ns = static_cast<uint64_t>(interval_ms_) * 1'000'000;
  std::string b;
  // labels.New sorts: file, then name (an empty value still hashes).
  b += "file";
  b.push_back('\xff');
  b += file_;
  b.push_back('\xff');
  b += "name";
  b.push_back('\xff');
  b += spec_.name;
  b.push_back('\xff');
  const int64_t offset = static_cast<int64_t>(XxHash64(b) % interval_ns);
  const int64_t adj = now_ns - offset;
  const int64_t base = adj - (adj % static_cast<int64_t>(interval_ns));
  return base + offset;
}

absl::StatusOr<promql::Vector> Group::Query(const std::string& expr, int64_t ts_ms) {
  promql::QueryOptions qo;
  qo.priority = promql::QueryPriority::kPriority;
  auto r = engine_->InstantQuery(*queryable_, expr, ts_ms, qo);
  if (!r.ok()) return r.status();
  if (auto* v = std::get_if<promql::Vector>(&r->value)) return std::move(*v);
  if (auto* s = std::get_if<promql::Scalar>(&r->value)) {
    return promql::Vector{promql::VectorElement{Labels(), ts_ms, s->v}};
  }
  return absl::FailedPreconditionError("rule result is not a vector or scalar");
}

absl::Status Group::AppendVector(const promql::Vector& v, std::vector<bool>* ok,
                                 absl::Status* rejected) {
  ok->assign(v.size(), false);
  if (v.empty()) return absl::OkStatus();
  std::vector<std::vector<LabelView>> views(v.size());
  std::vector<Sample> samples(v.size());
  AppendBatch batch;
  for (size_t i = 0; i < v.size(); ++i) {
    for (const Label& l : v[i].metric) views[i].push_back({l.name, l.value});
    samples[i] = Sample{v[i].t_ms, v[i].v};
    batch.series.push_back({views[i], std::span<const Sample>(&samples[i], 1)});
  }
  AppendResult res;
  MERIDIAN_RETURN_IF_ERROR(appender_->Append(tenant_, batch, &res));
  ok->assign(v.size(), true);
  absl::Status& first = *rejected;
  for (const AppendError& e : res.errors) {
    (*ok)[e.series_index] = false;
    if (first.ok()) {
      switch (e.kind) {
        case AppendErrorKind::kTooOld:
          first = absl::OutOfRangeError("too old sample");
          break;
        case AppendErrorKind::kDuplicateConflict:
          first = absl::AlreadyExistsError("duplicate sample for timestamp");
          break;
        case AppendErrorKind::kSeriesLimit:
          first = absl::ResourceExhaustedError("per-tenant series limit reached");
          break;
      }
    }
  }
  return absl::OkStatus();
}

void Group::AppendStale(const std::vector<Labels>& series, int64_t ts_ms) {
  if (series.empty()) return;
  promql::Vector v;
  for (const Labels& l : series) v.push_back({l, ts_ms, StaleNaN()});
  std::vector<bool> ok;
  absl::Status rejected;
  // Rejections are expected when another rule writes the same series.
  (void)AppendVector(v, &ok, &rejected);
}

absl::Status Group::EvalAlert(Rule* r, const promql::Vector& in, int64_t ts_ns,
                              promql::Vector* out) {
  const int64_t ts_ms = ts_ns / 1'000'000;
  std::unordered_map<uint64_t, Alert> current;
  for (const promql::VectorElement& s : in) {
    LabelsBuilder lb(s.metric);
    lb.Del(kMetricName);
    for (const Label& l : r->labels) lb.Set(l.name, ExpandTemplate(l.value, s.metric, s.v));
    lb.Set("alertname", r->spec.alert);
    std::vector<Label> ann;
    for (const Label& a : r->annotations) {
      ann.push_back({a.name, ExpandTemplate(a.value, s.metric, s.v)});
    }
    Alert a;
    a.labels = lb.Build();
    a.annotations = SortedLabels(ann);
    a.active_at_ns = ts_ns;
    a.state = AlertState::kPending;
    a.value = s.v;
    uint64_t h = PromLabelsHash(a.labels);
    if (!current.emplace(h, std::move(a)).second) {
      return absl::FailedPreconditionError(
          "vector contains metrics with the same labelset after applying alert labels");
    }
  }
  MutexLock lock(&mu_);
  for (auto& [h, a] : current) {
    auto it = r->active.find(h);
    if (it != r->active.end() && it->second.state != AlertState::kInactive) {
      it->second.value = a.value;
      it->second.annotations = a.annotations;
      continue;
    }
    r->active[h] = std::move(a);
  }
  int64_t num_active = 0;
  for (auto it = r->active.begin(); it != r->active.end();) {
    Alert& a = it->second;
    if (!current.count(it->first)) {
      bool keep_firing = false;
      if (a.state == AlertState::kFiring && r->spec.keep_firing_for_ms > 0) {
        if (a.keep_firing_since_ns == 0) a.keep_firing_since_ns = ts_ns;
        if (ts_ns - a.keep_firing_since_ns < r->spec.keep_firing_for_ms * 1'000'000) {
          keep_firing = true;
        }
      }
      if (a.state == AlertState::kPending ||
          (a.resolved_at_ns != 0 && ts_ns - a.resolved_at_ns > kResolvedRetentionMs * 1'000'000)) {
        it = r->active.erase(it);
        continue;
      }
      if (a.state != AlertState::kInactive && !keep_firing) {
        a.state = AlertState::kInactive;
        a.resolved_at_ns = ts_ns;
      }
      if (!keep_firing) {
        ++it;
        continue;
      }
    } else {
      a.keep_firing_since_ns = 0;
    }
    ++num_active;
    if (a.state == AlertState::kPending && ts_ns - a.active_at_ns >= r->spec.for_ms * 1'000'000) {
      a.state = AlertState::kFiring;
      a.fired_at_ns = ts_ns;
    }
    if (!r->restored) {  // held back until RestoreForState ran
      ++it;
      continue;
    }
    LabelsBuilder alerts(a.labels);
    alerts.Set(kMetricName, kAlertMetric);
    alerts.Set("alertstate", AlertStateName(a.state));
    out->push_back({alerts.Build(), ts_ms, 1});
    LabelsBuilder for_state(a.labels);
    for_state.Set(kMetricName, kAlertForStateMetric);
    // ActiveAt.Unix(): whole seconds, rounded down.
    const int64_t ns = a.active_at_ns;
    int64_t secs = ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000);
    out->push_back({for_state.Build(), ts_ms, static_cast<double>(secs)});
    ++it;
  }
  if (spec_.limit > 0 && num_active > spec_.limit) {
    r->active.clear();
    out->clear();
    return absl::FailedPreconditionError("exceeded limit of " + std::to_string(spec_.limit) +
                                         " with " + std::to_string(num_active) + " alerts");
  }
  return absl::OkStatus();
}

void Group::EvalRule(Rule* r, int64_t ts_ns, int64_t* samples) {
  // timestamp.FromTime: the slot's milliseconds, rounded down.
  const int64_t ts_ms = ts_ns / 1'000'000;
  const int64_t start = WallNs();
  counters_->evaluations.fetch_add(1, std::memory_order_relaxed);
  auto finish = [&](const absl::Status& st) {
    const int64_t dur = WallNs() - start;
    counters_->eval_duration_ns.fetch_add(static_cast<uint64_t>(dur), std::memory_order_relaxed);
    if (!st.ok()) counters_->failures.fetch_add(1, std::memory_order_relaxed);
    MutexLock lock(&mu_);
    r->health = st.ok() ? "ok" : "err";
    r->last_error = st.ok() ? "" : std::string(st.message());
    r->evaluation_seconds = static_cast<double>(dur) / 1e9;
    r->last_evaluation_ns = start;
  };
  auto result = Query(r->spec.expr, ts_ms);
  if (!result.ok()) return finish(result.status());
  promql::Vector out;
  if (r->spec.is_alert()) {
    absl::Status st = EvalAlert(r, *result, ts_ns, &out);
    if (!st.ok()) return finish(st);
  } else {
    std::unordered_set<std::string> seen;
    for (promql::VectorElement& s : *result) {
      LabelsBuilder lb(s.metric);
      lb.Set(kMetricName, r->spec.record);
      for (const Label& l : r->labels) lb.Set(l.name, l.value);
      s.metric = lb.Build();
      s.t_ms = ts_ms;
      if (!seen.insert(Key(s.metric)).second) {
        return finish(absl::FailedPreconditionError(
            "vector contains metrics with the same labelset after applying rule labels"));
      }
    }
    if (spec_.limit > 0 && static_cast<int64_t>(result->size()) > spec_.limit) {
      return finish(absl::FailedPreconditionError("exceeded limit of " +
                                                  std::to_string(spec_.limit) + " with " +
                                                  std::to_string(result->size()) + " series"));
    }
    out = std::move(*result);
  }
  *samples += static_cast<int64_t>(out.size());
  std::vector<bool> ok;
  absl::Status rejected;
  // A failed write (storage unavailable): nothing stored, keep the old series.
  if (absl::Status st = AppendVector(out, &ok, &rejected); !st.ok()) return finish(st);
  std::unordered_map<std::string, Labels> returned;
  for (size_t i = 0; i < out.size(); ++i) {
    if (ok[i]) returned.emplace(Key(out[i].metric), out[i].metric);
  }
  std::vector<Labels> gone;
  for (const auto& [k, l] : r->previous) {
    if (!returned.count(k)) gone.push_back(l);
  }
  AppendStale(gone, ts_ms);
  r->previous = std::move(returned);
  finish(rejected);
}

void Group::EvalAt(int64_t ts_ns) {
  const int64_t start = WallNs();
  int64_t samples = 0;
  for (auto& r : rules_) EvalRule(r.get(), ts_ns, &samples);
  if (!stale_series_.empty()) {
    AppendStale(stale_series_, ts_ns / 1'000'000);
    stale_series_.clear();
  }
  const int64_t dur = WallNs() - start;
  counters_->iterations.fetch_add(1, std::memory_order_relaxed);
  counters_->last_duration_ns.store(dur, std::memory_order_relaxed);
  counters_->last_samples.store(samples, std::memory_order_relaxed);
  MutexLock lock(&mu_);
  evaluation_seconds_ = static_cast<double>(dur) / 1e9;
  last_evaluation_ns_ = start;
}

void Group::CopyState(Group* from) {
  MutexLock lock(&from->mu_);
  {
    MutexLock self(&mu_);
    evaluation_seconds_ = from->evaluation_seconds_;
    last_evaluation_ns_ = from->last_evaluation_ns_;
  }
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < from->rules_.size(); ++i) {
    by_name[from->rules_[i]->name_and_labels].push_back(i);
  }
  std::vector<bool> taken(from->rules_.size(), false);
  for (auto& r : rules_) {
    auto it = by_name.find(r->name_and_labels);
    if (it == by_name.end() || it->second.empty()) continue;
    size_t fi = it->second.front();
    it->second.erase(it->second.begin());
    taken[fi] = true;
    Rule* fr = from->rules_[fi].get();
    r->previous = fr->previous;
    if (r->spec.is_alert() && fr->spec.is_alert()) r->active = fr->active;
  }
  counters_ = from->counters_;
  stale_series_ = from->stale_series_;
  for (size_t i = 0; i < from->rules_.size(); ++i) {
    if (taken[i]) continue;
    for (const auto& [k, l] : from->rules_[i]->previous) stale_series_.push_back(l);
  }
}

void Group::MarkAllStale(int64_t ts_ms) {
  std::vector<Labels> all = stale_series_;
  for (auto& r : rules_) {
    for (const auto& [k, l] : r->previous) all.push_back(l);
    r->previous.clear();
  }
  stale_series_.clear();
  AppendStale(all, ts_ms);
}

void Group::RequireRestore(int64_t outage_tolerance_ms, int64_t grace_period_ms) {
  needs_restore_ = true;
  outage_tolerance_ms_ = outage_tolerance_ms;
  grace_period_ms_ = grace_period_ms;
  for (auto& r : rules_) {
    if (r->spec.is_alert()) r->restored = false;
  }
}

void Group::RestoreForState(int64_t now_ns) {
  if (!needs_restore_) return;
  needs_restore_ = false;
  const int64_t maxt = now_ns / 1'000'000;
  const int64_t mint = maxt - outage_tolerance_ms_;
  auto querier = queryable_->NewQuerier(mint, maxt);
  if (!querier.ok()) {
    // (Prometheus returns here and its alerts never write their series;
    // meridian writes them, unrestored.)
    std::fprintf(stderr, "meridian: rules: group %s: restoring 'for' state: %s\n",
                 spec_.name.c_str(), std::string(querier.status().message()).c_str());
  }
  for (auto& r : rules_) {
    if (!r->spec.is_alert()) continue;
    const int64_t hold_ns = r->spec.for_ms * 1'000'000;
    if (r->spec.for_ms < grace_period_ms_ || !querier.ok()) {
      MutexLock lock(&mu_);
      r->restored = true;
      continue;
    }
    std::vector<std::pair<uint64_t, Labels>> active;
    {
      MutexLock lock(&mu_);
      for (const auto& [h, a] : r->active) {
        if (a.state != AlertState::kInactive) active.push_back({h, a.labels});
      }
    }
    for (const auto& [h, labels] : active) {
      LabelsBuilder b(labels);
      b.Set(kMetricName, kAlertForStateMetric);
      const Labels want = b.Build();
      std::vector<Matcher> ms;
      for (const Label& l : want) ms.push_back(*Matcher::Make(MatchType::kEqual, l.name, l.value));
      auto set = (*querier)->Select(ms, {.start_ms = mint, .end_ms = maxt});
      if (!set.ok()) continue;
      std::vector<Sample> samples;
      bool found = false;
      while ((*set)->Next()) {
        // The matchers hold every label of `want`: the same size is equality.
        if ((*set)->labels().size() != want.size()) continue;
        found = (*set)->Samples(&samples).ok() && !samples.empty();
        break;
      }
      if (!found || IsStaleNaN(samples.back().v)) continue;  // not active before
      const int64_t down_at_ns = samples.back().t_ms / 1000 * 1'000'000'000;
      int64_t active_at_ns = static_cast<int64_t>(samples.back().v) * 1'000'000'000;
      const int64_t remaining_ns = hold_ns - (down_at_ns - active_at_ns);
      const int64_t grace_ns = grace_period_ms_ * 1'000'000;
      if (remaining_ns <= 0) {
        // Firing when it went down: it waits its `for` again from now (2.42).
        continue;
      } else if (remaining_ns < grace_ns) {
        active_at_ns = now_ns + grace_ns - hold_ns;  // fires a grace period from now
      } else {
        active_at_ns += now_ns - down_at_ns;  // the outage does not count as pending
      }
      MutexLock lock(&mu_);
      auto it = r->active.find(h);
      if (it != r->active.end()) it->second.active_at_ns = active_at_ns;
    }
    MutexLock lock(&mu_);
    r->restored = true;
  }
}

GroupStatus Group::Status() const {
  GroupStatus g;
  g.name = spec_.name;
  g.file = file_;
  g.tenant = tenant_;
  g.interval_ms = interval_ms_;
  g.limit = spec_.limit;
  MutexLock lock(&mu_);
  g.evaluation_seconds = evaluation_seconds_;
  g.last_evaluation_ns = last_evaluation_ns_;
  for (const auto& r : rules_) {
    RuleStatus rs;
    rs.spec = r->spec;
    rs.query = r->query;
    rs.labels = r->labels;
    rs.annotations = r->annotations;
    rs.health = r->health;
    rs.last_error = r->last_error;
    rs.evaluation_seconds = r->evaluation_seconds;
    rs.last_evaluation_ns = r->last_evaluation_ns;
    for (const auto& [h, a] : r->active) {
      if (a.state > rs.state) rs.state = a.state;
      if (a.resolved_at_ns == 0) rs.alerts.push_back(a);
    }
    std::sort(rs.alerts.begin(), rs.alerts.end(),
              [](const Alert& a, const Alert& b) { return a.labels < b.labels; });
    g.rules.push_back(std::move(rs));
  }
  return g;
}

}  // namespace meridian::rules
