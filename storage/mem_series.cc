#include "storage/mem_series.h"

#include <algorithm>
#include <cstring>

#include "storage/chunk_codec.h"
#include "storage/coding.h"

namespace meridian {
namespace {

bool SameBits(double a, double b) { return coding::DoubleBits(a) == coding::DoubleBits(b); }

const Sample* FindSample(const std::vector<Sample>& v, int64_t t_ms) {
  auto it = std::lower_bound(v.begin(), v.end(), t_ms,
                             [](const Sample& s, int64_t t) { return s.t_ms < t; });
  return it != v.end() && it->t_ms == t_ms ? &*it : nullptr;
}

// Per-thread scratch space for head block encoding and merging, so that the
// append path does not allocate.
std::vector<Sample>& ScratchSamples() {
  thread_local std::vector<Sample> v;
  v.clear();
  return v;
}

ClosedChunk Encode(std::span<const Sample> samples) {
  ClosedChunk c{samples.front().t_ms, samples.back().t_ms, {}};
  EncodeChunk(samples, &c.data);
  return c;
}

std::string Flatten(const Labels& labels) {
  // Exactly its size: grown by appends, the string would keep up to twice
  // that (~200 bytes more per series in the head).
  size_t size = 0;
  for (const Label& l : labels) {
    size += coding::VarintLength(l.name.size()) + l.name.size() +
            coding::VarintLength(l.value.size()) + l.value.size();
  }
  std::string out;
  out.reserve(size);
  for (const Label& l : labels) {
    coding::PutLengthPrefixed(&out, l.name);
    coding::PutLengthPrefixed(&out, l.value);
  }
  return out;
}

}  // namespace

void AppendFlatLabels(const LabelView* views, size_t n, std::string* out) {
  // One resize and plain copies: the append path flattens every series of
  // every request.
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    bytes += coding::VarintLength(views[i].name.size()) + views[i].name.size() +
             coding::VarintLength(views[i].value.size()) + views[i].value.size();
  }
  const size_t base = out->size();
  out->resize(base + bytes);
  char* p = out->data() + base;
  auto put = [&p](std::string_view str) {
    uint64_t len = str.size();
    while (len >= 0x80) {
      *p++ = static_cast<char>(len | 0x80);
      len >>= 7;
    }
    *p++ = static_cast<char>(len);
    // Names and values are mostly short: overlapping word moves instead of
    // a call to memcpy each.
    const char* src = str.data();
    const size_t size = str.size();
    if (size > 16) {
      std::memcpy(p, src, size);
    } else if (size >= 8) {
      uint64_t head, tail;
      std::memcpy(&head, src, 8);
      std::memcpy(&tail, src + size - 8, 8);
      std::memcpy(p, &head, 8);
      std::memcpy(p + size - 8, &tail, 8);
    } else if (size >= 4) {
      uint32_t head, tail;
      std::memcpy(&head, src, 4);
      std::memcpy(&tail, src + size - 4, 4);
      std::memcpy(p, &head, 4);
      std::memcpy(p + size - 4, &tail, 4);
    } else {
      for (size_t i = 0; i < size; ++i) p[i] = src[i];
    }
    p += size;
  };
  for (size_t i = 0; i < n; ++i) {
    put(views[i].name);
    put(views[i].value);
  }
}

namespace {
std::atomic<uint64_t> next_data_epoch{1};
}  // namespace

MemSeries::MemSeries(uint64_t id, const Labels& labels)
    : id_(id),
      flat_labels_(Flatten(labels)),
      data_epoch_(next_data_epoch.fetch_add(1, std::memory_order_relaxed)) {}

void MemSeries::BumpDataEpoch() {
  data_epoch_.store(next_data_epoch.fetch_add(1, std::memory_order_relaxed),
                    std::memory_order_release);
}

Labels MemSeries::labels() const {
  std::vector<Label> out;
  coding::Reader r(flat_labels_);
  std::string_view name, value;
  while (r.GetLengthPrefixed(&name) && r.GetLengthPrefixed(&value)) {
    out.push_back({std::string(name), std::string(value)});
  }
  return Labels::FromSorted(std::move(out));
}

bool MemSeries::HasLabels(const LabelView* views, size_t n) const {
  coding::Reader r(flat_labels_);
  std::string_view name, value;
  for (size_t i = 0; i < n; ++i) {
    if (!r.GetLengthPrefixed(&name) || !r.GetLengthPrefixed(&value) || name != views[i].name ||
        value != views[i].value) {
      return false;
    }
  }
  return r.empty();
}

absl::StatusOr<AppendOutcome> MemSeries::Append(const Sample& s, const AppendLimits& limits,
                                                PersistedSampleReader* persisted) {
  StagedRun run = BeginRun();
  MERIDIAN_ASSIGN_OR_RETURN(AppendOutcome o, Classify(s, limits, persisted, run));
  if (o == AppendOutcome::kAppended) Insert(s);
  return o;
}

absl::StatusOr<AppendOutcome> MemSeries::Classify(const Sample& s, const AppendLimits& limits,
                                                  PersistedSampleReader* persisted,
                                                  StagedRun& run) const {
  if (s.t_ms < limits.min_valid_t_ms) return AppendOutcome::kTooOld;
  if (s.t_ms <= run.newest) {
    // The same append's earlier samples (a repeated sample in one request).
    const Sample* own = nullptr;
    if (run.sorted) {
      auto it = std::lower_bound(run.accepted.begin(), run.accepted.end(), s.t_ms,
                                 [](const Sample& a, int64_t t) { return a.t_ms < t; });
      if (it != run.accepted.end() && it->t_ms == s.t_ms) own = &*it;
    } else {
      for (const Sample& a : run.accepted) {
        if (a.t_ms == s.t_ms) {
          own = &a;
          break;
        }
      }
    }
    if (own != nullptr) {
      return SameBits(own->v, s.v) ? AppendOutcome::kDuplicate : AppendOutcome::kConflict;
    }
    if (s.t_ms <= newest_t_ms_) {
      // Duplicates are looked up before the window check so that retries of
      // old samples stay idempotent.
      std::optional<double> existing;
      if (!head_.empty() && head_.back().t_ms == s.t_ms) {  // a retry of the newest sample
        existing = head_.back().v;
      } else {
        existing = MemoryValueAt(s.t_ms);
      }
      if (!existing && s.t_ms >= persisted_min_t_ms_ && s.t_ms <= persisted_max_t_ms_) {
        absl::StatusOr<std::optional<double>> stored = persisted->ValueAt(id_, s.t_ms);
        if (stored.ok()) {
          existing = *stored;
        } else if (absl::IsDataLoss(stored.status())) {
          // The chunk is unreadable, for reads too: the sample counts as
          // new rather than failing the whole append (a retried batch would
          // fail forever).
          if (!run.met_corruption) {
            run.met_corruption = true;
            persisted->CountCorruption("append's duplicate check: " +
                                       std::string(stored.status().message()));
          }
        } else {
          return stored.status();
        }
      }
      if (existing) {
        return SameBits(*existing, s.v) ? AppendOutcome::kDuplicate : AppendOutcome::kConflict;
      }
    }
    if (!limits.allow_backfill &&
        static_cast<uint64_t>(run.newest) - static_cast<uint64_t>(s.t_ms) >
            static_cast<uint64_t>(limits.out_of_order_window_ms)) {
      return AppendOutcome::kTooOld;
    }
  }
  if (pending_ != nullptr) {
    // Not yet durable: never a duplicate (this append writes it too), but a
    // different value is a conflict, as it will be once committed.
    if (const Sample* p = FindPending(s.t_ms); p != nullptr && !SameBits(p->v, s.v)) {
      return AppendOutcome::kConflict;
    }
  }
  return AppendOutcome::kAppended;
}

const Sample* MemSeries::FindPending(int64_t t_ms) const {
  for (const PendingSamples* p = pending_; p != nullptr; p = p->next) {
    auto it = std::lower_bound(p->samples.begin(), p->samples.end(), t_ms,
                               [](const Sample& a, int64_t t) { return a.t_ms < t; });
    if (it != p->samples.end() && it->t_ms == t_ms) return &*it;
  }
  return nullptr;
}

void MemSeries::RemovePending(PendingSamples* p) {
  for (PendingSamples** link = &pending_; *link != nullptr; link = &(*link)->next) {
    if (*link == p) {
      *link = p->next;
      p->next = nullptr;
      return;
    }
  }
}

void MemSeries::Commit(PendingSamples* p) {
  RemovePending(p);
  for (const Sample& s : p->samples) Insert(s);
}

void MemSeries::Insert(const Sample& s) {
  if (s.t_ms > newest_t_ms_) {
    AppendHead(s);
    return;
  }
  // Committed meanwhile by a concurrent append of the same sample (values
  // at a timestamp agree: see PendingSamples). Not looked up on disk: a
  // checkpoint cannot run between this append's classification and commit.
  if (MemoryValueAt(s.t_ms)) return;
  auto it = std::lower_bound(ooo_.begin(), ooo_.end(), s.t_ms,
                             [](const Sample& a, int64_t t) { return a.t_ms < t; });
  ooo_.insert(it, s);
  Widen(s.t_ms);
  BumpDataEpoch();  // older windows may hold it now
  if (ooo_.size() >= kChunkSamples) CutOutOfOrder();
}

void MemSeries::AppendHead(const Sample& s) {
  const size_t n = head_count_;
  if (n > 0 && (n >= kChunkSamples || s.t_ms - head_min_t_ms_ >= kMaxChunkSpanMs)) {
    CutHead();
  } else if (head_.size() >= kHeadRawSamples) {
    EncodeHeadBlock();
  }
  if (head_count_ == 0) head_min_t_ms_ = s.t_ms;
  ++head_count_;
  if (head_.size() == head_.capacity()) {
    // Few, geometric allocations per series; never one per sample.
    head_.reserve(std::min(kHeadRawSamples, std::max<size_t>(8, head_.capacity() * 2)));
  }
  head_.push_back(s);
  head_end_hint_.store(head_.data() + head_.size(), std::memory_order_relaxed);
  newest_t_ms_ = s.t_ms;
  Widen(s.t_ms);
}

void MemSeries::CutHead() {
  // The samples not yet persisted: the last piece of the chunk, which the
  // checkpoint merges with the pieces on disk (or, when every sample is on
  // disk already, the pieces stay as they are).
  if (HeadSize() > 0) {
    closed_.push_back(EncodeHead());
    if (head_on_disk_ > 0) closed_.back().merge_from_ms = head_min_t_ms_;
  }
  head_.clear();                     // keeps its capacity: at most kHeadRawSamples samples
  std::string().swap(head_blocks_);  // idle series should not pin a chunk's blocks
  head_blocks_n_ = 0;
  head_count_ = 0;
  head_on_disk_ = 0;
  ++head_generation_;
}

void MemSeries::EncodeHeadBlock() {
  thread_local std::string block;
  block.clear();
  EncodeChunk(head_, &block);
  // Grows to the exact size (std::string would double its capacity): one
  // allocation per block, a few bytes per sample.
  std::string grown;
  grown.reserve(head_blocks_.size() + block.size() + 4);
  grown.append(head_blocks_);
  coding::PutLengthPrefixed(&grown, block);
  head_blocks_.swap(grown);
  head_blocks_n_ += static_cast<uint32_t>(head_.size());
  head_.clear();
}

void MemSeries::HeadSamples(std::vector<Sample>* out) const {
  coding::Reader r(head_blocks_);
  std::string_view block;
  while (r.GetLengthPrefixed(&block)) {
    (void)DecodeChunk(block, out);  // our own encoding; cannot fail
  }
  out->insert(out->end(), head_.begin(), head_.end());
}

ClosedChunk MemSeries::EncodeHead() const {
  if (head_blocks_n_ == 0) return Encode(head_);
  std::vector<Sample>& all = ScratchSamples();
  HeadSamples(&all);
  return Encode(all);
}

void MemSeries::CutOutOfOrder() {
  size_t i = 0;
  while (i < ooo_.size()) {
    size_t j = i + 1;
    while (j < ooo_.size() && j - i < kChunkSamples &&
           ooo_[j].t_ms - ooo_[i].t_ms < kMaxChunkSpanMs) {
      ++j;
    }
    closed_.push_back(Encode(std::span<const Sample>(ooo_.data() + i, j - i)));
    i = j;
  }
  ooo_.clear();
}

std::optional<double> MemSeries::MemoryValueAt(int64_t t_ms) const {
  if (const Sample* s = FindSample(head_, t_ms)) return s->v;
  if (const Sample* s = FindSample(ooo_, t_ms)) return s->v;
  std::vector<Sample> tmp;
  if (head_blocks_n_ > 0 && t_ms >= head_min_t_ms_) {
    coding::Reader r(head_blocks_);
    std::string_view block;
    while (r.GetLengthPrefixed(&block)) {
      (void)DecodeChunk(block, &tmp);  // our own encoding; cannot fail
    }
    if (const Sample* s = FindSample(tmp, t_ms)) return s->v;
  }
  for (const ClosedChunk& c : closed_) {
    if (t_ms < c.min_t_ms || t_ms > c.max_t_ms) continue;
    tmp.clear();
    if (!DecodeChunk(c.data, &tmp).ok()) continue;  // our own encoding; cannot fail
    if (const Sample* s = FindSample(tmp, t_ms)) return s->v;
  }
  return std::nullopt;
}

absl::Status MemSeries::ReadMemory(int64_t start_ms, int64_t end_ms,
                                   std::vector<Sample>* out) const {
  for (const ClosedChunk& c : closed_) {
    if (c.max_t_ms < start_ms || c.min_t_ms > end_ms) continue;
    size_t base = out->size();
    MERIDIAN_RETURN_IF_ERROR(DecodeChunk(c.data, out));
    auto first = out->begin() + static_cast<ptrdiff_t>(base);
    out->erase(
        std::remove_if(first, out->end(),
                       [&](const Sample& s) { return s.t_ms < start_ms || s.t_ms > end_ms; }),
        out->end());
  }
  if (head_blocks_n_ > 0 && head_min_t_ms_ <= end_ms) {
    coding::Reader r(head_blocks_);
    std::string_view block;
    while (r.GetLengthPrefixed(&block)) {
      size_t base = out->size();
      MERIDIAN_RETURN_IF_ERROR(DecodeChunk(block, out));
      auto first = out->begin() + static_cast<ptrdiff_t>(base);
      out->erase(
          std::remove_if(first, out->end(),
                         [&](const Sample& s) { return s.t_ms < start_ms || s.t_ms > end_ms; }),
          out->end());
    }
  }
  for (const auto* v : {&head_, &ooo_}) {
    for (const Sample& s : *v) {
      if (s.t_ms >= start_ms && s.t_ms <= end_ms) out->push_back(s);
    }
  }
  return absl::OkStatus();
}

MemSeries::PersistSnapshot MemSeries::SnapshotForPersist() {
  if (!ooo_.empty()) CutOutOfOrder();
  PersistSnapshot snap;
  snap.chunks = closed_;
  snap.num_closed = closed_.size();
  snap.head_generation = head_generation_;
  if (HeadSize() > 0) {
    snap.chunks.push_back(EncodeHead());
    snap.head_samples = HeadSize();
  }
  return snap;
}

MemSeries::PersistMark MemSeries::MarkOf(const PersistSnapshot& snap) {
  PersistMark m;
  m.num_closed = static_cast<uint32_t>(snap.num_closed);
  m.head_samples = static_cast<uint32_t>(snap.head_samples);
  m.head_generation = snap.head_generation;
  for (const ClosedChunk& c : snap.chunks) {
    m.min_t_ms = std::min(m.min_t_ms, c.min_t_ms);
    m.max_t_ms = std::max(m.max_t_ms, c.max_t_ms);
  }
  if (snap.head_samples > 0) {
    m.head_min_t_ms = snap.chunks.back().min_t_ms;
    m.head_max_t_ms = snap.chunks.back().max_t_ms;
  }
  return m;
}

void MemSeries::MarkPersisted(const PersistMark& mark) {
  for (size_t i = 0; i < mark.num_closed; ++i) {
    disk_only_min_t_ms_ = std::min(disk_only_min_t_ms_, closed_[i].min_t_ms);
    disk_only_max_t_ms_ = std::max(disk_only_max_t_ms_, closed_[i].max_t_ms);
  }
  closed_.erase(closed_.begin(), closed_.begin() + static_cast<ptrdiff_t>(mark.num_closed));
  if (mark.head_samples > 0 && mark.head_generation == head_generation_) {
    // The piece is on disk: memory keeps only what was appended since.
    if (mark.head_samples >= HeadSize()) {
      head_.clear();
      std::string().swap(head_blocks_);
      head_blocks_n_ = 0;
    } else {
      std::vector<Sample> rest;
      HeadSamples(&rest);
      rest.erase(rest.begin(), rest.begin() + mark.head_samples);
      SetHead(rest);
    }
    disk_only_min_t_ms_ = std::min(disk_only_min_t_ms_, mark.head_min_t_ms);
    disk_only_max_t_ms_ = std::max(disk_only_max_t_ms_, mark.head_max_t_ms);
    head_on_disk_ += mark.head_samples;
  }
  // Otherwise the head was cut since (its samples went into a closed chunk
  // keyed by the same first sample, which will overwrite the piece) or
  // trimmed (persisted again as a new piece).
  persisted_min_t_ms_ = std::min(persisted_min_t_ms_, mark.min_t_ms);
  persisted_max_t_ms_ = std::max(persisted_max_t_ms_, mark.max_t_ms);
}

bool MemSeries::TrimBefore(int64_t cutoff_ms) {
  BumpDataEpoch();
  std::erase_if(closed_, [&](const ClosedChunk& c) { return c.max_t_ms < cutoff_ms; });
  std::erase_if(ooo_, [&](const Sample& s) { return s.t_ms < cutoff_ms; });
  if (HeadSize() > 0 && head_min_t_ms_ < cutoff_ms) {
    std::vector<Sample> all;
    HeadSamples(&all);
    std::erase_if(all, [&](const Sample& s) { return s.t_ms < cutoff_ms; });
    SetHead(all);
    if (!all.empty()) head_min_t_ms_ = all.front().t_ms;
    head_on_disk_ = 0;   // the pieces left are retention's, not merged
    ++head_generation_;  // a snapshot taken before holds trimmed samples
  }
  return MemoryEmpty();
}

void MemSeries::SetHead(const std::vector<Sample>& samples) {
  std::string().swap(head_blocks_);
  head_blocks_n_ = 0;
  head_.clear();
  // Encodes the samples in blocks; the last (partial) one stays raw.
  for (size_t i = 0; i < samples.size(); i += kHeadRawSamples) {
    const size_t end = std::min(samples.size(), i + kHeadRawSamples);
    head_.assign(samples.begin() + static_cast<ptrdiff_t>(i),
                 samples.begin() + static_cast<ptrdiff_t>(end));
    if (end < samples.size()) EncodeHeadBlock();
  }
  head_end_hint_.store(head_.data() + head_.size(), std::memory_order_relaxed);
}

void MemSeries::LoadPersistedRange(int64_t min_t_ms, int64_t max_t_ms) {
  disk_only_min_t_ms_ = min_t_ms;
  disk_only_max_t_ms_ = max_t_ms;
  SetPersistedRange(min_t_ms, max_t_ms);
}

void MemSeries::SetPersistedRange(int64_t min_t_ms, int64_t max_t_ms) {
  BumpDataEpoch();
  persisted_min_t_ms_ = min_t_ms;
  persisted_max_t_ms_ = max_t_ms;
  disk_only_min_t_ms_ = std::max(disk_only_min_t_ms_, min_t_ms);
  disk_only_max_t_ms_ = std::min(disk_only_max_t_ms_, max_t_ms);
  newest_t_ms_ = std::max(newest_t_ms_, max_t_ms);
  if (min_t_ms <= max_t_ms) {
    Widen(min_t_ms);
    Widen(max_t_ms);
  }
}

void MemSeries::Widen(int64_t t_ms) {
  if (t_ms < min_t_ms_.load(std::memory_order_relaxed))
    min_t_ms_.store(t_ms, std::memory_order_relaxed);
  if (t_ms > max_t_ms_.load(std::memory_order_relaxed))
    max_t_ms_.store(t_ms, std::memory_order_relaxed);
}

size_t MemSeries::MemoryBytes() const {
  size_t n = sizeof(*this) + flat_labels_.capacity() + head_blocks_.capacity() +
             (head_.capacity() + ooo_.capacity()) * sizeof(Sample);
  for (const ClosedChunk& c : closed_) n += sizeof(c) + c.data.capacity();
  return n;
}

}  // namespace meridian
