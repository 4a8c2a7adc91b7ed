#define _GNU_SOURCE
#include "liveupdate_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/reboot.h>

#define LIVEUPDATE_IOCTL_TYPE 0xBA
#define HV_IO(nr) ((unsigned long)((LIVEUPDATE_IOCTL_TYPE << 8) | (nr)))

struct hv_luo_session_arg {
    uint32_t size;
    int32_t fd;
    uint8_t name[HV_LUO_NAME_MAX];
};

struct hv_luo_fd_arg {
    uint32_t size;
    int32_t fd;
    uint64_t token __attribute__((aligned(8)));
};

struct hv_luo_finish_arg {
    uint32_t size;
    uint32_t reserved;
};

struct hv_luo_get_name_arg {
    uint32_t size;
    uint32_t reserved;
    uint8_t name[HV_LUO_NAME_MAX];
};

static int result(long value) { return value < 0 ? -errno : (int)value; }

static int session_call(int devfd, unsigned long request, const char *name, int *out_fd) {
    struct hv_luo_session_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    arg.fd = -1;
    size_t length = strlen(name);
    if (length >= HV_LUO_NAME_MAX) return -ENAMETOOLONG;
    memcpy(arg.name, name, length);
    int rc = result(ioctl(devfd, request, &arg));
    if (rc == 0 && out_fd) *out_fd = arg.fd;
    return rc;
}

int hv_luo_create_session(int devfd, const char *name, int *out_fd) { return session_call(devfd, HV_IO(0x00), name, out_fd); }
int hv_luo_retrieve_session(int devfd, const char *name, int *out_fd) { return session_call(devfd, HV_IO(0x01), name, out_fd); }

int hv_luo_preserve_fd(int sessionfd, int fd, uint64_t token) {
    struct hv_luo_fd_arg arg = { .size = sizeof(arg), .fd = fd, .token = token };
    return result(ioctl(sessionfd, HV_IO(0x40), &arg));
}

int hv_luo_retrieve_fd(int sessionfd, uint64_t token, int *out_fd) {
    struct hv_luo_fd_arg arg = { .size = sizeof(arg), .fd = -1, .token = token };
    int rc = result(ioctl(sessionfd, HV_IO(0x41), &arg));
    if (rc == 0 && out_fd) *out_fd = arg.fd;
    return rc;
}

int hv_luo_finish(int sessionfd, uint32_t reserved) {
    struct hv_luo_finish_arg arg = { .size = sizeof(arg), .reserved = reserved };
    return result(ioctl(sessionfd, HV_IO(0x42), &arg));
}

int hv_luo_get_name(int sessionfd, char *name, size_t capacity) {
    struct hv_luo_get_name_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    int rc = result(ioctl(sessionfd, HV_IO(0x43), &arg));
    if (rc == 0 && capacity > 0) {
        size_t n = strnlen((const char *)arg.name, HV_LUO_NAME_MAX);
        if (n >= capacity) n = capacity - 1;
        memcpy(name, arg.name, n);
        name[n] = 0;
    }
    return rc;
}

int hv_memfd_create(const char *name, unsigned int flags) { return result(syscall(SYS_memfd_create, name, flags)); }
int hv_add_seals(int fd, int seals) { return result(fcntl(fd, F_ADD_SEALS, seals)); }
int hv_get_seals(int fd) { return result(fcntl(fd, F_GET_SEALS)); }
int hv_get_status_flags(int fd) { return result(fcntl(fd, F_GETFL)); }
int hv_get_fd_flags(int fd) { return result(fcntl(fd, F_GETFD)); }

int hv_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -errno;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return result(fcntl(fd, F_SETFD, flags));
}

int hv_kexec_file_load(int kernel_fd, int initrd_fd, const char *cmdline) {
    unsigned long length = strlen(cmdline) + 1;
    return result(syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, length, cmdline, 0UL));
}

int hv_reboot(unsigned int cmd) {
    return result(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, NULL));
}

unsigned int hv_reboot_cmd_kexec(void) { return LINUX_REBOOT_CMD_KEXEC; }

uint64_t hv_counter_ticks(void) {
#if defined(__x86_64__)
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t)high << 32) | low;
#elif defined(__aarch64__)
    uint64_t value;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(value) :: "memory");
    return value;
#else
#error "no counter for this architecture"
#endif
}

uint64_t hv_counter_hertz(void) {
#if defined(__aarch64__)
    uint64_t value;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(value));
    return value;
#else
    return 0;
#endif
}
unsigned int hv_reboot_cmd_restart(void) { return LINUX_REBOOT_CMD_RESTART; }
unsigned int hv_reboot_cmd_power_off(void) { return LINUX_REBOOT_CMD_POWER_OFF; }

int hv_mount(const char *source, const char *target, const char *type) {
    return result(mount(source, target, type, 0, NULL));
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

hv_digest hv_hash(const uint8_t *data, size_t len, uint64_t seed) {
    const uint64_t p1 = 0x9e3779b97f4a7c15ULL, p2 = 0xc2b2ae3d27d4eb4fULL;
    uint64_t a = seed ^ p1, b = ~seed ^ p2;
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, data + i * 8, 8);
        a = rotl((a ^ w) * p1, 29);
        b = rotl((b + w) * p2, 31);
    }
    uint64_t tail = 0;
    size_t rest = len % 8;
    if (rest) {
        memcpy(&tail, data + words * 8, rest);
        a = rotl((a ^ tail) * p1, 29);
        b = rotl((b + tail) * p2, 31);
    }
    a ^= len; b ^= (uint64_t)len * p1;
    /* (a, b) -> (a, b ^ rotl(a)) is a bijection, and so is mix64: a change of a alone shows. */
    hv_digest d = { mix64(a), mix64(b ^ rotl(a, 17)) };
    return d;
}

int hv_finit_module(int fd) {
    return result(syscall(SYS_finit_module, fd, "", 0));
}
