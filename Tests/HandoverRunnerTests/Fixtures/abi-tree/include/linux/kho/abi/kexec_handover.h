/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fake Kexec HandOver ABI header. "compatible" appears in this comment
 * and must not be taken for a format string.
 */
#ifndef _LINUX_KHO_ABI_KEXEC_HANDOVER_H
#define _LINUX_KHO_ABI_KEXEC_HANDOVER_H

#define KHO_FDT_COMPATIBLE "kho-v4"
#define KHO_X_COMPATIBLE(i) "x-v" #i

#endif
