/*
 * UDP generic segmentation offload (Linux, UDP_SEGMENT since 4.18), batched receive (recvmmsg)
 * and coalesced receive (UDP_GRO, Linux 5.0) for @srmudp/transport-node.
 *
 * One sendmsg(2) hands the kernel up to 64 datagrams for one destination, all of one size but
 * the last (which may be shorter): the stack is traversed once per batch instead of once per
 * datagram. The socket is node:dgram's own (its file descriptor). Who reads it: libuv, with
 * recv below draining what is queued behind a datagram libuv delivered; or, with UDP_GRO on,
 * recv alone, driven by watch() ("Owned reads"). Non-blocking: a full socket buffer gives
 * -EAGAIN and the caller sends those datagrams through dgram instead.
 *
 * Exports (every argument checked; any misuse returns -EINVAL, nothing throws):
 *   supported(fd)  -> 0 when the socket accepts UDP_SEGMENT, else -errno
 *   send(fd, host, port, segmentSize, buffers, start, count) -> bytes sent, or -errno
 *     host: an IPv4 or IPv6 literal (the socket's family: an IPv4 peer of a dual-stack socket is
 *     given as ::ffff:a.b.c.d by the caller); buffers[start .. start+count) are Uint8Arrays
 *     sent back to back as one payload cut at segmentSize.
 *   recv(fd, meta, out[, maxReads]) -> datagrams read (0: none queued), or -errno ("Batched receive")
 *   host(meta, i)       -> the address string of datagram i, or -errno
 *   gro(fd, on)         -> 0 when the socket's UDP_GRO (Linux 5.0) is now on / off, else -errno
 *   watch(fd, callback) -> a watcher (calls callback() whenever the socket is readable), or -errno
 *   unwatch(watcher)    -> 0, or -EINVAL                               (see "Owned reads")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
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

/*
 * Batched receive: recv(fd, meta, out[, maxReads]) drains datagrams already queued on the socket
 * with one recvmmsg(MSG_DONTWAIT) of up to maxReads (1..RECV_SLOTS, default RECV_SLOTS) reads
 * and returns how many datagrams it produced (0
 * when none was queued), or -errno; it never throws. Datagram i is copied into its own new
 * ArrayBuffer, out[i] (an array the caller reuses), so a view the caller keeps holds that
 * datagram's bytes only, as with node:dgram.
 * meta (an Int32Array of 1 + capacity * RECV_STRIDE, capacity >= RECV_SLOTS) receives the count
 * at [0], then per datagram i at 1 + i * RECV_STRIDE: 1 when it was cut from a coalesced read (see
 * below) else 0, length, port, family (4 or 6),
 * the 16 address bytes as four int32 (IPv4: the first), the IPv6 scope id.
 * Every slot is 64 KiB, as large as any UDP payload, so nothing is ever truncated; the slab is
 * reserved once per Node environment and only the pages datagrams land on are ever touched.
 * A socket with UDP_GRO (gro() below) may read several datagrams of one source in one slot, all
 * of one size but the last, with that size in a control message: they are cut apart here, so
 * the caller sees datagrams either way. Such a caller passes a capacity of RECV_SLOTS *
 * MAX_SEGMENTS datagrams (datagrams beyond meta's capacity would be dropped).
 * host(meta, i) gives datagram i's address as node:dgram writes it (inet_ntop, %scope for
 * link-local IPv6), called only when the caller has no cached string for those bytes.
 */
#define RECV_SLOTS 32
#define RECV_SLOT_BYTES 65536
#define RECV_STRIDE 9

typedef struct {
  unsigned char *slab;
  struct mmsghdr msgs[RECV_SLOTS];
  struct iovec iov[RECV_SLOTS];
  struct sockaddr_storage names[RECV_SLOTS];
  /* room for the UDP_GRO segment size (an int) of a coalesced read */
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control[RECV_SLOTS];
} recv_state;

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  recv_state *st = data;
  if (st == NULL) return;
  free(st->slab);
  free(st);
}

static recv_state *get_state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return data;
  recv_state *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->slab = malloc((size_t)RECV_SLOTS * RECV_SLOT_BYTES);
  if (st->slab == NULL || napi_set_instance_data(env, st, free_state, NULL) != napi_ok) {
    free(st->slab);
    free(st);
    return NULL;
  }
  /* set once: each slot's buffer and address storage (recv only resets what the kernel writes) */
  for (int i = 0; i < RECV_SLOTS; i++) {
    st->iov[i].iov_base = st->slab + (size_t)i * RECV_SLOT_BYTES;
    st->iov[i].iov_len = RECV_SLOT_BYTES;
    st->msgs[i].msg_hdr.msg_name = &st->names[i];
    st->msgs[i].msg_hdr.msg_iov = &st->iov[i];
    st->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return st;
}

/* meta's capacity in datagrams (>= RECV_SLOTS), or 0 when it is not a usable Int32Array */
static size_t get_meta(napi_env env, napi_value v, int32_t **out) {
  bool isTyped = false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  napi_value ab;
  if (napi_is_typedarray(env, v, &isTyped) != napi_ok || !isTyped) return 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return 0;
  if (type != napi_int32_array || length < 1 + (size_t)RECV_SLOTS * RECV_STRIDE) return 0;
  *out = data;
  return (length - 1) / RECV_STRIDE;
}

/* the UDP_GRO segment size of a read, or 0 (an ordinary datagram) */
static int gro_segment(struct msghdr *h) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int seg;
      memcpy(&seg, CMSG_DATA(c), sizeof seg);
      return seg > 0 ? seg : 0;
    }
  }
  return 0;
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  int32_t maxReads = RECV_SLOTS;
  int32_t *meta = NULL;
  bool isArray = false;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return int_value(env, -EINVAL);
  if (!get_int(env, argv[0], &fd) || fd < 0) return int_value(env, -EINVAL);
  size_t capacity = get_meta(env, argv[1], &meta);
  if (capacity == 0) return int_value(env, -EINVAL);
  if (napi_is_array(env, argv[2], &isArray) != napi_ok || !isArray) return int_value(env, -EINVAL);
  if (argc >= 4 && (napi_typeof(env, argv[3], &t) != napi_ok || t != napi_undefined) &&
      (!get_int(env, argv[3], &maxReads) || maxReads < 1 || maxReads > RECV_SLOTS))
    return int_value(env, -EINVAL);
  meta[0] = 0;
  recv_state *st = get_state(env);
  if (st == NULL) return int_value(env, -ENOMEM);
  /* up to maxReads reads: a coalescing socket's caller passes room for maxReads * MAX_SEGMENTS
     datagrams; any beyond meta's capacity would be dropped (cannot happen then) */
  const unsigned reads = (unsigned)maxReads;
  /* the address and control lengths are in and out: the kernel shortened them */
  for (unsigned i = 0; i < reads; i++) {
    st->msgs[i].msg_hdr.msg_namelen = sizeof st->names[i];
    st->msgs[i].msg_hdr.msg_control = st->control[i].buf;
    st->msgs[i].msg_hdr.msg_controllen = sizeof st->control[i].buf;
    st->msgs[i].msg_hdr.msg_flags = 0;
  }
  int n;
  do {
    n = recvmmsg(fd, st->msgs, reads, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return int_value(env, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno);
  size_t kept = 0;
  for (int i = 0; i < n && kept < capacity; i++) {
    size_t len = st->msgs[i].msg_len;
    const struct sockaddr_storage *ss = &st->names[i];
    int32_t address[6];
    memset(address, 0, sizeof address);
    if (ss->ss_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
      address[0] = ntohs(a->sin_port);
      address[1] = 4;
      memcpy(&address[2], &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
      address[0] = ntohs(a->sin6_port);
      address[1] = 6;
      memcpy(&address[2], &a->sin6_addr, 16);
      /* (the scope id follows the 16 address bytes: meta slot 8) */
    } else {
      continue; /* not an IP datagram (cannot happen on a UDP socket): dropped */
    }
    int32_t scope = ss->ss_family == AF_INET6 ? (int32_t)((const struct sockaddr_in6 *)ss)->sin6_scope_id : 0;
    size_t seg = (size_t)gro_segment(&st->msgs[i].msg_hdr);
    if (seg == 0 || seg >= len) seg = len;
    const int32_t coalesced = seg < len ? 1 : 0;
    const unsigned char *base = st->iov[i].iov_base;
    /* one datagram, or the datagrams a coalesced read holds (each seg bytes, the last shorter) */
    size_t at = 0;
    do {
      size_t dlen = len - at < seg ? len - at : seg;
      int32_t *m = meta + 1 + kept * RECV_STRIDE;
      void *data = NULL;
      napi_value ab;
      /* out of memory: this datagram and the rest of the batch are lost, like a full socket buffer */
      if (napi_create_arraybuffer(env, dlen, &data, &ab) != napi_ok) goto done;
      if (dlen > 0) memcpy(data, base + at, dlen);
      if (napi_set_element(env, argv[2], (uint32_t)kept, ab) != napi_ok) goto done;
      m[0] = coalesced;
      m[1] = (int32_t)dlen;
      m[2] = address[0];
      m[3] = address[1];
      memcpy(&m[4], &address[2], 16);
      m[8] = scope;
      kept++;
      at += dlen;
    } while (at < len && kept < capacity);
  }
done:
  meta[0] = (int32_t)kept;
  return int_value(env, (int32_t)kept);
}

static napi_value js_host(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t *meta = NULL;
  int32_t i;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return int_value(env, -EINVAL);
  size_t capacity = get_meta(env, argv[0], &meta);
  if (capacity == 0) return int_value(env, -EINVAL);
  if (!get_int(env, argv[1], &i) || i < 0 || i >= meta[0] || (size_t)i >= capacity) return int_value(env, -EINVAL);
  const int32_t *m = meta + 1 + i * RECV_STRIDE;
  char ip[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE + 1];
  if (m[3] == 4) {
    if (inet_ntop(AF_INET, &m[4], ip, sizeof ip) == NULL) return int_value(env, -errno);
  } else if (m[3] == 6) {
    struct in6_addr a;
    memcpy(&a, &m[4], 16);
    if (inet_ntop(AF_INET6, &a, ip, sizeof ip) == NULL) return int_value(env, -errno);
    /* as node:dgram does: a link-local address gets its interface, by name or else by number */
    if (IN6_IS_ADDR_LINKLOCAL(&a) && m[8] != 0) {
      size_t l = strlen(ip);
      char name[IF_NAMESIZE];
      if (if_indextoname((unsigned)m[8], name) != NULL)
        snprintf(ip + l, sizeof ip - l, "%%%s", name);
      else
        snprintf(ip + l, sizeof ip - l, "%%%u", (unsigned)m[8]);
    }
  } else {
    return int_value(env, -EINVAL);
  }
  if (napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &out) != napi_ok) return int_value(env, -ENOMEM);
  return out;
}

/*
 * Owned reads. UDP_GRO lets the kernel hand a socket several datagrams of one source in one read
 * (a sender's segmented batch arrives whole instead of being cut into datagrams on its way in),
 * with their size in a control message. libuv's reads do not ask for control messages, so a
 * socket with UDP_GRO must not be read by libuv: the caller stops dgram's reading and reads with
 * recv() above whenever watch()'s callback says the socket is readable.
 *
 * The watcher is a libuv poll handle on a duplicate of the descriptor (libuv allows one watcher
 * per descriptor number, and dgram's own stays registered for its sends). libuv's functions are
 * the process's own: Node exports them to addons; their declarations are repeated here because
 * node-api-headers ships no uv.h (stable ABI of libuv 1.x: a handle's first field is `data`,
 * UV_POLL is handle type 8, UV_READABLE is 1). unwatch() stops it; the duplicate is closed in
 * libuv's close callback, so the socket's port is free once that has run.
 */
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_poll_s uv_poll_t;
typedef void (*uv_poll_cb)(uv_poll_t *handle, int status, int events);
typedef void (*uv_close_cb)(uv_handle_t *handle);
extern size_t uv_handle_size(int type);
extern int uv_poll_init(uv_loop_t *loop, uv_poll_t *handle, int fd);
extern int uv_poll_start(uv_poll_t *handle, int events, uv_poll_cb cb);
extern int uv_poll_stop(uv_poll_t *handle);
extern void uv_close(uv_handle_t *handle, uv_close_cb close_cb);
#define UV_POLL_HANDLE 8
#define UV_READABLE_EVENT 1

/*
 * A watcher's memory outlives both of its owners: libuv's handle (closed in the loop's close phase
 * after unwatch() or the environment's teardown) and the JavaScript external that names it (freed
 * by the GC). It is freed when both are done, so an external kept after unwatch() (a second
 * unwatch(), an external from an older transport) still points at valid memory, and the handle
 * never outlives it either.
 */
typedef struct {
  napi_env env;
  napi_ref callback; /* NULL once stopped */
  napi_async_context async;
  int fd; /* the duplicate */
  uv_poll_t *poll;
  int stopped;   /* no more callbacks: unwatch(), the teardown, or a start that failed */
  int closed;    /* libuv's close callback ran: handle freed, duplicate closed */
  int finalized; /* the external is gone (or was never made) */
  /* the environment's teardown waits for the close callback (this module stays loaded until then) */
  napi_async_cleanup_hook_handle teardown;
  /* set once the teardown called: the close callback then lets it go on */
  napi_async_cleanup_hook_handle tearing;
} watcher;

/* marks the externals watch() returns, so unwatch() takes no other external for one */
static const napi_type_tag WATCHER_TAG = {0x5f1c2a7e9b3d4c61ULL, 0x8e0a6f2b1d7c9e35ULL};

static napi_value js_gro(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  bool on = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return int_value(env, -EINVAL);
  if (!get_int(env, argv[0], &fd) || fd < 0) return int_value(env, -EINVAL);
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return int_value(env, -EINVAL);
  int v = on ? 1 : 0;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof v) != 0) return int_value(env, -errno);
  return int_value(env, 0);
}

static void release(watcher *w) {
  if (w->closed && w->finalized) free(w);
}

static void on_closed(uv_handle_t *handle) {
  watcher *w = *(watcher **)handle;
  close(w->fd);
  free(w->poll);
  w->poll = NULL;
  napi_async_cleanup_hook_handle tearing = w->tearing;
  /* here, not in unwatch(): that may run inside the callback this context and reference serve */
  if (tearing == NULL) {
    if (w->callback != NULL) napi_delete_reference(w->env, w->callback);
    napi_async_destroy(w->env, w->async);
  }
  w->callback = NULL;
  w->closed = 1;
  release(w);
  if (tearing != NULL) napi_remove_async_cleanup_hook(tearing);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  watcher *w = *(watcher **)handle;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, global, result;
  /* the callback reads (an error status also means: read, and let recv() report it) */
  if (napi_get_reference_value(env, w->callback, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &global) == napi_ok) {
    if (napi_make_callback(env, w->async, global, fn, 0, NULL, &result) == napi_pending_exception) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void finalize_watcher(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher *w = data;
  w->finalized = 1;
  release(w);
}

/* stops a started watcher; the handle, the duplicate, the callback's reference and its async
   context go in libuv's close callback */
static void stop_watcher(watcher *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(w->poll);
  uv_close((uv_handle_t *)w->poll, on_closed);
}

/* The environment is torn down (a worker thread exits with its transport open): the handle is
   closed and the teardown waits for its close callback, which runs this module's code, so the
   module must not be unloaded before (a synchronous cleanup hook crashed the worker's loop). */
static void on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  watcher *w = arg;
  w->tearing = handle;
  w->teardown = NULL;
  w->stopped = 1;
  uv_poll_stop(w->poll);
  uv_close((uv_handle_t *)w->poll, on_closed);
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return int_value(env, -EINVAL);
  if (!get_int(env, argv[0], &fd) || fd < 0) return int_value(env, -EINVAL);
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) return int_value(env, -EINVAL);
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, (struct uv_loop_s **)&loop) != napi_ok || loop == NULL) return int_value(env, -EINVAL);
  size_t size = uv_handle_size(UV_POLL_HANDLE);
  if (size < sizeof(void *)) return int_value(env, -EINVAL);
  watcher *w = calloc(1, sizeof *w);
  if (w == NULL) return int_value(env, -ENOMEM);
  w->poll = calloc(1, size);
  if (w->poll == NULL) {
    free(w);
    return int_value(env, -ENOMEM);
  }
  w->env = env;
  w->fd = dup(fd);
  napi_value name;
  int r = w->fd < 0 ? -errno : 0;
  if (r == 0 && (napi_create_string_utf8(env, "srmudp:udp-read", NAPI_AUTO_LENGTH, &name) != napi_ok ||
                 napi_async_init(env, NULL, name, &w->async) != napi_ok))
    r = -ENOMEM;
  if (r == 0) {
    r = uv_poll_init(loop, w->poll, w->fd);
    if (r != 0) napi_async_destroy(env, w->async);
  }
  if (r != 0) {
    /* no handle was made: nothing for libuv to close */
    if (w->fd >= 0) close(w->fd);
    free(w->poll);
    free(w);
    return int_value(env, r < 0 ? r : -EINVAL);
  }
  *(watcher **)w->poll = w; /* the handle's `data` */
  napi_value out;
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) w->callback = NULL;
  if (w->callback != NULL) r = uv_poll_start(w->poll, UV_READABLE_EVENT, on_readable);
  if (w->callback == NULL || r != 0 || napi_create_external(env, w, finalize_watcher, NULL, &out) != napi_ok) {
    w->finalized = 1; /* no external names it */
    stop_watcher(w);
    return int_value(env, r < 0 ? r : -ENOMEM);
  }
  if (napi_type_tag_object(env, out, &WATCHER_TAG) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_teardown, w, &w->teardown) != napi_ok) {
    w->teardown = NULL;
    stop_watcher(w); /* the external, unreturned, is finalized by the GC */
    return int_value(env, -ENOMEM);
  }
  return out;
}

static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return int_value(env, -EINVAL);
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external) return int_value(env, -EINVAL);
  if (napi_check_object_type_tag(env, argv[0], &WATCHER_TAG, &tagged) != napi_ok || !tagged) return int_value(env, -EINVAL);
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) return int_value(env, -EINVAL);
  watcher *w = data; /* valid: its external is alive (it is this argument) */
  if (w->stopped) return int_value(env, -EINVAL);
  if (w->teardown != NULL) napi_remove_async_cleanup_hook(w->teardown);
  w->teardown = NULL;
  stop_watcher(w);
  return int_value(env, 0);
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } exported[] = {
      {"supported", js_supported}, {"send", js_send}, {"recv", js_recv}, {"host", js_host},
      {"gro", js_gro},             {"watch", js_watch}, {"unwatch", js_unwatch},
  };
  for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, exported[i].name, NAPI_AUTO_LENGTH, exported[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, exported[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
