#pragma once
/* The IOMMU preservation series ("iommufd-lu", Samiullah Khawaja, posted 2026-02-03 as
 * [PATCH 00/14]): the uAPI it adds to include/uapi/linux/iommufd.h. Not in mainline. Its
 * command number 0x95 is IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA in Linux 7.3, so this ioctl must only
 * be issued on a kernel that carries the series. A new revision of the series changes this file
 * (and the revision name the runner matches, in HandoverCore's SeriesCatalog). */
#include <stdint.h>

#define HV_IOMMUFD_LU_2026_02_CMD_HWPT_SET_PRESERVE 0x95

/* IOMMU_HWPT_LU_SET_PRESERVE: mark a HWPT to be preserved with the iommufd, under a token. */
int hv_iommufd_lu_2026_02_set_preserve(int iommufd, uint32_t hwpt_id, uint32_t hwpt_token);
