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
    case BinOp::kEql: case BinOp::kNeq: case BinOp::kGtr:
    case BinOp::kLss: case BinOp::kGte: case BinOp::kLte:
      return true;
    default:
      return false;
  }
}

bool IsSetOp(BinOp op) {
  return op == BinOp::kAnd || op == BinOp::kOr || op == BinOp::kUnless;
}

bool DropsMetricName(BinOp op) {
  switch (op) {
    case BinOp::kAdd: case BinOp::kSub: case BinOp::kMul: case BinOp::kDiv:
    case BinOp::kMod: case BinOp::kPow: case BinOp::kAtan2:
      return true;
    default:
      return false;
  }
}

// Returns whether the element is kept; *out is the value.
bool ElemBinop(BinOp op, double l, double r, double* out) {
  switch (op) {
    case BinOp::kAdd: *out = l + r; return true;
    case BinOp::kSub: *out = l - r; return true;
    case BinOp::kMul: *out = l * r; return true;
    case BinOp::kDiv: *out = l / r; return true;
    case BinOp::kPow: *out = std::pow(l, r); return true;
    case BinOp::kMod: *out = std::fmod(l, r); return true;
    case BinOp::kAtan2: *out = std::atan2(l, r); return true;
    case BinOp::kEql: *out = l; return l == r;
    case BinOp::kNeq: *out = l; return l != r;
    case BinOp::kGtr: *out = l; return l > r;
    case BinOp::kLss: *out = l; return l < r;
    case BinOp::kGte: *out = l; return l >= r;
    case BinOp::kLte: *out = l; return l <= r;
    default: *out = 0; return false;
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
                                                        const EvalResult& sc,
                                                        bool scalar_left) {
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
  const std::vector<std::string> ign = IgnoringNames(m);
  EvalResult out;
  out.type = ValueType::kVector;
  const int64_t in_points = CountPoints(l.matrix) + CountPoints(r.matrix);
  if (l.matrix.empty() || r.matrix.empty()) {
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-in_points));
    return out;
  }
  const bool swapped = m.card == Cardinality::kOneToMany;
  const EvalMatrix& many = swapped ? r.matrix : l.matrix;
  const EvalMatrix& one = swapped ? l.matrix : r.matrix;
  std::vector<uint64_t> msig(many.size()), osig(one.size());
  for (size_t i = 0; i < many.size(); ++i) msig[i] = MatchSignature(many[i].metric, m, ign);
  for (size_t i = 0; i < one.size(); ++i) osig[i] = MatchSignature(one[i].metric, m, ign);

  const bool cmp = IsCmpOp(b.op);
  const bool drop_op_name = DropsMetricName(b.op);
  SeriesAccumulator acc;
  // (many index, one index) -> accumulator series, and the result label hash.
  struct OutRef {
    int series;
    uint64_t hash;
  };
  absl::flat_hash_map<uint64_t, OutRef> out_cache;
  auto result_labels = [&](size_t i, size_t j) -> Labels {
    LabelsBuilder lb(many[i].metric);
    if (drop_op_name) lb.Del(kMetricName);
    if (m.card == Cardinality::kOneToOne) {
      if (m.on) {
        lb.Keep(m.matching_labels);
      } else {
        for (const auto& n : m.matching_labels) lb.Del(n);
      }
    }
    for (const auto& n : m.include) {
      std::string_view v = one[j].metric.Get(n);
      if (!v.empty()) {
        lb.Set(n, v);
      } else {
        lb.Del(n);
      }
    }
    return lb.Build();
  };
  auto output_for = [&](size_t i, size_t j) -> OutRef {
    uint64_t key = static_cast<uint64_t>(i) * one.size() + j;
    auto it = out_cache.find(key);
    if (it != out_cache.end()) return it->second;
    Labels ls = result_labels(i, j);
    uint64_t h = ls.Hash();
    bool drop = b.return_bool || (cmp && many[i].drop_name);
    int idx = acc.SeriesFor(h, drop, [&] { return std::move(ls); });
    OutRef ref{idx, h};
    out_cache.emplace(key, ref);
    return ref;
  };

  // Fast path: when every signature is unique on the "one" side (and on the
  // "many" side for one-to-one), and no two pairs share a result label set,
  // the pairs are the same at every step and no matching error can occur:
  // walk each pair's points together, series by series.
  {
    absl::flat_hash_map<uint64_t, int> one_of_sig;
    bool fast = true;
    for (size_t j = 0; j < one.size() && fast; ++j) {
      fast = one_of_sig.try_emplace(osig[j], static_cast<int>(j)).second;
    }
    if (fast && m.card == Cardinality::kOneToOne) {
      absl::flat_hash_set<uint64_t> seen;
      for (size_t i = 0; i < many.size() && fast; ++i) fast = seen.insert(msig[i]).second;
    }
    std::vector<int> pair(many.size(), -1);
    std::vector<Labels> labels;
    std::vector<uint64_t> hashes;
    if (fast) {
      absl::flat_hash_set<uint64_t> seen;
      labels.resize(many.size());
      hashes.resize(many.size());
      for (size_t i = 0; i < many.size() && fast; ++i) {
        auto it = one_of_sig.find(msig[i]);
        if (it == one_of_sig.end()) continue;
        pair[i] = it->second;
        labels[i] = result_labels(i, static_cast<size_t>(it->second));
        hashes[i] = labels[i].Hash();
        fast = seen.insert(hashes[i]).second;
      }
    }
    if (fast) {
      for (size_t i = 0; i < many.size(); ++i) {
        if (pair[i] < 0) continue;
        if ((i & 1023) == 1023) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
        const auto& mp = many[i].points;
        const auto& op = one[pair[i]].points;
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
          if (swapped) std::swap(fl, fr);
          double val;
          bool keep = ElemBinop(b.op, fl, fr, &val);
          if (b.return_bool) {
            val = keep ? 1 : 0;
            keep = true;
          }
          if (keep) {
            if (idx < 0) {
              const bool drop = b.return_bool || (cmp && many[i].drop_name);
              idx = acc.SeriesFor(hashes[i], drop, [&] { return std::move(labels[i]); });
            }
            MERIDIAN_RETURN_IF_ERROR(acc.Add(idx, mp[a].t_ms, val));
          }
          ++a;
          ++bi;
        }
      }
      out.matrix = acc.Take();
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(out.matrix) - in_points));
      return out;
    }
  }

  StepCursor mc(&many), oc(&one);
  absl::flat_hash_map<uint64_t, int> one_by_sig;
  std::vector<double> one_val(one.size());
  absl::flat_hash_set<uint64_t> matched_sigs;
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> matched_results;
  for (int step = 0; step < num_steps_; ++step) {
    if ((step & 63) == 63) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    const int64_t ts = StepTime(step);
    one_by_sig.clear();
    for (size_t j = 0; j < one.size(); ++j) {
      double v;
      if (!oc.At(j, ts, &v)) continue;
      one_val[j] = v;
      auto [it, inserted] = one_by_sig.try_emplace(osig[j], static_cast<int>(j));
      if (!inserted) {
        const Labels* a = &one[it->second].metric;
        const Labels* b2 = &one[j].metric;
        if (Labels::Compare(*b2, *a) < 0) std::swap(a, b2);
        return absl::FailedPreconditionError(absl::StrCat(
            "found duplicate series for the match group ",
            LabelsString(MatchLabels(one[j].metric, m)), " on the ",
            swapped ? "left" : "right", " hand-side of the operation: [", LabelsString(*a),
            ", ", LabelsString(*b2),
            "];many-to-many matching not allowed: matching labels must be unique on one side"));
      }
    }
    if (one_by_sig.empty()) continue;
    matched_sigs.clear();
    matched_results.clear();
    for (size_t i = 0; i < many.size(); ++i) {
      double mv;
      if (!mc.At(i, ts, &mv)) continue;
      auto it = one_by_sig.find(msig[i]);
      if (it == one_by_sig.end()) continue;
      const size_t j = static_cast<size_t>(it->second);
      double fl = mv, fr = one_val[j];
      if (swapped) std::swap(fl, fr);
      // Matching errors are found even for elements a comparison filters out.
      if (m.card == Cardinality::kOneToOne && !matched_sigs.insert(msig[i]).second) {
        return absl::FailedPreconditionError(
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)");
      }
      double val;
      bool keep = ElemBinop(b.op, fl, fr, &val);
      if (b.return_bool) {
        val = keep ? 1 : 0;
      } else if (!keep) {
        continue;
      }
      OutRef ref = output_for(i, j);
      if (m.card != Cardinality::kOneToOne &&
          !matched_results.insert({msig[i], ref.hash}).second) {
        return absl::FailedPreconditionError(
            "multiple matches for labels: grouping labels must ensure unique matches");
      }
      MERIDIAN_RETURN_IF_ERROR(acc.Add(ref.series, ts, val));
    }
  }
  out.matrix = acc.Take();
  std::erase_if(out.matrix, [](const EvalSeries& s) { return s.points.empty(); });
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(out.matrix) - in_points));
  return out;
}

}  // namespace meridian::promql::eval
