/* echo-libevent.c - reference echo server written the idiomatic libevent
 * way (evconnlistener + bufferevents), to measure muxlab's epoll backend
 * against an event library.  Not part of the product: built by `make ref`
 * when libevent-dev is installed.
 *
 * usage: echo-libevent [--port N]   (127.0.0.1; prints the same ready line
 * as the muxlab servers; SIGTERM or SIGINT stops it) */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd,
		      struct sockaddr *sa, int len, void *arg)
{
	struct event_base *base = evconnlistener_get_base(listener);
	struct bufferevent *bev;
	int one = 1;

	(void)sa, (void)len, (void)arg;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	struct event_base *base = event_base_new();
	struct evconnlistener *listener;
	struct event *sigint, *sigterm;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc == 3 && strcmp(argv[1], "--port") == 0)
		sin.sin_port = htons(atoi(argv[2]));
	else if (argc != 1) {
		fprintf(stderr, "usage: echo-libevent [--port N]\n");
		return 2;
	}
	listener = evconnlistener_new_bind(base, on_accept, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
		(struct sockaddr *)&sin, sizeof sin);
	if (!listener) {
		perror("echo-libevent: bind");
		return 1;
	}
	getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &len);
	printf("echo-libevent listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);
	printf("echo-libevent: stopped (%s backend)\n", event_base_get_method(base));
	return 0;
}
