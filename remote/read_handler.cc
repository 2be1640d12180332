#include "remote/read_handler.h"

#include <snappy.h>

#include <algorithm>
#include <cstdio>

#include "remote/codec.h"
#include "remote/xor_chunk.h"

namespace meridian::remote {
namespace {

ReadReply Error(int status, std::string msg) {
  ReadReply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(msg) + "\n";
  return r;
}

// Client mistakes are 400 with their message; anything else is 500 and its
// text only goes to the log (it may carry internals).
ReadReply ErrorFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
      return Error(400, std::string(s.message()));
    case absl::StatusCode::kCancelled:
      return Error(499, "request cancelled");
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return Error(503, std::string(s.message()));
    default:
      std::fprintf(stderr, "meridian: remote read: %s\n", s.ToString().c_str());
      return Error(500, "internal error");
  }
}

struct Budget {
  const ReadLimits& limits;
  const std::atomic<bool>* cancelled;
  int64_t samples = 0;
  int64_t bytes = 0;
  absl::Status AddSamples(size_t n) {
    samples += static_cast<int64_t>(n);
    if (limits.max_samples > 0 && samples > limits.max_samples) {
      return absl::ResourceExhaustedError("exceeded sample limit (" +
                                          std::to_string(limits.max_samples) + ")");
    }
    return absl::OkStatus();
  }
  absl::Status AddBytes(size_t n) {
    bytes += static_cast<int64_t>(n);
    if (limits.max_bytes > 0 && bytes > limits.max_bytes) {
      return absl::ResourceExhaustedError(
          "exceeded bytes limit: the response would be larger than " +
          std::to_string(limits.max_bytes) + " bytes (remote-read-max-bytes)");
    }
    return absl::OkStatus();
  }
  absl::Status Check() const {
    if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
      return absl::CancelledError("cancelled");
    }
    return absl::OkStatus();
  }
};

// One query's series, one at a time. Holds the Querier the set needs.
struct QueryRun {
  std::unique_ptr<Querier> querier;
  std::unique_ptr<SeriesSet> set;
  bool series_only = false;
};

absl::StatusOr<QueryRun> StartQuery(const Queryable& q, const prometheus::Query& pq) {
  std::vector<Matcher> matchers;
  for (const auto& pm : pq.matchers()) {
    MERIDIAN_ASSIGN_OR_RETURN(Matcher m, FromProto(pm));
    matchers.push_back(std::move(m));
  }
  if (std::all_of(matchers.begin(), matchers.end(),
                  [](const Matcher& m) { return m.MatchesEmpty(); })) {
    return absl::InvalidArgumentError(
        "remote read query needs at least one matcher that does not match the empty string");
  }
  if (pq.end_timestamp_ms() < pq.start_timestamp_ms()) {
    return absl::InvalidArgumentError("remote read query ends before it starts");
  }
  QueryRun run;
  SelectHints hints;
  hints.start_ms = pq.start_timestamp_ms();
  hints.end_ms = pq.end_timestamp_ms();
  hints.sorted = true;  // the streamed type requires sorted series; SAMPLES keeps it too
  if (pq.has_hints()) {
    hints.step_ms = pq.hints().step_ms();
    hints.func = pq.hints().func();
    run.series_only = hints.func == "series";
  }
  MERIDIAN_ASSIGN_OR_RETURN(run.querier, q.NewQuerier(hints.start_ms, hints.end_ms));
  MERIDIAN_ASSIGN_OR_RETURN(run.set, run.querier->Select(matchers, hints));
  return run;
}

absl::Status AnswerSamples(const Queryable& q, const prometheus::ReadRequest& req, Budget* b,
                           prometheus::ReadResponse* resp) {
  std::vector<Sample> buf;
  for (const auto& pq : req.queries()) {
    auto* result = resp->add_results();
    MERIDIAN_ASSIGN_OR_RETURN(QueryRun run, StartQuery(q, pq));
    while (run.set->Next()) {
      MERIDIAN_RETURN_IF_ERROR(b->Check());
      auto* ts = result->add_timeseries();
      LabelsToProto(run.set->labels(), ts->mutable_labels());
      if (!run.series_only) {
        MERIDIAN_RETURN_IF_ERROR(run.set->Samples(&buf));
        MERIDIAN_RETURN_IF_ERROR(b->AddSamples(buf.size()));
        ts->mutable_samples()->Reserve(static_cast<int>(buf.size()));
        for (const Sample& s : buf) {
          auto* ps = ts->add_samples();
          ps->set_timestamp(s.t_ms);
          ps->set_value(s.v);
        }
      }
      MERIDIAN_RETURN_IF_ERROR(b->AddBytes(ts->ByteSizeLong() + 4));
    }
    MERIDIAN_RETURN_IF_ERROR(run.set->status());
  }
  return absl::OkStatus();
}

// As Prometheus's StreamChunkedReadResponses: one series per frame; a frame
// is cut when its chunks use up max_bytes_in_frame less the labels' size.
absl::Status AnswerStreamed(const Queryable& q, const prometheus::ReadRequest& req, Budget* b,
                            std::string* body) {
  std::vector<Sample> buf;
  std::string msg;
  for (int qi = 0; qi < req.queries_size(); ++qi) {
    MERIDIAN_ASSIGN_OR_RETURN(QueryRun run, StartQuery(q, req.queries(qi)));
    if (run.series_only) continue;  // chunkless series are not streamed (as Prometheus)
    while (run.set->Next()) {
      MERIDIAN_RETURN_IF_ERROR(b->Check());
      MERIDIAN_RETURN_IF_ERROR(run.set->Samples(&buf));
      MERIDIAN_RETURN_IF_ERROR(b->AddSamples(buf.size()));
      prometheus::ChunkedReadResponse frame;
      frame.set_query_index(qi);
      auto* cs = frame.add_chunked_series();
      LabelsToProto(run.set->labels(), cs->mutable_labels());
      int64_t max_data = b->limits.max_bytes_in_frame;
      for (const auto& l : cs->labels()) max_data -= static_cast<int64_t>(l.ByteSizeLong());
      int64_t left = max_data;
      for (size_t i = 0; i < buf.size();) {
        const size_t n = std::min(kSamplesPerChunk, buf.size() - i);
        auto* c = cs->add_chunks();
        c->set_min_time_ms(buf[i].t_ms);
        c->set_max_time_ms(buf[i + n - 1].t_ms);
        c->set_type(prometheus::Chunk::XOR);
        c->set_data(EncodeXorChunk(std::span<const Sample>(buf.data() + i, n)));
        left -= static_cast<int64_t>(c->ByteSizeLong());
        i += n;
        const bool more = i < buf.size();
        if (left > 0 && more) continue;
        msg.clear();
        frame.SerializeToString(&msg);
        MERIDIAN_RETURN_IF_ERROR(b->AddBytes(msg.size() + 14));
        AppendFrame(msg, body);
        cs->clear_chunks();
        left = max_data;
      }
    }
    MERIDIAN_RETURN_IF_ERROR(run.set->status());
  }
  return absl::OkStatus();
}

}  // namespace

ReadReply ServeRemoteRead(const Queryable& queryable, std::string_view body,
                          const ReadLimits& limits, const std::atomic<bool>* cancelled) {
  size_t raw_len = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &raw_len)) {
    return Error(400, "snappy: corrupt input");
  }
  if (raw_len > limits.max_request_bytes) {
    return Error(400, "remote read request too large: " + std::to_string(raw_len) +
                          " bytes decoded, limit " + std::to_string(limits.max_request_bytes));
  }
  std::string raw;
  if (!snappy::Uncompress(body.data(), body.size(), &raw)) {
    return Error(400, "snappy: corrupt input");
  }
  prometheus::ReadRequest req;
  if (!req.ParseFromString(raw)) return Error(400, "cannot parse the ReadRequest protobuf");

  // The first accepted type we support; none listed means SAMPLES.
  bool streamed = false;
  if (req.accepted_response_types_size() > 0) {
    bool found = false;
    for (int t : req.accepted_response_types()) {
      if (t == prometheus::ReadRequest::SAMPLES ||
          t == prometheus::ReadRequest::STREAMED_XOR_CHUNKS) {
        streamed = t == prometheus::ReadRequest::STREAMED_XOR_CHUNKS;
        found = true;
        break;
      }
    }
    if (!found) {
      return Error(400,
                   "server does not support any of the requested response types; "
                   "supported: SAMPLES, STREAMED_XOR_CHUNKS");
    }
  }

  Budget budget{limits, cancelled};
  ReadReply reply;
  if (streamed) {
    absl::Status st = AnswerStreamed(queryable, req, &budget, &reply.body);
    if (!st.ok()) return ErrorFor(st);
    reply.content_type = kStreamedContentType;
    reply.streamed = true;
    reply.samples = budget.samples;
    return reply;
  }
  prometheus::ReadResponse resp;
  absl::Status st = AnswerSamples(queryable, req, &budget, &resp);
  if (!st.ok()) return ErrorFor(st);
  std::string out;
  resp.SerializeToString(&out);
  snappy::Compress(out.data(), out.size(), &reply.body);
  reply.content_type = kSamplesContentType;
  reply.content_encoding = "snappy";
  reply.samples = budget.samples;
  return reply;
}

}  // namespace meridian::remote
