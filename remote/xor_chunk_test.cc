#include "remote/xor_chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "remote/codec.h"

namespace meridian::remote {
namespace {

TEST(XorChunkTest, RoundTripsBitExact) {
  std::vector<Sample> in;
  int64_t t = -5000;
  for (int i = 0; i < 120; ++i) {
    t += (i % 5 == 0) ? 1 : (i % 7 == 0 ? 10'000'000'000LL : 15000 + i);
    double v = i % 3 == 0 ? std::nan("") : std::ldexp(1.0 + i, i % 60 - 30);
    in.push_back({t, v});
  }
  std::string b = EncodeXorChunk(in);
  EXPECT_EQ(static_cast<uint8_t>(b[0]), 0);
  EXPECT_EQ(static_cast<uint8_t>(b[1]), 120);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeXorChunk(b, &out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t_ms, in[i].t_ms);
    EXPECT_EQ(std::memcmp(&out[i].v, &in[i].v, 8), 0) << i;
  }
  out.clear();
  EXPECT_FALSE(DecodeXorChunk(b.substr(0, b.size() - 3), &out).ok());
}

// Two samples one second apart with equal value, as Prometheus writes them:
// header 00 02; varint(zigzag(1000)) = d0 0f; 64 bits of 1.0 = 3f f0 00..;
// uvarint(1000) = e8 07; '0' (same value), padded.
TEST(XorChunkTest, MatchesPrometheusLayoutForASimpleChunk) {
  std::vector<Sample> in = {{1000, 1.0}, {2000, 1.0}};
  std::string b = EncodeXorChunk(in);
  const unsigned char want[] = {0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0,   0,
                                0,    0,    0,    0,    0xe8, 0x07, 0x00};
  ASSERT_EQ(b.size(), sizeof(want));
  EXPECT_EQ(0, std::memcmp(b.data(), want, sizeof(want)));
}

TEST(CodecTest, Crc32cKnownValueAndFrames) {
  // RFC 3720 B.4: CRC32C of "123456789" is 0xE3069283.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  std::string body;
  AppendFrame("hello", &body);
  AppendFrame(std::string(300, 'x'), &body);
  std::vector<std::string_view> msgs;
  ASSERT_TRUE(SplitFrames(body, &msgs).ok());
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0], "hello");
  EXPECT_EQ(msgs[1].size(), 300u);
  body[7] ^= 1;  // inside the first message
  msgs.clear();
  EXPECT_FALSE(SplitFrames(body, &msgs).ok());
}

}  // namespace
}  // namespace meridian::remote
