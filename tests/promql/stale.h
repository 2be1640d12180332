// The Prometheus stale marker, defined here from its bit pattern
// (storage/queryable.h kStaleNaNBits) so the script parser does not need the
// storage implementation to link.
#ifndef MERIDIAN_TESTS_PROMQL_STALE_H_
#define MERIDIAN_TESTS_PROMQL_STALE_H_

#include <bit>
#include <cstdint>

#include "storage/queryable.h"

namespace meridian::promqltest {

inline double StaleMarker() { return std::bit_cast<double>(kStaleNaNBits); }
inline bool IsStaleMarker(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_STALE_H_
