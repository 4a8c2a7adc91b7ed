/* SPDX-License-Identifier: GPL-2.0 */
/* Fake memfd preservation ABI; compatible with nothing but itself. */
#ifndef _LINUX_KHO_ABI_MEMFD_H
#define _LINUX_KHO_ABI_MEMFD_H

# define MEMFD_LUO_FH_COMPATIBLE "memfd-v2"
#define MEMFD_COMPATIBLE_NOTE compatible

#endif
