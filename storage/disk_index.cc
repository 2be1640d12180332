#include "storage/disk_index.h"

#include <algorithm>
#include <memory>

#include "rocksdb/db.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/write_batch.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/rocks_status.h"

namespace meridian {
namespace diskindex {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * kFnvPrime;
  return (h ^ 0xff) * kFnvPrime;
}

}  // namespace

uint64_t LabelSetHash(const LabelView* labels, size_t n) {
  uint64_t h = kFnvOffset;
  for (size_t i = 0; i < n; ++i) h = Fnv(Fnv(h, labels[i].name), labels[i].value);
  return h;
}

uint64_t LabelSetHash(const Labels& labels) {
  uint64_t h = kFnvOffset;
  for (const Label& l : labels) h = Fnv(Fnv(h, l.name), l.value);
  return h;
}

std::string DayPrefix(uint32_t tenant, int64_t day) {
  std::string k(1, kPostingPrefix);
  coding::PutFixed32BE(&k, tenant);
  coding::PutTimeKey(&k, day);
  return k;
}

std::string PostingKey(uint32_t tenant, int64_t day, std::string_view name, std::string_view value,
                       uint64_t series_id) {
  std::string k = DayPrefix(tenant, day);
  coding::PutLengthPrefixed(&k, name);
  coding::PutLengthPrefixed(&k, value);
  coding::PutFixed64BE(&k, series_id);
  return k;
}

std::string LabelHashKey(uint32_t tenant, uint64_t hash, uint64_t series_id) {
  std::string k(1, kLabelHashPrefix);
  coding::PutFixed32BE(&k, tenant);
  coding::PutFixed64BE(&k, hash);
  coding::PutFixed64BE(&k, series_id);
  return k;
}

namespace {

constexpr size_t kLabelHashPrefixBytes = 1 + 4 + 8;

class LabelHashPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "meridian.LabelHashPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), kLabelHashPrefixBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= kLabelHashPrefixBytes && key[0] == kLabelHashPrefix;
  }
};

}  // namespace

std::shared_ptr<const rocksdb::SliceTransform> NewLabelHashPrefixExtractor() {
  return std::make_shared<LabelHashPrefix>();
}

}  // namespace diskindex

namespace {

using diskindex::DayPrefix;

// The smallest key greater than every key starting with `p`.
std::string Successor(std::string p) {
  while (!p.empty() && static_cast<unsigned char>(p.back()) == 0xff) p.pop_back();
  if (!p.empty()) p.back() = static_cast<char>(static_cast<unsigned char>(p.back()) + 1);
  return p;
}

std::string PairPrefix(uint32_t tenant, int64_t day, std::string_view name,
                       std::string_view value) {
  std::string k = DayPrefix(tenant, day);
  coding::PutLengthPrefixed(&k, name);
  coding::PutLengthPrefixed(&k, value);
  return k;
}

std::string NamePrefix(uint32_t tenant, int64_t day, std::string_view name) {
  std::string k = DayPrefix(tenant, day);
  coding::PutLengthPrefixed(&k, name);
  return k;
}

bool StartsWith(const rocksdb::Slice& s, const std::string& p) {
  return s.size() >= p.size() && std::memcmp(s.data(), p.data(), p.size()) == 0;
}

// Appends the ids of the keys starting with `prefix` (a pair prefix).
absl::Status ReadPostings(rocksdb::Iterator* it, const std::string& prefix, Postings* out) {
  for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) return absl::DataLossError("corrupt postings key");
    out->push_back(coding::DecodeFixed64BE(it->key().data() + prefix.size()));
  }
  return FromRocks(it->status(), "reading postings");
}

// The values of `name` on one day (each found with one seek).
absl::Status ReadValues(rocksdb::Iterator* it, uint32_t tenant, int64_t day, std::string_view name,
                        std::vector<std::string>* out) {
  const std::string prefix = NamePrefix(tenant, day, name);
  it->Seek(prefix);
  while (it->Valid() && StartsWith(it->key(), prefix)) {
    coding::Reader r(
        std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
    std::string_view value;
    if (!r.GetLengthPrefixed(&value)) return absl::DataLossError("corrupt postings key");
    out->emplace_back(value);
    it->Seek(Successor(PairPrefix(tenant, day, name, value)));
  }
  return FromRocks(it->status(), "reading label values");
}

}  // namespace

std::unique_ptr<rocksdb::Iterator> DiskIndex::NewIterator() const {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;  // postings: no prefix filter applies
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, index_));
}

absl::Status DiskIndex::StageDays(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                                  const LabelView* labels, size_t n, int64_t day_from,
                                  int64_t day_to) const {
  for (int64_t day = day_from; day <= day_to; ++day) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        wb->Put(index_, diskindex::PostingKey(tenant, day, "", "", id), ""), "staging postings"));
    for (size_t i = 0; i < n; ++i) {
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb->Put(index_, diskindex::PostingKey(tenant, day, labels[i].name, labels[i].value, id),
                  ""),
          "staging postings"));
    }
  }
  return absl::OkStatus();
}

absl::Status DiskIndex::StageDays(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                                  const Labels& labels, int64_t day_from, int64_t day_to) const {
  std::vector<LabelView> views;
  views.reserve(labels.size());
  for (const Label& l : labels) views.push_back({l.name, l.value});
  return StageDays(wb, tenant, id, views.data(), views.size(), day_from, day_to);
}

absl::Status DiskIndex::StageDefinition(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                                        const LabelView* labels, size_t n) const {
  return FromRocks(
      wb->Put(index_, diskindex::LabelHashKey(tenant, diskindex::LabelSetHash(labels, n), id), ""),
      "staging label hash");
}

absl::Status DiskIndex::StageForget(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                                    const Labels& labels) const {
  return FromRocks(
      wb->Delete(index_, diskindex::LabelHashKey(tenant, diskindex::LabelSetHash(labels), id)),
      "staging label hash delete");
}

absl::Status DiskIndex::StageDeleteDaysBefore(rocksdb::WriteBatch* wb, uint32_t tenant,
                                              int64_t day) const {
  return FromRocks(wb->DeleteRange(index_, DayPrefix(tenant, std::numeric_limits<int64_t>::min()),
                                   DayPrefix(tenant, day)),
                   "staging postings delete");
}

absl::StatusOr<std::optional<uint64_t>> DiskIndex::FindId(uint32_t tenant, const LabelView* labels,
                                                          size_t n) const {
  std::string prefix(1, diskindex::kLabelHashPrefix);
  coding::PutFixed32BE(&prefix, tenant);
  coding::PutFixed64BE(&prefix, diskindex::LabelSetHash(labels, n));
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;  // files whose filter lacks the hash are skipped
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_));
  std::string value;
  for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) return absl::DataLossError("corrupt label hash key");
    const uint64_t id = coding::DecodeFixed64BE(it->key().data() + prefix.size());
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, keys::SeriesKey(id), &value);
    if (s.IsNotFound()) continue;  // deleted by retention
    MERIDIAN_RETURN_IF_ERROR(FromRocks(s, "reading series definition"));
    uint32_t t;
    Labels ls;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(value, &t, &ls));
    if (t != tenant || ls.size() != n) continue;
    bool same = true;
    size_t i = 0;
    for (const Label& l : ls) {
      if (l.name != labels[i].name || l.value != labels[i].value) {
        same = false;
        break;
      }
      ++i;
    }
    if (same) return std::optional<uint64_t>(id);
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading label hashes"));
  return std::optional<uint64_t>();
}

template <typename Fn>
absl::Status DiskIndex::ForEachDay(rocksdb::Iterator* it, uint32_t tenant, int64_t day_from,
                                   int64_t day_to, Fn&& fn) const {
  std::string tenant_prefix(1, diskindex::kPostingPrefix);
  coding::PutFixed32BE(&tenant_prefix, tenant);
  int64_t day = day_from;
  while (day <= day_to) {
    it->Seek(DayPrefix(tenant, day));
    if (!it->Valid() || !StartsWith(it->key(), tenant_prefix) ||
        it->key().size() < tenant_prefix.size() + 8) {
      break;
    }
    day = coding::DecodeTimeKey(it->key().data() + tenant_prefix.size());
    if (day > day_to) break;
    MERIDIAN_RETURN_IF_ERROR(fn(day));
    if (day == std::numeric_limits<int64_t>::max()) break;
    ++day;
  }
  return FromRocks(it->status(), "reading postings days");
}

absl::StatusOr<Postings> DiskIndex::Select(uint32_t tenant, const std::vector<Matcher>& matchers,
                                           int64_t day_from, int64_t day_to) const {
  std::unique_ptr<rocksdb::Iterator> days = NewIterator();
  std::unique_ptr<rocksdb::Iterator> it = NewIterator();
  std::vector<const Matcher*> positive, negative;
  for (const Matcher& m : matchers) (m.MatchesEmpty() ? negative : positive).push_back(&m);
  std::stable_sort(positive.begin(), positive.end(), [](const Matcher* a, const Matcher* b) {
    return a->type() == MatchType::kEqual && b->type() != MatchType::kEqual;
  });
  std::vector<const Postings*> per_day;
  std::vector<Postings> results;
  std::vector<std::string> values;
  MERIDIAN_RETURN_IF_ERROR(ForEachDay(days.get(), tenant, day_from, day_to, [&](int64_t day) {
    Postings result;
    bool have = false;
    // Postings of the values of `m`'s label that match (or not) on this day.
    auto collect = [&](const Matcher& m, bool matching, Postings* out) -> absl::Status {
      values.clear();
      MERIDIAN_RETURN_IF_ERROR(ReadValues(it.get(), tenant, day, m.name(), &values));
      for (const std::string& v : values) {
        if (m.Matches(v) != matching) continue;
        MERIDIAN_RETURN_IF_ERROR(ReadPostings(it.get(), PairPrefix(tenant, day, m.name(), v), out));
      }
      std::sort(out->begin(), out->end());
      out->erase(std::unique(out->begin(), out->end()), out->end());
      return absl::OkStatus();
    };
    for (const Matcher* m : positive) {
      Postings p;
      if (m->type() == MatchType::kEqual) {
        MERIDIAN_RETURN_IF_ERROR(
            ReadPostings(it.get(), PairPrefix(tenant, day, m->name(), m->value()), &p));
      } else {
        MERIDIAN_RETURN_IF_ERROR(collect(*m, true, &p));
      }
      result = have ? Intersect(result, p) : std::move(p);
      have = true;
      if (result.empty()) return absl::OkStatus();
    }
    if (!have) {
      MERIDIAN_RETURN_IF_ERROR(ReadPostings(it.get(), PairPrefix(tenant, day, "", ""), &result));
    }
    for (const Matcher* m : negative) {
      Postings drop;
      MERIDIAN_RETURN_IF_ERROR(collect(*m, false, &drop));
      if (!drop.empty()) result = Subtract(result, drop);
    }
    if (!result.empty()) results.push_back(std::move(result));
    return absl::OkStatus();
  }));
  for (const Postings& p : results) per_day.push_back(&p);
  return Merge(per_day);
}

absl::Status DiskIndex::LabelNames(uint32_t tenant, int64_t day_from, int64_t day_to,
                                   absl::btree_set<std::string>* out) const {
  std::unique_ptr<rocksdb::Iterator> days = NewIterator();
  std::unique_ptr<rocksdb::Iterator> it = NewIterator();
  return ForEachDay(days.get(), tenant, day_from, day_to, [&](int64_t day) -> absl::Status {
    const std::string prefix = DayPrefix(tenant, day);
    it->Seek(prefix);
    while (it->Valid() && StartsWith(it->key(), prefix)) {
      coding::Reader r(
          std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
      std::string_view name;
      if (!r.GetLengthPrefixed(&name)) return absl::DataLossError("corrupt postings key");
      if (!name.empty()) out->emplace(name);
      it->Seek(Successor(NamePrefix(tenant, day, name)));
    }
    return FromRocks(it->status(), "reading label names");
  });
}

absl::Status DiskIndex::LabelValues(uint32_t tenant, std::string_view name, int64_t day_from,
                                    int64_t day_to, absl::btree_set<std::string>* out) const {
  if (name.empty()) return absl::OkStatus();
  std::unique_ptr<rocksdb::Iterator> days = NewIterator();
  std::unique_ptr<rocksdb::Iterator> it = NewIterator();
  std::vector<std::string> values;
  return ForEachDay(days.get(), tenant, day_from, day_to, [&](int64_t day) -> absl::Status {
    values.clear();
    MERIDIAN_RETURN_IF_ERROR(ReadValues(it.get(), tenant, day, name, &values));
    for (std::string& v : values) out->insert(std::move(v));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<int64_t>> DiskIndex::FirstDayFrom(uint32_t tenant, int64_t day) const {
  std::unique_ptr<rocksdb::Iterator> it = NewIterator();
  std::string tenant_prefix(1, diskindex::kPostingPrefix);
  coding::PutFixed32BE(&tenant_prefix, tenant);
  it->Seek(DayPrefix(tenant, day));
  if (it->Valid() && StartsWith(it->key(), tenant_prefix) &&
      it->key().size() >= tenant_prefix.size() + 8) {
    return std::optional<int64_t>(coding::DecodeTimeKey(it->key().data() + tenant_prefix.size()));
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading postings days"));
  return std::optional<int64_t>();
}

}  // namespace meridian
