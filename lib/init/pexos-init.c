/* SPDX-License-Identifier: MIT */
/*
 * pexos-init - pid 1 of every run, after setup.
 *
 * The sandbox's setup process is a fork of the program that runs pexos (a
 * daemon, say), so until it execs it holds a copy of that program's memory,
 * command line and environment. Once it has forked the script's process it
 * execs this: a static program without libc, embedded in libpexos and
 * exec'd from a sealed memory file, with no environment. It reaps every
 * process of the run, writes the wait status of the script's process
 * (argv[1]) to PROTO_FD_STATUS (proto.h) and exits, which makes the
 * kernel kill what is left.
 *
 * For the warm pool's zygote (argv[2] is "all") it goes on reaping after the
 * zygote's status is written, until no process is left: the zygote's death
 * then does not end the runs still going on the sandboxes it started.
 *
 * In a pooled slot (argv[1] is "0") the zygote starts it as pid 1 of the
 * slot's PID namespace and is itself the parent of the script's process:
 * pexos-init then drops its capabilities, lets the kernel reap orphans
 * (SIGCHLD ignored) and sleeps until the library kills it, which ends the
 * run's PID namespace.
 *
 * Built with -nostdlib -static; x86_64 and aarch64.
 */
#define PROTO_NUMBERS_ONLY
#include "../proto.h"

#define STATUS_FD PROTO_FD_STATUS
#define ECHILD 10
#define EINTR 4
#define WALL 0x40000000

#if defined(__x86_64__)
#define NR_WRITE 1
#define NR_EXIT_GROUP 231
#define NR_WAIT4 61
#define NR_CAPSET 126
#define NR_RT_SIGACTION 13
#define NR_PPOLL 271
static long sys4(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}
__asm__(".text\n.global _start\n_start:\n"
	"  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n"
	"  call init_main\n  hlt\n");
#elif defined(__aarch64__)
#define NR_WRITE 64
#define NR_EXIT_GROUP 94
#define NR_WAIT4 260
#define NR_CAPSET 91
#define NR_RT_SIGACTION 134
#define NR_PPOLL 73
static long sys4(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
			 : "memory");
	return x0;
}
__asm__(".text\n.global _start\n_start:\n"
	"  mov x0, sp\n  bl init_main\n  brk #0\n");
#else
#error "pexos-init: unsupported architecture"
#endif

__attribute__((noreturn)) static void die(long code)
{
	for (;;)
		sys4(NR_EXIT_GROUP, code, 0, 0, 0);
}

#define SIGCHLD 17
#define SIG_IGN 1

__attribute__((noreturn)) static void pool_init(void)
{
	unsigned int hdr[2] = {0x20080522, 0}; /* _LINUX_CAPABILITY_VERSION_3 */
	unsigned int data[6] = {0};
	long act[4] = {SIG_IGN, 0, 0, 0};

	if (sys4(NR_CAPSET, (long)hdr, (long)data, 0, 0) < 0)
		die(3);
	if (sys4(NR_RT_SIGACTION, SIGCHLD, (long)act, 0, 8) < 0)
		die(3);
	for (;;)
		sys4(NR_PPOLL, 0, 0, 0, 0);
}

__attribute__((noreturn, used)) void init_main(long *sp);

__attribute__((noreturn, used)) void init_main(long *sp)
{
	long argc = sp[0];
	const char *arg = argc > 1 ? (const char *)sp[2] : "";
	const char *mode = argc > 2 ? (const char *)sp[3] : "";
	int all = mode[0] == 'a' && mode[1] == 'l' && mode[2] == 'l' && !mode[3];
	long script = 0;

	if (arg[0] == '0' && arg[1] == '\0')
		pool_init();
	for (; *arg >= '0' && *arg <= '9'; arg++)
		script = script * 10 + (*arg - '0');
	if (script <= 0)
		die(2);
	for (;;) {
		int status = 0;
		long pid = sys4(NR_WAIT4, -1, (long)&status, WALL, 0);
		if (pid == script) {
			sys4(NR_WRITE, STATUS_FD, (long)&status, sizeof(status),
			     0);
			if (!all)
				die(0);
		}
		if (pid == -ECHILD)
			die(0);
		/* another reaped process, or EINTR: go on */
	}
}
