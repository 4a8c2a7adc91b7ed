#pragma once
/* Kernel interfaces the guest agent needs that Swift cannot call directly: variadic ioctl
 * and fcntl, raw syscalls glibc has no wrapper for, and the hot loops (fill, hash) that must
 * run at C speed even in a debug build. The /dev/liveupdate structs follow
 * include/uapi/linux/liveupdate.h (type 0xBA, _IO numbers, every struct starts with size). */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define HV_LUO_NAME_MAX 64

/* Each call returns 0 (or a non-negative result) on success and -errno on failure. */
int hv_luo_create_session(int devfd, const char *name, int *out_fd);
int hv_luo_retrieve_session(int devfd, const char *name, int *out_fd);
int hv_luo_preserve_fd(int sessionfd, int fd, uint64_t token);
int hv_luo_retrieve_fd(int sessionfd, uint64_t token, int *out_fd);
int hv_luo_finish(int sessionfd, uint32_t reserved);
int hv_luo_get_name(int sessionfd, char *name, size_t capacity);

int hv_memfd_create(const char *name, unsigned int flags);
int hv_add_seals(int fd, int seals);
int hv_get_seals(int fd);
int hv_get_status_flags(int fd);
int hv_get_fd_flags(int fd);
int hv_set_cloexec(int fd, int on);

int hv_kexec_file_load(int kernel_fd, int initrd_fd, const char *cmdline);
/* finit_module(fd, "", 0); 0 or -errno. */
int hv_finit_module(int fd);
int hv_reboot(unsigned int cmd);
/* LINUX_REBOOT_CMD_* values, so Swift need not import linux/reboot.h. */
unsigned int hv_reboot_cmd_kexec(void);
unsigned int hv_reboot_cmd_restart(void);
unsigned int hv_reboot_cmd_power_off(void);

int hv_mount(const char *source, const char *target, const char *type);

/* The CPU's free-running counter: x86 rdtsc, arm64 CNTVCT_EL0 (after an isb, so it is not
 * read early). Its frequency: arm64 CNTFRQ_EL0; 0 on x86, which declares none. */
uint64_t hv_counter_ticks(void);
uint64_t hv_counter_hertz(void);

/* A 128-bit digest of a chunk. Each step is a bijection of the state for a fixed input
 * word, so any change confined to one 64-bit word always changes the digest; other changes
 * are caught with probability 1 - 2^-128. Not cryptographic: it detects corruption, not tampering. */
typedef struct { uint64_t lo, hi; } hv_digest;
hv_digest hv_hash(const uint8_t *data, size_t len, uint64_t seed);

#include "devices_shim.h"
#include "series_iommufd_lu.h"
