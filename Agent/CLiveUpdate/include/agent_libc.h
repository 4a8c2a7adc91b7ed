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
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* errno is a macro over a thread-local location; Swift cannot read the macro. */
static inline int hv_errno(void) { return errno; }

/* open and fcntl are variadic in C, which Swift cannot call. */
static inline int hv_open(const char *path, int flags) { return open(path, flags); }
static inline int hv_open_mode(const char *path, int flags, unsigned int mode) { return open(path, flags, (mode_t)mode); }
static inline int hv_fcntl(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

/* The agent's channel is a serial port (ttyS1): raw bytes both ways, no modem control, and
 * blocking reads. Opened non-blocking so a missing carrier cannot hang the open. */
static inline int hv_open_serial(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct termios t;
    if (tcgetattr(fd, &t) != 0) { int e = errno; close(fd); return -e; }
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~CRTSCTS;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetspeed(&t, B115200);
    if (tcsetattr(fd, TCSANOW, &t) != 0 || fcntl(fd, F_SETFL, 0) != 0) { int e = errno; close(fd); return -e; }
    return fd;
}

/* Waits until everything written has left the UART: a line written just before the kexec
 * must not be cut off by the new kernel resetting the port. */
static inline int hv_drain(int fd) { return tcdrain(fd) == 0 ? 0 : -errno; }

static inline int hv_raise_file_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -errno;
    limit.rlim_cur = limit.rlim_max;
    return setrlimit(RLIMIT_NOFILE, &limit) == 0 ? 0 : -errno;
}
