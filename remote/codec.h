// Pieces of the Prometheus remote-read protocol shared by meridian's
// remote-read server (read_handler.h) and client (client.h): CRC32C, the
// frames of a STREAMED_XOR_CHUNKS response, and conversions between the
// protobuf messages (proto/remote.proto) and meridian's types.
//
// Frame layout (prometheus/prometheus storage/remote/chunked.go):
//   uvarint(len(msg)) | CRC32-Castagnoli(msg) as big-endian uint32 | msg
// where msg is a serialized ChunkedReadResponse.
#ifndef MERIDIAN_REMOTE_CODEC_H_
#define MERIDIAN_REMOTE_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/matcher.h"
#include "model/status.h"
#include "proto/remote.pb.h"

namespace meridian::remote {

inline constexpr char kSamplesContentType[] = "application/x-protobuf";
inline constexpr char kStreamedContentType[] =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

// CRC-32C (Castagnoli), as Go's crc32.MakeTable(crc32.Castagnoli).
uint32_t Crc32c(std::string_view data);

// Appends one frame holding `msg` to *out.
void AppendFrame(std::string_view msg, std::string* out);

// Splits a streamed body into its frames' messages, checking every CRC.
// InvalidArgument naming the frame when a length, CRC or the end is wrong.
absl::Status SplitFrames(std::string_view body, std::vector<std::string_view>* msgs);

// A remote-read matcher as meridian's Matcher (InvalidArgument for a bad
// regex or type), and back.
absl::StatusOr<Matcher> FromProto(const prometheus::LabelMatcher& m);
void ToProto(const Matcher& m, prometheus::LabelMatcher* out);

// Labels of a remote series: sorted by name, empty values dropped, duplicate
// names an error (a remote's bad answer).
absl::StatusOr<Labels> LabelsFromProto(
    const google::protobuf::RepeatedPtrField<prometheus::Label>& ls);
void LabelsToProto(const Labels& ls, google::protobuf::RepeatedPtrField<prometheus::Label>* out);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_CODEC_H_
