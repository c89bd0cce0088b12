/*
 * slirp_shim.c: an LD_PRELOAD shim that makes Debian bookworm's slirp 1.0.17
 * usable as a PPP peer in Dialtone's tests (see slirp.rs next to this file).
 *
 * The bug: slirp's main loop starts every iteration with
 *
 *     timeout.tv_sec = 0;
 *     timeout.tv_usec = (u_int)-1;    // "no timer pending yet"
 *
 * and, when nothing lowers it, hands that straight to select(2).  On x86_64
 * tv_usec is a 64-bit long, so it arrives as 4294967295.  Old kernels/libcs
 * tolerated that; glibc 2.36 + current kernels reject it with EINVAL and
 * slirp exits right after printing "SLiRP Ready ...".
 *
 * The fix: wrap select() and replace any timeout the kernel would reject
 * (negative seconds, or microseconds outside [0, 1000000)) by 100 ms.  We
 * deliberately do NOT normalise 4294967295 us into ~71 minutes: slirp runs
 * its PPP timers (LCP/IPCP restart, CHAP rechallenge, ...) from this loop,
 * so it has to wake up regularly.  Valid timeouts, and NULL (block forever),
 * are passed through unchanged.  Only slirp is started with this preload.
 *
 * Build: cc -shared -fPIC -O2 -o slirp_shim.so slirp_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/select.h>
#include <sys/time.h>

typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

/* The replacement for an invalid timeout: 100 ms. */
#define SHIM_FALLBACK_USEC 100000

int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
           struct timeval *timeout)
{
    static select_fn real_select;
    if (real_select == NULL) {
        real_select = (select_fn)dlsym(RTLD_NEXT, "select");
        if (real_select == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }

    if (timeout != NULL &&
        (timeout->tv_sec < 0 || timeout->tv_usec < 0 ||
         timeout->tv_usec >= 1000000)) {
        /* Fix it in place: slirp recomputes the value every iteration, and
         * Linux's select() writes the remaining time back here anyway. */
        timeout->tv_sec = 0;
        timeout->tv_usec = SHIM_FALLBACK_USEC;
    }

    return real_select(nfds, readfds, writefds, exceptfds, timeout);
}
