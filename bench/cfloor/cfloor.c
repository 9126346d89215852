// cfloor: the latency floor of a sleeping user-space forwarder. It copies
// every Ethernet frame between two interfaces with the least a program can
// do: one thread, poll(2) on two AF_PACKET sockets, then recvfrom(2) and
// send(2) (PACKET_QDISC_BYPASS) one frame at a time until both are empty. No
// ring, no batching, no runtime, no translation: what a ping through it
// costs beyond the kernel's own forwarding is the price of waking a thread
// and of the system calls, which any user-space forwarder pays
// (docs/performance.md, "The floor of a sleeping forwarder").
//
// Usage: cfloor IF_A IF_B [spin]
//   spin  never sleep: look at both sockets in a loop instead of poll(2),
//         a CPU spent for good (the other extreme).
//
// Built and started by "lab.sh run-cfloor [spin]"; not part of bench-lab.
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

static int open_port(const char *name) {
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	struct sockaddr_ll sll = {0};
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = if_nametoindex(name);
	if (sll.sll_ifindex == 0) {
		fprintf(stderr, "cfloor: no interface %s\n", name);
		exit(1);
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		perror("bind");
		exit(1);
	}
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) {
		perror("PACKET_QDISC_BYPASS");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: cfloor IF_A IF_B [spin]\n");
		return 2;
	}
	int fds[2] = {open_port(argv[1]), open_port(argv[2])};
	int spin = argc > 3 && strcmp(argv[3], "spin") == 0;
	struct pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
	static char buf[65536];
	for (;;) {
		if (!spin && poll(p, 2, -1) < 0) {
			perror("poll");
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			for (;;) {
				struct sockaddr_ll from;
				socklen_t fl = sizeof from;
				ssize_t n = recvfrom(fds[i], buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
				if (n <= 0)
					break;
				if (from.sll_pkttype == PACKET_OUTGOING)
					continue; // a copy of what this host sent
				send(fds[1 - i], buf, n, MSG_DONTWAIT);
			}
		}
	}
}
