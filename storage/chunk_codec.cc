#include "storage/chunk_codec.h"

#include <cmath>
#include <cstdlib>

#include "storage/coding.h"

namespace meridian {
namespace {

using coding::BitsDouble;
using coding::DoubleBits;
using coding::PutSignedVarint;
using coding::PutVarint;

constexpr uint8_t kVersion = 1;
// Value encodings (low nibble of the first byte).
constexpr uint8_t kValuesDecimal = 0;
constexpr uint8_t kValuesXor = 1;
// Integer-stream modes for decimal values.
constexpr uint8_t kIntDelta = 0;
constexpr uint8_t kIntDoubleDelta = 1;
// XOR modes.
constexpr uint8_t kXorVarint = 0;         // varint(bits ^ prev)
constexpr uint8_t kXorSwappedVarint = 1;  // varint(bswap(bits ^ prev))
constexpr uint8_t kXorRaw = 2;            // fixed64 little endian of bits ^ prev

constexpr int kMaxExponent = 15;
constexpr double kPow10[kMaxExponent + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
constexpr double kMaxMantissa = 9007199254740992.0;  // 2^53

// True when v == m / 10^e bit for bit with |m| <= 2^53; stores m.
inline bool ScaledExact(double v, int e, int64_t* m) {
  double scaled = v * kPow10[e];
  if (!(std::fabs(scaled) <= kMaxMantissa)) return false;  // also rejects NaN/Inf
  int64_t r = std::llround(scaled);
  if (DoubleBits(static_cast<double>(r) / kPow10[e]) != DoubleBits(v)) return false;
  *m = r;
  return true;
}

// Smallest exponent at which v is an exact scaled decimal, or -1.
int MinExponent(double v) {
  int64_t m;
  for (int e = 0; e <= kMaxExponent; ++e) {
    if (ScaledExact(v, e, &m)) return e;
  }
  return -1;
}

inline uint64_t ByteSwap(uint64_t x) { return __builtin_bswap64(x); }

// Encodes values as decimal integers. Returns false (and leaves *out
// untouched) when too many values are not exact decimals.
bool EncodeDecimal(std::span<const Sample> samples, std::string* out) {
  const size_t n = samples.size();
  int e = 0;
  size_t misses = 0;
  for (const Sample& s : samples) {
    int ei = MinExponent(s.v);
    if (ei < 0) {
      ++misses;
    } else if (ei > e) {
      e = ei;
    }
  }
  if (misses * 4 > n) return false;
  // Mantissas at the chunk exponent; exceptions repeat the previous mantissa.
  std::vector<int64_t> m(n);
  std::vector<uint32_t> exceptions;
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!ScaledExact(samples[i].v, e, &m[i])) {
      exceptions.push_back(static_cast<uint32_t>(i));
      m[i] = prev;
    }
    prev = m[i];
  }
  if (exceptions.size() * 4 > n) return false;
  size_t delta_bytes = 0, dod_bytes = 0;
  for (size_t i = 1; i < n; ++i) {
    int64_t d = static_cast<int64_t>(static_cast<uint64_t>(m[i]) - static_cast<uint64_t>(m[i - 1]));
    delta_bytes += coding::VarintLength(coding::ZigZag(d));
    int64_t pd = i >= 2 ? static_cast<int64_t>(static_cast<uint64_t>(m[i - 1]) -
                                               static_cast<uint64_t>(m[i - 2]))
                        : 0;
    dod_bytes += coding::VarintLength(
        coding::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(d) - static_cast<uint64_t>(pd))));
  }
  uint8_t mode = dod_bytes < delta_bytes ? kIntDoubleDelta : kIntDelta;
  out->push_back(static_cast<char>(e));
  out->push_back(static_cast<char>(mode));
  PutVarint(out, exceptions.size());
  uint32_t last = 0;
  for (uint32_t idx : exceptions) {
    PutVarint(out, idx - last);
    last = idx;
    coding::PutFixed64LE(out, DoubleBits(samples[idx].v));
  }
  PutSignedVarint(out, m[0]);
  int64_t pd = 0;
  for (size_t i = 1; i < n; ++i) {
    uint64_t d = static_cast<uint64_t>(m[i]) - static_cast<uint64_t>(m[i - 1]);
    if (mode == kIntDelta) {
      PutVarint(out, coding::ZigZag(static_cast<int64_t>(d)));
    } else {
      PutVarint(out, coding::ZigZag(static_cast<int64_t>(d - static_cast<uint64_t>(pd))));
    }
    pd = static_cast<int64_t>(d);
  }
  return true;
}

void EncodeXor(std::span<const Sample> samples, std::string* out) {
  size_t plain = 0, swapped = 0;
  uint64_t prev = 0;
  for (const Sample& s : samples) {
    uint64_t x = DoubleBits(s.v) ^ prev;
    prev = DoubleBits(s.v);
    plain += coding::VarintLength(x);
    swapped += coding::VarintLength(ByteSwap(x));
  }
  uint8_t mode = kXorRaw;
  size_t best = samples.size() * 8;
  if (plain < best) {
    mode = kXorVarint;
    best = plain;
  }
  if (swapped < best) mode = kXorSwappedVarint;
  out->push_back(static_cast<char>(mode));
  prev = 0;
  for (const Sample& s : samples) {
    uint64_t x = DoubleBits(s.v) ^ prev;
    prev = DoubleBits(s.v);
    switch (mode) {
      case kXorVarint: PutVarint(out, x); break;
      case kXorSwappedVarint: PutVarint(out, ByteSwap(x)); break;
      default: coding::PutFixed64LE(out, x);
    }
  }
}

absl::Status Corrupt(const char* what) {
  return absl::DataLossError(std::string("corrupt chunk: ") + what);
}

absl::Status ReadHeader(coding::Reader* r, uint8_t* encoding, ChunkHeader* h) {
  uint8_t first;
  uint64_t n, span;
  int64_t t0;
  if (!r->GetByte(&first)) return Corrupt("empty");
  if ((first >> 4) != kVersion) return Corrupt("unknown version");
  *encoding = first & 0x0f;
  if (!r->GetVarint(&n) || n == 0 || n > (1u << 24)) return Corrupt("bad sample count");
  if (!r->GetSignedVarint(&t0) || !r->GetVarint(&span)) return Corrupt("truncated header");
  h->num_samples = static_cast<uint32_t>(n);
  h->min_t_ms = t0;
  h->max_t_ms = static_cast<int64_t>(static_cast<uint64_t>(t0) + span);
  return absl::OkStatus();
}

}  // namespace

void EncodeChunk(std::span<const Sample> samples, std::string* out) {
  const size_t n = samples.size();
  const size_t header_pos = out->size();
  out->push_back(0);  // patched below
  PutVarint(out, n);
  int64_t t0 = samples[0].t_ms;
  PutSignedVarint(out, t0);
  PutVarint(out, static_cast<uint64_t>(samples[n - 1].t_ms) - static_cast<uint64_t>(t0));
  if (n >= 2) {
    uint64_t d = static_cast<uint64_t>(samples[1].t_ms) - static_cast<uint64_t>(t0);
    PutVarint(out, d);
    for (size_t i = 2; i < n; ++i) {
      uint64_t di = static_cast<uint64_t>(samples[i].t_ms) - static_cast<uint64_t>(samples[i - 1].t_ms);
      PutSignedVarint(out, static_cast<int64_t>(di - d));
      d = di;
    }
  }
  uint8_t enc = kValuesDecimal;
  if (!EncodeDecimal(samples, out)) {
    enc = kValuesXor;
    EncodeXor(samples, out);
  }
  (*out)[header_pos] = static_cast<char>((kVersion << 4) | enc);
}

absl::Status DecodeChunkHeader(std::string_view chunk, ChunkHeader* header) {
  coding::Reader r(chunk);
  uint8_t enc;
  return ReadHeader(&r, &enc, header);
}

static absl::Status DecodeChunkInto(std::string_view chunk, std::vector<Sample>* out) {
  coding::Reader r(chunk);
  uint8_t enc;
  ChunkHeader h;
  MERIDIAN_RETURN_IF_ERROR(ReadHeader(&r, &enc, &h));
  const size_t n = h.num_samples;
  // Every sample costs at least one byte per stream, so a count larger than
  // the input is corrupt; this bounds the allocation below.
  if (n > chunk.size()) return Corrupt("sample count exceeds size");
  const size_t base = out->size();
  out->resize(base + n);
  Sample* s = out->data() + base;
  s[0].t_ms = h.min_t_ms;
  if (n >= 2) {
    uint64_t d;
    if (!r.GetVarint(&d)) return Corrupt("truncated timestamps");
    uint64_t t = static_cast<uint64_t>(h.min_t_ms) + d;
    s[1].t_ms = static_cast<int64_t>(t);
    for (size_t i = 2; i < n; ++i) {
      int64_t dod;
      if (!r.GetSignedVarint(&dod)) return Corrupt("truncated timestamps");
      d += static_cast<uint64_t>(dod);
      t += d;
      s[i].t_ms = static_cast<int64_t>(t);
    }
    if (static_cast<int64_t>(t) != h.max_t_ms) return Corrupt("timestamps disagree with header");
  }
  if (enc == kValuesDecimal) {
    uint8_t e, mode;
    uint64_t num_exc;
    if (!r.GetByte(&e) || !r.GetByte(&mode) || !r.GetVarint(&num_exc)) return Corrupt("truncated values");
    if (e > kMaxExponent || mode > kIntDoubleDelta || num_exc > n) return Corrupt("bad value header");
    // Exceptions are stashed in t order; mark them with their raw bits.
    std::vector<std::pair<uint64_t, uint64_t>> exc(num_exc);
    uint64_t idx = 0;
    for (auto& [i, bits] : exc) {
      uint64_t step;
      if (!r.GetVarint(&step) || !r.GetFixed64LE(&bits)) return Corrupt("truncated exceptions");
      idx += step;
      if (idx >= n) return Corrupt("exception index out of range");
      i = idx;
    }
    int64_t m0;
    if (!r.GetSignedVarint(&m0)) return Corrupt("truncated values");
    uint64_t m = static_cast<uint64_t>(m0), pd = 0;
    const double scale = kPow10[e];
    s[0].v = static_cast<double>(static_cast<int64_t>(m)) / scale;
    for (size_t i = 1; i < n; ++i) {
      int64_t x;
      if (!r.GetSignedVarint(&x)) return Corrupt("truncated values");
      uint64_t d = mode == kIntDelta ? static_cast<uint64_t>(x) : pd + static_cast<uint64_t>(x);
      pd = d;
      m += d;
      s[i].v = static_cast<double>(static_cast<int64_t>(m)) / scale;
    }
    for (const auto& [i, bits] : exc) s[i].v = BitsDouble(bits);
  } else if (enc == kValuesXor) {
    uint8_t mode;
    if (!r.GetByte(&mode) || mode > kXorRaw) return Corrupt("bad xor mode");
    uint64_t prev = 0;
    for (size_t i = 0; i < n; ++i) {
      uint64_t x;
      bool ok = mode == kXorRaw ? r.GetFixed64LE(&x) : r.GetVarint(&x);
      if (!ok) return Corrupt("truncated values");
      if (mode == kXorSwappedVarint) x = ByteSwap(x);
      prev ^= x;
      s[i].v = BitsDouble(prev);
    }
  } else {
    return Corrupt("unknown value encoding");
  }
  if (!r.empty()) return Corrupt("trailing bytes");
  return absl::OkStatus();
}

absl::Status DecodeChunk(std::string_view chunk, std::vector<Sample>* out) {
  const size_t base = out->size();
  absl::Status s = DecodeChunkInto(chunk, out);
  if (!s.ok()) out->resize(base);
  return s;
}

bool IsStaleNaN(double v) { return DoubleBits(v) == kStaleNaNBits; }
double StaleNaN() { return BitsDouble(kStaleNaNBits); }

}  // namespace meridian
