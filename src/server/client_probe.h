// ClientProbe: whether the client of a request has hung up, for a handler that is not writing
// to it (a non-streamed completion waiting for its tokens), so its generation can be cancelled
// and its slot freed at once instead of running to max_tokens or --timeout.
//
// cpp-httplib 0.11 gives handlers no socket, so the probe finds the accepted socket whose peer
// and local addresses are the request's (scanning /proc/self/fd, Linux) and peeks it: an
// orderly close reads as 0 bytes, a reset as an error. The scan happens on the first question
// only, so requests that finish quickly never pay for it. While the handler runs, cpp-httplib
// keeps that socket open, so its descriptor cannot be reused under the probe.
#pragma once

#include <string>
#include <utility>

namespace strata::server {

class ClientProbe {
 public:
  ClientProbe() = default;  // knows no connection: the client is never reported gone
  ClientProbe(std::string remote_addr, int remote_port, std::string local_addr, int local_port)
      : remote_addr_(std::move(remote_addr)), local_addr_(std::move(local_addr)), remote_port_(remote_port),
        local_port_(local_port), fd_(kNotLookedUp) {}

  // True once the peer closed or reset the connection. Data it sent meanwhile (a pipelined
  // request) stays unread and does not count. Called from the request's own thread.
  bool client_gone() const;

 private:
  static constexpr int kNotLookedUp = -2;
  int find_socket() const;

  std::string remote_addr_;
  std::string local_addr_;
  int remote_port_ = -1;
  int local_port_ = -1;
  mutable int fd_ = -1;  // -1: none found (or no connection given)
};

}  // namespace strata::server
