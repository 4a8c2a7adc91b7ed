#pragma once
/* The mainline uAPI the iommufd and guest_memfd drivers use: iommufd (include/uapi/linux/iommufd.h),
 * VFIO device cdevs (vfio.h) and KVM (kvm.h), with layouts and numbers as in Linux 7.3. The
 * numbers of live update ioctls that are only in patch series live in series_*.h, one file per
 * series. Every call returns 0 (or a non-negative result) on success and -errno on failure. */
#include <stdint.h>
#include <stddef.h>

int hv_iommufd_ioas_alloc(int iommufd, uint32_t *out_ioas_id);
int hv_iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t *out_hwpt_id);
/* IOMMU_IOAS_MAP_FILE at a fixed IOVA, readable and writeable. */
int hv_iommufd_map_file(int iommufd, uint32_t ioas_id, int fd, uint64_t start, uint64_t length, uint64_t iova);
int hv_iommufd_unmap(int iommufd, uint32_t ioas_id, uint64_t iova, uint64_t length, uint64_t *out_length);
int hv_iommufd_destroy(int iommufd, uint32_t id);

int hv_vfio_bind_iommufd(int cdev, int iommufd, uint32_t *out_dev_id);
int hv_vfio_attach_pt(int cdev, uint32_t pt_id);
int hv_vfio_detach_pt(int cdev);

int hv_kvm_api_version(int kvm);
int hv_kvm_check_extension(int fd, long capability);
int hv_kvm_create_vm(int kvm, unsigned long type);
int hv_kvm_create_guest_memfd(int vm, uint64_t size, uint64_t flags);

#define HV_KVM_CAP_GUEST_MEMFD 234
#define HV_KVM_CAP_GUEST_MEMFD_FLAGS 244
#define HV_GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define HV_GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)

/* A shared read-write mapping of [0, length) of fd, or NULL with errno set. */
void *hv_map_shared(int fd, size_t length);
int hv_unmap(void *address, size_t length);
