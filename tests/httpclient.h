/*
 * httpclient.h -- run `lagerbild serve` for a test and talk HTTP to it.
 *
 * httpclient_start runs the real binary ($LAGERBILD_BIN) as a child on
 * 127.0.0.1 with port 0, reads the port the kernel chose from its
 * "listening" log line, and waits until /healthz answers.  The child's
 * stderr (the access log) goes to a file the test can read.  The child is
 * killed if the test process dies (PR_SET_PDEATHSIG), so a failed
 * assertion never leaves a server behind.  Requests go through libcurl;
 * httpclient_connect gives a raw socket for what curl will not send.
 *
 * Failures of the harness itself (fork, a server that never starts) abort
 * the test with ck_abort_msg; what the server answers is for the test to
 * judge.
 */
#ifndef LAGERBILD_HTTPCLIENT_H
#define LAGERBILD_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct httpclient_server {
	pid_t pid; /* 0 when not running */
	int port;
	char base[64];	   /* "http://127.0.0.1:PORT" */
	char log_path[64]; /* the server's stdout and stderr */
};

struct httpclient_request {
	const char *method;	    /* NULL: GET */
	const char *path;	    /* with any query string */
	const char *token;	    /* sent as "Authorization: Bearer ..." */
	const char *const *headers; /* "Name: value" lines, NULL-terminated;
				       "Name:" removes one curl would add */
	const char *body;	    /* NULL: none */
	size_t body_len;	    /* of body */
	bool chunked;		    /* send body with Transfer-Encoding:
				       chunked */
	long timeout_ms;	    /* 0: 10 s */
};

struct httpclient_response {
	int curl_code; /* CURLE_OK, or why there is no response */
	long status;
	char *headers; /* the response's header block, NUL-terminated */
	char *body;    /* NUL-terminated */
	size_t body_len;
};

/*
 * Start the server with DATABASE_URL=dburl (NULL: unset) and the extra
 * "NAME=value" entries of env (NULL-terminated; NULL for none), which
 * override inherited ones.  Returns when /healthz answers 200.  s is
 * overwritten: httpclient_cleanup a server before starting it again.
 */
void httpclient_start(struct httpclient_server *s, const char *dburl,
		      const char *const *env);

/*
 * SIGTERM the server and wait up to timeout_s for it.  Returns its exit
 * status, 128 + the signal that ended it, or -1 when it had to be killed.
 * Returns 0 when it was not running.  Keeps the log file.
 */
int httpclient_stop(struct httpclient_server *s, int timeout_s);

/* Wait up to timeout_s for a server already signalled; as httpclient_stop. */
int httpclient_wait(struct httpclient_server *s, int timeout_s);

/* Stop the server if running, and remove its log file. */
void httpclient_cleanup(struct httpclient_server *s);

/* The server's log so far, NUL-terminated.  The caller frees it. */
char *httpclient_log(const struct httpclient_server *s);

/*
 * Send one request and read the whole response into out, which the caller
 * frees with httpclient_response_free.  0, or -1 when no response came
 * (connection refused, reset, timed out: out->curl_code says which).
 */
int httpclient_do(const struct httpclient_server *s,
		  const struct httpclient_request *rq,
		  struct httpclient_response *out);

/* GET path. */
int httpclient_get(const struct httpclient_server *s, const char *path,
		   struct httpclient_response *out);

/*
 * The value of the first response header called name (any case), copied
 * into buf; NULL when there is none.
 */
const char *httpclient_header(const struct httpclient_response *r,
			      const char *name, char *buf, size_t size);

/* The body parsed as JSON, or NULL.  The caller json_decrefs it. */
json_t *httpclient_json(const struct httpclient_response *r);

/* Free what a response holds.  Accepts a zeroed response. */
void httpclient_response_free(struct httpclient_response *r);

/* A plain TCP connection to the server; -1 (errno set) on failure. */
int httpclient_connect(const struct httpclient_server *s);

#endif
