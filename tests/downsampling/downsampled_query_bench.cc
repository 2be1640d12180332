// Query time over 30 days of downsampled data (not a ctest): N series of
// counters and gauges at a 15 s scrape over 32 days written through storage,
// one compactor pass, then dashboard-like queries over 30 days at a 1 h step
// and 7 days at a 5 m step, each read raw (max_source_resolution=raw) and
// auto; CPU time per query. Usage: downsampled_query_bench [series=30] [repeats=5]
// [query index]
#include <stdlib.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "compactor/compactor.h"
#include "query/engine.h"
#include "storage/storage.h"

using namespace meridian;

namespace {
// CPU time of this thread (every read runs on it: no read-ahead executor),
// steadier than wall time on a shared machine.
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
constexpr int64_t kHour = 3'600'000, kDay = 24 * kHour;
constexpr int64_t kEnd = 20000 * kDay + 13 * kHour + 17 * 60'000;  // "now", not aligned
constexpr int64_t kStart = kEnd - 32 * kDay;
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 30;
  const int repeats = argc > 2 ? atoi(argv[2]) : 5;
  // Optional: only the query with this index (for profiling).
  const int only = argc > 3 ? atoi(argv[3]) : -1;
  char tmpl[] = "/tmp/meridian_ds_bench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  StorageOptions o;
  o.dir = dir;
  o.sync_wal = false;
  o.now_ms = [] { return kEnd; };
  std::unique_ptr<Storage> storage = *Storage::Open(o);
  auto t0 = std::chrono::steady_clock::now();
  std::mt19937 rng(1);
  uint64_t samples = 0;
  for (int s = 0; s < n; ++s) {
    for (const char* name : {"req_total", "temp"}) {
      std::vector<Sample> v;
      double c = 0;
      for (int64_t t = kStart + static_cast<int64_t>(rng() % 15000); t < kEnd; t += 15'000) {
        c += name[0] == 'r' ? static_cast<double>(rng() % 100) : 0;
        v.push_back({t, name[0] == 'r' ? c : 20 + static_cast<double>(rng() % 1000) / 100});
      }
      std::string inst = std::to_string(s);
      std::vector<LabelView> labels = {{"__name__", name}, {"instance", inst}, {"job", "bench"}};
      for (size_t i = 0; i < v.size(); i += 20000) {
        AppendBatch b;
        b.series.push_back(
            {labels, std::span<const Sample>(v).subspan(i, std::min<size_t>(20000, v.size() - i))});
        AppendResult r;
        if (!storage->Append("t", b, &r).ok()) return 1;
      }
      samples += v.size();
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  compactor::CompactorOptions co;
  co.now_ms = [] { return kEnd; };
  compactor::Compactor comp(storage.get(), co);
  auto sum = comp.RunPass(true);
  if (!sum.ok()) return 1;
  auto t2 = std::chrono::steady_clock::now();
  std::printf("%d x 2 series, %llu samples: written in %.1f s, compacted in %.1f s\n", n,
              static_cast<unsigned long long>(samples),
              std::chrono::duration<double>(t1 - t0).count(),
              std::chrono::duration<double>(t2 - t1).count());
  promql::Engine engine(promql::EngineOptions{});
  struct Q {
    std::string q;
    int64_t range, step;
  };
  const std::vector<Q> qs = {
      {"sum(rate(req_total[5m]))", 30 * kDay, kHour},
      {"sum by (instance) (rate(req_total[1h]))", 30 * kDay, kHour},
      {"avg_over_time(temp[1h])", 30 * kDay, kHour},
      {"max by (job) (max_over_time(temp[1h]))", 30 * kDay, kHour},
      {"temp", 30 * kDay, kHour},
      {"sum(increase(req_total[1h]))", 30 * kDay, kHour},
      {"sum(rate(req_total[5m]))", 7 * kDay, 5 * 60'000},
      {"avg(temp)", 7 * kDay, 5 * 60'000},
      {"sum(increase(req_total[1d]))", 7 * kDay, 5 * 60'000},
  };
  double total[2] = {0, 0};
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    const Q& q = qs[qi];
    if (only >= 0 && static_cast<int>(qi) != only) continue;
    const int64_t end = kEnd / q.step * q.step;  // aligned as Grafana does
    double best[2] = {1e9, 1e9};
    std::string info;
    for (int mode = 0; mode < 2; ++mode) {
      promql::QueryOptions qo;
      qo.max_source_resolution_ms = mode == 0 ? 0 : -1;
      for (int r = 0; r < repeats; ++r) {
        const double a = CpuSeconds();
        auto res = engine.RangeQuery(*storage->ForTenant("t"), q.q, end - q.range, end, q.step, qo);
        const double b = CpuSeconds();
        if (!res.ok()) {
          std::printf("%s: %s\n", q.q.c_str(), res.status().ToString().c_str());
          return 1;
        }
        best[mode] = std::min(best[mode], b - a);
        if (mode == 1 && !res->infos.empty()) info = res->infos.back();
      }
      total[mode] += best[mode];
    }
    std::printf("%-42s %3lldd step %5llds  raw %7.1f ms  auto %6.1f ms  (%s)\n", q.q.c_str(),
                static_cast<long long>(q.range / kDay), static_cast<long long>(q.step / 1000),
                best[0] * 1e3, best[1] * 1e3, info.c_str());
  }
  std::printf("total CPU time (best of %d each): raw %.1f ms, auto %.1f ms\n", repeats,
              total[0] * 1e3, total[1] * 1e3);
  storage.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
