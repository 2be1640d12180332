// Test harness for integration tests: starts real processes (meridian, the
// Debian prometheus) on free loopback ports, talks HTTP to them, and encodes
// remote-write requests. Processes are killed when their handle dies.
#ifndef MERIDIAN_TESTS_INTEGRATION_HARNESS_H_
#define MERIDIAN_TESTS_INTEGRATION_HARNESS_H_

#include <httplib.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proto/remote.pb.h"

namespace meridian::testing {

// A free TCP port on 127.0.0.1 (bound and released; racy but fine for tests).
int FreePort();

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process. SIGKILLed (and reaped) on destruction unless already waited.
// A sanitizer report in its output (the sanitizer builds run a meridian built
// with the same sanitizer) fails the running test on destruction, even when
// the test's own checks passed.
class Process {
 public:
  // Starts argv[0] with stdout+stderr appended to `log_path`.
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  bool running();
  void Kill(int sig);
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  bool reaped_ = false;
};

// Waits until http://127.0.0.1:port/-/ready answers 200 (meridian and
// Prometheus both serve it). False on timeout or when `process` exited.
bool WaitHttpReady(int port, Process& process,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Debian's Prometheus (2.42), which the comparison tests run.
inline constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";
// Empty when kPrometheusBinary can run; else why not, for GTEST_SKIP():
//   if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
std::string PrometheusMissing();
// Starts Prometheus on 127.0.0.1:port with `config_yaml` written to
// DIR/NAME.yml, its TSDB in DIR/NAME-data and its output in DIR/NAME.log,
// plus `extra_args` (e.g. --web.enable-remote-write-receiver). Does not wait:
// WaitHttpReady(port, *p) does.
std::unique_ptr<Process> StartPrometheus(const std::string& dir, int port,
                                         const std::string& config_yaml,
                                         const std::vector<std::string>& extra_args = {},
                                         const std::string& name = "prometheus");

// Waits until every remote-write queue of the Prometheus on `port` has sent
// (and had acknowledged) samples with timestamps of at least `t_ms`, read
// from its /metrics (prometheus_remote_storage_queue_highest_sent_timestamp_seconds).
// A loaded machine (CI runs sanitizer builds two at a time) can hold the
// queue seconds behind its batch_send_deadline. False on timeout.
bool WaitRemoteWriteSent(int port, int64_t t_ms,
                         std::chrono::milliseconds timeout = std::chrono::seconds(90));

// meridian started on a free port with its own data dir (or a given one).
class Meridian {
 public:
  explicit Meridian(std::string data_dir = "", std::vector<std::string> extra_args = {});
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string url() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *process_; }
  // Waits until /-/ready answers 200. Returns false on timeout.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Restart on the same port and data dir.
  void Restart();
  std::unique_ptr<httplib::Client> Client() const;

 private:
  void Start();
  std::unique_ptr<TempDir> owned_dir_;
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  int port_;
  std::unique_ptr<Process> process_;
};

// Path of the meridian binary under test.
std::string MeridianBinary();

// snappy(block) of a serialized WriteRequest.
std::string EncodeWriteRequest(const prometheus::WriteRequest& req);
std::string SnappyCompress(const std::string& raw);

// Adds a series with the given labels (as given, unsorted allowed) and samples.
prometheus::TimeSeries* AddSeries(prometheus::WriteRequest* req,
                                  const std::vector<std::pair<std::string, std::string>>& labels,
                                  const std::vector<std::pair<int64_t, double>>& samples);

// POSTs a remote-write body with the standard headers.
httplib::Result PostWrite(httplib::Client& c, const std::string& body,
                          const std::string& content_type = "application/x-protobuf",
                          const httplib::Headers& extra = {});

// GET path and parse the JSON body; failures are reported as gtest failures
// and return null JSON.
nlohmann::json GetJson(httplib::Client& c, const std::string& path, int* status = nullptr,
                       const httplib::Headers& headers = {});

// Raw samples of every series matching `selector` in (start_ms - range, start_ms]
// through an instant range-vector query; keyed by the series' label string.
std::map<std::string, std::vector<std::pair<int64_t, std::string>>> RawSamples(
    httplib::Client& c, const std::string& selector, int64_t at_ms, int64_t range_ms,
    const httplib::Headers& headers = {});

int64_t NowMs();
std::string UrlEncode(const std::string& s);
// Milliseconds as the API's seconds with three decimals ("1700000000.500").
std::string Secs(int64_t ms);

// The `data` of an API answer in an order-independent form for comparing two
// servers' answers: for a query result, metric JSON -> value(s) JSON (a
// scalar or string result under ""); for series, labels and label values,
// each item's JSON -> "".
std::map<std::string, std::string> Canon(const nlohmann::json& data);

}  // namespace meridian::testing

#endif  // MERIDIAN_TESTS_INTEGRATION_HARNESS_H_
