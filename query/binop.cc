// Binary operators: scalar/scalar, vector/scalar, vector/vector matching and
// the set operators, following Prometheus's VectorBinop, VectorscalarBinop,
// VectorAnd/Or/Unless and resultMetric.
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "query/eval.h"

namespace meridian::promql::eval {
namespace {

bool IsCmpOp(BinOp op) {
  switch (op) {
    case BinOp::kEql:
    case BinOp::kNeq:
    case BinOp::kGtr:
    case BinOp::kLss:
    case BinOp::kGte:
    case BinOp::kLte:
      return true;
    default:
      return false;
  }
}

bool IsSetOp(BinOp op) { return op == BinOp::kAnd || op == BinOp::kOr || op == BinOp::kUnless; }

bool DropsMetricName(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
    case BinOp::kSub:
    case BinOp::kMul:
    case BinOp::kDiv:
    case BinOp::kMod:
    case BinOp::kPow:
    case BinOp::kAtan2:
      return true;
    default:
      return false;
  }
}

// Returns whether the element is kept; *out is the value.
bool ElemBinop(BinOp op, double l, double r, double* out) {
  switch (op) {
    case BinOp::kAdd:
      *out = l + r;
      return true;
    case BinOp::kSub:
      *out = l - r;
      return true;
    case BinOp::kMul:
      *out = l * r;
      return true;
    case BinOp::kDiv:
      *out = l / r;
      return true;
    case BinOp::kPow:
      *out = std::pow(l, r);
      return true;
    case BinOp::kMod:
      *out = std::fmod(l, r);
      return true;
    case BinOp::kAtan2:
      *out = std::atan2(l, r);
      return true;
    case BinOp::kEql:
      *out = l;
      return l == r;
    case BinOp::kNeq:
      *out = l;
      return l != r;
    case BinOp::kGtr:
      *out = l;
      return l > r;
    case BinOp::kLss:
      *out = l;
      return l < r;
    case BinOp::kGte:
      *out = l;
      return l >= r;
    case BinOp::kLte:
      *out = l;
      return l <= r;
    default:
      *out = 0;
      return false;
  }
}

double ScalarBinopValue(BinOp op, double l, double r) {
  double v;
  bool keep = ElemBinop(op, l, r, &v);
  if (IsCmpOp(op)) return keep ? 1 : 0;
  return v;
}

// Signature of the labels a vector match compares.
uint64_t MatchSignature(const Labels& ls, const VectorMatching& m,
                        const std::vector<std::string>& ignoring_names) {
  if (m.on) return ls.HashFor(m.matching_labels, true);
  return ls.HashFor(ignoring_names, false);
}

std::vector<std::string> IgnoringNames(const VectorMatching& m) {
  std::vector<std::string> names = m.matching_labels;
  names.push_back(std::string(kMetricName));
  return names;
}

// The labels of the match group, for error messages (Labels.MatchLabels).
Labels MatchLabels(const Labels& ls, const VectorMatching& m) {
  LabelsBuilder b(ls);
  if (m.on) {
    b.Keep(m.matching_labels);
  } else {
    b.Del(kMetricName);
    for (const auto& n : m.matching_labels) b.Del(n);
  }
  return b.Build();
}

// One vector/vector arithmetic or comparison operation (Prometheus's
// VectorBinop), in named steps: the sides and their match signatures
// (constructor), the result labels of a pair (ResultLabels, resultMetric),
// then either whole series paired once when the pairing cannot change
// between steps (PairSeries, ApplyPairs), or matching step by step
// (IndexOneSide, MatchStep) with Prometheus's cardinality checks.
class VectorBinop {
 public:
  VectorBinop(Evaluator* ev, QueryContext* q, const BinaryExpr& b, const VectorMatching& m,
              const EvalMatrix& l, const EvalMatrix& r)
      : ev_(ev),
        q_(q),
        b_(b),
        m_(m),
        swapped_(m.card == Cardinality::kOneToMany),
        many_(swapped_ ? r : l),
        one_(swapped_ ? l : r),
        cmp_(IsCmpOp(b.op)),
        drop_op_name_(DropsMetricName(b.op)),
        msig_(many_.size()),
        osig_(one_.size()) {
    const std::vector<std::string> ign = IgnoringNames(m);
    for (size_t i = 0; i < many_.size(); ++i) msig_[i] = MatchSignature(many_[i].metric, m, ign);
    for (size_t i = 0; i < one_.size(); ++i) osig_[i] = MatchSignature(one_[i].metric, m, ign);
  }

  // The output series (possibly with empty ones dropped).
  absl::StatusOr<EvalMatrix> Run() {
    std::vector<int> pair;
    std::vector<Labels> labels;
    std::vector<uint64_t> hashes;
    if (PairSeries(&pair, &labels, &hashes)) {
      MERIDIAN_RETURN_IF_ERROR(ApplyPairs(pair, &labels, hashes));
      return acc_.Take();
    }
    StepCursor mc(&many_), oc(&one_);
    one_val_.resize(one_.size());
    for (int step = 0; step < ev_->num_steps(); ++step) {
      if ((step & 63) == 63) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
      MERIDIAN_RETURN_IF_ERROR(MatchStep(ev_->StepTime(step), &mc, &oc));
    }
    EvalMatrix out = acc_.Take();
    std::erase_if(out, [](const EvalSeries& s) { return s.points.empty(); });
    return out;
  }

 private:
  // An accumulator series and the hash of its labels.
  struct OutRef {
    int series;
    uint64_t hash;
  };

  // The labels of the result of many_[i] op one_[j] (resultMetric).
  Labels ResultLabels(size_t i, size_t j) const {
    LabelsBuilder lb(many_[i].metric);
    if (drop_op_name_) lb.Del(kMetricName);
    if (m_.card == Cardinality::kOneToOne) {
      if (m_.on) {
        lb.Keep(m_.matching_labels);
      } else {
        for (const auto& n : m_.matching_labels) lb.Del(n);
      }
    }
    for (const auto& n : m_.include) {
      std::string_view v = one_[j].metric.Get(n);
      if (!v.empty()) {
        lb.Set(n, v);
      } else {
        lb.Del(n);
      }
    }
    return lb.Build();
  }

  // Whether the result of a pair drops its name: delayed for comparisons.
  bool DropName(size_t i) const { return b_.return_bool || (cmp_ && many_[i].drop_name); }

  // The accumulator series of pair (i, j), created on first use.
  OutRef OutputFor(size_t i, size_t j) {
    uint64_t key = static_cast<uint64_t>(i) * one_.size() + j;
    auto it = out_cache_.find(key);
    if (it != out_cache_.end()) return it->second;
    Labels ls = ResultLabels(i, j);
    uint64_t h = ls.Hash();
    int idx = acc_.SeriesFor(h, DropName(i), [&] { return std::move(ls); });
    OutRef ref{idx, h};
    out_cache_.emplace(key, ref);
    return ref;
  }

  // When every signature is unique on the "one" side (and on the "many"
  // side for one-to-one), and no two pairs share a result label set, the
  // pairs are the same at every step and no matching error can occur:
  // returns true with (*pair)[i] = the one-side partner of many_[i] (or -1)
  // and the result labels and their hashes.
  bool PairSeries(std::vector<int>* pair, std::vector<Labels>* labels,
                  std::vector<uint64_t>* hashes) const {
    absl::flat_hash_map<uint64_t, int> one_of_sig;
    bool fast = true;
    for (size_t j = 0; j < one_.size() && fast; ++j) {
      fast = one_of_sig.try_emplace(osig_[j], static_cast<int>(j)).second;
    }
    if (fast && m_.card == Cardinality::kOneToOne) {
      absl::flat_hash_set<uint64_t> seen;
      for (size_t i = 0; i < many_.size() && fast; ++i) fast = seen.insert(msig_[i]).second;
    }
    pair->assign(many_.size(), -1);
    if (fast) {
      absl::flat_hash_set<uint64_t> seen;
      labels->resize(many_.size());
      hashes->resize(many_.size());
      for (size_t i = 0; i < many_.size() && fast; ++i) {
        auto it = one_of_sig.find(msig_[i]);
        if (it == one_of_sig.end()) continue;
        (*pair)[i] = it->second;
        (*labels)[i] = ResultLabels(i, static_cast<size_t>(it->second));
        (*hashes)[i] = (*labels)[i].Hash();
        fast = seen.insert((*hashes)[i]).second;
      }
    }
    return fast;
  }

  // Walks each pair's points together, series by series.
  absl::Status ApplyPairs(const std::vector<int>& pair, std::vector<Labels>* labels,
                          const std::vector<uint64_t>& hashes) {
    for (size_t i = 0; i < many_.size(); ++i) {
      if (pair[i] < 0) continue;
      if ((i & 1023) == 1023) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
      const auto& mp = many_[i].points;
      const auto& op = one_[pair[i]].points;
      int idx = -1;
      size_t a = 0, bi = 0;
      while (a < mp.size() && bi < op.size()) {
        if (mp[a].t_ms < op[bi].t_ms) {
          ++a;
          continue;
        }
        if (op[bi].t_ms < mp[a].t_ms) {
          ++bi;
          continue;
        }
        double fl = mp[a].v, fr = op[bi].v;
        if (swapped_) std::swap(fl, fr);
        double val;
        bool keep = ElemBinop(b_.op, fl, fr, &val);
        if (b_.return_bool) {
          val = keep ? 1 : 0;
          keep = true;
        }
        if (keep) {
          if (idx < 0) {
            idx = acc_.SeriesFor(hashes[i], DropName(i), [&] { return std::move((*labels)[i]); });
          }
          MERIDIAN_RETURN_IF_ERROR(acc_.Add(idx, mp[a].t_ms, val));
        }
        ++a;
        ++bi;
      }
    }
    return absl::OkStatus();
  }

  // Indexes the one-side samples at `ts` by signature into one_by_sig_ and
  // one_val_; two with one signature are the "found duplicate series" error.
  absl::Status IndexOneSide(int64_t ts, StepCursor* oc) {
    one_by_sig_.clear();
    for (size_t j = 0; j < one_.size(); ++j) {
      double v;
      if (!oc->At(j, ts, &v)) continue;
      one_val_[j] = v;
      auto [it, inserted] = one_by_sig_.try_emplace(osig_[j], static_cast<int>(j));
      if (!inserted) return DuplicateSeriesError(static_cast<size_t>(it->second), j);
    }
    return absl::OkStatus();
  }

  absl::Status DuplicateSeriesError(size_t first, size_t j) const {
    const Labels* a = &one_[first].metric;
    const Labels* b2 = &one_[j].metric;
    if (Labels::Compare(*b2, *a) < 0) std::swap(a, b2);
    return absl::FailedPreconditionError(absl::StrCat(
        "found duplicate series for the match group ",
        LabelsString(MatchLabels(one_[j].metric, m_)), " on the ", swapped_ ? "left" : "right",
        " hand-side of the operation: [", LabelsString(*a), ", ", LabelsString(*b2),
        "];many-to-many matching not allowed: matching labels must be unique on one side"));
  }

  // Matches the samples of one step: each many-side sample with the
  // one-side sample of its signature, with the cardinality checks.
  absl::Status MatchStep(int64_t ts, StepCursor* mc, StepCursor* oc) {
    MERIDIAN_RETURN_IF_ERROR(IndexOneSide(ts, oc));
    if (one_by_sig_.empty()) return absl::OkStatus();
    matched_sigs_.clear();
    matched_results_.clear();
    for (size_t i = 0; i < many_.size(); ++i) {
      double mv;
      if (!mc->At(i, ts, &mv)) continue;
      auto it = one_by_sig_.find(msig_[i]);
      if (it == one_by_sig_.end()) continue;
      const size_t j = static_cast<size_t>(it->second);
      double fl = mv, fr = one_val_[j];
      if (swapped_) std::swap(fl, fr);
      // Matching errors are found even for elements a comparison filters out.
      if (m_.card == Cardinality::kOneToOne && !matched_sigs_.insert(msig_[i]).second) {
        return absl::FailedPreconditionError(
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)");
      }
      double val;
      bool keep = ElemBinop(b_.op, fl, fr, &val);
      if (b_.return_bool) {
        val = keep ? 1 : 0;
      } else if (!keep) {
        continue;
      }
      OutRef ref = OutputFor(i, j);
      if (m_.card != Cardinality::kOneToOne &&
          !matched_results_.insert({msig_[i], ref.hash}).second) {
        return absl::FailedPreconditionError(
            "multiple matches for labels: grouping labels must ensure unique matches");
      }
      MERIDIAN_RETURN_IF_ERROR(acc_.Add(ref.series, ts, val));
    }
    return absl::OkStatus();
  }

  Evaluator* ev_;
  QueryContext* q_;
  const BinaryExpr& b_;
  const VectorMatching& m_;
  const bool swapped_;  // group_right: the "many" side is the right one
  const EvalMatrix& many_;
  const EvalMatrix& one_;
  const bool cmp_;
  const bool drop_op_name_;
  std::vector<uint64_t> msig_, osig_;  // match signatures
  SeriesAccumulator acc_;
  // (many index, one index) -> accumulator series, and the result label hash.
  absl::flat_hash_map<uint64_t, OutRef> out_cache_;
  // Per-step state of MatchStep, kept to reuse allocations.
  absl::flat_hash_map<uint64_t, int> one_by_sig_;
  std::vector<double> one_val_;
  absl::flat_hash_set<uint64_t> matched_sigs_;
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> matched_results_;
};

}  // namespace

absl::StatusOr<EvalResult> Evaluator::EvalBinary(const BinaryExpr& b) {
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult l, Eval(*b.lhs));
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, Eval(*b.rhs));
  const bool ls = l.type == ValueType::kScalar;
  const bool rs = r.type == ValueType::kScalar;
  if (ls && rs) return ScalarScalarBinop(b, std::move(l), std::move(r));
  if (!ls && !rs) {
    if (IsSetOp(b.op)) return SetBinop(b, std::move(l), std::move(r));
    return VectorVectorBinop(b, std::move(l), std::move(r));
  }
  if (rs) return VectorScalarBinop(b, std::move(l), r, false);
  return VectorScalarBinop(b, std::move(r), l, true);
}

absl::StatusOr<EvalResult> Evaluator::ScalarScalarBinop(const BinaryExpr& b, EvalResult l,
                                                        EvalResult r) {
  for (size_t i = 0; i < l.scalar.size() && i < r.scalar.size(); ++i) {
    l.scalar[i] = ScalarBinopValue(b.op, l.scalar[i], r.scalar[i]);
  }
  return l;
}

absl::StatusOr<EvalResult> Evaluator::VectorScalarBinop(const BinaryExpr& b, EvalResult vec,
                                                        const EvalResult& sc, bool scalar_left) {
  const bool cmp = IsCmpOp(b.op);
  const bool drop = DropsMetricName(b.op) || b.return_bool;
  int64_t removed = 0;
  size_t w = 0;
  for (size_t si = 0; si < vec.matrix.size(); ++si) {
    EvalSeries& s = vec.matrix[si];
    size_t pw = 0;
    for (size_t k = 0; k < s.points.size(); ++k) {
      const Point p = s.points[k];
      const double sv = sc.scalar[StepIndex(p.t_ms)];
      double lf = p.v, rf = sv;
      if (scalar_left) std::swap(lf, rf);
      double val;
      bool keep = ElemBinop(b.op, lf, rf, &val);
      if (cmp) val = p.v;
      if (b.return_bool) {
        val = keep ? 1 : 0;
        keep = true;
      }
      if (!keep) continue;
      s.points[pw++] = Point{p.t_ms, val};
    }
    removed += static_cast<int64_t>(s.points.size() - pw);
    s.points.resize(pw);
    if (pw == 0) continue;
    if (drop) s.drop_name = true;
    if (w != si) vec.matrix[w] = std::move(s);
    ++w;
  }
  vec.matrix.resize(w);
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-removed));
  return vec;
}

absl::StatusOr<EvalResult> Evaluator::SetBinop(const BinaryExpr& b, EvalResult l, EvalResult r) {
  VectorMatching def;
  def.card = Cardinality::kManyToMany;
  const VectorMatching& m = b.matching ? *b.matching : def;
  const std::vector<std::string> ign = IgnoringNames(m);
  EvalResult out;
  out.type = ValueType::kVector;
  const EvalMatrix& lhs = l.matrix;
  const EvalMatrix& rhs = r.matrix;

  // Fast paths that keep whole series.
  if (b.op == BinOp::kAnd && (lhs.empty() || rhs.empty())) {
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(lhs) - CountPoints(rhs)));
    return out;
  }
  if (b.op == BinOp::kUnless && (lhs.empty() || rhs.empty())) {
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(rhs)));
    return l;
  }
  if (b.op == BinOp::kOr && rhs.empty()) return l;
  if (b.op == BinOp::kOr && lhs.empty()) return r;

  std::vector<uint64_t> lsig(lhs.size()), rsig(rhs.size());
  std::vector<uint64_t> lhash(lhs.size()), rhash(rhs.size());
  for (size_t i = 0; i < lhs.size(); ++i) {
    lsig[i] = MatchSignature(lhs[i].metric, m, ign);
    lhash[i] = lhs[i].metric.Hash();
  }
  for (size_t i = 0; i < rhs.size(); ++i) {
    rsig[i] = MatchSignature(rhs[i].metric, m, ign);
    rhash[i] = rhs[i].metric.Hash();
  }
  SeriesAccumulator acc;

  // Fast path: when every signature and every label set occurs at most once
  // per side and no label set is on both sides, each output series is one
  // input series filtered against at most one series of the other side.
  {
    absl::flat_hash_map<uint64_t, int> lby, rby;
    absl::flat_hash_set<uint64_t> hashes;
    bool fast = true;
    for (size_t i = 0; i < lhs.size() && fast; ++i) {
      fast = lby.try_emplace(lsig[i], static_cast<int>(i)).second && hashes.insert(lhash[i]).second;
    }
    for (size_t j = 0; j < rhs.size() && fast; ++j) {
      fast = rby.try_emplace(rsig[j], static_cast<int>(j)).second && hashes.insert(rhash[j]).second;
    }
    if (fast) {
      // Appends the points of `from` for which `other` has (keep_present)
      // or lacks (!keep_present) a point at the same time.
      auto filter = [&](const EvalSeries& from, uint64_t hash, const EvalSeries* other,
                        bool keep_present) -> absl::Status {
        int idx = -1;
        size_t k = 0;
        for (const Point& p : from.points) {
          bool present = false;
          if (other != nullptr) {
            const auto& op = other->points;
            while (k < op.size() && op[k].t_ms < p.t_ms) ++k;
            present = k < op.size() && op[k].t_ms == p.t_ms;
          }
          if (present != keep_present) continue;
          if (idx < 0) idx = acc.SeriesFor(hash, from.drop_name, [&] { return from.metric; });
          MERIDIAN_RETURN_IF_ERROR(acc.Add(idx, p.t_ms, p.v));
        }
        return absl::OkStatus();
      };
      for (size_t i = 0; i < lhs.size(); ++i) {
        if ((i & 1023) == 1023) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
        auto it = rby.find(lsig[i]);
        const EvalSeries* other = it == rby.end() ? nullptr : &rhs[it->second];
        if (b.op == BinOp::kOr) {
          MERIDIAN_RETURN_IF_ERROR(filter(lhs[i], lhash[i], nullptr, false));
        } else {
          MERIDIAN_RETURN_IF_ERROR(filter(lhs[i], lhash[i], other, b.op == BinOp::kAnd));
        }
      }
      if (b.op == BinOp::kOr) {
        for (size_t j = 0; j < rhs.size(); ++j) {
          auto it = lby.find(rsig[j]);
          const EvalSeries* other = it == lby.end() ? nullptr : &lhs[it->second];
          MERIDIAN_RETURN_IF_ERROR(filter(rhs[j], rhash[j], other, false));
        }
      }
      out.matrix = acc.Take();
      MERIDIAN_RETURN_IF_ERROR(
          q_->AddSamples(CountPoints(out.matrix) - CountPoints(lhs) - CountPoints(rhs)));
      return out;
    }
  }

  StepCursor lc(&lhs), rc(&rhs);
  absl::flat_hash_set<uint64_t> sigs;
  for (int step = 0; step < num_steps_; ++step) {
    if ((step & 63) == 63) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    const int64_t ts = StepTime(step);
    sigs.clear();
    double v;
    if (b.op == BinOp::kOr) {
      for (size_t i = 0; i < lhs.size(); ++i) {
        if (!lc.At(i, ts, &v)) continue;
        sigs.insert(lsig[i]);
        int idx = acc.SeriesFor(lhash[i], lhs[i].drop_name, [&] { return lhs[i].metric; });
        MERIDIAN_RETURN_IF_ERROR(acc.Add(idx, ts, v));
      }
      for (size_t j = 0; j < rhs.size(); ++j) {
        if (!rc.At(j, ts, &v) || sigs.contains(rsig[j])) continue;
        int idx = acc.SeriesFor(rhash[j], rhs[j].drop_name, [&] { return rhs[j].metric; });
        MERIDIAN_RETURN_IF_ERROR(acc.Add(idx, ts, v));
      }
      continue;
    }
    bool any_r = false;
    for (size_t j = 0; j < rhs.size(); ++j) {
      if (rc.At(j, ts, &v)) {
        sigs.insert(rsig[j]);
        any_r = true;
      }
    }
    if (b.op == BinOp::kAnd && !any_r) continue;
    for (size_t i = 0; i < lhs.size(); ++i) {
      if (!lc.At(i, ts, &v)) continue;
      bool found = sigs.contains(lsig[i]);
      if ((b.op == BinOp::kAnd) != found) continue;
      int idx = acc.SeriesFor(lhash[i], lhs[i].drop_name, [&] { return lhs[i].metric; });
      MERIDIAN_RETURN_IF_ERROR(acc.Add(idx, ts, v));
    }
  }
  out.matrix = acc.Take();
  MERIDIAN_RETURN_IF_ERROR(
      q_->AddSamples(CountPoints(out.matrix) - CountPoints(lhs) - CountPoints(rhs)));
  return out;
}

absl::StatusOr<EvalResult> Evaluator::VectorVectorBinop(const BinaryExpr& b, EvalResult l,
                                                        EvalResult r) {
  VectorMatching def;
  const VectorMatching& m = b.matching ? *b.matching : def;
  EvalResult out;
  out.type = ValueType::kVector;
  const int64_t in_points = CountPoints(l.matrix) + CountPoints(r.matrix);
  if (l.matrix.empty() || r.matrix.empty()) {
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-in_points));
    return out;
  }
  VectorBinop op(this, q_, b, m, l.matrix, r.matrix);
  MERIDIAN_ASSIGN_OR_RETURN(out.matrix, op.Run());
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(out.matrix) - in_points));
  return out;
}

}  // namespace meridian::promql::eval
