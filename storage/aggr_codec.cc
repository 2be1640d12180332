// The aggregate chunk codec (docs/format/downsampled.md). Pure; no I/O.
#include <cstring>

#include "storage/coding.h"
#include "storage/compaction.h"

namespace meridian {
namespace {

constexpr uint8_t kAggrVersion = 1;
constexpr uint8_t kFlagOwnLast = 1;  // last_t/last_v stored (differ from the counter's last)
constexpr int kNumValueFields = 6;

void ValueFields(const AggregateWindow& w, uint64_t out[kNumValueFields]) {
  out[0] = coding::DoubleBits(w.sum);
  out[1] = coding::DoubleBits(w.min);
  out[2] = coding::DoubleBits(w.max);
  out[3] = coding::DoubleBits(w.first_v);
  out[4] = coding::DoubleBits(w.clast_v);
  out[5] = coding::DoubleBits(w.counter_inc);
}

void SetValueFields(const uint64_t in[kNumValueFields], AggregateWindow* w) {
  w->sum = coding::BitsDouble(in[0]);
  w->min = coding::BitsDouble(in[1]);
  w->max = coding::BitsDouble(in[2]);
  w->first_v = coding::BitsDouble(in[3]);
  w->clast_v = coding::BitsDouble(in[4]);
  w->counter_inc = coding::BitsDouble(in[5]);
}

}  // namespace

int64_t ResolutionMs(Resolution r) {
  switch (r) {
    case Resolution::kRaw:
      return 0;
    case Resolution::k5m:
      return kRes5mMs;
    case Resolution::k1h:
      return kRes1hMs;
  }
  return 0;
}

int64_t BlockMs(Resolution r) { return r == Resolution::k1h ? kBlock1hMs : kBlock5mMs; }

std::string_view ResolutionName(Resolution r) {
  switch (r) {
    case Resolution::kRaw:
      return "raw";
    case Resolution::k5m:
      return "5m";
    case Resolution::k1h:
      return "1h";
  }
  return "?";
}

int64_t AlignDown(int64_t t, int64_t m) {
  if (t < kNoTime + m) return kNoTime;  // also avoids overflowing below -2^63
  int64_t r = t % m;
  if (r < 0) r += m;
  return t - r;
}

void EncodeAggrChunk(Resolution r, int64_t block_start, std::span<const AggregateWindow> windows,
                     std::string* out) {
  const int64_t res = ResolutionMs(r);
  out->push_back(static_cast<char>(kAggrVersion << 4 | static_cast<uint8_t>(r)));
  coding::PutVarint(out, windows.size());
  coding::PutSignedVarint(out, block_start);
  int64_t prev_index = -1;
  uint64_t prev[kNumValueFields] = {0, 0, 0, 0, 0, 0};
  for (const AggregateWindow& w : windows) {
    const int64_t index = (w.t_ms - block_start) / res;
    coding::PutVarint(out, static_cast<uint64_t>(index - prev_index - 1));
    prev_index = index;
    coding::PutVarint(out, w.count);
    const bool own_last = w.count == 0 || w.last_t != w.clast_t ||
                          coding::DoubleBits(w.last_v) != coding::DoubleBits(w.clast_v);
    out->push_back(static_cast<char>(own_last ? kFlagOwnLast : 0));
    if (w.count > 0) {
      coding::PutVarint(out, static_cast<uint64_t>(w.first_t - w.t_ms));
      coding::PutVarint(out, static_cast<uint64_t>(w.clast_t - w.first_t));
      uint64_t f[kNumValueFields];
      ValueFields(w, f);
      for (int i = 0; i < kNumValueFields; ++i) {
        coding::PutVarint(out, f[i] ^ prev[i]);
        prev[i] = f[i];
      }
    }
    if (own_last) {
      coding::PutVarint(out, static_cast<uint64_t>(w.last_t - w.t_ms));
      coding::PutFixed64LE(out, coding::DoubleBits(w.last_v));
    }
  }
}

absl::Status DecodeAggrChunk(std::string_view chunk, std::vector<AggregateWindow>* out,
                             Resolution* r_out, int64_t* block_out) {
  auto bad = [](const char* what) {
    return absl::DataLossError(std::string("corrupt aggregate chunk: ") + what);
  };
  coding::Reader in(chunk);
  uint8_t head;
  if (!in.GetByte(&head)) return bad("empty");
  if ((head >> 4) != kAggrVersion) return bad("unknown version");
  const uint8_t rc = head & 0x0f;
  if (rc != static_cast<uint8_t>(Resolution::k5m) && rc != static_cast<uint8_t>(Resolution::k1h)) {
    return bad("unknown resolution");
  }
  const Resolution r = static_cast<Resolution>(rc);
  const int64_t res = ResolutionMs(r);
  const int64_t per_block = BlockMs(r) / res;
  uint64_t n;
  int64_t block_start;
  if (!in.GetVarint(&n) || !in.GetSignedVarint(&block_start)) return bad("truncated header");
  if (n == 0 || n > static_cast<uint64_t>(per_block)) return bad("window count out of range");
  if (AlignDown(block_start, BlockMs(r)) != block_start) return bad("unaligned block");
  const size_t old_size = out->size();
  auto fail = [&](const char* what) {
    out->resize(old_size);
    return bad(what);
  };
  out->reserve(old_size + n);
  int64_t index = -1;
  uint64_t prev[kNumValueFields] = {0, 0, 0, 0, 0, 0};
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t gap, count, off;
    uint8_t flags;
    if (!in.GetVarint(&gap) || !in.GetVarint(&count) || !in.GetByte(&flags)) {
      return fail("truncated window");
    }
    if (gap >= static_cast<uint64_t>(per_block) ||
        index + 1 + static_cast<int64_t>(gap) >= per_block) {
      return fail("window index out of range");
    }
    if ((flags & ~kFlagOwnLast) != 0) return fail("unknown flags");
    if (count > static_cast<uint64_t>(res)) return fail("count out of range");
    index += 1 + static_cast<int64_t>(gap);
    AggregateWindow w;
    w.t_ms = block_start + index * res;
    w.count = count;
    if (count > 0) {
      uint64_t span;
      if (!in.GetVarint(&off) || !in.GetVarint(&span)) return fail("truncated times");
      if (off >= static_cast<uint64_t>(res) || span >= static_cast<uint64_t>(res) - off) {
        return fail("sample time outside its window");
      }
      w.first_t = w.t_ms + static_cast<int64_t>(off);
      w.clast_t = w.first_t + static_cast<int64_t>(span);
      uint64_t f[kNumValueFields];
      for (int i = 0; i < kNumValueFields; ++i) {
        uint64_t x;
        if (!in.GetVarint(&x)) return fail("truncated values");
        f[i] = x ^ prev[i];
        prev[i] = f[i];
      }
      SetValueFields(f, &w);
      w.last_t = w.clast_t;
      w.last_v = w.clast_v;
    } else if (!(flags & kFlagOwnLast)) {
      return fail("empty window without a last sample");
    }
    if (flags & kFlagOwnLast) {
      uint64_t bits;
      if (!in.GetVarint(&off) || !in.GetFixed64LE(&bits)) return fail("truncated last sample");
      if (off >= static_cast<uint64_t>(res)) return fail("last sample outside its window");
      w.last_t = w.t_ms + static_cast<int64_t>(off);
      w.last_v = coding::BitsDouble(bits);
    }
    out->push_back(w);
  }
  if (!in.empty()) return fail("trailing bytes");
  if (r_out) *r_out = r;
  if (block_out) *block_out = block_start;
  return absl::OkStatus();
}

}  // namespace meridian
