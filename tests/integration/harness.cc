#include "tests/integration/harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <snappy.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

namespace meridian::testing {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "meridian-it-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // Die with the test process, even when it aborts (an ASan report, say).
    // The signal goes when the forking thread ends: tests fork from the
    // thread that runs them.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    // SIGXFSZ keeps its default action here: meridian itself must ignore it
    // (the durability test sets a file-size limit with prlimit).
    signal(SIGXFSZ, SIG_DFL);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  const std::string log = Log();
  for (const char* marker : {"WARNING: ThreadSanitizer:", "ERROR: AddressSanitizer:",
                             "ERROR: LeakSanitizer:", ": runtime error: "}) {
    size_t at = log.find(marker);
    if (at == std::string::npos) continue;
    size_t from = at > 2000 ? at - 2000 : 0;
    ADD_FAILURE() << log_path_ << " holds a sanitizer report (\"" << marker << "\"):\n"
                  << log.substr(from, 12000);
    break;
  }
}

bool Process::running() {
  if (reaped_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

void Process::Kill(int sig) {
  if (!reaped_) kill(pid_, sig);
}

int Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MeridianBinary() {
  if (const char* e = std::getenv("MERIDIAN_BINARY")) return e;
  return MERIDIAN_BINARY_PATH;
}

Meridian::Meridian(std::string data_dir, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), port_(FreePort()) {
  if (data_dir.empty()) {
    owned_dir_ = std::make_unique<TempDir>();
    data_dir_ = owned_dir_->path() + "/data";
  } else {
    data_dir_ = std::move(data_dir);
  }
  Start();
}

void Meridian::Start() {
  std::vector<std::string> argv = {MeridianBinary(), "--listen",       url(), "--data-dir",
                                   data_dir_,        "--http-threads", "16"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>(argv, data_dir_ + ".log");
}

void Meridian::Restart() {
  process_.reset();
  Start();
}

bool WaitHttpReady(int port, Process& process, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process.running()) return false;
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1);
    auto r = c.Get("/-/ready");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool Meridian::WaitReady(std::chrono::milliseconds timeout) {
  return WaitHttpReady(port_, *process_, timeout);
}

bool WaitRemoteWriteSent(int port, int64_t t_ms, std::chrono::milliseconds timeout) {
  static constexpr std::string_view kMetric =
      "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/metrics");
    if (r && r->status == 200) {
      // One line per queue: NAME{labels} VALUE. Every queue must be past t_ms.
      size_t queues = 0, behind = 0;
      std::istringstream lines(r->body);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind(kMetric, 0) != 0) continue;
        ++queues;
        const double secs = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
        if (secs * 1000 < static_cast<double>(t_ms)) ++behind;
      }
      if (queues > 0 && behind == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string PrometheusMissing() {
  if (access(kPrometheusBinary, X_OK) == 0) return "";
  return std::string("SKIP: ") + kPrometheusBinary +
         " not installed; scripts/install-deps.sh installs the Debian prometheus package";
}

std::unique_ptr<Process> StartPrometheus(const std::string& dir, int port,
                                         const std::string& config_yaml,
                                         const std::vector<std::string>& extra_args,
                                         const std::string& name) {
  const std::string cfg = dir + "/" + name + ".yml";
  std::ofstream(cfg) << config_yaml;
  std::vector<std::string> argv = {kPrometheusBinary, "--config.file=" + cfg,
                                   "--storage.tsdb.path=" + dir + "/" + name + "-data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return std::make_unique<Process>(argv, dir + "/" + name + ".log");
}

std::string Secs(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::map<std::string, std::string> Canon(const nlohmann::json& data) {
  std::map<std::string, std::string> out;
  if (data.is_array()) {  // series, labels, label values
    for (const auto& x : data) out[x.dump()] = "";
    return out;
  }
  if (!data.contains("result")) return out;
  if (!data["result"].is_array()) {
    out[""] = data["result"].dump();
    return out;
  }
  for (const auto& s : data["result"]) {
    out[s["metric"].dump()] = s.contains("values") ? s["values"].dump() : s["value"].dump();
  }
  return out;
}

std::unique_ptr<httplib::Client> Meridian::Client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_read_timeout(60);
  c->set_write_timeout(60);
  return c;
}

std::string SnappyCompress(const std::string& raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

std::string EncodeWriteRequest(const prometheus::WriteRequest& req) {
  return SnappyCompress(req.SerializeAsString());
}

prometheus::TimeSeries* AddSeries(prometheus::WriteRequest* req,
                                  const std::vector<std::pair<std::string, std::string>>& labels,
                                  const std::vector<std::pair<int64_t, double>>& samples) {
  auto* ts = req->add_timeseries();
  for (const auto& [n, v] : labels) {
    auto* l = ts->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  for (const auto& [t, v] : samples) {
    auto* s = ts->add_samples();
    s->set_timestamp(t);
    s->set_value(v);
  }
  return ts;
}

httplib::Result PostWrite(httplib::Client& c, const std::string& body,
                          const std::string& content_type, const httplib::Headers& extra) {
  httplib::Headers h = extra;
  h.emplace("Content-Encoding", "snappy");
  h.emplace("X-Prometheus-Remote-Write-Version", "0.1.0");
  return c.Post("/api/v1/write", h, body, content_type.c_str());
}

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

nlohmann::json GetJson(httplib::Client& c, const std::string& path, int* status,
                       const httplib::Headers& headers) {
  auto r = c.Get(path, headers);
  if (!r) {
    ADD_FAILURE() << "GET " << path << " failed: " << httplib::to_string(r.error());
    return nullptr;
  }
  if (status) *status = r->status;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "GET " << path << ": body is not JSON: " << r->body.substr(0, 300);
    return nullptr;
  }
  return j;
}

std::map<std::string, std::vector<std::pair<int64_t, std::string>>> RawSamples(
    httplib::Client& c, const std::string& selector, int64_t at_ms, int64_t range_ms,
    const httplib::Headers& headers) {
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> out;
  std::string q = selector + "[" + std::to_string(range_ms) + "ms]";
  char t[64];
  std::snprintf(t, sizeof(t), "%.3f", static_cast<double>(at_ms) / 1000.0);
  auto j = GetJson(c, "/api/v1/query?query=" + UrlEncode(q) + "&time=" + t, nullptr, headers);
  if (j.is_null() || j["status"] != "success") {
    ADD_FAILURE() << "raw query " << q << " failed: " << j.dump().substr(0, 500);
    return out;
  }
  for (const auto& s : j["data"]["result"]) {
    auto& v = out[s["metric"].dump()];
    for (const auto& p : s["values"]) {
      v.emplace_back(std::llround(p[0].get<double>() * 1000), p[1].get<std::string>());
    }
  }
  return out;
}

}  // namespace meridian::testing
