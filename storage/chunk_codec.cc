#include "storage/chunk_codec.h"

#include <cmath>
#include <numeric>

#include "storage/coding.h"

namespace meridian {
namespace {

using coding::BitsDouble;
using coding::DoubleBits;
using coding::PutSignedVarint;
using coding::PutVarint;
using coding::ZigZag;

constexpr uint8_t kVersion = 1;
// Value encodings (low nibble of the first byte).
constexpr uint8_t kValuesDecimal = 0;
constexpr uint8_t kValuesXor = 1;
// Decimal values with a residual per value: the distance in units in the last
// place from the nearest decimal (values that accumulated float error).
constexpr uint8_t kValuesDecimalResidual = 2;
// Timestamp modes.
constexpr uint8_t kTimeDoubleDelta = 0;
constexpr uint8_t kTimeGrid = 1;
// Integer-stream modes for decimal values.
constexpr uint8_t kIntDelta = 0;
constexpr uint8_t kIntDoubleDelta = 1;
// Residual-stream modes: kIntDelta, or the values themselves.
constexpr uint8_t kIntRaw = 1;

constexpr int kMaxExponent = 15;
constexpr double kPow10[kMaxExponent + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
constexpr double kMaxMantissa = 9007199254740992.0;  // 2^53

inline uint64_t Sub(uint64_t a, uint64_t b) { return a - b; }  // wrapping
inline int BitLen(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }

// A value within this many units in the last place of m / 10^e counts as
// that decimal plus a residual (float error accumulated by the producer,
// e.g. a counter summing 0.1s); farther ones are exceptions.
constexpr int64_t kMaxResidualUlps = int64_t{1} << 20;

// m / 10^e as the decoder computes it (x / 1.0 == x: no division at e = 0).
inline double Decimal(int64_t m, int e) {
  return e == 0 ? static_cast<double>(m) : static_cast<double>(m) / kPow10[e];
}

// The residual of v against m / 10^e: the difference of their bit patterns
// (wrapping), which is their distance in ulps when both have the same sign.
// Adding it back to the bits of m / 10^e restores v exactly, whatever it is.
inline int64_t Residual(double v, int64_t m, int e) {
  return static_cast<int64_t>(Sub(DoubleBits(v), DoubleBits(Decimal(m, e))));
}

// std::llround for |x| <= 2^53 (round half away from zero), inline: x minus
// its truncation is exact, so the comparison with 0.5 decides as llround does.
inline int64_t RoundHalfAway(double x) {
  const auto t = static_cast<int64_t>(x);
  const double frac = x - static_cast<double>(t);
  return t + (frac >= 0.5) - (frac <= -0.5);
}

// True when v is within kMaxResidualUlps of m / 10^e for m = round(v * 10^e),
// |m| <= 2^53; stores m and the residual.
inline bool ScaledNear(double v, int e, int64_t* m, int64_t* r) {
  double scaled = v * kPow10[e];
  if (!(std::fabs(scaled) <= kMaxMantissa)) return false;  // also rejects NaN/Inf
  const int64_t mm = RoundHalfAway(scaled);
  const int64_t rr = Residual(v, mm, e);
  if (rr > kMaxResidualUlps || rr < -kMaxResidualUlps) return false;
  *m = mm;
  *r = rr;
  return true;
}

// Smallest exponent at which v is a scaled decimal within the residual
// bound (with its m and residual there), or -1. A value near a decimal at e
// is nearly always as near at every larger e (m * 10^k / 10^(e+k) rounds to
// the same double as m / 10^e), until the mantissa outgrows 2^53.
int MinExponent(double v, int64_t* m, int64_t* r) {
  for (int e = 0; e <= kMaxExponent; ++e) {
    if (ScaledNear(v, e, m, r)) return e;
  }
  return -1;
}

// An integer stream as byte planes: one width byte W (0..8), then W planes
// of `n` bytes each, plane b holding byte b (little-endian) of every value.
// Planes keep similar bytes together, which the block compressor exploits.
void PutPlanes(std::string* out, const std::vector<uint64_t>& v) {
  uint64_t all = 0;
  for (uint64_t x : v) all |= x;
  const int w = (BitLen(all) + 7) / 8;
  out->push_back(static_cast<char>(w));
  const size_t n = v.size(), base = out->size();
  out->resize(base + static_cast<size_t>(w) * n);
  char* p = out->data() + base;
  for (int b = 0; b < w; ++b) {
    for (size_t i = 0; i < n; ++i) *p++ = static_cast<char>(v[i] >> (8 * b));
  }
}

// Per-thread buffer for decoded planes: decoding allocates nothing.
std::vector<uint64_t>& PlaneScratch() {
  thread_local std::vector<uint64_t> v;
  return v;
}

bool GetPlanes(coding::Reader* r, size_t n, std::vector<uint64_t>* v) {
  uint8_t w;
  if (!r->GetByte(&w) || w > 8) return false;
  std::string_view bytes;
  if (!r->GetRaw(static_cast<size_t>(w) * n, &bytes)) return false;
  v->assign(n, 0);
  const char* p = bytes.data();
  for (int b = 0; b < w; ++b) {
    for (size_t i = 0; i < n; ++i)
      (*v)[i] |= static_cast<uint64_t>(static_cast<uint8_t>(*p++)) << (8 * b);
  }
  return true;
}

uint64_t StreamCost(const std::vector<uint64_t>& v) {
  uint64_t bits = 0;
  for (uint64_t x : v) bits += static_cast<uint64_t>(BitLen(x)) + 1;
  return bits;
}

// Per-thread buffers of the encoder: encoding allocates nothing once warm
// (head blocks of 16 samples are encoded all the time).
struct EncodeScratch {
  std::vector<uint64_t> a, b, c;  // integer streams
  std::vector<int64_t> m;         // mantissas
  std::vector<int8_t> m_at;       // the exponent m[i] and residual[i] were taken at (-1: none)
  std::vector<uint64_t> residual;
  std::vector<uint32_t> exceptions;
};

EncodeScratch& Scratch() {
  thread_local EncodeScratch s;
  return s;
}

void EncodeTimestamps(std::span<const Sample> s, std::string* out) {
  const size_t n = s.size();
  const uint64_t t0 = static_cast<uint64_t>(s[0].t_ms);
  // Grid: offsets from t0 + i * step, step the mean interval.
  const uint64_t span = Sub(static_cast<uint64_t>(s[n - 1].t_ms), t0);
  const uint64_t step = (span + (n - 1) / 2) / (n - 1);
  EncodeScratch& sc = Scratch();
  std::vector<uint64_t>& grid = sc.a;
  std::vector<uint64_t>& dod = sc.b;
  grid.resize(n - 1);
  dod.resize(n - 2);
  for (size_t i = 1; i < n; ++i) {
    grid[i - 1] =
        ZigZag(static_cast<int64_t>(Sub(static_cast<uint64_t>(s[i].t_ms), t0 + i * step)));
  }
  const uint64_t d1 = Sub(static_cast<uint64_t>(s[1].t_ms), t0);
  uint64_t d = d1;
  for (size_t i = 2; i < n; ++i) {
    uint64_t di = Sub(static_cast<uint64_t>(s[i].t_ms), static_cast<uint64_t>(s[i - 1].t_ms));
    dod[i - 2] = ZigZag(static_cast<int64_t>(Sub(di, d)));
    d = di;
  }
  if (StreamCost(grid) < StreamCost(dod)) {
    out->push_back(static_cast<char>(kTimeGrid));
    PutVarint(out, step);
    PutPlanes(out, grid);
  } else {
    out->push_back(static_cast<char>(kTimeDoubleDelta));
    PutVarint(out, d1);
    PutPlanes(out, dod);
  }
}

// Bytes of the XOR value encoding of `samples` (EncodeXor).
size_t XorSize(std::span<const Sample> samples) {
  uint64_t prev = 0;
  size_t bytes = 0;
  for (const Sample& s : samples) {
    const uint64_t x = DoubleBits(s.v) ^ prev;
    bytes += x == 0 ? 1 : static_cast<size_t>((BitLen(x) + 6) / 7);
    prev = DoubleBits(s.v);
  }
  return bytes;
}

// Encodes values as decimal integers, with a residual plane when some values
// are only near their decimal (then *enc is kValuesDecimalResidual, else
// kValuesDecimal). Returns false (and leaves *out untouched) when too many
// values are not near a decimal, or when the XOR encoding is smaller.
bool EncodeDecimal(std::span<const Sample> samples, std::string* out, uint8_t* enc) {
  const size_t n = samples.size();
  EncodeScratch& sc = Scratch();
  std::vector<int64_t>& m = sc.m;
  std::vector<int8_t>& m_at = sc.m_at;
  std::vector<uint64_t>& residual = sc.residual;
  m.resize(n);
  m_at.resize(n);
  residual.resize(n);
  // The chunk exponent e is the largest of the values' smallest exponents
  // (MinExponent). A value near its decimal at the largest exponent so far
  // cannot raise it: one test instead of a search from 0 for most values.
  int e = 0;
  size_t misses = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t r = 0;
    if (ScaledNear(samples[i].v, e, &m[i], &r)) {
      m_at[i] = static_cast<int8_t>(e);
      residual[i] = ZigZag(r);
      continue;
    }
    const int ei = MinExponent(samples[i].v, &m[i], &r);
    m_at[i] = static_cast<int8_t>(ei);
    residual[i] = ZigZag(r);
    if (ei < 0) {
      if (++misses * 4 > n) return false;
    } else if (ei > e) {
      e = ei;
    }
  }
  // Mantissas at the chunk exponent; exceptions repeat the previous mantissa.
  std::vector<uint32_t>& exceptions = sc.exceptions;
  exceptions.clear();
  uint64_t any_residual = 0;
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    if (m_at[i] != e) {
      int64_t r = 0;
      if (!ScaledNear(samples[i].v, e, &m[i], &r)) {
        exceptions.push_back(static_cast<uint32_t>(i));
        m[i] = prev;
        r = 0;
      }
      residual[i] = ZigZag(r);
    }
    any_residual |= residual[i];
    prev = m[i];
  }
  if (exceptions.size() * 4 > n) return false;
  // Deltas share a common factor g (e.g. 4096-byte pages); store d / g.
  uint64_t g = 0;
  for (size_t i = 1; i < n && g != 1; ++i) {
    int64_t d =
        static_cast<int64_t>(Sub(static_cast<uint64_t>(m[i]), static_cast<uint64_t>(m[i - 1])));
    g = std::gcd(g, d < 0 ? 0 - static_cast<uint64_t>(d) : static_cast<uint64_t>(d));
  }
  if (g == 0) g = 1;
  std::vector<uint64_t>& delta = sc.a;
  std::vector<uint64_t>& dod = sc.b;
  delta.resize(n - 1);
  dod.resize(n - 1);
  int64_t pd = 0;
  for (size_t i = 1; i < n; ++i) {
    int64_t d =
        static_cast<int64_t>(Sub(static_cast<uint64_t>(m[i]), static_cast<uint64_t>(m[i - 1])));
    int64_t q = g == 1 ? d : d / static_cast<int64_t>(g);
    if (g > static_cast<uint64_t>(INT64_MAX)) q = d < 0 ? -1 : (d > 0 ? 1 : 0);
    delta[i - 1] = ZigZag(q);
    dod[i - 1] =
        ZigZag(static_cast<int64_t>(Sub(static_cast<uint64_t>(q), static_cast<uint64_t>(pd))));
    pd = q;
  }
  const bool use_dod = StreamCost(dod) < StreamCost(delta);
  const size_t begin = out->size();
  out->push_back(static_cast<char>(e));
  out->push_back(static_cast<char>(use_dod ? kIntDoubleDelta : kIntDelta));
  PutVarint(out, g);
  PutVarint(out, exceptions.size());
  uint32_t last = 0;
  for (uint32_t idx : exceptions) {
    PutVarint(out, idx - last);
    last = idx;
    coding::PutFixed64LE(out, DoubleBits(samples[idx].v));
  }
  PutSignedVarint(out, m[0]);
  PutPlanes(out, use_dod ? dod : delta);
  *enc = kValuesDecimal;
  if (any_residual != 0) {
    // Accumulated error drifts slowly: the residuals' deltas are often
    // smaller than the residuals.
    std::vector<uint64_t>& rdelta = sc.c;
    rdelta.resize(n);
    uint64_t prev_r = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t ri = static_cast<uint64_t>(coding::UnZigZag(residual[i]));
      rdelta[i] = ZigZag(static_cast<int64_t>(Sub(ri, prev_r)));
      prev_r = ri;
    }
    const bool delta_r = StreamCost(rdelta) < StreamCost(residual);
    out->push_back(static_cast<char>(delta_r ? kIntDelta : kIntRaw));
    PutPlanes(out, delta_r ? rdelta : residual);
    *enc = kValuesDecimalResidual;
    // Values far from short decimals (ratios, sums of random floats) may be
    // cheaper as XOR.
    if (out->size() - begin > XorSize(samples)) {
      out->resize(begin);
      return false;
    }
  }
  return true;
}

// XOR with the previous value's bits, as varints: similar values share
// their sign, exponent and high mantissa bits, leaving small numbers.
void EncodeXor(std::span<const Sample> samples, std::string* out) {
  uint64_t prev = 0;
  for (const Sample& s : samples) {
    PutVarint(out, DoubleBits(s.v) ^ prev);
    prev = DoubleBits(s.v);
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
  if (!r->GetVarint(&n) || n == 0 || n > kMaxChunkSamples) return Corrupt("bad sample count");
  if (!r->GetSignedVarint(&t0) || !r->GetVarint(&span)) return Corrupt("truncated header");
  h->num_samples = static_cast<uint32_t>(n);
  h->min_t_ms = t0;
  h->max_t_ms = static_cast<int64_t>(static_cast<uint64_t>(t0) + span);
  return absl::OkStatus();
}

absl::Status DecodeTimestamps(coding::Reader* r, const ChunkHeader& h, Sample* s) {
  const size_t n = h.num_samples;
  const uint64_t t0 = static_cast<uint64_t>(h.min_t_ms);
  s[0].t_ms = h.min_t_ms;
  if (n == 1) return absl::OkStatus();
  uint8_t mode;
  uint64_t param;
  std::vector<uint64_t>& v = PlaneScratch();
  if (!r->GetByte(&mode) || mode > kTimeGrid || !r->GetVarint(&param))
    return Corrupt("bad time header");
  if (mode == kTimeGrid) {
    if (!GetPlanes(r, n - 1, &v)) return Corrupt("truncated timestamps");
    for (size_t i = 1; i < n; ++i) {
      s[i].t_ms =
          static_cast<int64_t>(t0 + i * param + static_cast<uint64_t>(coding::UnZigZag(v[i - 1])));
    }
  } else {
    if (!GetPlanes(r, n - 2, &v)) return Corrupt("truncated timestamps");
    uint64_t d = param, t = t0 + d;
    s[1].t_ms = static_cast<int64_t>(t);
    for (size_t i = 2; i < n; ++i) {
      d += static_cast<uint64_t>(coding::UnZigZag(v[i - 2]));
      t += d;
      s[i].t_ms = static_cast<int64_t>(t);
    }
  }
  if (s[n - 1].t_ms != h.max_t_ms) return Corrupt("timestamps disagree with header");
  return absl::OkStatus();
}

absl::Status DecodeDecimal(coding::Reader* r, size_t n, bool residuals, Sample* s) {
  uint8_t e, mode;
  uint64_t g, num_exc;
  if (!r->GetByte(&e) || !r->GetByte(&mode) || !r->GetVarint(&g) || !r->GetVarint(&num_exc)) {
    return Corrupt("truncated values");
  }
  if (e > kMaxExponent || mode > kIntDoubleDelta || num_exc > n) return Corrupt("bad value header");
  std::vector<std::pair<uint64_t, uint64_t>> exc(num_exc);
  uint64_t idx = 0;
  for (auto& [i, bits] : exc) {
    uint64_t step;
    if (!r->GetVarint(&step) || !r->GetFixed64LE(&bits)) return Corrupt("truncated exceptions");
    idx += step;
    if (idx >= n) return Corrupt("exception index out of range");
    i = idx;
  }
  int64_t m0;
  std::vector<uint64_t>& v = PlaneScratch();
  if (!r->GetSignedVarint(&m0) || !GetPlanes(r, n - 1, &v)) return Corrupt("truncated values");
  uint64_t m = static_cast<uint64_t>(m0), q = 0;
  const double scale = kPow10[e];
  auto decode = [&](auto to_double) {
    s[0].v = to_double(m);
    for (size_t i = 1; i < n; ++i) {
      uint64_t x = static_cast<uint64_t>(coding::UnZigZag(v[i - 1]));
      q = mode == kIntDelta ? x : q + x;
      m += q * g;
      s[i].v = to_double(m);
    }
  };
  if (e == 0) {
    // Integers (counts, buckets): x / 1.0 == x, without a division per sample.
    decode([](uint64_t x) { return static_cast<double>(static_cast<int64_t>(x)); });
  } else {
    decode([scale](uint64_t x) { return static_cast<double>(static_cast<int64_t>(x)) / scale; });
  }
  if (residuals) {
    uint8_t rmode;
    if (!r->GetByte(&rmode) || rmode > kIntRaw || !GetPlanes(r, n, &v)) {
      return Corrupt("truncated residuals");
    }
    uint64_t res = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t x = static_cast<uint64_t>(coding::UnZigZag(v[i]));
      res = rmode == kIntDelta ? res + x : x;
      s[i].v = BitsDouble(DoubleBits(s[i].v) + res);
    }
  }
  for (const auto& [i, bits] : exc) s[i].v = BitsDouble(bits);
  return absl::OkStatus();
}

absl::Status DecodeInto(std::string_view chunk, std::vector<Sample>* out) {
  coding::Reader r(chunk);
  uint8_t enc = 0;
  ChunkHeader h;
  MERIDIAN_RETURN_IF_ERROR(ReadHeader(&r, &enc, &h));
  const size_t n = h.num_samples;
  // n <= kMaxChunkSamples bounds the allocation (all-zero planes take no
  // bytes, so the input size cannot bound it).
  const size_t base = out->size();
  out->resize(base + n);
  Sample* s = out->data() + base;
  MERIDIAN_RETURN_IF_ERROR(DecodeTimestamps(&r, h, s));
  if (enc == kValuesDecimal || enc == kValuesDecimalResidual) {
    MERIDIAN_RETURN_IF_ERROR(DecodeDecimal(&r, n, enc == kValuesDecimalResidual, s));
  } else if (enc == kValuesXor) {
    uint64_t prev = 0;
    for (size_t i = 0; i < n; ++i) {
      uint64_t x;
      if (!r.GetVarint(&x)) return Corrupt("truncated values");
      prev ^= x;
      s[i].v = BitsDouble(prev);
    }
  } else {
    return Corrupt("unknown value encoding");
  }
  if (!r.empty()) return Corrupt("trailing bytes");
  return absl::OkStatus();
}

}  // namespace

void EncodeChunk(std::span<const Sample> samples, std::string* out) {
  const size_t n = samples.size();
  const size_t header_pos = out->size();
  out->push_back(0);  // patched below
  PutVarint(out, n);
  PutSignedVarint(out, samples[0].t_ms);
  PutVarint(
      out, Sub(static_cast<uint64_t>(samples[n - 1].t_ms), static_cast<uint64_t>(samples[0].t_ms)));
  if (n >= 2) EncodeTimestamps(samples, out);
  uint8_t enc = kValuesDecimal;
  if (n < 2 || !EncodeDecimal(samples, out, &enc)) {
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

absl::Status DecodeChunk(std::string_view chunk, std::vector<Sample>* out) {
  const size_t base = out->size();
  absl::Status s = DecodeInto(chunk, out);
  if (!s.ok()) out->resize(base);
  return s;
}

}  // namespace meridian
