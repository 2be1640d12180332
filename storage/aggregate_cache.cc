#include "storage/aggregate_cache.h"

namespace meridian {

size_t AggregateCache::EntryBytes(const Entry& e) {
  return sizeof(Entry) + sizeof(Key) + 32 +
         (e.windows ? e.windows->capacity() * sizeof(AggregateWindow) : 0);
}

std::optional<AggregateCache::Entry> AggregateCache::Find(Kind kind, uint64_t series_id,
                                                          int64_t block) const {
  Shard& s = ShardOf(series_id);
  MutexLock l(&s.mu);
  auto it = s.map.find(Key{kind, series_id, block});
  if (it == s.map.end()) return std::nullopt;
  return it->second;
}

void AggregateCache::Put(Kind kind, uint64_t series_id, int64_t block, Entry e) {
  const size_t add = EntryBytes(e);
  const size_t cap = max_bytes_ / kShards;
  if (add > cap) return;
  Shard& s = ShardOf(series_id);
  MutexLock l(&s.mu);
  auto [it, inserted] = s.map.try_emplace(Key{kind, series_id, block});
  if (!inserted) {
    const size_t old = EntryBytes(it->second);
    s.bytes -= old;
    bytes_.fetch_sub(old, std::memory_order_relaxed);
  }
  if (s.bytes + add > cap) {
    // Full: start this shard afresh (simple, and bounded).
    bytes_.fetch_sub(s.bytes, std::memory_order_relaxed);
    s.map.clear();
    s.bytes = 0;
    it = s.map.try_emplace(Key{kind, series_id, block}).first;
  }
  it->second = std::move(e);
  s.bytes += add;
  bytes_.fetch_add(add, std::memory_order_relaxed);
}

}  // namespace meridian
