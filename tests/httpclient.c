/*
 * httpclient.c -- the test server as a child process, and libcurl for
 * talking to it (see httpclient.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "httpclient.h"

extern char **environ;

/* A server that has not answered /healthz by then is not coming up. */
#define START_TIMEOUT_S 30
/* Largest response part kept; a test never needs more. */
#define RESPONSE_MAX (8 * 1024 * 1024)
/* Bytes per chunk of a chunked upload, so that there are several. */
#define CHUNK_BYTES 512

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ---- the child process ---- */

/* Is "NAME=..." entry for the variable named by "NAME=value" var? */
static bool same_name(const char *entry, const char *var)
{
	size_t n = strcspn(var, "=");

	return strncmp(entry, var, n) == 0 && entry[n] == '=';
}

static char *env_entry(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);

	ck_assert_msg(s != NULL, "out of memory");
	snprintf(s, n, "%s=%s", name, value);
	return s;
}

/*
 * The child's environment: ours without DATABASE_URL, the log level and
 * the listen address, then DATABASE_URL=dburl, an ephemeral port, and the
 * extra entries (which win over inherited ones of the same name).
 * *owned gets the two strings made here, for the caller to free.
 */
static char **child_env(const char *dburl, const char *const *extra,
			char *owned[2])
{
	size_t n = 0, nextra = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[nextra])
		nextra++;
	env = calloc(n + nextra + 3, sizeof(*env));
	ck_assert_msg(env != NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		bool skip = same_name(environ[i], "DATABASE_URL=") ||
			    same_name(environ[i], "LAGERBILD_LOG_LEVEL=") ||
			    same_name(environ[i], "LAGERBILD_LISTEN=");

		for (size_t j = 0; j < nextra && !skip; j++)
			skip = same_name(environ[i], extra[j]);
		if (!skip)
			env[k++] = environ[i];
	}
	owned[0] = dburl ? env_entry("DATABASE_URL", dburl) : NULL;
	owned[1] = env_entry("LAGERBILD_LISTEN", "127.0.0.1:0");
	if (owned[0])
		env[k++] = owned[0];
	env[k++] = owned[1];
	for (size_t j = 0; j < nextra; j++)
		env[k++] = (char *)extra[j];
	env[k] = NULL;
	return env;
}

char *httpclient_log(const struct httpclient_server *s)
{
	FILE *f = fopen(s->log_path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	ck_assert_msg(f != NULL, "%s: %s", s->log_path, strerror(errno));
	do {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 8192;
			buf = realloc(buf, cap);
			ck_assert_msg(buf != NULL, "out of memory");
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The port from the "listening" line of the log, or 0 if not there yet. */
static int logged_port(const struct httpclient_server *s)
{
	char *log = httpclient_log(s);
	const char *line = strstr(log, "msg=listening");
	const char *p = line ? strstr(line, " port=") : NULL;
	long port = p ? strtol(p + 6, NULL, 10) : 0;

	free(log);
	return port > 0 && port < 65536 ? (int)port : 0;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

void httpclient_start(struct httpclient_server *s, const char *dburl,
		      const char *const *env)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[] = {"lagerbild", "serve", NULL};
	struct httpclient_response r = {0};
	char *owned[2], **envp, *log;
	pid_t pid, parent = getpid();
	int fd, status;
	int64_t deadline = now_ms() + START_TIMEOUT_S * 1000;

	memset(s, 0, sizeof(*s));
	ck_assert_msg(bin && bin[0], "LAGERBILD_BIN is not set");
	snprintf(s->log_path, sizeof(s->log_path), "/tmp/lb-http-XXXXXX");
	fd = mkstemp(s->log_path);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	envp = child_env(dburl, env, owned);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		/* Die with the test, whatever way it ends. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(125);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 ||
		    dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execve(bin, argv, envp);
		dprintf(STDERR_FILENO, "execve %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(fd);
	free(envp);
	free(owned[0]);
	free(owned[1]);
	s->pid = pid;

	while ((s->port = logged_port(s)) == 0) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			log = httpclient_log(s);
			ck_abort_msg("server exited %d before listening:\n%s",
				     exit_code(status), log);
		}
		if (now_ms() > deadline) {
			httpclient_stop(s, 5);
			ck_abort_msg("server not listening after %d s",
				     START_TIMEOUT_S);
		}
		pause_ms(10);
	}
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	for (;;) {
		if (httpclient_get(s, "/healthz", &r) == 0 && r.status == 200)
			break;
		httpclient_response_free(&r);
		if (now_ms() > deadline) {
			httpclient_stop(s, 5);
			ck_abort_msg("server not healthy after %d s",
				     START_TIMEOUT_S);
		}
		pause_ms(20);
	}
	httpclient_response_free(&r);
}

int httpclient_wait(struct httpclient_server *s, int timeout_s)
{
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	int status;
	pid_t w;

	if (s->pid <= 0)
		return 0;
	for (;;) {
		w = waitpid(s->pid, &status, WNOHANG);
		if (w == s->pid)
			break;
		if (w < 0 && errno != EINTR) {
			s->pid = 0;
			return -1;
		}
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
			return -1;
		}
		pause_ms(10);
	}
	s->pid = 0;
	return exit_code(status);
}

int httpclient_stop(struct httpclient_server *s, int timeout_s)
{
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	return httpclient_wait(s, timeout_s);
}

void httpclient_cleanup(struct httpclient_server *s)
{
	if (s->pid > 0)
		httpclient_stop(s, 10);
	if (s->log_path[0])
		unlink(s->log_path);
	s->log_path[0] = '\0';
}

int httpclient_connect(const struct httpclient_server *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)s->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ---- requests ---- */

/* A growable buffer with a ceiling, always NUL-terminated. */
struct buf {
	char *data;
	size_t len, cap;
};

static bool buf_add(struct buf *b, const char *p, size_t n)
{
	char *grown;
	size_t cap;

	if (n > RESPONSE_MAX - b->len)
		return false;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return false;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	return buf_add(userdata, p, size * n) ? size * n : 0;
}

/* Keep only the last header block: a 100 Continue has one of its own. */
static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		b->len = 0;
	return buf_add(b, p, size * n) ? size * n : 0;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t on_read(char *out, size_t size, size_t n, void *userdata)
{
	struct upload *u = userdata;
	size_t k = size * n;

	if (k > u->left)
		k = u->left;
	if (k > CHUNK_BYTES)
		k = CHUNK_BYTES;
	memcpy(out, u->p, k);
	u->p += k;
	u->left -= k;
	return k;
}

static bool has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers && *headers; headers++)
		if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
			return true;
	return false;
}

int httpclient_do(const struct httpclient_server *s,
		  const struct httpclient_request *rq,
		  struct httpclient_response *out)
{
	static bool curl_ready;
	const char *method = rq->method ? rq->method : "GET";
	struct upload up = {rq->body, rq->body_len};
	struct buf hdr = {0}, body = {0};
	struct curl_slist *list = NULL, *l;
	char url[2048], auth[512];
	CURL *c = NULL;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	if (!curl_ready) {
		ck_assert_msg(curl_global_init(CURL_GLOBAL_DEFAULT) == 0,
			      "curl_global_init failed");
		curl_ready = true;
	}
	c = curl_easy_init();
	ck_assert_msg(c != NULL, "curl_easy_init failed");
	snprintf(url, sizeof(url), "%s%s", s->base, rq->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 rq->timeout_ms ? rq->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);

	if (rq->body && rq->chunked) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		list = curl_slist_append(list, "Transfer-Encoding: chunked");
	} else if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->body_len);
	}
	if (rq->body && !has_header(rq->headers, "Content-Type"))
		list = curl_slist_append(list,
					 "Content-Type: application/json");
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0 || rq->body)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (rq->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 rq->token);
		list = curl_slist_append(list, auth);
	}
	for (const char *const *h = rq->headers; h && *h; h++) {
		l = curl_slist_append(list, *h);
		ck_assert_msg(l != NULL, "out of memory");
		list = l;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

	rc = curl_easy_perform(c);
	out->curl_code = (int)rc;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	if (!hdr.data)
		buf_add(&hdr, "", 0);
	if (!body.data)
		buf_add(&body, "", 0);
	ck_assert_msg(hdr.data && body.data, "out of memory");
	out->headers = hdr.data;
	out->body = body.data;
	out->body_len = body.len;
	return rc == CURLE_OK ? 0 : -1;
}

int httpclient_get(const struct httpclient_server *s, const char *path,
		   struct httpclient_response *out)
{
	struct httpclient_request rq = {.method = "GET", .path = path};

	return httpclient_do(s, &rq, out);
}

const char *httpclient_header(const struct httpclient_response *r,
			      const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	const char *p = r->headers;

	while (p && *p) {
		size_t line = strcspn(p, "\r\n");

		if (line > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			size_t vlen;

			while (*v == ' ' || *v == '\t')
				v++;
			vlen = line - (size_t)(v - p);
			snprintf(buf, size, "%.*s", (int)vlen, v);
			return buf;
		}
		p += line;
		p += strspn(p, "\r\n");
	}
	return NULL;
}

json_t *httpclient_json(const struct httpclient_response *r)
{
	return json_loadb(r->body, r->body_len, 0, NULL);
}

void httpclient_response_free(struct httpclient_response *r)
{
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
