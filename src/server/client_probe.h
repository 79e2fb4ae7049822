// ClientProbe: whether the client of a request has hung up, for a handler that is not writing
// to it (a non-streamed completion waiting for its tokens), so its generation can be cancelled
// and its slot freed at once instead of running to max_tokens or --timeout.
//
// cpp-httplib 0.11 gives handlers no socket, so the probe finds the accepted socket whose peer
// and local addresses are the request's (scanning /proc/self/fd, Linux) and peeks it: an
// orderly close reads as 0 bytes, a reset as an error. While the handler runs, cpp-httplib
// keeps that socket open, so its descriptor cannot be reused under the probe.
#pragma once

#include <string>

namespace strata::server {

class ClientProbe {
 public:
  ClientProbe() = default;  // knows no socket: the client is never reported gone
  static ClientProbe find(const std::string& remote_addr, int remote_port, const std::string& local_addr,
                          int local_port);

  bool found() const { return fd_ >= 0; }
  // True once the peer closed or reset the connection. Data it sent meanwhile (a pipelined
  // request) stays unread and does not count.
  bool client_gone() const;

 private:
  explicit ClientProbe(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace strata::server
