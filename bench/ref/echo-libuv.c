/* echo-libuv.c - reference echo server written the idiomatic libuv way
 * (uv_read_start + uv_write, a buffer per read as in libuv's own echo
 * benchmark server), to measure muxlab's epoll backend against an event
 * library.  Not part of the product: built by `make ref` when libuv1-dev
 * is installed.
 *
 * usage: echo-libuv [--port N]   (127.0.0.1; prints the same ready line as
 * the muxlab servers; SIGTERM or SIGINT stops it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct write_req {
	uv_write_t req;
	uv_buf_t buf;
};

static uv_loop_t *loop;

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	buf->base = malloc(suggested);
	buf->len = suggested;
}

static void on_close(uv_handle_t *handle)
{
	free(handle);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *wr = (struct write_req *)req;

	(void)status;
	free(wr->buf.base);
	free(wr);
}

/* Runs after every queued write has been sent. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	uv_close((uv_handle_t *)req->handle, on_close);
	free(req);
}

static void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf)
{
	if (nread > 0) {
		struct write_req *wr = malloc(sizeof *wr);
		wr->buf = uv_buf_init(buf->base, nread);
		uv_write(&wr->req, client, &wr->buf, 1, on_written);
		return;
	}
	free(buf->base);
	if (nread == UV_EOF)
		uv_shutdown(malloc(sizeof(uv_shutdown_t)), client, on_shutdown);
	else if (nread < 0)
		uv_close((uv_handle_t *)client, on_close);
}

static void on_connection(uv_stream_t *server, int status)
{
	uv_tcp_t *client;

	if (status < 0)
		return;
	client = malloc(sizeof *client);
	uv_tcp_init(loop, client);
	if (uv_accept(server, (uv_stream_t *)client) == 0) {
		uv_tcp_nodelay(client, 1);
		uv_read_start((uv_stream_t *)client, on_alloc, on_read);
	} else {
		uv_close((uv_handle_t *)client, on_close);
	}
}

static void on_signal(uv_signal_t *handle, int sig)
{
	(void)sig;
	uv_stop(handle->loop);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int len = sizeof addr, port = 0;
	uv_tcp_t server;
	uv_signal_t sigint, sigterm;

	if (argc == 3 && strcmp(argv[1], "--port") == 0)
		port = atoi(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: echo-libuv [--port N]\n");
		return 2;
	}
	loop = uv_default_loop();
	uv_tcp_init(loop, &server);
	uv_ip4_addr("127.0.0.1", port, &addr);
	if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) ||
	    uv_listen((uv_stream_t *)&server, 1024, on_connection)) {
		fprintf(stderr, "echo-libuv: cannot listen on port %d\n", port);
		return 1;
	}
	uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
	printf("echo-libuv listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
	fflush(stdout);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	printf("echo-libuv: stopped\n");
	return 0;
}
