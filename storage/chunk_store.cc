#include "storage/chunk_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include "rocksdb/db.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/keys.h"

namespace meridian {
namespace {

int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::numeric_limits<int64_t>::min();
  return r;
}

}  // namespace

std::unique_ptr<rocksdb::Iterator> ChunkStore::NewIterator(bool fill_cache) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = fill_cache;
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, chunks_));
}

ChunkStore::Cursor::Cursor(const ChunkStore* store) : store_(store) {}

ChunkStore::Cursor::~Cursor() = default;

void ChunkStore::Cursor::Reset() {
  // The generation is read before the view is taken, so a bump that raced
  // with taking it only causes one more (harmless) catch-up later.
  generation_ = store_->generation();
  if (it_ == nullptr || !it_->Refresh().ok()) it_ = store_->NewIterator();
  positioned_ = false;
}

void ChunkStore::Cursor::CatchUp() {
  // No view yet: the first Read takes a fresh one.
  if (it_ != nullptr && store_->generation() != generation_) Reset();
}

absl::Status ChunkStore::Cursor::Read(uint64_t series_id, int64_t start_ms, int64_t end_ms,
                                      std::vector<Sample>* out, bool* sorted) {
  // Chunks come in key order (by first timestamp); each is strictly
  // increasing inside, so the output is sorted unless two chunks overlap.
  bool in_order = true;
  int64_t last_max = std::numeric_limits<int64_t>::min();
  if (it_ == nullptr) Reset();  // series wholly in memory never open one
  rocksdb::Iterator* it = it_.get();
  std::string seek = keys::ChunkKey(series_id, SaturatingSub(start_ms, kMaxChunkSpanMs));
  // Skip the Seek when it would land where the iterator stands: at the first
  // unvisited key after last_seek_ (or at the end, when nothing is left).
  bool here = positioned_ && it->status().ok() && last_seek_ <= seek &&
              (!it->Valid() || std::string_view(seek) <= it->key().ToStringView());
  if (!here) {
    it->Seek(seek);
    last_seek_ = std::move(seek);
    positioned_ = true;
  }
  for (; it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 16 || coding::DecodeFixed64BE(k.data()) != series_id) break;
    if (coding::DecodeTimeKey(k.data() + 8) > end_ms) break;
    std::string_view chunk(it->value().data(), it->value().size());
    ChunkHeader h;
    absl::Status hs = DecodeChunkHeader(chunk, &h);
    if (!hs.ok()) {
      positioned_ = false;
      return absl::DataLossError("series " + std::to_string(series_id) + ": " +
                                 std::string(hs.message()));
    }
    if (h.max_t_ms < start_ms) continue;
    if (h.min_t_ms <= last_max) in_order = false;
    last_max = std::max(last_max, h.max_t_ms);
    size_t base = out->size();
    absl::Status s = DecodeChunk(chunk, out);
    if (!s.ok()) {
      positioned_ = false;
      return absl::DataLossError("series " + std::to_string(series_id) + ": " +
                                 std::string(s.message()));
    }
    if (h.min_t_ms < start_ms || h.max_t_ms > end_ms) {
      out->erase(
          std::remove_if(out->begin() + static_cast<ptrdiff_t>(base), out->end(),
                         [&](const Sample& x) { return x.t_ms < start_ms || x.t_ms > end_ms; }),
          out->end());
    }
  }
  if (!it->status().ok()) {
    std::string msg =
        "reading chunks of series " + std::to_string(series_id) + ": " + it->status().ToString();
    bool corrupt = it->status().IsCorruption();
    // The next read starts over with a fresh iterator, away from the error.
    it_.reset();
    positioned_ = false;
    return corrupt ? absl::DataLossError(msg) : absl::InternalError(msg);
  }
  if (sorted != nullptr) *sorted = in_order;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<double>> ChunkStore::ValueAt(uint64_t series_id, int64_t t_ms) {
  Cursor c(this);
  std::vector<Sample> samples;
  MERIDIAN_RETURN_IF_ERROR(c.Read(series_id, t_ms, t_ms, &samples));
  if (samples.empty()) return std::nullopt;
  return samples.front().v;
}

void ChunkStore::CountCorruption(std::string_view detail) const {
  uint64_t n = corruptions_.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  int64_t last = last_log_s_.load(std::memory_order_relaxed);
  if (now_s == last || !last_log_s_.compare_exchange_strong(last, now_s)) return;
  std::fprintf(stderr, "meridian: storage: corrupt data (%llu so far): %.*s\n",
               static_cast<unsigned long long>(n), static_cast<int>(detail.size()), detail.data());
}

void SortAndDedupe(std::vector<Sample>* samples) {
  auto by_time = [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; };
  if (!std::is_sorted(samples->begin(), samples->end(), by_time)) {
    std::stable_sort(samples->begin(), samples->end(), by_time);
  }
  samples->erase(std::unique(samples->begin(), samples->end(),
                             [](const Sample& a, const Sample& b) { return a.t_ms == b.t_ms; }),
                 samples->end());
}

}  // namespace meridian
