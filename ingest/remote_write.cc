#include "ingest/remote_write.h"

#include <snappy.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ingest/decoder.h"
#include "ingest/error_message.h"
#include "ingest/labels_check.h"
#include "ingest/negotiation.h"
#include "model/sync.h"

namespace meridian::ingest {
namespace {

// Buffers reused across requests so that a warmed-up receiver does no
// per-sample (and almost no per-request) heap allocation.
struct Scratch {
  std::unique_ptr<char[]> buf;  // decompressed body; DecodedRequest views point here
  size_t cap = 0;
  DecodedRequest req;
  AppendBatch batch;
  std::vector<uint32_t> batch_to_series;  // AppendBatch index -> DecodedRequest::series index
  std::vector<DecodedMetadata> metadata_views;
  std::vector<MetricMetadata> metadata;
};

// At most this many idle Scratch objects are kept.
constexpr size_t kMaxPooledScratch = 8;

template <typename T>
size_t CapacityBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

size_t ScratchBytes(const Scratch& s) {
  return s.cap + CapacityBytes(s.req.series) + CapacityBytes(s.req.labels) +
         CapacityBytes(s.req.samples) + CapacityBytes(s.req.metadata) +
         CapacityBytes(s.req.symbols) + CapacityBytes(s.req.raw_series) +
         CapacityBytes(s.batch.series) + CapacityBytes(s.batch_to_series) +
         CapacityBytes(s.metadata_views) + CapacityBytes(s.metadata);
}

// Frees the largest buffers of `s` until it holds at most kMaxKeptScratchBytes:
// one request with millions of labels must not pin their memory for good.
void Trim(Scratch* s) {
  s->metadata.clear();  // owns strings
  while (ScratchBytes(*s) > kMaxKeptScratchBytes) {
    struct Candidate {
      size_t bytes;
      std::function<void()> free;
    };
    auto release = [](auto& v) { return [&v] { std::remove_reference_t<decltype(v)>().swap(v); }; };
    Candidate all[] = {
        {s->cap,
         [s] {
           s->buf.reset();
           s->cap = 0;
         }},
        {CapacityBytes(s->req.series), release(s->req.series)},
        {CapacityBytes(s->req.labels), release(s->req.labels)},
        {CapacityBytes(s->req.samples), release(s->req.samples)},
        {CapacityBytes(s->req.metadata), release(s->req.metadata)},
        {CapacityBytes(s->req.symbols), release(s->req.symbols)},
        {CapacityBytes(s->req.raw_series), release(s->req.raw_series)},
        {CapacityBytes(s->batch.series), release(s->batch.series)},
        {CapacityBytes(s->batch_to_series), release(s->batch_to_series)},
        {CapacityBytes(s->metadata_views), release(s->metadata_views)},
        {CapacityBytes(s->metadata), release(s->metadata)},
    };
    Candidate* largest =
        std::max_element(std::begin(all), std::end(all),
                         [](const Candidate& a, const Candidate& b) { return a.bytes < b.bytes; });
    largest->free();
  }
}

// A free list shared by all threads: memory follows the number of concurrent
// requests, not the number of HTTP threads (a thread_local per thread kept
// ~2.5 MB on each of dozens of threads).
class ScratchPool {
 public:
  std::unique_ptr<Scratch> Acquire() {
    {
      MutexLock lock(&mu_);
      if (!free_.empty()) {
        auto s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    return std::make_unique<Scratch>();
  }
  void Release(std::unique_ptr<Scratch> s) {
    Trim(s.get());
    MutexLock lock(&mu_);
    if (free_.size() < kMaxPooledScratch) free_.push_back(std::move(s));
  }
  size_t IdleBytes() {
    MutexLock lock(&mu_);
    size_t n = 0;
    for (const auto& s : free_) n += ScratchBytes(*s);
    return n;
  }

 private:
  Mutex mu_;
  std::vector<std::unique_ptr<Scratch>> free_ ABSL_GUARDED_BY(mu_);
};

ScratchPool& Pool() {
  static ScratchPool* pool = new ScratchPool;  // never destroyed: used until exit
  return *pool;
}

// Returns its Scratch to the pool when the request is done.
struct ScratchLease {
  std::unique_ptr<Scratch> s = Pool().Acquire();
  ~ScratchLease() { Pool().Release(std::move(s)); }
};

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void LogDroppedOnce() {
  static std::atomic<bool> logged{false};
  if (!logged.exchange(true)) {
    std::fprintf(stderr,
                 "meridian ingest: native histograms and exemplars are not supported by "
                 "storage; dropping them (counted in histograms_dropped/exemplars_dropped)\n");
  }
}

// The first offending series of a request, by position in the request.
struct FirstError {
  size_t series = std::numeric_limits<size_t>::max();
  std::string message;
  bool set() const { return series != std::numeric_limits<size_t>::max(); }
};

// Collects metadata (1.0 entries, or 2.0 per-series metadata keyed by the
// series' metric name), keeping one entry per family (the last one).
void CollectMetadata(Scratch* s, std::string* error) {
  auto& views = s->metadata_views;
  std::stable_sort(views.begin(), views.end(),
                   [](const DecodedMetadata& a, const DecodedMetadata& b) {
                     return a.metric_family < b.metric_family;
                   });
  s->metadata.clear();
  for (size_t i = 0; i < views.size(); ++i) {
    if (i + 1 < views.size() && views[i + 1].metric_family == views[i].metric_family) continue;
    const DecodedMetadata& md = views[i];
    if (md.metric_family.empty() || !IsValidUtf8(md.metric_family) || !IsValidUtf8(md.help) ||
        !IsValidUtf8(md.unit)) {
      if (error->empty()) {
        *error = ErrorMessage(
            "invalid metadata for metric family \"", EscapeForMessage(md.metric_family, 256),
            "\": ", md.metric_family.empty() ? "empty family name" : "invalid UTF-8");
      }
      continue;
    }
    s->metadata.push_back(MetricMetadata{std::string(md.metric_family), md.type,
                                         std::string(md.help), std::string(md.unit)});
  }
}

// The message of a series rejected by a label limit, or "" when its labels
// are within the limits. `labels` are normalized (sorted, no empty values).
std::string CheckLabelLimits(const DecodedSeries& ts, std::span<const LabelView> labels,
                             const IngestLimits& limits, RemoteWriteStats* stats,
                             uint64_t num_samples) {
  if (ts.labels_total > limits.max_labels_per_series) {
    stats->rejected_too_many_labels += num_samples;
    return ErrorMessage("series ", FormatSeries(labels),
                        ts.labels_total > labels.size() ? "..." : "", " has ", ts.labels_total,
                        " labels, over the limit of ", limits.max_labels_per_series,
                        " labels per series (max-labels-per-series)");
  }
  for (const LabelView& l : labels) {
    if (l.name.size() > limits.max_label_name_bytes) {
      stats->rejected_label_name_too_long += num_samples;
      return ErrorMessage("series ", FormatSeries(labels), ": label name \"",
                          EscapeForMessage(l.name, 64), "...\" is ", l.name.size(),
                          " bytes long, over the limit of ", limits.max_label_name_bytes,
                          " bytes (max-label-name-bytes)");
    }
    if (l.value.size() > limits.max_label_value_bytes) {
      stats->rejected_label_value_too_long += num_samples;
      return ErrorMessage("series ", FormatSeries(labels), ": value of label \"",
                          EscapeForMessage(l.name, 64), "\" is ", l.value.size(),
                          " bytes long, over the limit of ", limits.max_label_value_bytes,
                          " bytes (max-label-value-bytes)");
    }
  }
  return "";
}

// Storage refuses a new tenant over StorageOptions::max_tenants with
// kResourceExhausted; for the client that is a 400 (nothing stored).
absl::Status TenantLimit(std::string_view tenant, const absl::Status& st, RemoteWriteStats* stats) {
  if (st.code() != absl::StatusCode::kResourceExhausted) return st;
  stats->request_rejected = "tenant_limit";
  return absl::InvalidArgumentError(ErrorMessage(
      "new tenant \"", tenant, "\" rejected: ", std::string(st.message()), " (max-tenants)"));
}

}  // namespace

size_t PooledScratchBytes() { return Pool().IdleBytes(); }

RemoteWriteReceiver::RemoteWriteReceiver(Appender* appender, RemoteWriteOptions options)
    : appender_(appender), options_(std::move(options)) {
  const IngestLimits& l = options_.limits;
  if (l.ingestion_rate > 0) {
    rate_limiter_ = std::make_unique<IngestionRateLimiter>(
        l.ingestion_rate, l.ingestion_burst, l.max_samples_per_request, options_.monotonic_ms);
  }
}

RemoteWriteReceiver::~RemoteWriteReceiver() = default;

absl::Status RemoteWriteReceiver::Receive(std::string_view tenant, std::string_view content_type,
                                          std::string_view content_encoding, std::string_view body,
                                          RemoteWriteStats* stats) const {
  *stats = RemoteWriteStats{};
  absl::StatusOr<RemoteWriteVersion> version = NegotiateRemoteWrite(content_type, content_encoding);
  if (!version.ok()) return version.status();
  stats->version = *version;
  const IngestLimits& limits = options_.limits;
  if (absl::Status t = ValidateTenant(tenant, limits.max_tenant_id_bytes); !t.ok()) {
    stats->request_rejected = "invalid_tenant";
    return t;
  }

  // Size limits come before any decompression work.
  if (body.size() > options_.max_body_bytes) {
    return absl::ResourceExhaustedError(ErrorMessage("remote write body of ", body.size(),
                                                     " bytes exceeds the limit of ",
                                                     options_.max_body_bytes, " bytes"));
  }
  size_t decoded_len = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &decoded_len)) {
    return absl::InvalidArgumentError(
        "decompressing remote write body: not snappy block format (bad length header)");
  }
  if (decoded_len > options_.max_decoded_bytes) {
    return absl::ResourceExhaustedError(ErrorMessage("remote write body decompresses to ",
                                                     decoded_len, " bytes, over the limit of ",
                                                     options_.max_decoded_bytes, " bytes"));
  }

  ScratchLease lease;
  Scratch& s = *lease.s;
  if (s.cap < decoded_len || !s.buf) {
    s.cap = std::max<size_t>(decoded_len, 4096);
    s.buf.reset(new char[s.cap]);
  }
  if (!snappy::RawUncompress(body.data(), body.size(), s.buf.get())) {
    return absl::InvalidArgumentError("decompressing remote write body: corrupt snappy data");
  }
  std::string_view decoded(s.buf.get(), decoded_len);
  DecodedRequest& req = s.req;
  DecodeLimits dl;
  dl.max_series = limits.max_series_per_request;
  dl.max_samples = limits.max_samples_per_request;
  dl.max_labels_kept = limits.max_labels_per_series;
  // Every series' labels as distinct symbols, plus metadata strings.
  // Saturating: a limit configured as "practically none" (e.g. 1e18) must not
  // wrap around to a small symbol limit.
  size_t per_series = 0, symbols = 0;
  if (__builtin_mul_overflow(limits.max_labels_per_series, size_t{2}, &per_series) ||
      __builtin_add_overflow(per_series, size_t{2}, &per_series) ||
      __builtin_mul_overflow(limits.max_series_per_request, per_series, &symbols) ||
      __builtin_add_overflow(symbols, size_t{1}, &symbols)) {
    symbols = SIZE_MAX;
  }
  dl.max_symbols = symbols;
  absl::Status decode = *version == RemoteWriteVersion::kV1
                            ? DecodeWriteRequestV1(decoded, &req, dl)
                            : DecodeWriteRequestV2(decoded, &req, dl);
  if (!decode.ok()) {
    if (decode.code() == absl::StatusCode::kResourceExhausted) {
      stats->request_rejected = "request_too_large";
    }
    return decode;
  }
  if (rate_limiter_ != nullptr) {
    absl::Status rate = rate_limiter_->Take(tenant, req.samples.size(), &stats->retry_after_s);
    if (!rate.ok()) {
      stats->request_rejected =
          rate.code() == absl::StatusCode::kUnavailable ? "rate_limited" : "request_too_large";
      return rate;
    }
  }

  // Validate series, drop samples too far in the future, build the batch.
  const int64_t now_ms = options_.now_ms ? options_.now_ms() : WallClockMs();
  const int64_t max_t_ms = now_ms > std::numeric_limits<int64_t>::max() - options_.max_future_ms
                               ? std::numeric_limits<int64_t>::max()
                               : now_ms + options_.max_future_ms;
  FirstError first;
  s.batch.series.clear();
  s.batch_to_series.clear();
  s.metadata_views.clear();
  for (const DecodedMetadata& md : req.metadata) s.metadata_views.push_back(md);
  for (size_t i = 0; i < req.series.size(); ++i) {
    const DecodedSeries& ts = req.series[i];
    stats->histograms_dropped += ts.histograms;
    stats->exemplars_dropped += ts.exemplars;
    const size_t num_samples = ts.samples_end - ts.samples_begin;
    std::span<LabelView> labels = req.Labels(ts);
    size_t num_labels = 0;
    // One pass over the series' label bytes instead of a UTF-8 check of each
    // name and value (tags and lengths below 128 are ASCII too).
    const bool ascii = !ts.label_bytes.empty() && IsAscii(ts.label_bytes);
    LabelsCheck check = NormalizeLabels(labels, &num_labels, ascii);
    labels = labels.first(num_labels);
    if (ts.labels_total > labels.size() || check.problem == LabelsProblem::kNone) {
      std::string over = CheckLabelLimits(ts, labels, limits, stats, num_samples);
      if (!over.empty()) {
        if (!first.set()) first = {i, std::move(over)};
        continue;
      }
    }
    if (check.problem != LabelsProblem::kNone) {
      stats->rejected_invalid_labels += num_samples;
      if (!first.set()) {
        first = {
            i, ErrorMessage("invalid series ", FormatSeries(labels), ": ", DescribeProblem(check))};
      }
      continue;
    }
    if (ts.has_metadata && (ts.metadata_type != MetricType::kUnknown || !ts.metadata_help.empty() ||
                            !ts.metadata_unit.empty())) {
      for (const LabelView& l : labels) {
        if (l.name == kMetricName) {
          s.metadata_views.push_back(
              {ts.metadata_type, l.value, ts.metadata_help, ts.metadata_unit});
        }
      }
    }
    Sample* samples = req.samples.data() + ts.samples_begin;
    size_t kept = 0;
    for (size_t j = 0; j < num_samples; ++j) {
      if (samples[j].t_ms > max_t_ms) {
        ++stats->rejected_too_far_in_future;
        if (!first.set()) {
          first = {i, ErrorMessage("series ", FormatSeries(labels), ": sample timestamp ",
                                   samples[j].t_ms, " is too far in the future (more than ",
                                   options_.max_future_ms, " ms after now, ", now_ms, ")")};
        }
        continue;
      }
      samples[kept++] = samples[j];
    }
    if (kept == 0) continue;
    s.batch.series.push_back(AppendSeries{labels, std::span<const Sample>(samples, kept)});
    s.batch_to_series.push_back(static_cast<uint32_t>(i));
  }
  if (stats->histograms_dropped + stats->exemplars_dropped > 0) LogDroppedOnce();

  if (!s.batch.series.empty()) {
    AppendResult result;
    s.batch.max_series_per_tenant = limits.max_series_per_tenant;
    absl::Status appended = appender_->Append(tenant, s.batch, &result);
    if (!appended.ok()) return TenantLimit(tenant, appended, stats);
    stats->samples_written = result.samples_appended + result.samples_duplicate;
    stats->series_created = result.series_created;
    uint64_t too_old = 0, conflict = 0, series_limit = 0;
    const AppendError* first_storage = nullptr;
    for (const AppendError& e : result.errors) {
      if (e.kind == AppendErrorKind::kSeriesLimit) {
        series_limit += s.batch.series[e.series_index].samples.size();
      } else {
        (e.kind == AppendErrorKind::kTooOld ? too_old : conflict) += 1;
      }
      if (first_storage == nullptr || e.series_index < first_storage->series_index) {
        first_storage = &e;
      }
    }
    stats->rejected_series_limit = series_limit;
    // Errors are reported at most once per series; attribute any further
    // rejected samples to the kind seen (too old first: the common case).
    uint64_t reported = too_old + conflict + series_limit;
    uint64_t extra = result.samples_rejected > reported ? result.samples_rejected - reported : 0;
    (too_old > 0 || conflict == 0 ? too_old : conflict) += extra;
    stats->rejected_too_old = too_old;
    stats->rejected_conflict = conflict;
    if (first_storage != nullptr && first_storage->series_index < s.batch_to_series.size()) {
      size_t series = s.batch_to_series[first_storage->series_index];
      if (series < first.series) {
        const AppendSeries& as = s.batch.series[first_storage->series_index];
        if (first_storage->kind == AppendErrorKind::kSeriesLimit) {
          first = {series, ErrorMessage("series ", FormatSeries(as.labels),
                                        ": new series rejected: tenant \"", tenant,
                                        "\" holds its limit of ", limits.max_series_per_tenant,
                                        " series (max-series-per-tenant)")};
        } else {
          first = {series,
                   ErrorMessage("series ", FormatSeries(as.labels), ": sample at timestamp ",
                                first_storage->t_ms,
                                first_storage->kind == AppendErrorKind::kTooOld
                                    ? " is too old (before the out-of-order window or the "
                                      "retention cut-off, older than every resolution kept, or "
                                      "not after the samples of its window, already "
                                      "downsampled, whose raw data is gone)"
                                    : " conflicts with a different value already stored for "
                                      "that timestamp (duplicate sample for timestamp)")};
        }
      }
    }
  }

  std::string metadata_error;
  if (!s.metadata_views.empty()) {
    CollectMetadata(&s, &metadata_error);
    if (!s.metadata.empty()) {
      absl::Status put = appender_->PutMetadata(tenant, s.metadata);
      if (!put.ok()) return TenantLimit(tenant, put, stats);
      stats->metadata_written = s.metadata.size();
    }
  }

  if (first.set()) {
    uint64_t rejected = stats->rejected_invalid_labels + stats->rejected_too_far_in_future +
                        stats->rejected_too_old + stats->rejected_conflict +
                        stats->rejected_too_many_labels + stats->rejected_label_name_too_long +
                        stats->rejected_label_value_too_long + stats->rejected_series_limit;
    if (rejected > 1) first.message += ErrorMessage(" (", rejected, " samples rejected in total)");
    return absl::InvalidArgumentError(first.message);
  }
  if (!metadata_error.empty()) return absl::InvalidArgumentError(metadata_error);
  return absl::OkStatus();
}

}  // namespace meridian::ingest
