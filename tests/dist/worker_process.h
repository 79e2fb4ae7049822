// Test helper: a real `strata worker` process on 127.0.0.1, its output in a log file, the port
// read from its "listening on" line, and SIGKILL + reaping when the object goes away.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace strata::testing {

class WorkerProcess {
 public:
  // Starts `strata worker --host 127.0.0.1 <args>` (give --port, 0 for any) and waits up to
  // 30 s for its port. nullptr when it exited or never printed one; `log` then tells why.
  static std::unique_ptr<WorkerProcess> start(const std::vector<std::string>& args, const std::filesystem::path& log) {
    std::unique_ptr<WorkerProcess> w(new WorkerProcess());
    w->log_ = log;
    std::vector<std::string> argv_text = {STRATA_BINARY, "worker", "--host", "127.0.0.1", "--log-level", "info"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_text) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Dies with the test process, even one that crashed before its destructors ran.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    w->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = w->log();
      const size_t at = text.find("listening on ");
      if (at != std::string::npos) {
        const size_t eol = text.find('\n', at);
        if (eol != std::string::npos) {
          const std::string address = text.substr(at + 13, eol - at - 13);
          w->port_ = std::stoi(address.substr(address.rfind(':') + 1));
          return w;
        }
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        w->pid_ = -1;
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return nullptr;
  }

  ~WorkerProcess() { kill(); }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // SIGKILL: no chance to say goodbye, as when a machine dies.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  WorkerProcess() = default;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// The log of a worker that failed to start, for assertion messages.
inline std::string read_log(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace strata::testing
