// The chunk codec: a pure, byte-aligned encoding of a run of float samples of
// one series (no I/O). Byte layout: docs/format/chunks.md.
//
// Timestamps are delta-of-delta zigzag varints. Values are stored as scaled
// decimal integers (v == m / 10^e bit for bit, or within 2^20 ulps of it
// plus a residual per value for float error the producer accumulated) with
// delta or delta-of-delta zigzag varints when that fits most of the chunk,
// the rest as raw-bit exceptions; otherwise as XOR-with-previous varints. The
// output is byte aligned so that a block compressor (zstd in RocksDB) shrinks
// it further. Round trips are bit-exact, including NaN payloads, +-Inf, -0 and
// the Prometheus stale marker.
//
//   std::string chunk;
//   EncodeChunk(samples, &chunk);            // samples sorted, unique t
//   std::vector<Sample> back;
//   absl::Status s = DecodeChunk(chunk, &back);
//
// Thread-safety: all functions are thread-safe (no shared state).
#ifndef MERIDIAN_STORAGE_CHUNK_CODEC_H_
#define MERIDIAN_STORAGE_CHUNK_CODEC_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/queryable.h"
#include "model/status.h"

namespace meridian {

// The fixed-size facts at the front of every chunk, readable without
// decoding the samples.
struct ChunkHeader {
  uint32_t num_samples = 0;
  int64_t min_t_ms = 0;
  int64_t max_t_ms = 0;
};

inline constexpr size_t kMaxChunkSamples = 1 << 16;

// Appends the encoding of `samples` to *out.
// REQUIRES: samples non-empty, sorted by t_ms with strictly increasing
// timestamps, at most kMaxChunkSamples samples.
void EncodeChunk(std::span<const Sample> samples, std::string* out);

// Reads the header of an encoded chunk. Returns DataLoss when malformed.
absl::Status DecodeChunkHeader(std::string_view chunk, ChunkHeader* header);

// Appends the samples of `chunk` to *out (existing contents are kept).
// Returns DataLoss when the bytes are malformed or truncated, and then leaves
// *out as it was.
absl::Status DecodeChunk(std::string_view chunk, std::vector<Sample>* out);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_CHUNK_CODEC_H_
