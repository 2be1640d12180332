#include "storage/chunk_codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "gtest/gtest.h"
#include "storage/coding.h"

namespace meridian {
namespace {

// Varints of every length, read with and without 8 bytes to spare (the
// reader's word-at-a-time path and its byte loop), and truncated ones.
TEST(CodingTest, VarintsOfEveryLengthRoundTrip) {
  std::vector<uint64_t> values = {0, 1, 127, 128, ~uint64_t{0}};
  for (int bits = 1; bits <= 64; ++bits) {
    const uint64_t top = uint64_t{1} << (bits - 1);
    values.push_back(top);
    values.push_back(top | (top - 1));
    values.push_back(top | ((0x5555555555555555ULL >> (64 - bits)) >> 1));
  }
  for (uint64_t v : values) {
    for (size_t pad : {0, 1, 7, 8, 16}) {
      std::string buf;
      coding::PutVarint(&buf, v);
      const size_t len = buf.size();
      buf.append(pad, '\xff');  // continuation bits everywhere after the varint
      coding::Reader r(buf);
      uint64_t got = 0;
      ASSERT_TRUE(r.GetVarint(&got)) << v << " pad " << pad;
      EXPECT_EQ(got, v) << "pad " << pad;
      EXPECT_EQ(r.remaining(), pad) << v;
      // Every truncation of the varint alone fails.
      for (size_t cut = 0; cut < len; ++cut) {
        coding::Reader t(std::string_view(buf.data(), cut));
        EXPECT_FALSE(t.GetVarint(&got)) << v << " cut " << cut;
      }
    }
  }
  // Eight or more continuation bytes in a row fall back to the byte loop.
  std::string many(12, '\x80');
  many.push_back('\x01');
  coding::Reader r(many);
  uint64_t got;
  EXPECT_FALSE(r.GetVarint(&got));  // longer than 64 bits
}

void ExpectRoundTrip(const std::vector<Sample>& in) {
  std::string enc;
  EncodeChunk(in, &enc);
  ChunkHeader h;
  ASSERT_TRUE(DecodeChunkHeader(enc, &h).ok());
  EXPECT_EQ(h.num_samples, in.size());
  EXPECT_EQ(h.min_t_ms, in.front().t_ms);
  EXPECT_EQ(h.max_t_ms, in.back().t_ms);
  std::vector<Sample> out;
  absl::Status s = DecodeChunk(enc, &out);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t_ms, in[i].t_ms) << i;
    EXPECT_EQ(coding::DoubleBits(out[i].v), coding::DoubleBits(in[i].v)) << i << " " << in[i].v;
  }
}

std::vector<Sample> Series(size_t n, int64_t t0, int64_t step, double (*f)(size_t)) {
  std::vector<Sample> v;
  for (size_t i = 0; i < n; ++i) v.push_back({t0 + static_cast<int64_t>(i) * step, f(i)});
  return v;
}

TEST(ChunkCodecTest, SingleSample) { ExpectRoundTrip({{1000, 1.5}}); }

TEST(ChunkCodecTest, SpecialValues) {
  double nan_payload = coding::BitsDouble(0x7ff8000000000123ULL);
  double neg_nan = coding::BitsDouble(0xfff8000000000001ULL);
  ExpectRoundTrip({{1, 1.0},
                   {2, StaleNaN()},
                   {3, std::numeric_limits<double>::infinity()},
                   {4, -std::numeric_limits<double>::infinity()},
                   {5, nan_payload},
                   {6, neg_nan},
                   {7, -0.0},
                   {8, 0.0},
                   {9, std::numeric_limits<double>::denorm_min()},
                   {10, std::numeric_limits<double>::max()},
                   {11, std::numeric_limits<double>::lowest()}});
}

TEST(ChunkCodecTest, DecimalCounterWithStaleMarker) {
  std::vector<Sample> v =
      Series(120, 1'700'000'000'000, 15'000, [](size_t i) { return 100.0 + i * 3; });
  v[60].v = StaleNaN();
  ExpectRoundTrip(v);
  std::string enc;
  EncodeChunk(v, &enc);
  EXPECT_LT(enc.size(), 120u * 3);  // decimal path with one exception
}

TEST(ChunkCodecTest, DecimalFractions) {
  ExpectRoundTrip(
      Series(200, 0, 15'000, [](size_t i) { return 0.1 * static_cast<double>(i % 17) - 0.7; }));
  ExpectRoundTrip(
      Series(50, 0, 1, [](size_t i) { return 1234.5678 + static_cast<double>(i) * 0.0001; }));
  ExpectRoundTrip(Series(50, 0, 1, [](size_t i) { return 1e15 + static_cast<double>(i); }));
  ExpectRoundTrip(
      Series(50, 0, 1, [](size_t i) { return -9007199254740992.0 + static_cast<double>(i); }));
}

TEST(ChunkCodecTest, NonDecimalValues) {
  ExpectRoundTrip(
      Series(120, 0, 15'000, [](size_t i) { return std::sin(static_cast<double>(i)); }));
  ExpectRoundTrip(
      Series(120, 0, 15'000, [](size_t i) { return 1e300 / static_cast<double>(i + 3); }));
  ExpectRoundTrip(
      Series(120, 0, 15'000, [](size_t i) { return i % 2 ? std::nan("") : 1.0 / 3.0; }));
}

TEST(ChunkCodecTest, IrregularAndNegativeTimestamps) {
  std::mt19937_64 rng(42);
  std::vector<Sample> v;
  int64_t t = -5'000'000;
  for (int i = 0; i < 1000; ++i) {
    t += 1 + static_cast<int64_t>(rng() % 100'000);
    v.push_back({t, static_cast<double>(rng() % 1000)});
  }
  ExpectRoundTrip(v);
  ExpectRoundTrip({{std::numeric_limits<int64_t>::min() / 2, 1},
                   {0, 2},
                   {std::numeric_limits<int64_t>::max() / 2, 3}});
}

TEST(ChunkCodecTest, LongSeries) {
  std::mt19937_64 rng(7);
  std::vector<Sample> v;
  double c = 0;
  for (size_t i = 0; i < kMaxChunkSamples; ++i) {
    c += static_cast<double>(rng() % 50);
    v.push_back({static_cast<int64_t>(i) * 15'000 + static_cast<int64_t>(rng() % 5), c});
  }
  ExpectRoundTrip(v);
  // Perfectly regular data: all-zero planes, a few bytes for the whole chunk.
  std::vector<Sample> flat = Series(kMaxChunkSamples, -1000, 1000, [](size_t) { return 42.0; });
  ExpectRoundTrip(flat);
  std::string enc;
  EncodeChunk(flat, &enc);
  EXPECT_LT(enc.size(), 32u);
}

TEST(ChunkCodecTest, CorruptionReturnsErrorNotCrash) {
  std::mt19937_64 rng(1);
  std::vector<Sample> v =
      Series(120, 1'000, 15'000, [](size_t i) { return 0.5 * static_cast<double>(i); });
  v[3].v = std::sin(3.0);
  std::string enc;
  EncodeChunk(v, &enc);
  std::vector<Sample> out;
  // Every truncation is an error.
  for (size_t n = 0; n < enc.size(); ++n) {
    out.clear();
    EXPECT_FALSE(DecodeChunk(std::string_view(enc.data(), n), &out).ok()) << n;
    EXPECT_TRUE(out.empty());
  }
  // Random byte flips never crash (they may decode to other values).
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = enc;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    out.clear();
    (void)DecodeChunk(bad, &out);
  }
  // Garbage inputs.
  for (int trial = 0; trial < 2000; ++trial) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    out.clear();
    (void)DecodeChunk(junk, &out);
    ChunkHeader h;
    (void)DecodeChunkHeader(junk, &h);
  }
}

// Values that accumulated float error (a counter summing 0.1s, a gauge
// walking in tenths) are near short decimals but rarely exactly one: they
// are stored as decimals plus small residuals, bit exact, at well under the
// size of the XOR encoding they used to fall back to.
TEST(ChunkCodecTest, AccumulatedFloatErrorIsNearlyAsCompactAsDecimals) {
  std::mt19937_64 rng(5);
  std::vector<Sample> counter, gauge;
  double c = 0, g = 600;
  for (int i = 0; i < 5000; ++i) {  // run for a while before the chunk
    c += static_cast<double>(rng() % 1000) * (rng() % 4 == 0 ? 0.001 : 1.0);
  }
  size_t inexact = 0;
  for (int i = 0; i < 120; ++i) {
    c += static_cast<double>(rng() % 1000) * (rng() % 4 == 0 ? 0.001 : 1.0);
    g = std::max(0.0, g + (static_cast<double>(rng() % 2001) - 1000) / 10.0);
    const int64_t t = 1'700'000'000'000 + i * 15'000 + static_cast<int64_t>(rng() % 5);
    counter.push_back({t, c});
    gauge.push_back({t, g});
    inexact += std::round(g * 10) / 10 != g;
  }
  ASSERT_GT(inexact, 30u) << "the gauge should carry float error";
  for (const auto* v : {&counter, &gauge}) {
    ExpectRoundTrip(*v);
    std::string enc;
    EncodeChunk(*v, &enc);
    size_t xor_bytes = 0;  // the XOR encoding's value bytes
    uint64_t prev = 0;
    for (const Sample& x : *v) {
      std::string b;
      coding::PutVarint(&b, coding::DoubleBits(x.v) ^ prev);
      xor_bytes += b.size();
      prev = coding::DoubleBits(x.v);
    }
    // The same timestamps with constant values: the bytes that are not values.
    std::vector<Sample> flat = *v;
    for (Sample& x : flat) x.v = 1;
    std::string times;
    EncodeChunk(flat, &times);
    EXPECT_LT(static_cast<double>(enc.size() - times.size()), 0.75 * static_cast<double>(xor_bytes))
        << (v == &counter ? "counter" : "gauge");
  }
  // Mixed with exceptions (stale markers, -0, NaN, Inf) and negative values.
  std::vector<Sample> mixed;
  double x = -5;
  for (int i = 0; i < 120; ++i) {
    x += 0.1;
    double v = x;
    if (i % 17 == 3) v = StaleNaN();
    if (i == 50) v = -0.0;
    if (i == 51) v = std::numeric_limits<double>::infinity();
    mixed.push_back({i * 1000, v});
  }
  ExpectRoundTrip(mixed);
}

// Chunks written by the encoder before the residual encoding (value
// encodings 0 and 1, unchanged) still decode to the same samples.
TEST(ChunkCodecTest, ChunksOfTheEarlierEncoderStillDecode) {
  const std::string xor_chunk(
      "\x11\x08\x80\xa0\xab\xfe\xf9\x62\xa9\xb4\x06\x00\x99\x75\x01\x00\x05\x06\x00\x05\x06\x00\x95"
      "\xd0\x96\xcb\xcd\x8a\xb5\x90\x40\xb9\xf1\x9a\xdd\xe8\xf9\xbe\x01\x9e\xb4\x9e\xdf\xcd\xfb\xae"
      "\xea\x7f\xe8\xd9\xde\xe3\xed\xbd\xb4\xf4\xff\x01\x9a\xf3\xfd\xe7\x96\x83\xda\x1e\xb0\xa9\xc2"
      "\xa7\xcd\xfb\xdd\x12\xfa\x8f\xd2\xf2\xf1\xbc\x87\x8e\x80\x01",
      84);
  const std::string decimal_chunk(
      "\x10\x08\x80\xa0\xab\xfe\xf9\x62\xa8\xb4\x06\x00\x98\x75\x00\x02\x01\x19\x00\xac\x02\x01\x02"
      "\x00\x00\x00\x00\x00\x00",
      29);
  const std::string exceptions_chunk(
      "\x10\x08\x80\xa0\xab\xfe\xf9\x62\xa7\xb4\x06\x01\x98\x75\x01\x01\x00\x01\x00\x01\x00\x01\x01"
      "\x01\x01\x02\x02\x34\x33\x33\x33\x33\x33\xd3\x3f\x05\x99\x99\x99\x99\x99\x99\xe9\x3f\x02\x01"
      "\x02\x01\x04\x01\x00\x00\x01",
      53);
  std::vector<Sample> sines, quarters, tenths;
  double x = 0;
  for (int i = 0; i < 8; ++i) {
    sines.push_back({1'700'000'000'000 + i * 15'000 + (i % 3), std::sin(i) * 10});
    quarters.push_back({1'700'000'000'000 + i * 15'000, 1.5 + 0.25 * i});
    x += 0.1;
    tenths.push_back({1'700'000'000'000 + i * 15'000 - (i % 2), x});
  }
  for (const auto& [chunk, want] :
       {std::pair{&xor_chunk, &sines}, std::pair{&decimal_chunk, &quarters},
        std::pair{&exceptions_chunk, &tenths}}) {
    std::vector<Sample> out;
    absl::Status st = DecodeChunk(*chunk, &out);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(out.size(), want->size());
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].t_ms, (*want)[i].t_ms) << i;
      EXPECT_EQ(coding::DoubleBits(out[i].v), coding::DoubleBits((*want)[i].v)) << i;
    }
  }
}

// A corpus of chunks of every value kind the encoder distinguishes (integer
// counters, decimals, values with accumulated float error, values far from
// any decimal, large integers past 2^53 at higher exponents, special
// values) at sizes from 1 to 240 samples.
std::vector<std::vector<Sample>> EncoderCorpus() {
  std::mt19937_64 rng(11);
  std::vector<std::vector<Sample>> corpus;
  for (int kind = 0; kind < 8; ++kind) {
    for (size_t n : {1, 2, 3, 7, 16, 17, 60, 120, 239, 240}) {
      std::vector<Sample> v;
      double c = static_cast<double>(rng() % 100000), x = 0;
      int64_t t = 1'700'000'000'000 + static_cast<int64_t>(rng() % 100000);
      for (size_t i = 0; i < n; ++i) {
        t += 15'000 + static_cast<int64_t>(rng() % 7) - 3;
        switch (kind) {
          case 0:  // integer counter
            c += static_cast<double>(rng() % 500);
            x = c;
            break;
          case 1:  // decimal gauge (two digits)
            x = static_cast<double>(static_cast<int64_t>(rng() % 100000) - 50000) / 100;
            break;
          case 2:  // accumulated float error
            c += 0.1 * static_cast<double>(rng() % 30);
            x = c;
            break;
          case 3:  // far from decimals
            x = std::sin(static_cast<double>(i)) * 1e3 / 7;
            break;
          case 4:  // decimals of growing precision, then large integers
            x = i % 3 == 0 ? 1e17 + static_cast<double>(i) * 4096
                           : static_cast<double>(rng() % 1000) / std::pow(10.0, i % 7);
            break;
          case 5:  // specials among counters
            c += 1;
            x = i % 11 == 5 ? StaleNaN() : (i % 13 == 7 ? -0.0 : c);
            if (i % 29 == 28) x = std::numeric_limits<double>::infinity();
            break;
          case 6:  // page-sized steps (a common factor), negative too
            x = -static_cast<double>(rng() % 64) * 4096;
            break;
          default:  // halves (rounding ties) at several scales
            x = (static_cast<double>(rng() % 2000) + 0.5) / std::pow(10.0, i % 4);
            break;
        }
        v.push_back({t, x});
      }
      corpus.push_back(std::move(v));
    }
  }
  return corpus;
}

// The encoder's bytes for the corpus are those of the encoder before its
// speed-up (2026-12-06; checksum taken with main 775880d's chunk_codec.cc),
// and every chunk decodes back bit for bit.
TEST(ChunkCodecTest, EncoderWritesTheSameBytesAsBefore) {
  uint64_t fnv = 1469598103934665603ULL;
  size_t bytes = 0;
  for (const std::vector<Sample>& v : EncoderCorpus()) {
    ExpectRoundTrip(v);
    std::string enc;
    EncodeChunk(v, &enc);
    bytes += enc.size();
    for (char ch : enc) fnv = (fnv ^ static_cast<uint8_t>(ch)) * 1099511628211ULL;
  }
  EXPECT_EQ(bytes, size_t{28606});
  EXPECT_EQ(fnv, uint64_t{1622212951893143354ULL});
}

TEST(ChunkCodecTest, CompactForRealisticCounters) {
  std::mt19937_64 rng(3);
  std::vector<Sample> v;
  double c = 1e6;
  for (int i = 0; i < 120; ++i) {
    c += static_cast<double>(rng() % 200);
    v.push_back({1'700'000'000'000 + i * 15'000 + static_cast<int64_t>(rng() % 5), c});
  }
  std::string enc;
  EncodeChunk(v, &enc);
  // Byte planes trade raw size for compressibility; zstd does the rest.
  EXPECT_LT(enc.size(), 120u * 4);
}

}  // namespace
}  // namespace meridian
