/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Our own syslog sender, one datagram per line, never blocking.
 *
 * unix:PATH gets what glibc's syslog(3) sends to /dev/log (the RFC 3164
 * "local" form: "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG"), because that is what
 * rsyslog's imuxsock and journald parse on that socket. A UDP collector gets
 * RFC 5424 ("<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG"), whose timestamp
 * has milliseconds and a zone and whose MSGID names the stream.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "safem_linesink.h"
#include "safem_pace.h"

#include "linesink_private.h"

/* "<191>1 2024-01-01T00:00:00.000Z host app 4194304 windows - " fits easily. */
#define SYSLOG_HEADER_MAX 512
#define SYSLOG_FACILITY_MAX 23
#define SYSLOG_SEVERITY_MAX 7
/*
 * A full socket (the daemon lags) is waited on this long, once per line,
 * before the line is dropped: reports come a few per second, so a short wait
 * loses nothing to a burst and costs the main lcore little when a reader is
 * stuck.
 */
#define SYSLOG_FULL_WAIT_MS 5
/* Asked for, so a burst of long reports fits; the kernel caps it (wmem_max). */
#define SYSLOG_SNDBUF_BYTES (4 << 20)
/* Pacing defaults (UDP): the bucket depth and the queue behind it. */
#define SYSLOG_BURST_DEFAULT (32u << 10)
#define SYSLOG_QUEUE_DEFAULT (4u << 20)
/* The drain at exit sleeps at most this long between pumps. */
#define SYSLOG_DRAIN_STEP_US 10000

/* A queued datagram: this header, then len bytes (header and line, formatted
 * when the line was written, so its timestamp is the line's). */
struct queued {
	struct safem_linesink_stats *st;
	uint32_t len;
};

struct safem_linesink_syslog {
	/*
	 * Streams written from different threads (window reports and alerts
	 * from the analysis thread, others from the main lcore) share this
	 * sender, and a send may reconnect (close and replace fd). Held for one
	 * line, at most SYSLOG_FULL_WAIT_MS twice; never on the packet path.
	 */
	pthread_mutex_t lock;
	int fd;
	bool unix_socket;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int facility;
	char ident[48];
	char hostname[256];
	long pid;
	/* Pacing (UDP only; paced false: every datagram goes at once). The
	 * queue is a byte FIFO: entries from q_head to q_tail, compacted to the
	 * front when the tail reaches the end. */
	bool paced;
	struct safem_pace pace;
	char *q;
	size_t q_cap, q_head, q_tail;
	uint64_t q_count;
};

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{"kern", 0},	  {"user", 1},	  {"mail", 2},	  {"daemon", 3},  {"auth", 4},
	{"syslog", 5},	  {"lpr", 6},	  {"news", 7},	  {"uucp", 8},	  {"cron", 9},
	{"authpriv", 10}, {"ftp", 11},	  {"local0", 16}, {"local1", 17}, {"local2", 18},
	{"local3", 19},	  {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

int
safem_linesink_syslog_facility(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(name, facilities[i].name) == 0)
			return facilities[i].code;
	return -EINVAL;
}

static int
connect_socket(struct safem_linesink_syslog *sl)
{
	int fd = socket(sl->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sl->addr, sl->addr_len) != 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){SYSLOG_SNDBUF_BYTES}, sizeof(int));
	if (sl->fd >= 0)
		close(sl->fd);
	sl->fd = fd;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into sl->addr. */
static int
resolve_udp(struct safem_linesink_syslog *sl, const char *target, char *err, size_t errlen)
{
	char host[256];
	const char *port, *colon = strrchr(target, ':');
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int rc;

	if (colon == NULL || colon[1] == '\0') {
		snprintf(err, errlen, "'%s': expected HOST:PORT or unix:PATH", target);
		return -EINVAL;
	}
	port = colon + 1;
	hlen = (size_t)(colon - target);
	if (hlen >= 2 && target[0] == '[' && target[hlen - 1] == ']')
		target++, hlen -= 2;
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "'%s': expected HOST:PORT or unix:PATH", target);
		return -EINVAL;
	}
	memcpy(host, target, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "'%s:%s': %s", host, port, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&sl->addr, res->ai_addr, res->ai_addrlen);
	sl->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct safem_linesink_syslog *
safem_linesink_syslog_open(const struct safem_linesink_syslog_params *p, char *err, size_t errlen)
{
	struct safem_linesink_syslog *sl;
	int ret;

	if (p->facility < 0 || p->facility > SYSLOG_FACILITY_MAX || p->target == NULL) {
		snprintf(err, errlen, "bad facility or no target");
		errno = EINVAL;
		return NULL;
	}
	sl = calloc(1, sizeof(*sl));
	if (sl == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sl->fd = -1;
	pthread_mutex_init(&sl->lock, NULL);
	sl->facility = p->facility;
	sl->pid = (long)getpid();
	snprintf(sl->ident, sizeof(sl->ident), "%s", p->ident != NULL ? p->ident : "safem");
	if (gethostname(sl->hostname, sizeof(sl->hostname)) != 0 || sl->hostname[0] == '\0')
		snprintf(sl->hostname, sizeof(sl->hostname), "-");
	if (strncmp(p->target, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&sl->addr;
		const char *path = p->target + 5;

		if (path[0] == '\0' || strlen(path) >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "'%s': socket path empty or too long", p->target);
			ret = -EINVAL;
			goto fail;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		sl->addr_len = sizeof(*un);
		sl->unix_socket = true;
	} else if ((ret = resolve_udp(sl, p->target, err, errlen)) != 0) {
		goto fail;
	}
	ret = connect_socket(sl);
	if (ret != 0) {
		snprintf(err, errlen, "'%s': %s", p->target, strerror(-ret));
		goto fail;
	}
	if (!sl->unix_socket && p->rate_bytes_s != 0) {
		sl->q_cap = p->queue_bytes != 0 ? p->queue_bytes : SYSLOG_QUEUE_DEFAULT;
		sl->q = malloc(sl->q_cap);
		if (sl->q == NULL) {
			snprintf(err, errlen, "'%s': out of memory for the pacing queue", p->target);
			ret = -ENOMEM;
			goto fail;
		}
		sl->paced = true;
		safem_pace_init(&sl->pace, p->rate_bytes_s,
				p->burst_bytes != 0 ? p->burst_bytes : SYSLOG_BURST_DEFAULT,
				safem_pace_now_ns());
	}
	return sl;
fail:
	if (sl->fd >= 0)
		close(sl->fd);
	pthread_mutex_destroy(&sl->lock);
	free(sl);
	errno = -ret;
	return NULL;
}

void
safem_linesink_syslog_close(struct safem_linesink_syslog *sl)
{
	if (sl == NULL)
		return;
	if (sl->fd >= 0)
		close(sl->fd);
	pthread_mutex_destroy(&sl->lock);
	free(sl->q);
	free(sl);
}

static size_t
format_header(const struct safem_linesink_syslog *sl, int severity, const char *msgid, char *buf,
	      size_t len)
{
	int pri = sl->facility * 8 + (severity & SYSLOG_SEVERITY_MAX);
	struct timespec now;
	struct tm tm;
	char stamp[64];
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	if (sl->unix_socket) {
		localtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%h %e %T", &tm);
		n = snprintf(buf, len, "<%d>%s %s[%ld]: ", pri, stamp, sl->ident, sl->pid);
	} else {
		gmtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf, len, "<%d>1 %s.%03ldZ %s %s %ld %s - ", pri, stamp,
			     now.tv_nsec / 1000000, sl->hostname, sl->ident, sl->pid, msgid);
	}
	return n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
}

/* One datagram now, under the lock: 0, or -errno when the kernel did not take it. */
static int
send_locked(struct safem_linesink_syslog *sl, struct msghdr *msg)
{
	int attempt, ret = -EIO;

	for (attempt = 0; attempt < 2; attempt++) {
		struct pollfd pfd = {.fd = sl->fd, .events = POLLOUT};

		if (sendmsg(sl->fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		ret = -errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (poll(&pfd, 1, SYSLOG_FULL_WAIT_MS) == 1)
				continue;
			return -EAGAIN;
		}
		/* The local daemon restarted: its socket is new, connect again once. */
		if (!sl->unix_socket || (errno != ECONNREFUSED && errno != ENOTCONN))
			break;
		ret = connect_socket(sl);
		if (ret != 0)
			break;
		ret = -ENOTCONN; /* if the loop ends here */
	}
	return ret;
}

/* A queued datagram, never waiting: -EAGAIN keeps it for the next pump. */
static int
send_queued_locked(struct safem_linesink_syslog *sl, const char *buf, size_t len)
{
	if (send(sl->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* Send queued datagrams while the bucket allows; stops at a full socket. */
static void
pump_locked(struct safem_linesink_syslog *sl, uint64_t now_ns)
{
	while (sl->q_head < sl->q_tail) {
		struct queued e;
		int ret;

		memcpy(&e, sl->q + sl->q_head, sizeof(e));
		if (!safem_pace_ready(&sl->pace, e.len, now_ns))
			return;
		ret = send_queued_locked(sl, sl->q + sl->q_head + sizeof(e), e.len);
		if (ret == -EAGAIN)
			return; /* the socket is full: keep it for the next pump */
		if (ret == 0) /* tokens pay for what left, not for a refusal */
			safem_pace_spend(&sl->pace, e.len);
		linesink_count(ret == 0 ? &e.st->syslog_sent : &e.st->syslog_dropped, 1);
		sl->q_head += sizeof(e) + e.len;
		sl->q_count--;
	}
	sl->q_head = sl->q_tail = 0;
}

/* Copy one datagram (header + line) to the tail; false when the queue is full. */
static bool
enqueue_locked(struct safem_linesink_syslog *sl, const struct iovec *iov,
	       struct safem_linesink_stats *st)
{
	struct queued e = {.st = st, .len = (uint32_t)(iov[0].iov_len + iov[1].iov_len)};
	size_t need = sizeof(e) + e.len;

	if (sl->q_tail + need > sl->q_cap && sl->q_head != 0) {
		memmove(sl->q, sl->q + sl->q_head, sl->q_tail - sl->q_head);
		sl->q_tail -= sl->q_head;
		sl->q_head = 0;
	}
	if (sl->q_tail + need > sl->q_cap)
		return false;
	memcpy(sl->q + sl->q_tail, &e, sizeof(e));
	memcpy(sl->q + sl->q_tail + sizeof(e), iov[0].iov_base, iov[0].iov_len);
	memcpy(sl->q + sl->q_tail + sizeof(e) + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
	sl->q_tail += need;
	sl->q_count++;
	return true;
}

void
linesink_syslog_send(struct safem_linesink_syslog *sl, int severity, const char *msgid,
		     const char *line, size_t len, struct safem_linesink_stats *st)
{
	char header[SYSLOG_HEADER_MAX];
	struct iovec iov[2];
	struct msghdr msg;
	uint64_t now_ns;
	int ret;

	iov[0].iov_base = header;
	iov[0].iov_len = format_header(sl, severity, msgid, header, sizeof(header));
	iov[1].iov_base = (void *)(uintptr_t)line;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	pthread_mutex_lock(&sl->lock);
	if (sl->paced) {
		/* In order: what waits goes first; a line waits when the bucket is
		 * empty, and is dropped only when the queue is full. */
		now_ns = safem_pace_now_ns();
		pump_locked(sl, now_ns);
		if (sl->q_head != sl->q_tail ||
		    !safem_pace_ready(&sl->pace, iov[0].iov_len + len, now_ns)) {
			if (!enqueue_locked(sl, iov, st))
				linesink_count(&st->syslog_dropped, 1);
			pthread_mutex_unlock(&sl->lock);
			return;
		}
	}
	ret = send_locked(sl, &msg);
	if (sl->paced && ret == 0)
		safem_pace_spend(&sl->pace, iov[0].iov_len + len);
	if (sl->paced && ret == -EAGAIN && enqueue_locked(sl, iov, st)) {
		/* The socket is full: the queue is there for exactly this. */
		pthread_mutex_unlock(&sl->lock);
		return;
	}
	linesink_count(ret == 0 ? &st->syslog_sent : &st->syslog_dropped, 1);
	pthread_mutex_unlock(&sl->lock);
}

void
safem_linesink_syslog_pump(struct safem_linesink_syslog *sl)
{
	if (sl == NULL || !sl->paced)
		return;
	/* The main lcore never waits here: a holder of the lock is sending,
	 * and pumps the queue itself first. */
	if (pthread_mutex_trylock(&sl->lock) != 0)
		return;
	if (sl->q_head != sl->q_tail)
		pump_locked(sl, safem_pace_now_ns());
	pthread_mutex_unlock(&sl->lock);
}

uint64_t
safem_linesink_syslog_pending(struct safem_linesink_syslog *sl)
{
	uint64_t n;

	if (sl == NULL)
		return 0;
	pthread_mutex_lock(&sl->lock);
	n = sl->q_count;
	pthread_mutex_unlock(&sl->lock);
	return n;
}

uint64_t
safem_linesink_syslog_drain(struct safem_linesink_syslog *sl, unsigned int timeout_ms)
{
	uint64_t deadline, dropped = 0;

	if (sl == NULL || !sl->paced)
		return 0;
	deadline = safem_pace_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t now = safem_pace_now_ns(), wait_ns = 0;
		bool empty;

		pthread_mutex_lock(&sl->lock);
		pump_locked(sl, now);
		empty = sl->q_head == sl->q_tail;
		if (!empty) {
			struct queued e;

			memcpy(&e, sl->q + sl->q_head, sizeof(e));
			wait_ns = safem_pace_wait_ns(&sl->pace, e.len, now);
		}
		if (empty || now >= deadline) {
			/* Out of time: what is left is lost, and says so. */
			while (sl->q_head < sl->q_tail) {
				struct queued e;

				memcpy(&e, sl->q + sl->q_head, sizeof(e));
				linesink_count(&e.st->syslog_dropped, 1);
				sl->q_head += sizeof(e) + e.len;
				dropped++;
			}
			sl->q_head = sl->q_tail = 0;
			sl->q_count = 0;
			pthread_mutex_unlock(&sl->lock);
			return dropped;
		}
		pthread_mutex_unlock(&sl->lock);
		if (wait_ns < 1000)
			wait_ns = 1000; /* a full socket: let the reader catch up */
		if (wait_ns > SYSLOG_DRAIN_STEP_US * 1000ull)
			wait_ns = SYSLOG_DRAIN_STEP_US * 1000ull;
		if (now + wait_ns > deadline)
			wait_ns = deadline - now;
		nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)wait_ns}, NULL);
	}
}
