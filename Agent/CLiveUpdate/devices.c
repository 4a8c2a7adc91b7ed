#define _GNU_SOURCE
#include "devices_shim.h"
#include "series_iommufd_lu.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define IOMMUFD_TYPE ';'
#define VFIO_TYPE ';'
#define VFIO_BASE 100
#define KVMIO 0xAE
#define IO_NR(type, nr) ((unsigned long)(((type) << 8) | (nr)))

static int result(long value) { return value < 0 ? -errno : (int)value; }

struct iommu_ioas_alloc_arg { uint32_t size, flags, out_ioas_id; };

struct iommu_hwpt_alloc_arg {
    uint32_t size, flags, dev_id, pt_id, out_hwpt_id, reserved, data_type, data_len;
    uint64_t data_uptr __attribute__((aligned(8)));
    uint32_t fault_id, reserved2;
};

struct iommu_ioas_map_file_arg {
    uint32_t size, flags, ioas_id;
    int32_t fd;
    uint64_t start __attribute__((aligned(8)));
    uint64_t length __attribute__((aligned(8)));
    uint64_t iova __attribute__((aligned(8)));
};

struct iommu_ioas_unmap_arg {
    uint32_t size, ioas_id;
    uint64_t iova __attribute__((aligned(8)));
    uint64_t length __attribute__((aligned(8)));
};

struct iommu_destroy_arg { uint32_t size, id; };

struct vfio_bind_iommufd_arg {
    uint32_t argsz, flags;
    int32_t iommufd;
    uint32_t out_devid;
    uint64_t token_uuid_ptr __attribute__((aligned(8)));
};

struct vfio_attach_pt_arg { uint32_t argsz, flags, pt_id, pasid; };
struct vfio_detach_pt_arg { uint32_t argsz, flags, pasid; };

struct kvm_create_guest_memfd_arg { uint64_t size, flags, reserved[6]; };

struct iommu_hwpt_lu_2026_02_set_preserve_arg { uint32_t size, hwpt_id, hwpt_token; };

enum { MAP_FIXED_IOVA = 1 << 0, MAP_WRITEABLE = 1 << 1, MAP_READABLE = 1 << 2 };

int hv_iommufd_ioas_alloc(int iommufd, uint32_t *out_ioas_id) {
    struct iommu_ioas_alloc_arg arg = { .size = sizeof(arg) };
    int rc = result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, 0x81), &arg));
    if (rc == 0) *out_ioas_id = arg.out_ioas_id;
    return rc;
}

int hv_iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t *out_hwpt_id) {
    struct iommu_hwpt_alloc_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    arg.dev_id = dev_id;
    arg.pt_id = pt_id;
    int rc = result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, 0x89), &arg));
    if (rc == 0) *out_hwpt_id = arg.out_hwpt_id;
    return rc;
}

int hv_iommufd_map_file(int iommufd, uint32_t ioas_id, int fd, uint64_t start, uint64_t length, uint64_t iova) {
    struct iommu_ioas_map_file_arg arg = {
        .size = sizeof(arg), .flags = MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE,
        .ioas_id = ioas_id, .fd = fd, .start = start, .length = length, .iova = iova,
    };
    return result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, 0x8f), &arg));
}

int hv_iommufd_unmap(int iommufd, uint32_t ioas_id, uint64_t iova, uint64_t length, uint64_t *out_length) {
    struct iommu_ioas_unmap_arg arg = { .size = sizeof(arg), .ioas_id = ioas_id, .iova = iova, .length = length };
    int rc = result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, 0x86), &arg));
    if (rc == 0 && out_length) *out_length = arg.length;
    return rc;
}

int hv_iommufd_destroy(int iommufd, uint32_t id) {
    struct iommu_destroy_arg arg = { .size = sizeof(arg), .id = id };
    return result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, 0x80), &arg));
}

int hv_vfio_bind_iommufd(int cdev, int iommufd, uint32_t *out_dev_id) {
    struct vfio_bind_iommufd_arg arg = { .argsz = sizeof(arg), .iommufd = iommufd };
    int rc = result(ioctl(cdev, IO_NR(VFIO_TYPE, VFIO_BASE + 18), &arg));
    if (rc == 0) *out_dev_id = arg.out_devid;
    return rc;
}

int hv_vfio_attach_pt(int cdev, uint32_t pt_id) {
    struct vfio_attach_pt_arg arg = { .argsz = sizeof(arg), .pt_id = pt_id };
    return result(ioctl(cdev, IO_NR(VFIO_TYPE, VFIO_BASE + 19), &arg));
}

int hv_vfio_detach_pt(int cdev) {
    struct vfio_detach_pt_arg arg = { .argsz = sizeof(arg) };
    return result(ioctl(cdev, IO_NR(VFIO_TYPE, VFIO_BASE + 20), &arg));
}

int hv_kvm_api_version(int kvm) { return result(ioctl(kvm, IO_NR(KVMIO, 0x00), 0)); }
int hv_kvm_check_extension(int fd, long capability) { return result(ioctl(fd, IO_NR(KVMIO, 0x03), capability)); }
int hv_kvm_create_vm(int kvm, unsigned long type) { return result(ioctl(kvm, IO_NR(KVMIO, 0x01), type)); }

int hv_kvm_create_guest_memfd(int vm, uint64_t size, uint64_t flags) {
    struct kvm_create_guest_memfd_arg arg = { .size = size, .flags = flags };
    return result(ioctl(vm, _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd_arg), &arg));
}

void *hv_map_shared(int fd, size_t length) {
    void *address = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return address == MAP_FAILED ? NULL : address;
}

int hv_unmap(void *address, size_t length) { return result(munmap(address, length)); }

int hv_iommufd_lu_2026_02_set_preserve(int iommufd, uint32_t hwpt_id, uint32_t hwpt_token) {
    struct iommu_hwpt_lu_2026_02_set_preserve_arg arg = { .size = sizeof(arg), .hwpt_id = hwpt_id, .hwpt_token = hwpt_token };
    return result(ioctl(iommufd, IO_NR(IOMMUFD_TYPE, HV_IOMMUFD_LU_2026_02_CMD_HWPT_SET_PRESERVE), &arg));
}
