// meridian: a metrics federation and long-term store. See README.md.
#include <malloc.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <string_view>
#include <thread>

#include "server/compact.h"
#include "server/config.h"
#include "server/restore.h"
#include "server/server.h"

int main(int argc, char** argv) {
  // glibc gives each busy thread its own malloc arena; with dozens of HTTP
  // threads that costs tens of MB of RSS for no throughput gain here.
  mallopt(M_ARENA_MAX, 2);
  if (argc > 1 && std::string_view(argv[1]) == "restore") {
    return meridian::server::RunRestore(argc - 1, argv + 1);
  }
  if (argc > 1 && std::string_view(argv[1]) == "compact") {
    return meridian::server::RunCompact(argc - 1, argv + 1);
  }
  // Each HTTP connection is a descriptor: use the hard limit, as Go does.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto config = meridian::server::ParseConfig(argc, argv);
  if (!config.ok()) {
    bool help = config.status().code() == absl::StatusCode::kCancelled;
    std::fprintf(help ? stdout : stderr, "%s%s\n",
                 help ? "" : "meridian: ", std::string(config.status().message()).c_str());
    return help ? 0 : 2;
  }
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // reload certificates, the auth file and the rule files
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Over a file-size limit (ulimit -f) a write then fails with EFBIG, which
  // the storage handles (503, /-/ready 503, Resume()), instead of the signal
  // killing the process.
  std::signal(SIGXFSZ, SIG_IGN);

  auto server = meridian::server::MeridianServer::Create(*config);
  if (!server.ok()) {
    std::fprintf(stderr, "meridian: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
      std::fprintf(stderr, "meridian: SIGHUP, reloading\n");
      (*server)->Reload();
    }
    std::fprintf(stderr, "meridian: signal %d, shutting down\n", sig);
    (*server)->Stop();
  });
  absl::Status st = (*server)->Run();
  if (!st.ok()) {
    std::fprintf(stderr, "meridian: %s\n", st.ToString().c_str());
    std::_Exit(1);
  }
  waiter.join();
  return 0;
}
