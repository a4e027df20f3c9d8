/*
 * UDP generic segmentation offload (Linux, UDP_SEGMENT since 4.18) for @srmudp/transport-node.
 *
 * One sendmsg(2) hands the kernel up to 64 datagrams for one destination, all of one size but
 * the last (which may be shorter): the stack is traversed once per batch instead of once per
 * datagram. The socket is node:dgram's own (its file descriptor); nothing else about it changes,
 * and receiving stays with libuv. Non-blocking: a full socket buffer gives -EAGAIN and the caller
 * sends those datagrams through dgram instead.
 *
 * Exports (every argument checked; any misuse returns -EINVAL, nothing throws):
 *   supported(fd)  -> 0 when the socket accepts UDP_SEGMENT, else -errno
 *   send(fd, host, port, segmentSize, buffers, start, count) -> bytes sent, or -errno
 *     host: an IPv4 or IPv6 literal (the socket's family: an IPv4 peer of a dual-stack socket is
 *     given as ::ffff:a.b.c.d by the caller); buffers[start .. start+count) are Uint8Arrays
 *     sent back to back as one payload cut at segmentSize.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <node_api.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* the kernel's limit (UDP_MAX_SEGMENTS is 64 before Linux 6.9) */
#define MAX_SEGMENTS 64
/* one UDP payload: 65535 - 8 (UDP) - 20 (IPv4); IPv6's is larger, the smaller one is kept */
#define MAX_PAYLOAD 65507

static napi_value int_value(napi_env env, int32_t v) {
  napi_value out;
  if (napi_create_int32(env, v, &out) != napi_ok) return NULL;
  return out;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static napi_value js_supported(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return int_value(env, -EINVAL);
  if (!get_int(env, argv[0], &fd) || fd < 0) return int_value(env, -EINVAL);
  int seg = 0;
  socklen_t len = sizeof seg;
  if (getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &len) != 0) return int_value(env, -errno);
  return int_value(env, 0);
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int32_t fd, port, seg, start, count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) return int_value(env, -EINVAL);
  if (!get_int(env, argv[0], &fd) || fd < 0) return int_value(env, -EINVAL);
  if (!get_int(env, argv[2], &port) || port < 1 || port > 65535) return int_value(env, -EINVAL);
  if (!get_int(env, argv[3], &seg) || seg < 1 || seg > MAX_PAYLOAD) return int_value(env, -EINVAL);
  if (!get_int(env, argv[5], &start) || start < 0) return int_value(env, -EINVAL);
  if (!get_int(env, argv[6], &count) || count < 1 || count > MAX_SEGMENTS) return int_value(env, -EINVAL);

  char host[64];
  size_t hostLen = 0;
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_string) return int_value(env, -EINVAL);
  if (napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hostLen) != napi_ok) return int_value(env, -EINVAL);
  if (hostLen == 0 || hostLen >= sizeof host - 1) return int_value(env, -EINVAL);

  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  if (memchr(host, ':', hostLen) != NULL) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return int_value(env, -EINVAL);
    sslen = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return int_value(env, -EINVAL);
    sslen = sizeof *a;
  }

  bool isArray = false;
  uint32_t n = 0;
  if (napi_is_array(env, argv[4], &isArray) != napi_ok || !isArray) return int_value(env, -EINVAL);
  if (napi_get_array_length(env, argv[4], &n) != napi_ok) return int_value(env, -EINVAL);
  if ((uint32_t)start > n || (uint32_t)count > n - (uint32_t)start) return int_value(env, -EINVAL);

  struct iovec iov[MAX_SEGMENTS];
  size_t total = 0;
  for (int32_t i = 0; i < count; i++) {
    napi_value el;
    bool isTyped = false;
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    void *data = NULL;
    napi_value ab;
    if (napi_get_element(env, argv[4], (uint32_t)(start + i), &el) != napi_ok) return int_value(env, -EINVAL);
    if (napi_is_typedarray(env, el, &isTyped) != napi_ok || !isTyped) return int_value(env, -EINVAL);
    if (napi_get_typedarray_info(env, el, &type, &length, &data, &ab, &offset) != napi_ok) return int_value(env, -EINVAL);
    if (type != napi_uint8_array) return int_value(env, -EINVAL);
    /* every datagram but the last is exactly one segment; the last is 1..segment bytes */
    if (i < count - 1 ? length != (size_t)seg : (length < 1 || length > (size_t)seg)) return int_value(env, -EINVAL);
    iov[i].iov_base = data;
    iov[i].iov_len = length;
    total += length;
  }
  if (total > MAX_PAYLOAD) return int_value(env, -EMSGSIZE);

  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &ss;
  msg.msg_namelen = sslen;
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)count;
  if (count > 1) {
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t s = (uint16_t)seg;
    memcpy(CMSG_DATA(c), &s, sizeof s);
  }
  ssize_t r;
  do {
    r = sendmsg(fd, &msg, MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return int_value(env, -errno);
  return int_value(env, (int32_t)r);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "supported", NAPI_AUTO_LENGTH, js_supported, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "supported", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "send", NAPI_AUTO_LENGTH, js_send, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "send", fn) != napi_ok) return NULL;
  return exports;
}
