/* sigstore-kms-minimal: the smallest useful KMS plugin, for measuring a host's per-call overhead
 * and its streaming throughput. It answers at once, with fixed answers that every host (ours
 * and the Go reference) accepts:
 *
 *   defaultAlgorithm  -> "ecdsa-p256"
 *   publicKey         -> a fixed ECDSA P-256 public key (PEM, base64 on the wire)
 *   signMessage       -> drains stdin to end of file, then a fixed 64-byte "signature"
 *   anything else     -> errorMessage
 *
 * The method is found with a plain substring search of argv[2] (the request JSON written by a
 * host puts "methodName":"..." in it exactly once). Stdin is drained only for signMessage (with
 * 1 MiB reads), as a real plugin does; other methods never touch it.
 *
 * Build: cc -O2 -o sigstore-kms-minimal minimal_plugin.c */
#include <errno.h>
#include <string.h>
#include <unistd.h>

static int put(const char *p) {
    size_t left = strlen(p);
    while (left > 0) {
        ssize_t n = write(1, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 1;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

static int drain_stdin(void) {
    static char buf[1 << 20];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
    }
}

int main(int argc, char **argv) {
    const char *req = argc > 2 ? argv[2] : "";
    if (strstr(req, "\"methodName\":\"defaultAlgorithm\"")) {
        return put("{\"defaultAlgorithm\":{\"defaultAlgorithm\":\"ecdsa-p256\"}}");
    }
    if (strstr(req, "\"methodName\":\"publicKey\"")) {
        /* -----BEGIN PUBLIC KEY----- (P-256) ... , base64-encoded as Go's []byte. */
        return put("{\"publicKey\":{\"publicKeyPEM\":\""
                   "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RR"
                   "Z0FFYzBkUVVzUTI5VytQQXhpZXA0ajlXcE4wT3ZMaQozaVdUSjBQOFlxN2JQZUZiVVJtQ2xFbnpvN1Zi"
                   "bnVNN0xxeFlybjdLd1lXNUx6aVNuK3o2WWZaTml3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="
                   "\"}}");
    }
    if (strstr(req, "\"methodName\":\"signMessage\"")) {
        if (drain_stdin() != 0) return 1;
        return put("{\"signMessage\":{\"signature\":\""
                   "2WC9eIgtRy1SER0WZe74S5lhnFTw8sYqrJ57kgW9XAUirBx2xo8t7YKBYfKK8w5KWqBE5JkEYm39ZtbmoIF5Cg=="
                   "\"}}");
    }
    return put("{\"errorMessage\":\"sigstore-kms-minimal: unsupported method\"}");
}
