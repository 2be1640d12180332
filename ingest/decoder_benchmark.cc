// Decode-only micro-benchmarks on one core: a Prometheus-sized remote-write
// request (2000 series of one sample, ~250 bytes of labels each).
//   build/ingest/ingest/ingest_decoder_benchmark
// items_per_second = samples per second.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <string>
#include <vector>

#include "ingest/decoder.h"
#include "ingest/labels_check.h"
#include "ingest/test_requests.h"

namespace meridian::ingest {
namespace {

std::vector<testing::TestSeries> Batch(int n) {
  std::vector<testing::TestSeries> out;
  for (int i = 0; i < n; ++i) {
    testing::TestSeries s;
    s.labels = {{"__name__", "container_cpu_usage_seconds_total"},
                {"cluster", "prod-eu-west-1-a"},
                {"container", "api-server"},
                {"cpu", "total"},
                {"id", "/kubepods/burstable/pod" + std::to_string(100000 + i)},
                {"image", "registry.example.com/api:v1.2.3"},
                {"instance", "10.1." + std::to_string(i % 250) + ".7:10250"},
                {"job", "kubelet"},
                {"namespace", "payments"},
                {"node", "ip-10-1-2-3.eu-west-1.compute.internal"},
                {"pod", "api-server-7d9f8b6c5-" + std::to_string(10000 + i)},
                {"region", "eu-west-1"}};
    s.samples = {{1'700'000'000'000 + i, 12345.678 + i}};
    out.push_back(s);
  }
  return out;
}

void BM_DecodeV1(benchmark::State& state) {
  std::string raw = testing::ToV1(Batch(2000)).SerializeAsString();
  DecodedRequest req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeWriteRequestV1(raw, &req).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  state.SetBytesProcessed(state.iterations() * raw.size());
}
BENCHMARK(BM_DecodeV1);

void BM_SnappyDecodeValidateV1(benchmark::State& state) {
  std::string body = testing::V1Body(Batch(2000));
  size_t len = 0;
  snappy::GetUncompressedLength(body.data(), body.size(), &len);
  std::string buf(len, '\0');
  DecodedRequest req;
  for (auto _ : state) {
    snappy::RawUncompress(body.data(), body.size(), buf.data());
    benchmark::DoNotOptimize(DecodeWriteRequestV1(buf, &req).ok());
    for (const DecodedSeries& ts : req.series) {
      size_t n;
      benchmark::DoNotOptimize(NormalizeLabels(req.Labels(ts), &n));
    }
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_SnappyDecodeValidateV1);

void BM_DecodeV2(benchmark::State& state) {
  std::string raw = testing::ToV2(Batch(2000)).SerializeAsString();
  DecodedRequest req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeWriteRequestV2(raw, &req).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_DecodeV2);

// Reference: the generated classes (what the hand-written decoder replaces).
void BM_GeneratedParseV1(benchmark::State& state) {
  std::string raw = testing::ToV1(Batch(2000)).SerializeAsString();
  prometheus::WriteRequest w;
  for (auto _ : state) {
    benchmark::DoNotOptimize(w.ParseFromString(raw));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_GeneratedParseV1);

}  // namespace
}  // namespace meridian::ingest

BENCHMARK_MAIN();
