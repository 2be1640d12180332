#include "remote/client.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <map>
#include <utility>

#include "model/sync.h"
#include "proto/remote.pb.h"
#include "remote/codec.h"
#include "remote/xor_chunk.h"

namespace meridian::remote {
namespace {

// Sorts by time and keeps the first of equal timestamps.
void SortUnique(std::vector<Sample>* s) {
  std::stable_sort(s->begin(), s->end(),
                   [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
  s->erase(std::unique(s->begin(), s->end(),
                       [](const Sample& a, const Sample& b) { return a.t_ms == b.t_ms; }),
           s->end());
}

void SortSeries(std::vector<RemoteSeries>* v) {
  std::sort(v->begin(), v->end(),
            [](const RemoteSeries& a, const RemoteSeries& b) { return a.labels < b.labels; });
}

absl::Status DecodeStreamed(const prometheus::ReadRequest& req, std::string_view body,
                            std::vector<std::vector<RemoteSeries>>* out) {
  std::vector<std::string_view> msgs;
  MERIDIAN_RETURN_IF_ERROR(SplitFrames(body, &msgs));
  prometheus::ChunkedReadResponse frame;
  std::vector<Sample> buf;
  for (std::string_view m : msgs) {
    if (!frame.ParseFromArray(m.data(), static_cast<int>(m.size()))) {
      return absl::InvalidArgumentError("streamed remote-read response: bad ChunkedReadResponse");
    }
    const int64_t qi = frame.query_index();
    if (qi < 0 || qi >= static_cast<int64_t>(out->size())) {
      return absl::InvalidArgumentError("streamed remote-read response: query_index out of range");
    }
    const auto& q = req.queries(static_cast<int>(qi));
    auto& series = (*out)[static_cast<size_t>(qi)];
    for (const auto& cs : frame.chunked_series()) {
      MERIDIAN_ASSIGN_OR_RETURN(Labels ls, LabelsFromProto(cs.labels()));
      // A series split over frames continues the previous one.
      if (series.empty() || !(series.back().labels == ls)) series.push_back({std::move(ls), {}});
      auto& dst = series.back().samples;
      for (const auto& c : cs.chunks()) {
        if (c.type() != prometheus::Chunk::XOR) {
          return absl::UnimplementedError("remote-read chunk encoding " + std::to_string(c.type()) +
                                          " is not supported");
        }
        buf.clear();
        MERIDIAN_RETURN_IF_ERROR(DecodeXorChunk(c.data(), &buf));
        for (const Sample& s : buf) {
          if (s.t_ms >= q.start_timestamp_ms() && s.t_ms <= q.end_timestamp_ms()) dst.push_back(s);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeSamples(const prometheus::ReadRequest& req, std::string_view body,
                           std::vector<std::vector<RemoteSeries>>* out) {
  std::string raw;
  if (!snappy::Uncompress(body.data(), body.size(), &raw)) {
    return absl::InvalidArgumentError("remote-read response: snappy: corrupt input");
  }
  prometheus::ReadResponse resp;
  if (!resp.ParseFromString(raw)) {
    return absl::InvalidArgumentError("remote-read response: bad ReadResponse");
  }
  if (resp.results_size() != req.queries_size()) {
    return absl::InvalidArgumentError(
        "remote-read response: " + std::to_string(resp.results_size()) + " results for " +
        std::to_string(req.queries_size()) + " queries");
  }
  for (int i = 0; i < resp.results_size(); ++i) {
    const auto& q = req.queries(i);
    for (const auto& ts : resp.results(i).timeseries()) {
      MERIDIAN_ASSIGN_OR_RETURN(Labels ls, LabelsFromProto(ts.labels()));
      RemoteSeries s{std::move(ls), {}};
      s.samples.reserve(static_cast<size_t>(ts.samples_size()));
      for (const auto& p : ts.samples()) {
        if (p.timestamp() >= q.start_timestamp_ms() && p.timestamp() <= q.end_timestamp_ms()) {
          s.samples.push_back({p.timestamp(), p.value()});
        }
      }
      (*out)[static_cast<size_t>(i)].push_back(std::move(s));
    }
  }
  return absl::OkStatus();
}

// Idle keep-alive connections by server and client settings (HttpCall's
// pool_key_), newest last.
class ConnectionPool {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kMaxIdle = std::chrono::seconds(30);
  static constexpr size_t kMaxPerKey = 16;

  std::unique_ptr<httplib::Client> Take(const std::string& key) {
    MutexLock lock(&mu_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = Clock::now();
    while (!list.empty()) {
      auto [client, since] = std::move(list.back());
      list.pop_back();
      if (now - since < kMaxIdle) return std::move(client);
    }
    return nullptr;
  }
  void Give(const std::string& key, std::unique_ptr<httplib::Client> client) {
    std::unique_ptr<httplib::Client> dropped;  // closed outside the lock
    MutexLock lock(&mu_);
    auto& list = idle_[key];
    if (list.size() >= kMaxPerKey) {
      dropped = std::move(list.front().first);
      list.erase(list.begin());
    }
    list.emplace_back(std::move(client), Clock::now());
  }

 private:
  Mutex mu_;
  std::map<std::string, std::vector<std::pair<std::unique_ptr<httplib::Client>, Clock::time_point>>>
      idle_ ABSL_GUARDED_BY(mu_);
};

ConnectionPool& Pool() {
  static ConnectionPool* pool = new ConnectionPool();  // never destroyed: used at exit
  return *pool;
}

}  // namespace

HttpCall::HttpCall(const RemoteEndpoint& e, bool reuse) {
  // scheme://host[:port]/path
  const std::string& url = e.url;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    setup_ = absl::InvalidArgumentError("remote-read URL must start with http:// or https://");
    return;
  }
  size_t path_start = url.find('/', scheme_end + 3);
  std::string base = path_start == std::string::npos ? url : url.substr(0, path_start);
  path_ = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (reuse) {
    // Everything the client is set up with below.
    pool_key_ = base + '\n' + std::to_string(e.timeout.count()) + '\n' + e.bearer_token + '\n' +
                e.basic_auth_username + '\n' + e.basic_auth_password + '\n' + e.tls_ca_file + '\n' +
                (e.tls_insecure_skip_verify ? "1" : "0");
    client_ = Pool().Take(pool_key_);
    if (client_ != nullptr) return;
  }
  client_ = std::make_unique<httplib::Client>(base);
  if (!client_->is_valid()) {
    setup_ = absl::InvalidArgumentError("remote-read URL is not valid");
    return;
  }
  // The caller's watchdog enforces e.timeout (and cancellation) by Abort();
  // the socket timeouts are a backstop a second later.
  const auto backstop = e.timeout + std::chrono::seconds(1);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(backstop).count();
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(backstop).count() % 1'000'000;
  client_->set_connection_timeout(secs, usecs);
  client_->set_read_timeout(secs, usecs);
  client_->set_write_timeout(secs, usecs);
  client_->set_decompress(false);  // the body is snappy or framed: ours to decode
  client_->set_keep_alive(reuse);
  // One write for the head, one for the body: without this a kept-alive
  // connection waits out the server's delayed ACK (Nagle) on every POST.
  client_->set_tcp_nodelay(true);
  if (!e.bearer_token.empty()) client_->set_bearer_token_auth(e.bearer_token.c_str());
  if (!e.basic_auth_username.empty()) {
    client_->set_basic_auth(e.basic_auth_username.c_str(), e.basic_auth_password.c_str());
  }
  if (!e.tls_ca_file.empty()) client_->set_ca_cert_path(e.tls_ca_file.c_str());
  if (e.tls_insecure_skip_verify) client_->enable_server_certificate_verification(false);
}

HttpCall::~HttpCall() {
  // httplib closes a connection a failed request left unusable, and checks
  // an idle one is still open before sending on it.
  if (!pool_key_.empty() && client_ != nullptr && setup_.ok() && !aborted_.load()) {
    Pool().Give(pool_key_, std::move(client_));
  }
}

void HttpCall::Abort() {
  aborted_.store(true);
  if (client_) client_->stop();
}

bool RemoteReadClient::MayMatch(const std::vector<Matcher>& matchers) const {
  for (const Matcher& m : matchers) {
    std::string_view v = e_.external_labels.Get(m.name());
    if (!v.empty() && !m.Matches(v)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::vector<RemoteSeries>>> DecodeReadResponse(
    const prometheus::ReadRequest& req, std::string_view content_type, std::string_view body) {
  std::vector<std::vector<RemoteSeries>> out(static_cast<size_t>(req.queries_size()));
  if (content_type.rfind("application/x-streamed-protobuf", 0) == 0) {
    MERIDIAN_RETURN_IF_ERROR(DecodeStreamed(req, body, &out));
  } else {
    MERIDIAN_RETURN_IF_ERROR(DecodeSamples(req, body, &out));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<RemoteSeries>>> RemoteReadClient::Read(
    HttpCall* call, const prometheus::ReadRequest& request, std::string_view caller_tenant,
    bool series_only) const {
  MERIDIAN_RETURN_IF_ERROR(call->setup());
  prometheus::ReadRequest req = request;
  req.clear_accepted_response_types();
  if (!series_only) req.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  req.add_accepted_response_types(prometheus::ReadRequest::SAMPLES);
  std::string raw = req.SerializeAsString(), body;
  snappy::Compress(raw.data(), raw.size(), &body);
  httplib::Headers headers = {
      {"Content-Encoding", "snappy"},
      {"Accept-Encoding", "snappy"},
      {"X-Prometheus-Remote-Read-Version", "0.1.0"},
      {"User-Agent", "meridian-remote-read/0.1"},
  };
  const std::string tenant = e_.tenant.empty() ? std::string(caller_tenant) : e_.tenant;
  if (!tenant.empty() && !e_.tenant_header.empty()) headers.emplace(e_.tenant_header, tenant);
  auto res = call->client()->Post(call->path(), headers, body, "application/x-protobuf");
  if (!res) {
    return absl::UnavailableError("remote read failed: " + httplib::to_string(res.error()));
  }
  if (res->status / 100 != 2) {
    std::string msg = res->body.substr(0, 256);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    return absl::UnavailableError("remote read answered HTTP " + std::to_string(res->status) +
                                  (msg.empty() ? "" : ": " + msg));
  }
  auto out = DecodeReadResponse(req, res->get_header_value("Content-Type"), res->body);
  if (!out.ok()) return absl::UnavailableError(out.status().message());
  for (auto& list : *out) {
    for (auto& s : list) {
      if (!e_.external_labels.empty()) {
        LabelsBuilder b(s.labels);
        for (const Label& l : e_.external_labels) {
          if (!s.labels.Has(l.name)) b.Set(l.name, l.value);
        }
        s.labels = b.Build();
      }
      SortUnique(&s.samples);
    }
    SortSeries(&list);
    // The same series split over non-adjacent frames (not done by Prometheus
    // or meridian, but allowed by the format): merge neighbours.
    size_t w = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (w > 0 && list[w - 1].labels == list[i].labels) {
        auto& dst = list[w - 1].samples;
        dst.insert(dst.end(), list[i].samples.begin(), list[i].samples.end());
        SortUnique(&dst);
      } else {
        if (w != i) list[w] = std::move(list[i]);
        ++w;
      }
    }
    list.resize(w);
  }
  return out;
}

}  // namespace meridian::remote
