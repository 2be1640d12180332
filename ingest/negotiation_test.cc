#include "ingest/negotiation.h"

#include <gtest/gtest.h>

namespace meridian::ingest {
namespace {

TEST(NegotiateRemoteWrite, Versions) {
  struct Case {
    const char* type;
    const char* encoding;
    absl::StatusCode code;
    RemoteWriteVersion version;
  };
  const auto kOk = absl::StatusCode::kOk;
  const auto kNo = absl::StatusCode::kUnimplemented;
  const auto v1 = RemoteWriteVersion::kV1;
  const auto v2 = RemoteWriteVersion::kV2;
  Case cases[] = {
      {"", "", kOk, v1},
      {"", "snappy", kOk, v1},
      {"application/x-protobuf", "snappy", kOk, v1},
      {"Application/X-Protobuf", "SNAPPY", kOk, v1},
      {"application/x-protobuf;proto=prometheus.WriteRequest", "snappy", kOk, v1},
      {"application/x-protobuf; proto=io.prometheus.write.v2.Request", "snappy", kOk, v2},
      {"application/x-protobuf;proto=\"io.prometheus.write.v2.Request\"", "", kOk, v2},
      {"application/x-protobuf; charset=utf-8", "snappy", kOk, v1},
      {"application/x-protobuf;proto=io.prometheus.write.v3.Request", "snappy", kNo, v1},
      {"application/json", "snappy", kNo, v1},
      {"text/plain", "", kNo, v1},
      {"application/x-protobuf", "gzip", kNo, v1},
      {"application/x-protobuf", "zstd", kNo, v1},
  };
  for (const Case& c : cases) {
    auto got = NegotiateRemoteWrite(c.type, c.encoding);
    EXPECT_EQ(got.status().code(), c.code) << c.type << " / " << c.encoding;
    if (got.ok()) {
      EXPECT_EQ(*got, c.version) << c.type;
    }
  }
}

}  // namespace
}  // namespace meridian::ingest
