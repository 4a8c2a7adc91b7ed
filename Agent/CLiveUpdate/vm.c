#define _GNU_SOURCE
#include "vm_shim.h"

#if defined(__x86_64__)

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int result(long value) { return value < 0 ? -errno : (int)value; }

/* include/uapi/linux/kvm.h in 7.3. */
struct hv_userspace_memory_region2 {
    uint32_t slot, flags;
    uint64_t guest_phys_addr, memory_size, userspace_addr, guest_memfd_offset;
    uint32_t guest_memfd, pad1;
    uint64_t pad2[14];
};
#define HV_KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct hv_userspace_memory_region2)
#define HV_KVM_MEM_GUEST_MEMFD (1U << 2)

size_t hv_kvm_regs_size(void) { return sizeof(struct kvm_regs); }
size_t hv_kvm_sregs_size(void) { return sizeof(struct kvm_sregs); }

int hv_kvm_vcpu_mmap_size(int kvm) { return result(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)); }
int hv_kvm_create_vcpu(int vm, unsigned long id) { return result(ioctl(vm, KVM_CREATE_VCPU, id)); }

int hv_kvm_set_memory(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host) {
    struct kvm_userspace_memory_region region = {
        .slot = slot, .guest_phys_addr = guest_physical, .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    return result(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region));
}

int hv_kvm_set_memory_guest_memfd(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host,
                                  int guest_memfd, uint64_t guest_memfd_offset) {
    struct hv_userspace_memory_region2 region;
    memset(&region, 0, sizeof region);
    region.slot = slot;
    region.flags = HV_KVM_MEM_GUEST_MEMFD;
    region.guest_phys_addr = guest_physical;
    region.memory_size = size;
    region.userspace_addr = (uint64_t)(uintptr_t)host;
    region.guest_memfd = (uint32_t)guest_memfd;
    region.guest_memfd_offset = guest_memfd_offset;
    return result(ioctl(vm, HV_KVM_SET_USER_MEMORY_REGION2, &region));
}

void *hv_kvm_map_run(int vcpu, int size) {
    void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    return run == MAP_FAILED ? NULL : run;
}

int hv_kvm_run(int vcpu) { return result(ioctl(vcpu, KVM_RUN, 0)); }

void hv_kvm_set_immediate_exit(void *run, uint8_t value) { ((struct kvm_run *)run)->immediate_exit = value; }

void hv_kvm_exit_of(void *run_page, struct hv_kvm_exit *exit) {
    const struct kvm_run *run = run_page;
    memset(exit, 0, sizeof *exit);
    exit->reason = run->exit_reason;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        exit->direction = run->io.direction;
        exit->size = run->io.size;
        exit->port = run->io.port;
        exit->count = run->io.count;
        const uint8_t *data = (const uint8_t *)run_page + run->io.data_offset;
        uint32_t value = 0;
        if (run->io.size <= sizeof value) memcpy(&value, data, run->io.size);
        exit->value = value;
        break;
    }
    case KVM_EXIT_FAIL_ENTRY:
        exit->detail = run->fail_entry.hardware_entry_failure_reason;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        exit->detail = run->internal.suberror;
        break;
    }
}

int hv_kvm_get_regs(int vcpu, void *regs) { return result(ioctl(vcpu, KVM_GET_REGS, regs)); }
int hv_kvm_set_regs(int vcpu, const void *regs) { return result(ioctl(vcpu, KVM_SET_REGS, regs)); }
int hv_kvm_get_sregs(int vcpu, void *sregs) { return result(ioctl(vcpu, KVM_GET_SREGS, sregs)); }
int hv_kvm_set_sregs(int vcpu, const void *sregs) { return result(ioctl(vcpu, KVM_SET_SREGS, sregs)); }

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type) {
    struct kvm_segment segment = {
        .base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
        .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
    };
    return segment;
}

int hv_kvm_enter_flat32(int vcpu) {
    struct kvm_sregs sregs;
    int rc = hv_kvm_get_sregs(vcpu, &sregs);
    if (rc < 0) return rc;
    sregs.cs = flat_segment(0x08, 0x0b);  /* code: execute/read, accessed */
    struct kvm_segment data = flat_segment(0x10, 0x03);  /* data: read/write, accessed */
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 |= 0x1;  /* PE */
    sregs.cr0 &= ~(1ULL << 31);  /* PG */
    return hv_kvm_set_sregs(vcpu, &sregs);
}

#else
/* The agent's VMM runs an x86 real/protected-mode guest program: its registers, segments and
 * port I/O exits exist only in x86's KVM uAPI. On other architectures every call fails with
 * EOPNOTSUPP (the runner refuses vm scenarios there before anything boots), so nothing can
 * pretend a VM ran. */
#include <errno.h>
#include <string.h>

size_t hv_kvm_regs_size(void) { return 0; }
size_t hv_kvm_sregs_size(void) { return 0; }
int hv_kvm_vcpu_mmap_size(int kvm) { (void)kvm; return -EOPNOTSUPP; }
int hv_kvm_create_vcpu(int vm, unsigned long id) { (void)vm; (void)id; return -EOPNOTSUPP; }
int hv_kvm_set_memory(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host) {
    (void)vm; (void)slot; (void)guest_physical; (void)size; (void)host; return -EOPNOTSUPP;
}
int hv_kvm_set_memory_guest_memfd(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host,
                                  int guest_memfd, uint64_t guest_memfd_offset) {
    (void)vm; (void)slot; (void)guest_physical; (void)size; (void)host; (void)guest_memfd; (void)guest_memfd_offset;
    return -EOPNOTSUPP;
}
void *hv_kvm_map_run(int vcpu, int size) { (void)vcpu; (void)size; errno = EOPNOTSUPP; return NULL; }
int hv_kvm_run(int vcpu) { (void)vcpu; return -EOPNOTSUPP; }
void hv_kvm_set_immediate_exit(void *run, uint8_t value) { (void)run; (void)value; }
void hv_kvm_exit_of(void *run, struct hv_kvm_exit *exit) { (void)run; memset(exit, 0, sizeof *exit); }
int hv_kvm_get_regs(int vcpu, void *regs) { (void)vcpu; (void)regs; return -EOPNOTSUPP; }
int hv_kvm_set_regs(int vcpu, const void *regs) { (void)vcpu; (void)regs; return -EOPNOTSUPP; }
int hv_kvm_get_sregs(int vcpu, void *sregs) { (void)vcpu; (void)sregs; return -EOPNOTSUPP; }
int hv_kvm_set_sregs(int vcpu, const void *sregs) { (void)vcpu; (void)sregs; return -EOPNOTSUPP; }
int hv_kvm_enter_flat32(int vcpu) { (void)vcpu; return -EOPNOTSUPP; }
#endif
