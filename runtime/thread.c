/* thread.c -- kr_thread_start (internal.h): every thread of the runtime is
 * started with the asynchronous signals blocked, so that SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE are always handled by the thread that runs the
 * command.  The CLI's handler removes the files a command has registered;
 * run on another thread, it could remove them while the command's thread
 * goes on and creates one of them (an output it opens) before the process
 * ends.
 */
#include <signal.h>
#include "internal.h"

int kr_thread_start(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    sigset_t set, old;
    sigfillset(&set);
    /* faults stay deliverable where they happen (a sanitizer's report) */
    const int sync[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS };
    for (size_t i = 0; i < sizeof sync / sizeof sync[0]; i++) sigdelset(&set, sync[i]);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = pthread_create(th, attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
