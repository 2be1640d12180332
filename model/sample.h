// Sample: one float sample of a series, and the Prometheus stale marker.
//
// Values are carried bit-exactly through every layer: NaN payloads, +-Inf and
// the stale marker (a NaN with the bit pattern kStaleNaNBits, which
// Prometheus writes when a series disappears) survive storage, remote-read
// and the engine.
#ifndef MERIDIAN_MODEL_SAMPLE_H_
#define MERIDIAN_MODEL_SAMPLE_H_

#include <bit>
#include <cstdint>

namespace meridian {

struct Sample {
  int64_t t_ms;
  double v;
};

inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }
inline double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }

}  // namespace meridian

#endif  // MERIDIAN_MODEL_SAMPLE_H_
