#include "storage/disk_index.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <tuple>

#include "rocksdb/db.h"
#include "rocksdb/merge_operator.h"
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

void AppendPairKey(std::string* out, uint32_t tenant, int64_t day, std::string_view name,
                   std::string_view value) {
  out->push_back(kPostingPrefix);
  coding::PutFixed32BE(out, tenant);
  coding::PutTimeKey(out, day);
  coding::PutLengthPrefixed(out, name);
  coding::PutLengthPrefixed(out, value);
}

std::string PairKey(uint32_t tenant, int64_t day, std::string_view name, std::string_view value) {
  std::string k;
  AppendPairKey(&k, tenant, day, name, value);
  return k;
}

void EncodePostings(const uint64_t* ids, size_t n, std::string* out) {
  uint64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    coding::PutVarint(out, ids[i] - prev);
    prev = ids[i];
  }
}

bool DecodePostings(std::string_view in, Postings* out) {
  coding::Reader r(in);
  uint64_t id = 0, delta;
  const size_t first = out->size();
  while (!r.empty()) {
    if (!r.GetVarint(&delta)) return false;
    // Strictly increasing (a zero delta only for a first id of 0).
    if (delta == 0 && out->size() > first) return false;
    if (__builtin_add_overflow(id, delta, &id)) return false;
    out->push_back(id);
  }
  return true;
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

namespace {

// Unites postings lists (each sorted): decoded into one vector, sorted,
// deduplicated. A malformed list fails the merge, which RocksDB reports as
// corruption of the key.
bool UniteLists(const rocksdb::Slice* existing, const std::vector<rocksdb::Slice>& lists,
                std::string* out) {
  Postings ids;
  size_t bytes = existing != nullptr ? existing->size() : 0;
  for (const rocksdb::Slice& l : lists) bytes += l.size();
  ids.reserve(bytes);
  if (existing != nullptr &&
      !DecodePostings(std::string_view(existing->data(), existing->size()), &ids)) {
    return false;
  }
  for (const rocksdb::Slice& l : lists) {
    if (!DecodePostings(std::string_view(l.data(), l.size()), &ids)) return false;
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  out->clear();
  EncodePostings(ids.data(), ids.size(), out);
  return true;
}

class PostingsUnion : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "meridian.PostingsUnion"; }
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    return UniteLists(in.existing_value, in.operand_list, &out->new_value);
  }
  bool PartialMergeMulti(const rocksdb::Slice& /*key*/, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* /*logger*/) const override {
    std::vector<rocksdb::Slice> lists(operands.begin(), operands.end());
    return UniteLists(nullptr, lists, new_value);
  }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewPostingsMergeOperator() {
  return std::make_shared<PostingsUnion>();
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

std::string NamePrefix(uint32_t tenant, int64_t day, std::string_view name) {
  std::string k = DayPrefix(tenant, day);
  coding::PutLengthPrefixed(&k, name);
  return k;
}

bool StartsWith(const rocksdb::Slice& s, const std::string& p) {
  return s.size() >= p.size() && std::memcmp(s.data(), p.data(), p.size()) == 0;
}

absl::Status DecodeValue(const rocksdb::Slice& v, Postings* out) {
  if (!diskindex::DecodePostings(std::string_view(v.data(), v.size()), out)) {
    return absl::DataLossError("corrupt postings list");
  }
  return absl::OkStatus();
}

// Appends the ids of the pair list with key `key`.
absl::Status ReadPostings(rocksdb::Iterator* it, const std::string& key, Postings* out) {
  it->Seek(key);
  if (it->Valid() && it->key() == rocksdb::Slice(key)) {
    MERIDIAN_RETURN_IF_ERROR(DecodeValue(it->value(), out));
  }
  return FromRocks(it->status(), "reading postings");
}

// Calls fn(value, list) for each value of `name` on one day (one key each,
// in value order).
template <typename Fn>
absl::Status ForEachValue(rocksdb::Iterator* it, uint32_t tenant, int64_t day,
                          std::string_view name, Fn&& fn) {
  const std::string prefix = NamePrefix(tenant, day, name);
  for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
    coding::Reader r(
        std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
    std::string_view value;
    if (!r.GetLengthPrefixed(&value) || !r.empty()) {
      return absl::DataLossError("corrupt postings key");
    }
    MERIDIAN_RETURN_IF_ERROR(fn(value, it->value()));
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
  std::string list;
  diskindex::EncodePostings(&id, 1, &list);
  for (int64_t day = day_from; day <= day_to; ++day) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        wb->Merge(index_, diskindex::PairKey(tenant, day, "", ""), list), "staging postings"));
    for (size_t i = 0; i < n; ++i) {
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb->Merge(index_, diskindex::PairKey(tenant, day, labels[i].name, labels[i].value), list),
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
  MERIDIAN_RETURN_IF_ERROR(ForEachDay(days.get(), tenant, day_from, day_to, [&](int64_t day) {
    Postings result;
    bool have = false;
    // Postings of the values of `m`'s label that match (or not) on this day.
    auto collect = [&](const Matcher& m, bool matching, Postings* out) -> absl::Status {
      MERIDIAN_RETURN_IF_ERROR(
          ForEachValue(it.get(), tenant, day, m.name(),
                       [&](std::string_view v, const rocksdb::Slice& list) -> absl::Status {
                         if (m.Matches(v) != matching) return absl::OkStatus();
                         return DecodeValue(list, out);
                       }));
      std::sort(out->begin(), out->end());
      out->erase(std::unique(out->begin(), out->end()), out->end());
      return absl::OkStatus();
    };
    for (const Matcher* m : positive) {
      Postings p;
      if (m->type() == MatchType::kEqual) {
        MERIDIAN_RETURN_IF_ERROR(
            ReadPostings(it.get(), diskindex::PairKey(tenant, day, m->name(), m->value()), &p));
      } else {
        MERIDIAN_RETURN_IF_ERROR(collect(*m, true, &p));
      }
      result = have ? Intersect(result, p) : std::move(p);
      have = true;
      if (result.empty()) return absl::OkStatus();
    }
    if (!have) {
      MERIDIAN_RETURN_IF_ERROR(
          ReadPostings(it.get(), diskindex::PairKey(tenant, day, "", ""), &result));
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
  return ForEachDay(days.get(), tenant, day_from, day_to, [&](int64_t day) -> absl::Status {
    return ForEachValue(it.get(), tenant, day, name,
                        [&](std::string_view v, const rocksdb::Slice&) -> absl::Status {
                          out->emplace(v);
                          return absl::OkStatus();
                        });
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

void IndexBatch::Add(uint32_t tenant, int64_t day, std::string_view name, std::string_view value,
                     uint64_t id) {
  scratch_.clear();
  diskindex::AppendPairKey(&scratch_, tenant, day, name, value);
  auto it = lists_.find(scratch_);
  if (it == lists_.end()) it = lists_.emplace(scratch_, std::vector<uint64_t>()).first;
  it->second.push_back(id);
  ++postings_;
}

void IndexBatch::AddDays(uint32_t tenant, uint64_t id, const Labels& labels, int64_t day_from,
                         int64_t day_to) {
  for (int64_t day = day_from; day <= day_to; ++day) {
    Add(tenant, day, "", "", id);
    for (const Label& l : labels) Add(tenant, day, l.name, l.value, id);
  }
}

void IndexBatch::AddDefinition(uint32_t tenant, uint64_t id, const Labels& labels) {
  hashes_.push_back({tenant, diskindex::LabelSetHash(labels), id});
}

absl::Status IndexBatch::ForEachSorted(
    const std::function<absl::Status(std::string_view, std::string_view, bool)>& fn) {
  std::sort(hashes_.begin(), hashes_.end(), [](const Hash& a, const Hash& b) {
    return std::tie(a.tenant, a.hash, a.id) < std::tie(b.tenant, b.hash, b.id);
  });
  std::string key, value;
  for (size_t i = 0; i < hashes_.size(); ++i) {
    const Hash& h = hashes_[i];
    if (i > 0 && h.tenant == hashes_[i - 1].tenant && h.hash == hashes_[i - 1].hash &&
        h.id == hashes_[i - 1].id) {
      continue;
    }
    key = diskindex::LabelHashKey(h.tenant, h.hash, h.id);
    MERIDIAN_RETURN_IF_ERROR(fn(key, "", false));
  }
  std::vector<std::pair<std::string_view, std::vector<uint64_t>*>> sorted;
  sorted.reserve(lists_.size());
  for (auto& [k, ids] : lists_) sorted.emplace_back(k, &ids);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [k, ids] : sorted) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    value.clear();
    diskindex::EncodePostings(ids->data(), ids->size(), &value);
    MERIDIAN_RETURN_IF_ERROR(fn(k, value, true));
  }
  return absl::OkStatus();
}

void IndexBatch::Clear() {
  lists_.clear();
  hashes_.clear();
  postings_ = 0;
}

absl::StatusOr<uint64_t> DiskIndex::MigrateLegacyPostings(
    const std::function<absl::Status(rocksdb::WriteBatch*, bool sync)>& write) const {
  const std::string legacy(1, diskindex::kLegacyPostingPrefix);
  std::unique_ptr<rocksdb::Iterator> it = NewIterator();
  rocksdb::WriteBatch wb;
  std::string pair, list;  // the current pair's key suffix and list
  Postings ids;
  uint64_t n = 0;
  auto stage = [&]() -> absl::Status {
    if (ids.empty()) return absl::OkStatus();
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    list.clear();
    diskindex::EncodePostings(ids.data(), ids.size(), &list);
    ids.clear();
    MERIDIAN_RETURN_IF_ERROR(
        FromRocks(wb.Merge(index_, std::string(1, diskindex::kPostingPrefix) + pair, list),
                  "staging postings"));
    if (wb.GetDataSize() >= (4 << 20)) MERIDIAN_RETURN_IF_ERROR(write(&wb, /*sync=*/false));
    return absl::OkStatus();
  };
  for (it->Seek(legacy); it->Valid() && StartsWith(it->key(), legacy); it->Next()) {
    // 'p' tenant(4) day(8) name<str> value<str> id(8)
    if (it->key().size() < 1 + 4 + 8 + 2 + 8) return absl::DataLossError("corrupt postings key");
    const std::string_view rest(it->key().data() + 1, it->key().size() - 1 - 8);
    if (rest != pair) {
      MERIDIAN_RETURN_IF_ERROR(stage());
      pair.assign(rest);
    }
    ids.push_back(coding::DecodeFixed64BE(it->key().data() + it->key().size() - 8));
    ++n;
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading legacy postings"));
  MERIDIAN_RETURN_IF_ERROR(stage());
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.DeleteRange(index_, legacy, Successor(legacy)), "staging legacy delete"));
  MERIDIAN_RETURN_IF_ERROR(write(&wb, /*sync=*/true));
  return n;
}

}  // namespace meridian
