/* sigstore-kms-minimal, libc-free: the same answers as minimal_plugin.c (defaultAlgorithm,
 * publicKey, signMessage after draining stdin, errorMessage otherwise), as a static binary with
 * no C library at all: _start, three system calls (read, write, exit), nothing else.
 *
 * Why: a dynamically linked glibc program spends most of its short life in the dynamic loader,
 * and on a virtual machine glibc's CPU-feature and cache-size detection (dozens of CPUID
 * instructions, each a VM exit) alone can cost far more than the kernel's fork+exec+exit. This
 * plugin measures the kernel's floor -- one process per call and a pipe -- so that a host's own
 * overhead is not hidden behind the plugin's start-up (bench/run.py reports both).
 *
 * x86_64 and aarch64 Linux only. Build:
 *   cc -O2 -static -nostdlib -ffreestanding -fno-stack-protector -fno-builtin \
 *      -o sigstore-kms-minimal minimal_plugin_nolibc.c */
#if !defined(__linux__) || !(defined(__x86_64__) || defined(__aarch64__))
#error "minimal_plugin_nolibc.c supports x86_64 and aarch64 Linux only"
#endif

typedef unsigned long size_t;
typedef long ssize_t;

#if defined(__x86_64__)
#define SYS_READ 0
#define SYS_WRITE 1
#define SYS_EXIT 60
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
__asm__(".text\n.globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call cmain\n  hlt\n");
#else
#define SYS_READ 63
#define SYS_WRITE 64
#define SYS_EXIT 93
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.globl _start\n_start:\n  mov x0, sp\n  bl cmain\n  brk #0\n");
#endif

#define EINTR 4

static __attribute__((noreturn)) void leave(int code) {
    for (;;) sys3(SYS_EXIT, code, 0, 0);
}

static size_t len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int contains(const char *hay, const char *needle) {
    size_t n = len(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] == needle[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static void put(const char *p) {
    size_t left = len(p);
    while (left > 0) {
        long n = sys3(SYS_WRITE, 1, (long)p, (long)left);
        if (n == -EINTR) continue;
        if (n <= 0) leave(1);
        p += n;
        left -= (size_t)n;
    }
}

static char buf[1 << 20];

static void drain_stdin(void) {
    for (;;) {
        long n = sys3(SYS_READ, 0, (long)buf, sizeof buf);
        if (n == 0) return;
        if (n < 0 && n != -EINTR) leave(1);
    }
}

__attribute__((used)) void cmain(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    const char *req = argc > 2 ? argv[2] : "";
    if (contains(req, "\"methodName\":\"defaultAlgorithm\"")) {
        put("{\"defaultAlgorithm\":{\"defaultAlgorithm\":\"ecdsa-p256\"}}");
    } else if (contains(req, "\"methodName\":\"publicKey\"")) {
        put("{\"publicKey\":{\"publicKeyPEM\":\""
            "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RR"
            "Z0FFYzBkUVVzUTI5VytQQXhpZXA0ajlXcE4wT3ZMaQozaVdUSjBQOFlxN2JQZUZiVVJtQ2xFbnpvN1Zi"
            "bnVNN0xxeFlybjdLd1lXNUx6aVNuK3o2WWZaTml3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="
            "\"}}");
    } else if (contains(req, "\"methodName\":\"signMessage\"")) {
        drain_stdin();
        put("{\"signMessage\":{\"signature\":\""
            "2WC9eIgtRy1SER0WZe74S5lhnFTw8sYqrJ57kgW9XAUirBx2xo8t7YKBYfKK8w5KWqBE5JkEYm39ZtbmoIF5Cg=="
            "\"}}");
    } else {
        put("{\"errorMessage\":\"sigstore-kms-minimal: unsupported method\"}");
    }
    leave(0);
}
