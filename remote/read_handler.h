// The Prometheus remote-read server (POST /api/v1/read) over any Queryable:
// decodes the snappy ReadRequest, runs each query and answers with the first
// response type of accepted_response_types it supports (empty: SAMPLES):
//   SAMPLES               snappy(ReadResponse), Content-Encoding: snappy
//   STREAMED_XOR_CHUNKS   frames of ChunkedReadResponse (codec.h), one series
//                         per frame (split when over max_bytes_in_frame), of
//                         Prometheus XOR chunks of at most 120 samples.
// As prometheus/prometheus storage/remote/read_handler.go and codec.go do,
// with these differences: the streamed body is built in memory before it is
// sent (bounded by max_bytes), so an error is a clean status, never a cut
// stream; an invalid matcher is 400 (Prometheus: 500); a query whose
// matchers all match the empty string is refused with 400.
// ReadHints' step and func reach the storage through SelectHints; func
// "series" answers series without samples, as Prometheus's TSDB does.
// A regional meridian never deduplicates replicas here.
//
// Knows nothing of HTTP: server/ maps the reply onto the response.
#ifndef MERIDIAN_REMOTE_READ_HANDLER_H_
#define MERIDIAN_REMOTE_READ_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/queryable.h"

namespace meridian::remote {

struct ReadLimits {
  // Samples one request may return over all its queries (0: no limit).
  // Prometheus's --storage.remote.read-sample-limit, same default.
  int64_t max_samples = 50'000'000;
  // Bytes of the uncompressed response (protobuf or frames) (0: no limit).
  int64_t max_bytes = 512LL << 20;
  // Largest decoded request (Prometheus: 32 MiB).
  size_t max_request_bytes = 32 << 20;
  // Prometheus's --storage.remote.read-max-bytes-in-frame.
  int64_t max_bytes_in_frame = 1 << 20;
};

struct ReadReply {
  int status = 200;
  std::string content_type;
  std::string content_encoding;  // "snappy" for SAMPLES
  std::string body;
  bool streamed = false;  // STREAMED_XOR_CHUNKS (else SAMPLES)
  int64_t samples = 0;    // samples sent (for metrics)
};

// Serves one request over `queryable` (the tenant's view). `cancelled`, when
// set, is polled between series.
ReadReply ServeRemoteRead(const Queryable& queryable, std::string_view body,
                          const ReadLimits& limits, const std::atomic<bool>* cancelled = nullptr);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_READ_HANDLER_H_
