#include "remote/fanout.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <thread>

#include "model/sync.h"
#include "proto/remote.pb.h"
#include "remote/codec.h"
#include "remote/pushdown.h"
#include "remote/watermark.h"

namespace meridian::remote {
namespace {

using Clock = std::chrono::steady_clock;
using SeriesLists = std::vector<std::vector<RemoteSeries>>;

// "1h2m3s" (Prometheus's duration style; whole seconds).
std::string DurationText(int64_t ms) {
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s % 3600 >= 60) out += std::to_string(s % 3600 / 60) + "m";
  if (s % 60 != 0 || out.empty()) out += std::to_string(s % 60) + "s";
  return out;
}

}  // namespace

std::string FreshnessInfo(const std::string& remote, int64_t watermark_ms, int64_t end_ms) {
  std::time_t t = static_cast<std::time_t>(watermark_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  char unix_s[32];
  std::snprintf(unix_s, sizeof(unix_s), "%.3f", static_cast<double>(watermark_ms) / 1000.0);
  return "remote " + remote + ": data ends at " + when + " (" + unix_s + "), " +
         DurationText(end_ms - watermark_ms) + " before the end of the queried range";
}

namespace {

// A materialised, sorted series list as a SeriesSet.
class ListSeriesSet : public SeriesSet {
 public:
  ListSeriesSet(std::vector<RemoteSeries> series, std::vector<std::string> warnings)
      : series_(std::move(series)), warnings_(std::move(warnings)) {}
  bool Next() override { return ++pos_ < series_.size(); }
  const Labels& labels() const override { return series_[pos_].labels; }
  absl::Status Samples(std::vector<Sample>* out) override {
    out->swap(series_[pos_].samples);
    return absl::OkStatus();
  }
  absl::Status status() const override { return absl::OkStatus(); }
  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  std::vector<RemoteSeries> series_;
  std::vector<std::string> warnings_;
  size_t pos_ = static_cast<size_t>(-1);
};

// Appends b's samples into a (both sorted, unique); a wins on equal timestamps.
void MergeSamples(std::vector<Sample>* a, const std::vector<Sample>& b) {
  std::vector<Sample> out;
  out.reserve(a->size() + b.size());
  size_t i = 0, j = 0;
  while (i < a->size() || j < b.size()) {
    if (j == b.size() || (i < a->size() && (*a)[i].t_ms <= b[j].t_ms)) {
      if (j < b.size() && (*a)[i].t_ms == b[j].t_ms) ++j;
      out.push_back((*a)[i++]);
    } else {
      out.push_back(b[j++]);
    }
  }
  a->swap(out);
}

// Merges sorted lists (earlier lists win on equal timestamps) into one sorted list.
std::vector<RemoteSeries> MergeLists(std::vector<std::vector<RemoteSeries>> lists) {
  std::vector<RemoteSeries> all;
  for (size_t li = 0; li < lists.size(); ++li) {
    for (auto& s : lists[li]) all.push_back(std::move(s));
  }
  // Stable: series from earlier lists stay first among equals.
  std::stable_sort(all.begin(), all.end(), [](const RemoteSeries& a, const RemoteSeries& b) {
    return a.labels < b.labels;
  });
  std::vector<RemoteSeries> out;
  for (auto& s : all) {
    if (!out.empty() && out.back().labels == s.labels) {
      MergeSamples(&out.back().samples, s.samples);
    } else {
      out.push_back(std::move(s));
    }
  }
  return out;
}

// Runs one ReadRequest against each remote concurrently. results[i] is the
// answer of remotes[i]; a remote not asked gets OkStatus with no series.
struct FanoutCall {
  const std::vector<std::shared_ptr<const RemoteReadClient>>& remotes;
  const FanoutOptions& opts;
  const ReadContext& ctx;

  std::vector<absl::StatusOr<SeriesLists>> Run(const std::vector<bool>& ask,
                                               const std::vector<prometheus::ReadRequest>& reqs,
                                               bool series_only) const {
    std::vector<RemoteEndpoint> eps;
    for (const auto& r : remotes) eps.push_back(r->endpoint());
    return RunEach<SeriesLists>(ask, eps, [&](size_t i, HttpCall* call) {
      return remotes[i]->Read(call, reqs[i], opts.tenant, series_only);
    });
  }

  // Calls fn(i, call) for each asked remote i concurrently, on a call to
  // eps[i]; each remote's timeout and the query's cancellation abort it.
  template <typename T>
  std::vector<absl::StatusOr<T>> RunEach(
      const std::vector<bool>& ask, const std::vector<RemoteEndpoint>& eps,
      const std::function<absl::StatusOr<T>(size_t, HttpCall*)>& fn) const {
    return RunJobs<T>(ask, eps, 1, [&fn](size_t i, size_t, HttpCall* call) { return fn(i, call); });
  }

  // The same with `per_remote` calls to each asked remote, all at once:
  // result i * per_remote + k is fn(i, k, call)'s. The remote's timeout
  // covers all of its calls; its health is recorded once (its first failure).
  template <typename T>
  std::vector<absl::StatusOr<T>> RunJobs(
      const std::vector<bool>& ask, const std::vector<RemoteEndpoint>& eps, size_t per_remote,
      const std::function<absl::StatusOr<T>(size_t, size_t, HttpCall*)>& fn) const {
    const size_t n = remotes.size() * per_remote;
    auto remote_of = [per_remote](size_t x) { return x / per_remote; };
    std::vector<absl::StatusOr<T>> results(n, T{});
    std::vector<std::unique_ptr<HttpCall>> calls(n);
    std::vector<std::thread> threads;
    Mutex mu;
    CondVar cv;
    std::vector<char> done(n, 1);
    std::vector<double> seconds(n, 0);
    for (size_t x = 0; x < n; ++x) {
      if (!ask[remote_of(x)]) continue;
      done[x] = 0;
      calls[x] = std::make_unique<HttpCall>(eps[remote_of(x)], /*reuse=*/true);
    }
    const auto start = Clock::now();
    for (size_t x = 0; x < n; ++x) {
      if (!ask[remote_of(x)]) continue;
      threads.emplace_back([&, x] {
        const auto t0 = Clock::now();
        auto r = fn(remote_of(x), x % per_remote, calls[x].get());
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        MutexLock lock(&mu);
        seconds[x] = secs;
        results[x] = std::move(r);
        done[x] = 1;
        cv.SignalAll();
      });
    }
    std::vector<char> aborted(n, 0);
    {
      MutexLock lock(&mu);
      while (std::find(done.begin(), done.end(), 0) != done.end()) {
        cv.WaitFor(&mu, std::chrono::milliseconds(20));
        const bool cancel = ctx.Cancelled();
        const bool expired = ctx.Expired();
        for (size_t x = 0; x < n; ++x) {
          if (done[x]) continue;
          if (aborted[x]) {
            calls[x]->Abort();  // again: the call may not have had its socket yet
            continue;
          }
          if (cancel || expired ||
              Clock::now() - start > remotes[remote_of(x)]->endpoint().timeout) {
            aborted[x] = cancel ? 2 : expired ? 3 : 1;
            calls[x]->Abort();
          }
        }
      }
    }
    for (auto& t : threads) t.join();
    for (size_t x = 0; x < n; ++x) {
      const auto& e = remotes[remote_of(x)]->endpoint();
      if (aborted[x] == 1) {
        results[x] = absl::DeadlineExceededError(
            "timed out after " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(e.timeout).count()) +
            "ms");
      } else if (aborted[x] == 2) {
        results[x] = absl::CancelledError("query cancelled");
      } else if (aborted[x] == 3) {
        results[x] = absl::DeadlineExceededError("query timed out");
      }
    }
    for (size_t i = 0; opts.health != nullptr && i < remotes.size(); ++i) {
      if (!ask[i]) continue;
      size_t pick = i * per_remote;  // its first failure, else its first call
      double secs = 0;
      bool cancelled = false;
      for (size_t x = i * per_remote; x < (i + 1) * per_remote; ++x) {
        if (!results[x].ok() && results[pick].ok()) pick = x;
        secs = std::max(secs, seconds[x]);
        cancelled = cancelled || aborted[x] >= 2;
      }
      if (!cancelled)
        opts.health->Record(remotes[i]->endpoint().name, results[pick].status(), secs);
    }
    return results;
  }
};

class FanoutQuerier : public Querier {
 public:
  FanoutQuerier(std::unique_ptr<Querier> local,
                const std::vector<std::shared_ptr<const RemoteReadClient>>& remotes,
                const FanoutOptions& opts, const ReadContext& ctx, int64_t mint, int64_t maxt)
      : local_(std::move(local)),
        remotes_(remotes),
        opts_(opts),
        ctx_(ctx),
        mint_(mint),
        maxt_(maxt),
        answered_(remotes.size(), 0) {}

  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& matchers,
                                                    const SelectHints& hints) override {
    std::vector<bool> ask = Asked(matchers);
    std::vector<std::vector<RemoteSeries>> lists;
    std::vector<std::string> warnings;
    if (local_ != nullptr) {
      MERIDIAN_ASSIGN_OR_RETURN(auto set, local_->Select(matchers, hints));
      if (std::find(ask.begin(), ask.end(), true) == ask.end()) return set;  // local only
      std::vector<RemoteSeries> local;
      while (set->Next()) {
        RemoteSeries s{set->labels(), {}};
        MERIDIAN_RETURN_IF_ERROR(set->Samples(&s.samples));
        local.push_back(std::move(s));
      }
      MERIDIAN_RETURN_IF_ERROR(set->status());
      warnings = set->warnings();
      lists.push_back(std::move(local));
    }
    std::vector<prometheus::ReadRequest> reqs(remotes_.size());
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (ask[i])
        BuildRequest(*remotes_[i], matchers, hints.start_ms, hints.end_ms, hints.step_ms,
                     hints.func, &reqs[i]);
    }
    auto results = FanoutCall{remotes_, opts_, ctx_}.Run(ask, reqs, hints.func == "series");
    MERIDIAN_RETURN_IF_ERROR(Collect(ask, &results, &lists, &warnings));
    for (auto& l : lists) {
      // Re-check with the external labels attached.
      l.erase(std::remove_if(l.begin(), l.end(),
                             [&](const RemoteSeries& s) {
                               return !MatchesAll(matchers, s.labels) ||
                                      (s.samples.empty() && hints.func != "series");
                             }),
              l.end());
    }
    return std::unique_ptr<SeriesSet>(
        new ListSeriesSet(MergeLists(std::move(lists)), std::move(warnings)));
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<Matcher>& matchers) override {
    std::vector<std::string> out;
    if (local_ != nullptr) {
      MERIDIAN_ASSIGN_OR_RETURN(out, local_->LabelNames(matchers));
    }
    MERIDIAN_ASSIGN_OR_RETURN(auto series, RemoteSeriesOnly(matchers));
    for (const auto& s : series) {
      for (const Label& l : s.labels) out.push_back(l.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  absl::StatusOr<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<Matcher>& matchers) override {
    std::vector<std::string> out;
    if (local_ != nullptr) {
      MERIDIAN_ASSIGN_OR_RETURN(out, local_->LabelValues(name, matchers));
    }
    MERIDIAN_ASSIGN_OR_RETURN(auto series, RemoteSeriesOnly(matchers));
    for (const auto& s : series) {
      std::string_view v = s.labels.Get(name);
      if (!v.empty()) out.emplace_back(v);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  std::vector<bool> Asked(const std::vector<Matcher>& matchers) const {
    std::vector<bool> ask(remotes_.size());
    for (size_t i = 0; i < remotes_.size(); ++i) ask[i] = remotes_[i]->MayMatch(matchers);
    return ask;
  }

  // Matchers on this remote's external labels (which they match) are dropped
  // when something else still selects: the remote's series may lack those
  // labels (we attach them) - as Prometheus's remote-read server does.
  static void BuildRequest(const RemoteReadClient& r, const std::vector<Matcher>& matchers,
                           int64_t start, int64_t end, int64_t step, const std::string& func,
                           prometheus::ReadRequest* req) {
    const Labels& ext = r.endpoint().external_labels;
    std::vector<const Matcher*> keep;
    bool selective = false;
    for (const Matcher& m : matchers) {
      if (ext.Has(m.name())) continue;
      keep.push_back(&m);
      selective |= !m.MatchesEmpty();
    }
    if (!selective) {
      keep.clear();
      for (const Matcher& m : matchers) keep.push_back(&m);
    }
    auto* q = req->add_queries();
    q->set_start_timestamp_ms(start);
    q->set_end_timestamp_ms(end);
    for (const Matcher* m : keep) ToProto(*m, q->add_matchers());
    auto* h = q->mutable_hints();
    h->set_start_ms(start);
    h->set_end_ms(end);
    h->set_step_ms(step);
    h->set_func(func);
  }

  absl::Status Collect(const std::vector<bool>& ask,
                       std::vector<absl::StatusOr<SeriesLists>>* results,
                       std::vector<std::vector<RemoteSeries>>* lists,
                       std::vector<std::string>* warnings) const {
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (!ask[i]) continue;
      auto& r = (*results)[i];
      if (!r.ok()) {
        if (r.status().code() == absl::StatusCode::kCancelled ||
            (r.status().code() == absl::StatusCode::kDeadlineExceeded && ctx_.Expired())) {
          return r.status();
        }
        std::string msg =
            "remote " + remotes_[i]->endpoint().name + ": " + std::string(r.status().message());
        if (!opts_.partial_response) return absl::UnavailableError(msg);
        warnings->push_back(std::move(msg));
        continue;
      }
      answered_[i] = 1;
      if (!r->empty()) lists->push_back(std::move((*r)[0]));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<RemoteSeries>> RemoteSeriesOnly(std::vector<Matcher> matchers) {
    if (matchers.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(Matcher any,
                                Matcher::Make(MatchType::kRegexMatch, "__name__", ".+"));
      matchers.push_back(std::move(any));
    }
    std::vector<bool> ask = Asked(matchers);
    std::vector<prometheus::ReadRequest> reqs(remotes_.size());
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (ask[i]) BuildRequest(*remotes_[i], matchers, mint_, maxt_, 0, "series", &reqs[i]);
    }
    auto results = FanoutCall{remotes_, opts_, ctx_}.Run(ask, reqs, /*series_only=*/true);
    std::vector<std::vector<RemoteSeries>> lists;
    MERIDIAN_RETURN_IF_ERROR(Collect(ask, &results, &lists, &warnings_));
    std::vector<RemoteSeries> out;
    for (auto& l : lists) {
      for (auto& s : l) {
        if (MatchesAll(matchers, s.labels)) out.push_back(std::move(s));
      }
    }
    return out;
  }

 public:
  // Pushdown (remote/pushdown.h): every asked remote must take it (a
  // meridian), the local store must hold none of the selected series, no
  // replica label may be an external label, and each pair of asked remotes
  // must differ in an external label (their series are disjoint, as they are
  // for the engine's own merge): else nullopt, and the engine reads
  // everything through Select. Failed remotes as in Select.
  std::optional<absl::StatusOr<std::vector<PushdownPart>>> Pushdown(
      const PushdownQuery& q) override {
    std::vector<bool> ask(remotes_.size(), false);
    for (const auto& sel : q.selectors) {
      std::vector<bool> a = Asked(sel);
      for (size_t i = 0; i < a.size(); ++i) ask[i] = ask[i] || a[i];
    }
    const size_t nq = std::max<size_t>(q.queries, 1);
    std::vector<std::string> texts(remotes_.size() * nq);
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (!ask[i]) continue;
      const RemoteEndpoint& e = remotes_[i]->endpoint();
      if (!e.pushdown || ApiBaseUrl(e).empty()) return std::nullopt;
      for (const auto& r : q.replica_labels) {
        if (e.external_labels.Has(r)) return std::nullopt;
      }
      for (size_t j = 0; j < i; ++j) {
        if (ask[j] && !Disjoint(e.external_labels, remotes_[j]->endpoint().external_labels)) {
          return std::nullopt;
        }
      }
      for (size_t k = 0; k < nq; ++k) {
        auto text = q.text(e.external_labels, k);
        if (!text) return std::nullopt;
        texts[i * nq + k] = *std::move(text);
      }
    }
    if (local_ != nullptr) {
      for (const auto& sel : q.selectors) {
        SelectHints hints;
        hints.start_ms = mint_;
        hints.end_ms = maxt_;
        hints.func = "series";
        auto set = local_->Select(sel, hints);
        if (!set.ok()) return absl::StatusOr<std::vector<PushdownPart>>(set.status());
        if ((*set)->Next()) return std::nullopt;  // local data takes part
      }
    }
    std::vector<RemoteEndpoint> eps;
    for (const auto& r : remotes_) eps.push_back(PushdownEndpoint(r->endpoint(), q.step_ms == 0));
    auto results = FanoutCall{remotes_, opts_, ctx_}.RunJobs<PushdownAnswer>(
        ask, eps, nq, [&](size_t i, size_t k, HttpCall* call) {
          return QueryRemote(call, remotes_[i]->endpoint(), texts[i * nq + k], q, opts_.tenant,
                             opts_.partial_response);
        });
    std::vector<PushdownPart> out;
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (!ask[i]) continue;
      const std::string& name = remotes_[i]->endpoint().name;
      // A remote counts whole or not at all (avg's sum without its count
      // would be wrong): its first failed query decides.
      const absl::StatusOr<PushdownAnswer>* failed = nullptr;
      for (size_t k = 0; k < nq && failed == nullptr; ++k) {
        if (!results[i * nq + k].ok()) failed = &results[i * nq + k];
      }
      if (failed != nullptr) {
        const absl::Status& st = failed->status();
        if (st.code() == absl::StatusCode::kCancelled ||
            (st.code() == absl::StatusCode::kDeadlineExceeded && ctx_.Expired())) {
          return absl::StatusOr<std::vector<PushdownPart>>(st);
        }
        std::string msg = "remote " + name + ": " + std::string(st.message());
        if (!opts_.partial_response) {
          return absl::StatusOr<std::vector<PushdownPart>>(absl::UnavailableError(msg));
        }
        AddWarning(std::move(msg));
        continue;
      }
      answered_[i] = 1;
      for (size_t k = 0; k < nq; ++k) {
        auto& r = results[i * nq + k];
        for (auto& w : r->warnings) AddWarning("remote " + name + ": " + w);
        if (k == 0) {  // the same data: its infos once
          for (auto& x : r->infos) remote_infos_.push_back("remote " + name + ": " + x);
        }
        out.push_back(
            PushdownPart{k, remotes_[i]->endpoint().external_labels, std::move(r->series)});
      }
    }
    return absl::StatusOr<std::vector<PushdownPart>>(std::move(out));
  }

 private:
  // Some label both carry with different values.
  static bool Disjoint(const Labels& a, const Labels& b) {
    for (const Label& l : a) {
      std::string_view v = b.Get(l.name);
      if (!v.empty() && v != l.value) return true;
    }
    return false;
  }
  void AddWarning(std::string w) {
    if (std::find(warnings_.begin(), warnings_.end(), w) == warnings_.end()) {
      warnings_.push_back(std::move(w));
    }
  }

 public:
  std::vector<std::string> Warnings() const override {
    std::vector<std::string> w =
        local_ != nullptr ? local_->Warnings() : std::vector<std::string>{};
    for (const auto& x : warnings_) {
      if (std::find(w.begin(), w.end(), x) == w.end()) w.push_back(x);
    }
    return w;
  }

  // Freshness: each remote that answered this querier and whose data ends
  // more than the lag before the querier's range does.
  std::vector<std::string> Infos() const override {
    std::vector<std::string> out = local_ != nullptr ? local_->Infos() : std::vector<std::string>{};
    out.insert(out.end(), remote_infos_.begin(), remote_infos_.end());
    if (opts_.watermarks == nullptr || opts_.freshness_lag_ms <= 0) return out;
    for (size_t i = 0; i < remotes_.size(); ++i) {
      if (!answered_[i]) continue;
      std::optional<int64_t> wm = opts_.watermarks->Watermark(*remotes_[i], opts_.tenant);
      if (!wm || maxt_ - *wm <= opts_.freshness_lag_ms) continue;
      out.push_back(FreshnessInfo(remotes_[i]->endpoint().name, *wm, maxt_));
    }
    return out;
  }

 private:
  std::unique_ptr<Querier> local_;
  const std::vector<std::shared_ptr<const RemoteReadClient>>& remotes_;
  const FanoutOptions& opts_;
  const ReadContext ctx_;
  int64_t mint_, maxt_;
  std::vector<std::string> warnings_;      // of the label calls and pushdowns
  std::vector<std::string> remote_infos_;  // the pushdowns' remotes' infos
  mutable std::vector<char> answered_;     // per remote: answered a call of this querier
};

}  // namespace

FanoutQueryable::FanoutQueryable(std::unique_ptr<Queryable> local,
                                 std::vector<std::shared_ptr<const RemoteReadClient>> remotes,
                                 FanoutOptions options)
    : local_(std::move(local)), remotes_(std::move(remotes)), options_(std::move(options)) {}

bool FanoutQueryable::MayPushdown() const {
  for (const auto& r : remotes_) {
    if (r->endpoint().pushdown) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Querier>> FanoutQueryable::NewQuerier(int64_t mint_ms,
                                                                     int64_t maxt_ms,
                                                                     const ReadContext& ctx) const {
  std::unique_ptr<Querier> local;
  if (local_ != nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(local, local_->NewQuerier(mint_ms, maxt_ms, ctx));
  }
  return std::unique_ptr<Querier>(
      new FanoutQuerier(std::move(local), remotes_, options_, ctx, mint_ms, maxt_ms));
}

}  // namespace meridian::remote
