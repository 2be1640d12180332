// Prometheus's XOR chunk encoding (tsdb/chunkenc/xor.go, EncXOR = 1): the
// bytes a STREAMED_XOR_CHUNKS remote-read response carries in Chunk.data.
//
// Layout: a 2-byte big-endian sample count, then a bit stream written most
// significant bit first: the first sample as a signed varint timestamp and the
// 64 value bits; the second as an unsigned varint timestamp delta and an XOR
// value; every later one as a delta-of-delta timestamp ('0'; '10'+14 bits;
// '110'+17; '1110'+20; '1111'+64) and an XOR value ('0' same value; '10' +
// the meaningful bits in the previous window; '11' + 5 bits of leading zeros
// (at most 31) + 6 bits of significant-bit count (64 written as 0) + bits).
#ifndef MERIDIAN_REMOTE_XOR_CHUNK_H_
#define MERIDIAN_REMOTE_XOR_CHUNK_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/queryable.h"

namespace meridian::remote {

// Prometheus cuts a head chunk at 120 samples; remote-read chunks do the same.
inline constexpr size_t kSamplesPerChunk = 120;

class XorChunkEncoder {
 public:
  XorChunkEncoder();
  // REQUIRES: fewer than 65535 samples so far; t larger than the last t.
  void Append(int64_t t_ms, double v);
  size_t num_samples() const { return n_; }
  const std::string& bytes() const { return buf_; }

 private:
  void WriteBit(bool bit);
  void WriteBits(uint64_t v, int nbits);  // the low nbits of v, MSB first
  void WriteByte(uint8_t b) { WriteBits(b, 8); }
  void WriteValue(double v);

  std::string buf_;
  int free_bits_ = 0;  // unused low bits of buf_.back()
  size_t n_ = 0;
  int64_t t_ = 0;
  uint64_t t_delta_ = 0;
  uint64_t v_bits_ = 0;
  uint8_t leading_ = 0xff;
  uint8_t trailing_ = 0;
};

// Encodes samples (sorted by time, unique timestamps) as one XOR chunk.
std::string EncodeXorChunk(std::span<const Sample> samples);

// Decodes an XOR chunk, appending its samples to *out. InvalidArgument when
// the bytes end early.
absl::Status DecodeXorChunk(std::string_view data, std::vector<Sample>* out);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_XOR_CHUNK_H_
