// Content negotiation for remote-write: which protocol version a request
// speaks, from its Content-Type and Content-Encoding headers (remote-write 2.0
// spec, "Content-Type"; client_golang exp/api/remote).
//
//   Content-Type                                             -> version
//   "" or application/x-protobuf                             -> kV1
//   application/x-protobuf;proto=prometheus.WriteRequest     -> kV1
//   application/x-protobuf;proto=io.prometheus.write.v2.Request -> kV2
//   anything else                                            -> kUnimplemented
// Content-Encoding must be "snappy" or absent (treated as snappy, as
// Prometheus does); anything else is kUnimplemented. Header matching is
// case-insensitive for the media type, parameter names and encoding, and
// tolerates whitespace and a quoted proto value.
//
// Thread-safety: thread-safe.
#ifndef MERIDIAN_INGEST_NEGOTIATION_H_
#define MERIDIAN_INGEST_NEGOTIATION_H_

#include <string_view>

#include "ingest/remote_write.h"
#include "model/status.h"

namespace meridian::ingest {

absl::StatusOr<RemoteWriteVersion> NegotiateRemoteWrite(std::string_view content_type,
                                                        std::string_view content_encoding);

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_NEGOTIATION_H_
