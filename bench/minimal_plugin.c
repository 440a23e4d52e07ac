/* sigstore-kms-minimal: the smallest possible KMS plugin, for measuring a host's per-call
 * overhead. Answers defaultAlgorithm at once, whatever the request, and exits. */
#include <string.h>
#include <unistd.h>

int main(void) {
    static const char answer[] = "{\"defaultAlgorithm\":{\"defaultAlgorithm\":\"ecdsa-p256\"}}";
    size_t left = sizeof answer - 1;
    const char *p = answer;
    while (left > 0) {
        ssize_t n = write(1, p, left);
        if (n <= 0) return 1;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}
