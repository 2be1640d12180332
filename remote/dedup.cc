#include "remote/dedup.h"

#include <algorithm>
#include <limits>
#include <map>

namespace meridian::remote {
namespace {

constexpr int64_t kInitialPenaltyMs = 5000;

bool CounterLike(const Labels& ls) {
  std::string_view n = ls.MetricName();
  for (std::string_view suffix : {"_total", "_count", "_sum", "_bucket"}) {
    if (n.size() > suffix.size() && n.substr(n.size() - suffix.size()) == suffix) return true;
  }
  return false;
}

int64_t SatAdd(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b)
    return std::numeric_limits<int64_t>::max();
  return a + b;
}

struct Group {
  Labels labels;                              // without the replica labels
  std::vector<std::vector<Sample>> replicas;  // in label order of the originals
};

class DedupSeriesSet : public SeriesSet {
 public:
  DedupSeriesSet(std::vector<Group> groups, std::vector<std::string> warnings)
      : groups_(std::move(groups)), warnings_(std::move(warnings)) {}
  bool Next() override { return ++pos_ < groups_.size(); }
  const Labels& labels() const override { return groups_[pos_].labels; }
  absl::Status Samples(std::vector<Sample>* out) override {
    auto& reps = groups_[pos_].replicas;
    const bool counter = CounterLike(groups_[pos_].labels);
    std::vector<Sample> merged = std::move(reps[0]);
    for (size_t i = 1; i < reps.size(); ++i) merged = MergeReplicas(merged, reps[i], counter);
    out->swap(merged);
    return absl::OkStatus();
  }
  absl::Status status() const override { return absl::OkStatus(); }
  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  std::vector<Group> groups_;
  std::vector<std::string> warnings_;
  size_t pos_ = static_cast<size_t>(-1);
};

class DedupQuerier : public Querier {
 public:
  DedupQuerier(std::unique_ptr<Querier> inner, const std::vector<std::string>& replica_labels)
      : inner_(std::move(inner)), replica_labels_(replica_labels) {}

  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& matchers,
                                                    const SelectHints& hints) override {
    MERIDIAN_ASSIGN_OR_RETURN(auto set, inner_->Select(matchers, hints));
    std::map<Labels, Group> groups;  // sorted by the deduplicated labels
    while (set->Next()) {
      LabelsBuilder b(set->labels());
      for (const auto& r : replica_labels_) b.Del(r);
      Labels key = b.Build();
      std::vector<Sample> samples;
      MERIDIAN_RETURN_IF_ERROR(set->Samples(&samples));
      Group& g = groups[key];
      if (g.replicas.empty()) g.labels = key;
      g.replicas.push_back(std::move(samples));
    }
    MERIDIAN_RETURN_IF_ERROR(set->status());
    std::vector<Group> out;
    out.reserve(groups.size());
    for (auto& [k, g] : groups) out.push_back(std::move(g));
    return std::unique_ptr<SeriesSet>(new DedupSeriesSet(std::move(out), set->warnings()));
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<Matcher>& matchers) override {
    MERIDIAN_ASSIGN_OR_RETURN(auto names, inner_->LabelNames(matchers));
    names.erase(std::remove_if(names.begin(), names.end(),
                               [&](const std::string& n) {
                                 return std::find(replica_labels_.begin(), replica_labels_.end(),
                                                  n) != replica_labels_.end();
                               }),
                names.end());
    return names;
  }

  absl::StatusOr<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<Matcher>& matchers) override {
    if (std::find(replica_labels_.begin(), replica_labels_.end(), name) != replica_labels_.end()) {
      return std::vector<std::string>{};
    }
    return inner_->LabelValues(name, matchers);
  }

  std::vector<std::string> Warnings() const override { return inner_->Warnings(); }
  std::vector<std::string> Infos() const override { return inner_->Infos(); }

  // The remotes must deduplicate by the same labels.
  std::optional<absl::StatusOr<std::vector<PushdownPart>>> Pushdown(
      const PushdownQuery& q) override {
    PushdownQuery with = q;
    with.replica_labels = replica_labels_;
    return inner_->Pushdown(with);
  }

 private:
  std::unique_ptr<Querier> inner_;
  const std::vector<std::string>& replica_labels_;
};

}  // namespace

std::vector<Sample> MergeReplicas(const std::vector<Sample>& a, const std::vector<Sample>& b,
                                  bool counter) {
  std::vector<Sample> out;
  out.reserve(std::max(a.size(), b.size()));
  size_t i = 0, j = 0;
  int64_t last_t = std::numeric_limits<int64_t>::min();
  int64_t pen_a = 0, pen_b = 0;
  int cur = -1;  // replica of the last sample taken: 0 a, 1 b
  // The last value each replica showed (taken or not), to tell a replica
  // catching up from one that reset.
  double seen[2] = {0, 0};
  bool has_seen[2] = {false, false};
  bool own_reset[2] = {false, false};  // the replica's own values dropped since last taken
  auto see = [&](int r, double v) {
    if (has_seen[r] && v < seen[r]) own_reset[r] = true;
    seen[r] = v;
    has_seen[r] = true;
  };
  auto seek = [&](const std::vector<Sample>& s, size_t* k, int64_t t, int r) {
    while (*k < s.size() && s[*k].t_ms < t) see(r, s[(*k)++].v);
  };
  // True when taking s[k] of replica r right after a switch would read as a
  // counter reset that is not the replica's own.
  auto fake_reset = [&](const Sample& s, int r) {
    if (!counter || cur == -1 || cur == r || out.empty() || IsStaleNaN(s.v)) return false;
    if (!(s.v < out.back().v)) return false;
    return !own_reset[r] && !(has_seen[r] && s.v < seen[r]);
  };
  while (true) {
    const int64_t from = last_t == std::numeric_limits<int64_t>::min() ? last_t : last_t + 1;
    seek(a, &i, SatAdd(from, pen_a), 0);
    seek(b, &j, SatAdd(from, pen_b), 1);
    const bool aok = i < a.size(), bok = j < b.size();
    if (!aok && !bok) break;
    int take;
    if (!aok) {
      take = 1;
    } else if (!bok) {
      take = 0;
    } else {
      take = a[i].t_ms <= b[j].t_ms ? 0 : 1;
    }
    const Sample& s = take == 0 ? a[i] : b[j];
    if (aok && bok) {
      const int64_t pen =
          last_t != std::numeric_limits<int64_t>::min() ? 2 * (s.t_ms - last_t) : kInitialPenaltyMs;
      (take == 0 ? pen_b : pen_a) = pen;
    }
    (take == 0 ? pen_a : pen_b) = 0;
    const bool skip = fake_reset(s, take);
    see(take, s.v);
    if (!skip) own_reset[take] = false;
    if (skip) {
      // The replica taken over is behind: this sample is left out; its later
      // samples count once it has caught up (or reset on its own).
      (take == 0 ? i : j) += 1;
      continue;
    }
    out.push_back(s);
    cur = take;
    last_t = s.t_ms;
  }
  return out;
}

DedupQueryable::DedupQueryable(std::unique_ptr<Queryable> inner,
                               std::vector<std::string> replica_labels)
    : inner_(std::move(inner)), replica_labels_(std::move(replica_labels)) {}

absl::StatusOr<std::unique_ptr<Querier>> DedupQueryable::NewQuerier(int64_t mint_ms,
                                                                    int64_t maxt_ms,
                                                                    const ReadContext& ctx) const {
  MERIDIAN_ASSIGN_OR_RETURN(auto q, inner_->NewQuerier(mint_ms, maxt_ms, ctx));
  return std::unique_ptr<Querier>(new DedupQuerier(std::move(q), replica_labels_));
}

}  // namespace meridian::remote
