// JSON and error replies (see http_reply.h).
#include "server/http_reply.h"

#include <memory>
#include <string>

#include "server/openai_response.h"

namespace strata::server {

void send_json(httplib::Response& res, const Json& body, int http_status) {
  res.status = http_status;
  res.set_content(to_wire(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.http_status;
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  res.set_content(error.body(), "application/json; charset=utf-8");
}

void send_error_and_close(httplib::Response& res, const ApiError& error) {
  res.status = error.http_status;
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  res.set_header("Connection", "close");
  // cpp-httplib keeps a connection open whatever the reply's headers say, but ends it when a
  // content provider reports failure: this one writes the whole body, then reports failure.
  auto body = std::make_shared<const std::string>(error.body());
  res.set_content_provider(body->size(), "application/json; charset=utf-8",
                           [body](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, length);
                             return false;
                           });
}

}  // namespace strata::server
