#pragma once
/* The C library as the Embedded Swift agent sees it (Embedded Swift has no Glibc module):
 * exactly the headers the agent calls into. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* errno is a macro over a thread-local location; Swift cannot read the macro. */
static inline int hv_errno(void) { return errno; }

/* open and fcntl are variadic in C, which Swift cannot call. */
static inline int hv_open(const char *path, int flags) { return open(path, flags); }
static inline int hv_open_mode(const char *path, int flags, unsigned int mode) { return open(path, flags, (mode_t)mode); }
static inline int hv_fcntl(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

static inline int hv_raise_file_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -errno;
    limit.rlim_cur = limit.rlim_max;
    return setrlimit(RLIMIT_NOFILE, &limit) == 0 ? 0 : -errno;
}
