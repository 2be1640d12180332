// End-to-end query benchmark over a real Storage: N series of a counter
// scraped every 15 s for 35 minutes, queried over the last 30 minutes at a
// 60 s step. N comes from MERIDIAN_BENCH_SERIES (default 100000).
//
//   query_benchmark --benchmark_filter=SumByRate
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "query/engine.h"
#include "storage/storage.h"

namespace meridian::promql {
namespace {

constexpr int64_t kEndMs = 3'600'000;
constexpr int64_t kStartMs = kEndMs - 1'800'000;

struct Fixture {
  std::string dir;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Queryable> queryable;
};

Fixture* g_fixture = nullptr;

Fixture* GetFixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    const char* env = std::getenv("MERIDIAN_BENCH_SERIES");
    const int n = env != nullptr ? std::atoi(env) : 100000;
    fx->dir = (std::filesystem::temp_directory_path() /
               ("meridian_query_bench_" + std::to_string(::getpid())))
                  .string();
    StorageOptions opts;
    opts.dir = fx->dir;
    opts.sync_wal = false;
    opts.now_ms = [] { return kEndMs; };
    auto st = Storage::Open(opts);
    if (!st.ok()) std::abort();
    fx->storage = std::move(*st);
    std::vector<Sample> samples;
    const int batch = 1000;
    for (int base = 0; base < n; base += batch) {
      std::vector<std::vector<std::string>> values;
      std::vector<std::vector<LabelView>> views;
      std::vector<std::vector<Sample>> series_samples;
      AppendBatch b;
      for (int i = base; i < std::min(n, base + batch); ++i) {
        values.push_back(
            {"http_requests_total", "i" + std::to_string(i), "api", "r" + std::to_string(i % 10)});
        series_samples.emplace_back();
        double v = 0;
        for (int64_t t = kStartMs - 330'000; t <= kEndMs; t += 15'000) {
          v += i % 7;
          series_samples.back().push_back({t, v});
        }
      }
      for (size_t k = 0; k < values.size(); ++k) {
        const auto& vs = values[k];
        views.push_back(
            {{"__name__", vs[0]}, {"instance", vs[1]}, {"job", vs[2]}, {"region", vs[3]}});
      }
      for (size_t k = 0; k < values.size(); ++k) {
        b.series.push_back(AppendSeries{views[k], series_samples[k]});
      }
      AppendResult res;
      if (!fx->storage->Append("default", b, &res).ok()) std::abort();
    }
    fx->queryable = fx->storage->ForTenant("default");
    g_fixture = fx;
    return fx;
  }();
  return f;
}

void RunRange(benchmark::State& state, const char* query) {
  Fixture* fx = GetFixture();
  Engine engine(EngineOptions{});
  for (auto _ : state) {
    auto r = engine.RangeQuery(*fx->queryable, query, kStartMs, kEndMs, 60'000, {});
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    benchmark::DoNotOptimize(r);
  }
}

void BM_SumByRate(benchmark::State& state) {
  RunRange(state, "sum by (region)(rate(http_requests_total[5m]))");
}
BENCHMARK(BM_SumByRate)->Unit(benchmark::kMillisecond);

void BM_SumBySelector(benchmark::State& state) {
  RunRange(state, "sum by (region)(http_requests_total)");
}
BENCHMARK(BM_SumBySelector)->Unit(benchmark::kMillisecond);

void BM_TopkRate(benchmark::State& state) {
  RunRange(state, "topk(5, rate(http_requests_total[5m]))");
}
BENCHMARK(BM_TopkRate)->Unit(benchmark::kMillisecond);

void BM_GroupLeft(benchmark::State& state) {
  RunRange(state, "http_requests_total / on(instance) group_left http_requests_total");
}
BENCHMARK(BM_GroupLeft)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace meridian::promql

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (auto* fx = meridian::promql::g_fixture; fx != nullptr) {
    fx->queryable.reset();
    fx->storage.reset();
    std::error_code ec;
    std::filesystem::remove_all(fx->dir, ec);
  }
  return 0;
}
