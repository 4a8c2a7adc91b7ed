#pragma once
/* The KVM calls of the agent's small VMM (a VM running a guest program across the kexec):
 * memory slots, a vCPU, KVM_RUN and its kvm_run page, and the vCPU's registers. Layouts from
 * the uAPI's linux/kvm.h and asm/kvm.h (x86_64); the memory-slot call with a guest_memfd
 * (KVM_SET_USER_MEMORY_REGION2, Linux 6.8) is declared here with its 7.3 layout. Calls return
 * 0 (or a non-negative result) on success and -errno on failure. */
#include <stdint.h>
#include <stddef.h>

/* Sizes of struct kvm_regs and struct kvm_sregs, the vCPU state the agent saves. */
size_t hv_kvm_regs_size(void);
size_t hv_kvm_sregs_size(void);

int hv_kvm_vcpu_mmap_size(int kvm);
int hv_kvm_create_vcpu(int vm, unsigned long id);
int hv_kvm_set_memory(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host);
int hv_kvm_set_memory_guest_memfd(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host,
                                  int guest_memfd, uint64_t guest_memfd_offset);
/* The vCPU's shared kvm_run page, or NULL with errno set. */
void *hv_kvm_map_run(int vcpu, int size);
int hv_kvm_run(int vcpu);
void hv_kvm_set_immediate_exit(void *run, uint8_t value);

/* How the last KVM_RUN ended. */
struct hv_kvm_exit {
    uint32_t reason;
    /* KVM_EXIT_IO: */
    uint8_t direction; /* 1: out */
    uint8_t size;
    uint16_t port;
    uint32_t count;
    uint32_t value;    /* the first datum, for an out of size 1, 2 or 4 */
    /* KVM_EXIT_FAIL_ENTRY: the hardware's reason; KVM_EXIT_INTERNAL_ERROR: the suberror. */
    uint64_t detail;
};
void hv_kvm_exit_of(void *run, struct hv_kvm_exit *exit);

#define HV_KVM_EXIT_IO 2
#define HV_KVM_EXIT_HLT 5
#define HV_KVM_EXIT_SHUTDOWN 8
#define HV_KVM_EXIT_FAIL_ENTRY 9
#define HV_KVM_EXIT_INTR 10
#define HV_KVM_EXIT_INTERNAL_ERROR 17

int hv_kvm_get_regs(int vcpu, void *regs);
int hv_kvm_set_regs(int vcpu, const void *regs);
int hv_kvm_get_sregs(int vcpu, void *sregs);
int hv_kvm_set_sregs(int vcpu, const void *sregs);

/* Puts a new vCPU in 32-bit protected mode without paging: flat 4 GiB code and data
 * segments loaded straight into the segment registers (no GDT in guest memory), CR0.PE set. */
int hv_kvm_enter_flat32(int vcpu);
