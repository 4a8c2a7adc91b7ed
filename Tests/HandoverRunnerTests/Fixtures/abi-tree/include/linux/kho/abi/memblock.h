/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_KHO_ABI_MEMBLOCK_H
#define _LINUX_KHO_ABI_MEMBLOCK_H

// reserve_mem regions: compatible string of each node
#define RESERVE_MEM_KHO_NODE_COMPATIBLE "reserve-mem-v1"
#define MEMBLOCK_KHO_FDT "memblock"

#endif
