// meridian-remote-read-bench: remote-read throughput of a server (a meridian,
// a Prometheus) for one selector over a time range, asking for one response
// type. Each iteration POSTs one ReadRequest, reads the whole answer and
// decodes it (remote::DecodeReadResponse: snappy ReadResponse, or CRC-checked
// frames of XOR chunks), counting series and samples. Prints per-iteration
// figures and, last, a machine-readable line:
//   RESULT type=streamed series=... samples=... bytes=... seconds=... samples_per_s=...
//
//   meridian-remote-read-bench --url http://127.0.0.1:9097/api/v1/read
//       --match '{__name__="http_requests_total"}' --start-ms S --end-ms E
//       --type streamed|samples [--iterations 5]
#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "proto/remote.pb.h"
#include "remote/client.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: meridian-remote-read-bench --url URL --name METRIC --start-ms S --end-ms E\n"
               "                                  --type streamed|samples [--iterations N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, name, type = "streamed";
  int64_t start_ms = 0, end_ms = 0;
  int iterations = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--url") {
      url = v;
    } else if (a == "--name") {
      name = v;
    } else if (a == "--start-ms") {
      start_ms = std::stoll(v);
    } else if (a == "--end-ms") {
      end_ms = std::stoll(v);
    } else if (a == "--type") {
      type = v;
    } else if (a == "--iterations") {
      iterations = std::stoi(v);
    } else {
      Usage();
    }
  }
  if (url.empty() || name.empty() || end_ms <= start_ms ||
      (type != "streamed" && type != "samples"))
    Usage();
  size_t scheme = url.find("://");
  size_t path_at = url.find('/', scheme + 3);
  httplib::Client client(url.substr(0, path_at));
  client.set_read_timeout(600);
  client.set_decompress(false);
  const std::string path = url.substr(path_at);

  prometheus::ReadRequest req;
  auto* q = req.add_queries();
  q->set_start_timestamp_ms(start_ms);
  q->set_end_timestamp_ms(end_ms);
  auto* m = q->add_matchers();
  m->set_type(prometheus::LabelMatcher::EQ);
  m->set_name("__name__");
  m->set_value(name);
  req.add_accepted_response_types(type == "streamed" ? prometheus::ReadRequest::STREAMED_XOR_CHUNKS
                                                     : prometheus::ReadRequest::SAMPLES);
  std::string raw = req.SerializeAsString(), body;
  snappy::Compress(raw.data(), raw.size(), &body);
  httplib::Headers headers = {{"Content-Encoding", "snappy"},
                              {"X-Prometheus-Remote-Read-Version", "0.1.0"}};

  std::vector<double> secs;
  size_t series = 0, samples = 0, bytes = 0;
  for (int it = 0; it < iterations; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    auto res = client.Post(path, headers, body, "application/x-protobuf");
    if (!res || res->status != 200) {
      std::fprintf(stderr, "remote read failed: %s\n",
                   res ? (std::to_string(res->status) + " " + res->body).c_str()
                       : httplib::to_string(res.error()).c_str());
      return 1;
    }
    auto decoded =
        meridian::remote::DecodeReadResponse(req, res->get_header_value("Content-Type"), res->body);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!decoded.ok()) {
      std::fprintf(stderr, "decode: %s\n", std::string(decoded.status().message()).c_str());
      return 1;
    }
    series = (*decoded)[0].size();
    samples = 0;
    for (const auto& x : (*decoded)[0]) samples += x.samples.size();
    bytes = res->body.size();
    secs.push_back(s);
    std::printf("iteration %d: %zu series, %zu samples, %zu bytes (%s) in %.3f s\n", it, series,
                samples, bytes, res->get_header_value("Content-Type").c_str(), s);
  }
  std::sort(secs.begin(), secs.end());
  const double median = secs[secs.size() / 2];
  std::printf("RESULT type=%s series=%zu samples=%zu bytes=%zu seconds=%.3f samples_per_s=%.0f\n",
              type.c_str(), series, samples, bytes, median, samples / median);
  return 0;
}
