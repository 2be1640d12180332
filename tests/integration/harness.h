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

}  // namespace meridian::testing

#endif  // MERIDIAN_TESTS_INTEGRATION_HARNESS_H_
