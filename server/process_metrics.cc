#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace meridian::server {
namespace {

void Metric(std::string* o, const char* name, const char* type, const char* help, double v) {
  char num[64];
  std::snprintf(num, sizeof(num), "%.17g", v);
  *o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
        " " + num + "\n";
}

// Fields of /proc/self/stat after the command name, numbered as in proc(5)
// (field 3, state, is element 0).
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  size_t close = line.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  return f;
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double v;
  while (in >> key) {
    if (key == "btime" && in >> v) return v;
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

int OpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

std::string ProcessMetricsText() {
  std::string o;
  const std::vector<std::string> f = StatFields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // proc(5): utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
  auto field = [&f](int n) { return std::strtod(f[static_cast<size_t>(n - 3)].c_str(), nullptr); };
  if (f.size() >= 22 && ticks > 0) {
    Metric(&o, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.", (field(14) + field(15)) / ticks);
    Metric(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           field(24) * page);
    Metric(&o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", field(23));
    Metric(&o, "process_threads", "gauge", "Number of OS threads in the process.", field(20));
    if (double boot = BootTimeSeconds(); boot >= 0) {
      Metric(&o, "process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.", boot + field(22) / ticks);
    }
  }
  if (int fds = OpenFds(); fds >= 0) {
    Metric(&o, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
  }
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    Metric(&o, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           nofile.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(nofile.rlim_cur));
  }
  return o;
}

std::string BuildInfoText() {
  std::string compiler;
#if defined(__clang__)
  compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  compiler = "gcc " __VERSION__;
#endif
  if (size_t sp = compiler.find(' ', compiler.find(' ') + 1); sp != std::string::npos) {
    compiler.resize(sp);  // "gcc 12.2.0", without the distribution's suffix
  }
  return std::string(
             "# HELP meridian_build_info A metric with a constant '1' value labeled by the "
             "version of meridian and the compiler it was built with.\n"
             "# TYPE meridian_build_info gauge\n"
             "meridian_build_info{compiler=\"") +
         compiler + "\",version=\"" MERIDIAN_VERSION "\"} 1\n";
}

}  // namespace meridian::server
