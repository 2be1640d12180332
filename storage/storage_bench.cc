// storage_bench: appends realistic remote-write-shaped data (many series,
// one sample per series per request, 15 s scrapes with ms jitter) and
// reports the append cost per sample and the bytes per sample on disk after
// Flush and a full compaction.
//
//   storage_bench [num_series=100000] [samples_per_series=120] [sync_wal=0] [threads=1]
//   storage_bench codec      # codec-only bytes per sample by data kind
//   storage_bench churn [waves=10] [series=20000]  # series churn: CPU of appends, checkpoints
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/rocks_storage.h"
#include "storage/storage.h"

namespace meridian {
namespace {

// A "VmRSS:"-style field of /proc/self/status in MB (0 when unreadable).
double ProcStatusMb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double kb = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, field, n) == 0) kb = std::atof(line + n);
  }
  std::fclose(f);
  return kb / 1e3;
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_THREAD, &ru);  // the appending thread only
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// One synthetic series: its labels and a value generator.
struct SynthSeries {
  std::vector<std::string> strings;  // name, value, name, value, ...
  std::vector<LabelView> views;
  int kind = 0;
  double value = 0;
  double rate = 0;
};

const char* kKinds[] = {"counter",     "gauge_int",     "gauge_dec",    "histogram_bucket",
                        "gauge_float", "counter_milli", "gauge_tenths", "histogram_sum"};
constexpr int kNumKinds = sizeof(kKinds) / sizeof(kKinds[0]);

// Roughly normal noise (sum of uniforms), mean 0, sd 1.
double Noise(std::mt19937_64& rng) {
  double x = 0;
  for (int i = 0; i < 4; ++i) x += static_cast<double>(rng() % 1'000'000) / 1e6;
  return (x - 2.0) * 1.732;
}

// Per-scrape updates modelled on node_exporter / app metrics. `rate` is the
// series' mean events per scrape (log-uniform over 0.05..500).
double Next(SynthSeries& s, std::mt19937_64& rng) {
  switch (s.kind) {
    case 0:  // counter: Poisson-like event counts per scrape
    case 3:  // histogram bucket: the same, with a per-bucket share of events
      s.value += std::max(0.0, std::round(s.rate + std::sqrt(s.rate) * Noise(rng)));
      break;
    case 1:  // integer gauge (bytes): page-granular random walk
      s.value += std::round(Noise(rng) * 16) * 4096;
      break;
    case 2:  // decimal gauge with 2 digits (temperatures, cpu seconds)
      s.value = std::round(s.value * 100 + std::round(Noise(rng) * 20)) / 100;
      break;
    case 4:  // computed float gauge (ratios): not a short decimal
      s.value = static_cast<double>(rng() % 1000) / 7.0;
      break;
    // The kinds of bench/loadgen.cc, whose values accumulate float error:
    case 5:  // counter of seconds or bytes: + k, or + k/1000 a quarter of the time
      s.value += static_cast<double>(rng() % 1000) * (rng() % 4 == 0 ? 0.001 : 1.0);
      break;
    case 6:  // gauge: random walk in steps of a tenth
      s.value = std::max(0.0, s.value + (static_cast<double>(rng() % 2001) - 1000) / 10.0);
      break;
    default:  // histogram _sum: a sum of exponentially distributed latencies
      for (int i = static_cast<int>(rng() % 200); i > 0; --i) {
        s.value += std::exponential_distribution<double>(8.0)(rng);
      }
  }
  return s.value;
}

double RandomRate(std::mt19937_64& rng) {
  return 0.05 * std::pow(10000.0, static_cast<double>(rng() % 1'000'000) / 1e6);
}

// Codec-only view: bytes per sample per data kind before and after zstd of
// the concatenated chunks (what RocksDB's block compression sees).
int CodecReport() {
  std::mt19937_64 rng(99);
  for (int kind = 0; kind < kNumKinds; ++kind) {
    std::string all;
    size_t n = 0;
    for (int i = 0; i < 2000; ++i) {
      SynthSeries s;
      s.kind = kind;
      s.rate = RandomRate(rng);
      s.value = kind == 1 ? 1e9 : kind == 2 ? 50.0 : kind == 6 ? 600.0 : 0;
      std::vector<Sample> v;
      // Counters and sums have run for a while (a day of scrapes).
      if (kind == 5 || kind == 7) {
        for (int j = 0; j < 5760; ++j) Next(s, rng);
      }
      for (int j = 0; j < 120; ++j) {
        v.push_back(
            {1'700'000'000'000 + j * 15'000 + static_cast<int64_t>(rng() % 11) - 5, Next(s, rng)});
      }
      EncodeChunk(v, &all);
      n += v.size();
    }
    std::string z(ZSTD_compressBound(all.size()), '\0');
    size_t zn = ZSTD_compress(z.data(), z.size(), all.data(), all.size(), 6);
    std::printf("%-18s raw %.3f B/sample, zstd(6) %.3f B/sample\n", kKinds[kind],
                static_cast<double>(all.size()) / static_cast<double>(n),
                static_cast<double>(zn) / static_cast<double>(n));
  }
  // Mixed kinds in 32 KiB blocks, as RocksDB stores them.
  std::string block, all_z;
  size_t n = 0, z_total = 0;
  std::vector<SynthSeries> mix(1000);
  std::vector<std::vector<Sample>> data(mix.size());
  for (size_t i = 0; i < mix.size(); ++i) {
    size_t r = rng() % 100;
    mix[i].kind = r < 35 ? 0 : r < 50 ? 1 : r < 65 ? 2 : r < 95 ? 3 : 4;
    mix[i].rate = RandomRate(rng);
    mix[i].value = mix[i].kind == 1 ? 1e9 : mix[i].kind == 2 ? 50.0 : 0;
    for (int j = 0; j < 120; ++j) {
      data[i].push_back({1'700'000'000'000 + j * 15'000 + static_cast<int64_t>(rng() % 11) - 5,
                         Next(mix[i], rng)});
    }
  }
  auto flush = [&] {
    std::string z(ZSTD_compressBound(block.size()), '\0');
    z_total += ZSTD_compress(z.data(), z.size(), block.data(), block.size(),
                             getenv("ZL") ? atoi(getenv("ZL")) : 6);
    block.clear();
  };
  size_t raw = 0;
  for (size_t i = 0; i < mix.size(); ++i) {
    std::string c;
    EncodeChunk(data[i], &c);
    raw += c.size();
    block += c;
    n += data[i].size();
    if (block.size() >= (getenv("BS") ? size_t(atoi(getenv("BS"))) : 32u) << 10) flush();
  }
  flush();
  std::printf("%-18s raw %.3f B/sample, zstd(6) %.3f B/sample\n", "mixed 32KiB blocks",
              static_cast<double>(raw) / static_cast<double>(n),
              static_cast<double>(z_total) / static_cast<double>(n));
  return 0;
}

double ProcessCpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);  // RocksDB's background threads included
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Series churn in-process (issue 13): `waves` waves of `series` new series,
// 8 samples each 15 s apart, the waves an hour apart in sample time, with a
// 1 h idle timeout and a checkpoint (Flush) after each wave, so every wave
// evicts the one before and looks up each new series in the on-disk index.
// Reports the CPU of the appends, of the checkpoints, and of the process.
//   storage_bench churn [waves=10] [series=20000]
int ChurnReport(int argc, char** argv) {
  const int waves = argc > 2 ? std::atoi(argv[2]) : 10;
  const int per_wave = argc > 3 ? std::atoi(argv[3]) : 20000;
  const std::string dir = "/tmp/storage_bench_churn_" + std::to_string(getpid());
  StorageOptions o;
  o.dir = dir;
  o.sync_wal = false;
  o.allow_backfill = true;
  o.head_idle_timeout_ms = 3'600'000;
  const int64_t t0 = 1'700'000'000'000;
  o.now_ms = [&] { return t0 + static_cast<int64_t>(waves + 1) * 3'600'000; };
  auto st = Storage::Open(o);
  if (!st.ok()) {
    std::fprintf(stderr, "open: %s\n", st.status().ToString().c_str());
    return 1;
  }
  double append_cpu = 0, flush_cpu = 0;
  const double process0 = ProcessCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  for (int w = 0; w < waves; ++w) {
    const double a0 = CpuSeconds();
    for (int first = 0; first < per_wave; first += 1000) {
      std::vector<std::vector<std::string>> strings;
      AppendBatch batch;
      const int n = std::min(1000, per_wave - first);
      strings.reserve(n);
      for (int i = first; i < first + n; ++i) {
        strings.push_back({"__name__", "metric_" + std::to_string(i % 50), "instance",
                           "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250), "job",
                           "app", "pod", "pod-" + std::to_string(w) + "-" + std::to_string(i)});
      }
      std::vector<std::array<LabelView, 4>> views(n);
      std::vector<std::array<Sample, 8>> samples(n);
      for (int k = 0; k < n; ++k) {
        const std::vector<std::string>& l = strings[k];
        views[k] = {LabelView{l[0], l[1]}, LabelView{l[2], l[3]}, LabelView{l[4], l[5]},
                    LabelView{l[6], l[7]}};
        for (int j = 0; j < 8; ++j) {
          samples[k][j] = {t0 + w * 3'600'000LL + j * 15'000, static_cast<double>(j)};
        }
        batch.series.push_back({views[k], samples[k]});
      }
      AppendResult r;
      absl::Status as = (*st)->Append("t", batch, &r);
      if (!as.ok()) {
        std::fprintf(stderr, "append: %s\n", as.ToString().c_str());
        return 1;
      }
    }
    const double a1 = CpuSeconds();
    absl::Status fs = (*st)->Flush();
    if (!fs.ok()) {
      std::fprintf(stderr, "flush: %s\n", fs.ToString().c_str());
      return 1;
    }
    append_cpu += a1 - a0;
    flush_cpu += CpuSeconds() - a1;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const StorageStats stats = (*st)->Stats();
  std::printf(
      "churn: %d waves x %d series: appends %.2f s CPU, checkpoints %.2f s CPU (this thread), "
      "process %.2f s CPU, %.2f s wall; evicted %llu, head %llu\n",
      waves, per_wave, append_cpu, flush_cpu, ProcessCpuSeconds() - process0, wall,
      static_cast<unsigned long long>(stats.series_evicted),
      static_cast<unsigned long long>(stats.series));
  st->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

int Run(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "codec") return CodecReport();
  if (argc > 1 && std::string(argv[1]) == "churn") return ChurnReport(argc, argv);
  const size_t num_series = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  const size_t per_series = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 120;
  const bool sync_wal = argc > 3 && std::atoi(argv[3]) != 0;
  const size_t num_threads = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  const size_t batch_series = 2000;  // series (= samples) per remote-write request

  std::string dir = "/tmp/meridian_storage_bench_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  StorageOptions opts;
  opts.dir = dir;
  opts.sync_wal = sync_wal;
  auto opened = Storage::Open(opts);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Storage> st = std::move(*opened);

  std::mt19937_64 rng(12345);
  std::vector<SynthSeries> series(num_series);
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  for (size_t i = 0; i < num_series; ++i) {
    SynthSeries& s = series[i];
    size_t r = rng() % 100;
    s.kind = r < 35 ? 0 : r < 50 ? 1 : r < 65 ? 2 : r < 95 ? 3 : 4;
    s.rate = RandomRate(rng);
    s.value = s.kind == 1 ? 1e9 : s.kind == 2 ? 50.0 : 0;
    std::string metric = std::string(kKinds[s.kind]) + "_metric_" + std::to_string(i % 300);
    s.strings = {"__name__", metric, "instance", "10.0.0." + std::to_string(i % 250) + ":9100",
                 "job",      "node"};
    if (s.kind == 3) {
      s.strings.insert(s.strings.begin() + 4, {"le", les[i % 12]});
    }
    s.strings.push_back("series");
    s.strings.push_back(std::to_string(i));
    for (size_t j = 0; j + 1 < s.strings.size(); j += 2)
      s.views.push_back({s.strings[j], s.strings[j + 1]});
  }

  const int64_t t0 = 1'700'000'000'000;
  struct WorkerStats {
    double wall = 0, cpu = 0, steady_cpu = 0;
    uint64_t appended = 0;
    bool ok = true;
  };
  // One remote-write client: appends the series [lo, hi) round by round.
  auto worker = [&](size_t lo, size_t hi, uint64_t seed, WorkerStats* ws) {
    std::mt19937_64 wrng(seed);
    std::vector<Sample> samples(hi - lo);
    AppendBatch batch;
    AppendResult result;
    std::string arena;
    std::vector<LabelView> views;
    for (size_t round = 0; round < per_series; ++round) {
      for (size_t i = lo; i < hi; ++i) {
        int64_t jitter = static_cast<int64_t>(wrng() % 11) - 5;
        samples[i - lo] = {t0 + static_cast<int64_t>(round) * 15'000 + jitter,
                           Next(series[i], wrng)};
      }
      for (size_t b = lo; b < hi; b += batch_series) {
        const size_t e = std::min(hi, b + batch_series);
        // Like a decoded request: the batch's label strings in one buffer.
        arena.clear();
        for (size_t i = b; i < e; ++i) {
          for (const LabelView& l : series[i].views) {
            arena.append(l.name);
            arena.append(l.value);
          }
        }
        views.clear();
        size_t pos = 0;
        for (size_t i = b; i < e; ++i) {
          for (const LabelView& l : series[i].views) {
            std::string_view name(arena.data() + pos, l.name.size());
            pos += l.name.size();
            views.push_back({name, std::string_view(arena.data() + pos, l.value.size())});
            pos += l.value.size();
          }
        }
        batch.series.clear();
        pos = 0;
        for (size_t i = b; i < e; ++i) {
          const size_t nl = series[i].views.size();
          batch.series.push_back({std::span<const LabelView>(views.data() + pos, nl),
                                  std::span<const Sample>(&samples[i - lo], 1)});
          pos += nl;
        }
        auto w0 = std::chrono::steady_clock::now();
        double c0 = CpuSeconds();
        absl::Status s = st->Append("bench", batch, &result);
        double c = CpuSeconds() - c0;
        ws->cpu += c;
        if (round > 0) ws->steady_cpu += c;
        ws->wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        if (!s.ok()) {
          std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
          ws->ok = false;
          return;
        }
        ws->appended += result.samples_appended;
      }
    }
  };
  auto process_cpu = [] {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  const double process0 = process_cpu();
  const auto ingest0 = std::chrono::steady_clock::now();
  std::vector<WorkerStats> stats(num_threads);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < num_threads; ++w) {
    threads.emplace_back(worker, num_series * w / num_threads, num_series * (w + 1) / num_threads,
                         1000 + w, &stats[w]);
  }
  for (auto& t : threads) t.join();
  const double ingest_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ingest0).count();
  double append_wall = 0, append_cpu = 0, steady_cpu = 0;
  uint64_t appended = 0;
  for (const WorkerStats& ws : stats) {
    if (!ws.ok) return 1;
    append_wall += ws.wall;
    append_cpu += ws.cpu;
    steady_cpu += ws.steady_cpu;
    appended += ws.appended;
  }
  const double process_s = process_cpu() - process0;
  const double rss_ingest = ProcStatusMb("VmRSS:");
  const double hwm_ingest = ProcStatusMb("VmHWM:");
  StorageStats before = st->Stats();
  auto f0 = std::chrono::steady_clock::now();
  absl::Status s = st->Flush();
  if (s.ok()) s = static_cast<RocksStorage*>(st.get())->CompactAll();
  double flush_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
  if (!s.ok()) {
    std::fprintf(stderr, "flush: %s\n", s.ToString().c_str());
    return 1;
  }
  StorageStats after = st->Stats();
  {
    // Read back one metric kind over the whole range (disk chunks).
    auto r0 = std::chrono::steady_clock::now();
    const double rc0 = CpuSeconds();
    auto q = st->ForTenant("bench")->NewQuerier(t0, t0 + 1'000'000'000);
    auto m = Matcher::Make(MatchType::kRegexMatch, "__name__", "counter_.*");
    auto set = (*q)->Select({*m}, {.start_ms = t0 - 1000, .end_ms = t0 + 1'000'000'000});
    std::vector<Sample> out;
    uint64_t read = 0, nseries = 0;
    while ((*set)->Next()) {
      (void)(*set)->Samples(&out);
      read += out.size();
      ++nseries;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
    double cpu = CpuSeconds() - rc0;
    std::printf(
        "select counter_.*: %llu series, %llu samples, %.1f ns/sample wall, %.1f ns/sample cpu "
        "(%s)\n",
        static_cast<unsigned long long>(nseries), static_cast<unsigned long long>(read),
        secs * 1e9 / static_cast<double>(std::max<uint64_t>(read, 1)),
        cpu * 1e9 / static_cast<double>(std::max<uint64_t>(read, 1)),
        (*set)->status().ok() ? "ok" : (*set)->status().ToString().c_str());
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::printf("series=%zu samples=%llu sync_wal=%d batch=%zu samples/request threads=%zu\n",
              num_series, static_cast<unsigned long long>(appended), sync_wal ? 1 : 0, batch_series,
              num_threads);
  std::printf("ingest: %.2f M samples/s wall over all threads\n",
              static_cast<double>(appended) / ingest_wall / 1e6);
  std::printf(
      "append: %.1f ns/sample wall in Append (per thread), %.1f ns/sample cpu of the appending "
      "threads (%.2f M samples/cpu-s)\n",
      append_wall * 1e9 / static_cast<double>(appended),
      append_cpu * 1e9 / static_cast<double>(appended),
      static_cast<double>(appended) / append_cpu / 1e6);
  if (per_series > 1) {
    std::printf("append steady state (rounds after series creation): %.1f ns/sample cpu\n",
                steady_cpu * 1e9 / static_cast<double>(num_series * (per_series - 1)));
  }
  std::printf(
      "process cpu during the ingest loop (incl. data generation, RocksDB threads): %.1f "
      "ns/sample\n",
      process_s * 1e9 / static_cast<double>(appended));
  std::printf(
      "disk before flush: %.1f MB; after flush+compaction: %llu bytes = %.3f bytes/sample "
      "(flush+compact %.1f s)\n",
      static_cast<double>(before.disk_bytes) / 1e6,
      static_cast<unsigned long long>(after.disk_bytes),
      static_cast<double>(after.disk_bytes) / static_cast<double>(appended), flush_s);
  std::printf("column families: %s\n", static_cast<RocksStorage*>(st.get())->FamilySizes().c_str());
  std::printf("cached_series=%llu cache_bytes=%.1f MB max_rss=%.1f MB\n",
              static_cast<unsigned long long>(after.cached_series),
              static_cast<double>(after.cache_bytes) / 1e6,
              static_cast<double>(ru.ru_maxrss) / 1e3);
  std::printf(
      "rss after ingest %.1f MB (peak so far %.1f MB); at the end %.1f MB, peak (VmHWM) %.1f MB\n",
      rss_ingest, hwm_ingest, ProcStatusMb("VmRSS:"), ProcStatusMb("VmHWM:"));
  st.reset();
  if (std::getenv("KEEP_DIR") == nullptr) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace meridian

int main(int argc, char** argv) { return meridian::Run(argc, argv); }
