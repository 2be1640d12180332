#include "storage/tenant_head.h"

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "model/sync.h"
#include "storage/coding.h"
#include "storage/disk_index.h"
#include "storage/scratch_pool.h"

namespace meridian {

namespace {

// Per-thread scratch for flat encodings: hashing does not allocate.
std::string& FlatScratch() {
  thread_local std::string buf;
  buf.clear();
  return buf;
}

// ResolveBatch's scratch space.
struct ResolveScratch {
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> order;
  std::vector<MemSeries*> cand;
  // Every series' labels in their flat form, back to back: one hash pass and
  // one comparison per series instead of one per name and value.
  std::string flats;
  std::vector<size_t> flat_end;
};

}  // namespace

uint64_t SeriesCacheHashFlat(std::string_view flat) {
  // One pass over contiguous bytes (absl's wyhash-style hash, seeded per
  // process): much cheaper than hashing every name and value apart. As an
  // absl::string_view: absl hashes a std::string_view with std::hash
  // (murmur, several times slower on label-sized strings).
  return absl::HashOf(absl::string_view(flat.data(), flat.size()));
}

uint64_t SeriesCacheHash(const LabelView* views, size_t n) {
  std::string& flat = FlatScratch();
  AppendFlatLabels(views, n, &flat);
  return SeriesCacheHashFlat(flat);
}

uint64_t SeriesCacheHash(const Labels& labels) {
  std::string& flat = FlatScratch();
  for (const Label& l : labels) {
    coding::PutLengthPrefixed(&flat, l.name);
    coding::PutLengthPrefixed(&flat, l.value);
  }
  return SeriesCacheHashFlat(flat);
}

TenantHead::TenantHead(uint32_t id, std::string name, SeriesCacheLimits* limits)
    : id_(id), name_(std::move(name)), limits_(limits), cache_(new CacheShard[kCacheShards]) {}

MemSeries* TenantHead::CacheLookup(CacheShard& shard, const LabelView* labels, size_t n,
                                   uint64_t hash) {
  MutexLock l(&shard.mu);
  auto it = shard.map.find(hash);
  if (it == shard.map.end()) return nullptr;
  for (MemSeries* s : it->second) {
    if (s->HasLabels(labels, n)) return s;
  }
  return nullptr;
}

void TenantHead::CacheInsert(CacheShard& shard, uint64_t hash, MemSeries* s) {
  MutexLock l(&shard.mu);
  if (limits_->cached_series.load(std::memory_order_relaxed) >= limits_->max_cached_series) {
    if (shard.map.empty() || limits_->max_cached_series == 0) return;
    auto victim = shard.map.begin();
    limits_->cached_series.fetch_sub(victim->second.size(), std::memory_order_relaxed);
    shard.map.erase(victim);
  }
  shard.map[hash].push_back(s);
  limits_->cached_series.fetch_add(1, std::memory_order_relaxed);
}

MemSeries* TenantHead::FindLocked(const LabelView* labels, size_t n, std::string_view flat) const {
  if (const Postings* candidates = index_.ShortestOf(labels, n)) {
    for (uint64_t id : *candidates) {
      MemSeries* s = series_.at(id).get();
      if (s->flat_labels() == flat) return s;
    }
  }
  return nullptr;
}

uint64_t TenantHead::CarriedNotBack() const {
  const uint64_t carried = carried_.load(std::memory_order_acquire);
  if (carried == 0 || newest_t_ms.load(std::memory_order_relaxed) >
                          carried_until_.load(std::memory_order_relaxed)) {
    return 0;
  }
  const uint64_t back = readmitted.load(std::memory_order_relaxed);
  return carried > back ? carried - back : 0;
}

MemSeries* TenantHead::ReadmitLocked(Labels labels, const OnDisk& d) {
  MemSeries* s = AddLocked(d.id, std::move(labels));
  s->definition_persisted.store(true, std::memory_order_relaxed);
  MutexLock l(&s->mu);
  if (d.min_t_ms <= d.max_t_ms) {
    s->LoadPersistedRange(d.min_t_ms, d.max_t_ms);
    s->index_lo_day = IndexDayOf(d.min_t_ms);
    s->index_hi_day = IndexDayOf(d.max_t_ms);
  }
  readmitted.fetch_add(1, std::memory_order_relaxed);
  return s;
}

MemSeries* TenantHead::Readmit(Labels labels, const OnDisk& d) {
  uint64_t hash = SeriesCacheHash(labels);
  MemSeries* s;
  {
    WriterMutexLock l(&mu_);
    auto it = series_.find(d.id);
    s = it != series_.end() ? it->second.get() : ReadmitLocked(std::move(labels), d);
  }
  CacheInsert(cache_[hash % kCacheShards], hash, s);
  return s;
}

MemSeries* TenantHead::GetOrCreate(const LabelView* labels, size_t n, uint64_t hash, bool* created,
                                   uint64_t max_series, absl::Status* error) {
  *created = false;
  CacheShard& shard = cache_[hash % kCacheShards];
  if (MemSeries* s = CacheLookup(shard, labels, n, hash)) return s;
  MemSeries* found = nullptr;
  // A series missing from the cache is looked for in the head's postings
  // (twice when it is looked up on disk in between, as after a restart).
  thread_local std::string flat;
  flat.clear();
  AppendFlatLabels(labels, n, &flat);
  std::optional<OnDisk> on_disk;
  bool looked = false;  // on disk, without the lock (the lookup reads RocksDB)
  for (;;) {
    {
      WriterMutexLock l(&mu_);
      // The cache is bounded, so a miss may be an evicted series.
      found = FindLocked(labels, n, flat);
      if (found == nullptr &&
          (looked || !disk_lookup_ || !may_have_inactive.load(std::memory_order_acquire))) {
        if (on_disk) {
          found = ReadmitLocked(Labels::FromViews(labels, n), *on_disk);
        } else {
          if (max_series > 0 && series_.size() + CarriedNotBack() >= max_series) return nullptr;
          uint64_t id = limits_->next_series_id.fetch_add(1, std::memory_order_relaxed);
          found = AddLocked(id, Labels::FromViews(labels, n));
          *created = true;
        }
      }
    }
    if (found != nullptr) break;
    absl::StatusOr<std::optional<OnDisk>> r = disk_lookup_(labels, n);
    if (!r.ok()) {
      if (error != nullptr) *error = r.status();
      return nullptr;
    }
    on_disk = *r;
    looked = true;
  }
  CacheInsert(shard, hash, found);
  return found;
}

void TenantHead::ResolveBatch(std::span<const AppendSeries> batch, MemSeries** out,
                              uint64_t* created, uint64_t max_series, uint64_t* limited,
                              absl::Status* error) {
  const size_t n = batch.size();
  static ScratchPool<ResolveScratch> pool;  // not thread_local: scratch_pool.h
  auto scratch = pool.Acquire();
  std::vector<uint64_t>& hashes = scratch->hashes;
  std::vector<uint32_t>& order = scratch->order;
  std::vector<MemSeries*>& cand = scratch->cand;
  std::string& flats = scratch->flats;
  std::vector<size_t>& flat_end = scratch->flat_end;
  hashes.resize(n);
  order.resize(n);
  cand.resize(n);
  flats.clear();
  flat_end.resize(n + 1);
  flat_end[0] = 0;
  uint32_t count[kCacheShards + 1] = {};
  for (size_t i = 0; i < n; ++i) {
    const auto& ls = batch[i].labels;
    AppendFlatLabels(ls.data(), ls.size(), &flats);
    flat_end[i + 1] = flats.size();
    hashes[i] = SeriesCacheHashFlat(
        std::string_view(flats.data() + flat_end[i], flat_end[i + 1] - flat_end[i]));
    ++count[hashes[i] % kCacheShards + 1];
  }
  for (size_t s = 1; s <= kCacheShards; ++s) count[s] += count[s - 1];
  for (size_t i = 0; i < n; ++i)
    order[count[hashes[i] % kCacheShards]++] = static_cast<uint32_t>(i);
  // count[s] is now the end of shard s's run in `order`.
  size_t begin = 0;
  for (size_t s = 0; s < kCacheShards; ++s) {
    const size_t end = count[s];
    if (begin == end) continue;
    CacheShard& shard = cache_[s];
    MutexLock l(&shard.mu);
    // Software pipeline over the shard's run: prefetch the table slot 8
    // ahead, look up the candidate series 4 ahead (prefetching it) and its
    // flat labels 2 ahead, so that the cache misses of lookups overlap.
    auto first_candidate = [&](size_t k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) -> MemSeries* {
      auto it = shard.map.find(hashes[order[k]]);
      return it == shard.map.end() || it->second.empty() ? nullptr : it->second[0];
    };
    for (size_t k = begin; k < std::min(end, begin + 8); ++k) shard.map.prefetch(hashes[order[k]]);
    for (size_t k = begin; k < std::min(end, begin + 4); ++k) cand[k] = first_candidate(k);
    for (size_t k = begin; k < end; ++k) {
      if (k + 8 < end) shard.map.prefetch(hashes[order[k + 8]]);
      if (k + 4 < end) {
        cand[k + 4] = first_candidate(k + 4);
        if (cand[k + 4] != nullptr) __builtin_prefetch(cand[k + 4]);
      }
      if (k + 2 < end && cand[k + 2] != nullptr) {
        // Every cache line of the flat labels the comparison reads.
        const std::string_view f = cand[k + 2]->flat_labels();
        for (size_t off = 0; off < f.size(); off += 64) __builtin_prefetch(f.data() + off);
      }
      const uint32_t i = order[k];
      const std::string_view flat(flats.data() + flat_end[i], flat_end[i + 1] - flat_end[i]);
      out[i] = nullptr;
      if (cand[k] == nullptr) continue;
      if (cand[k]->flat_labels() == flat) {
        out[i] = cand[k];
        continue;
      }
      for (MemSeries* c : shard.map.find(hashes[i])->second) {  // hash collision
        if (c->flat_labels() == flat) {
          out[i] = c;
          break;
        }
      }
    }
    begin = end;
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& ls = batch[i].labels;
    if (out[i] != nullptr || ls.empty() || batch[i].samples.empty()) continue;
    bool was_created;
    absl::Status lookup;
    out[i] = GetOrCreate(ls.data(), ls.size(), hashes[i], &was_created, max_series, &lookup);
    *created += was_created;
    if (!lookup.ok()) {
      if (error != nullptr) *error = lookup;
      continue;
    }
    if (out[i] == nullptr && limited != nullptr) ++*limited;
  }
}

MemSeries* TenantHead::Load(uint64_t id, Labels labels) {
  uint64_t hash = SeriesCacheHash(labels);
  MemSeries* s;
  {
    WriterMutexLock l(&mu_);
    s = AddLocked(id, std::move(labels));
  }
  s->definition_persisted.store(true, std::memory_order_relaxed);
  CacheInsert(cache_[hash % kCacheShards], hash, s);
  return s;
}

MemSeries* TenantHead::AddLocked(uint64_t id, Labels labels) {
  auto s = std::make_shared<MemSeries>(id, labels);
  index_.Add(id, labels);
  MemSeries* raw = s.get();
  series_.emplace(id, std::move(s));
  return raw;
}

std::shared_ptr<MemSeries> TenantHead::Find(uint64_t id) const {
  ReaderMutexLock l(&mu_);
  auto it = series_.find(id);
  return it == series_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<MemSeries>> TenantHead::Select(
    const std::vector<Matcher>& matchers) const {
  ReaderMutexLock l(&mu_);
  Postings ids = index_.Select(matchers);
  std::vector<std::shared_ptr<MemSeries>> out;
  out.reserve(ids.size());
  for (uint64_t id : ids) out.push_back(series_.at(id));
  return out;
}

std::vector<std::shared_ptr<MemSeries>> TenantHead::AllSeries() const {
  ReaderMutexLock l(&mu_);
  std::vector<std::shared_ptr<MemSeries>> out;
  out.reserve(series_.size());
  for (uint64_t id : index_.all()) out.push_back(series_.at(id));
  return out;
}

void TenantHead::Remove(const std::vector<std::shared_ptr<MemSeries>>& series) {
  if (series.empty()) return;
  for (const auto& s : series) {
    uint64_t hash = SeriesCacheHashFlat(s->flat_labels());
    CacheShard& shard = cache_[hash % kCacheShards];
    MutexLock l(&shard.mu);
    auto it = shard.map.find(hash);
    if (it == shard.map.end()) continue;
    auto& vec = it->second;
    for (size_t i = 0; i < vec.size(); ++i) {
      if (vec[i] == s.get()) {
        vec.erase(vec.begin() + static_cast<ptrdiff_t>(i));
        limits_->cached_series.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
    if (vec.empty()) shard.map.erase(it);
  }
  // A wave of series that left gives its table space back (tables keep
  // their largest size otherwise).
  for (size_t i = 0; i < kCacheShards; ++i) {
    MutexLock l(&cache_[i].mu);
    if (cache_[i].map.size() * 4 < cache_[i].map.capacity()) cache_[i].map.rehash(0);
  }
  WriterMutexLock l(&mu_);
  std::vector<Labels> labels;
  labels.reserve(series.size());
  for (const auto& s : series) labels.push_back(s->labels());
  std::vector<std::pair<uint64_t, const Labels*>> gone;
  for (size_t i = 0; i < series.size(); ++i) gone.push_back({series[i]->id(), &labels[i]});
  index_.Remove(gone);
  for (const auto& s : series) series_.erase(s->id());
  if (series_.size() * 4 < series_.capacity()) series_.rehash(0);
}

size_t TenantHead::num_series() const {
  ReaderMutexLock l(&mu_);
  return series_.size();
}

size_t TenantHead::CacheBytes() const {
  size_t bytes = 0;
  using Map = decltype(CacheShard::map);
  for (size_t i = 0; i < kCacheShards; ++i) {
    MutexLock l(&cache_[i].mu);
    bytes += cache_[i].map.capacity() * (sizeof(typename Map::value_type) + 1);
  }
  return bytes;
}

}  // namespace meridian
