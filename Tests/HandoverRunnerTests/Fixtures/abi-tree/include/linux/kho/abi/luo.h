/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fake Live Update Orchestrator ABI header for the handover tests.
 *
 * The compatible string below names the format of the LUO data; a kernel
 * refuses data whose compatible string it does not know.
 * #define NOT_A_REAL_COMPATIBLE "in-a-comment-v9"
 */
#ifndef _LINUX_KHO_ABI_LUO_H
#define _LINUX_KHO_ABI_LUO_H

#define LUO_ABI_COMPATIBLE "luo-v5"
#define LUO_SESSION_COMPATIBLE	"luo-session-v1"
/* Test strings are built at compile time and are not handover formats. */
#define LUO_TEST_COMPATIBLE(i) "luo-test-v" #i
#define LUO_FDT_SIZE 4096

#endif /* _LINUX_KHO_ABI_LUO_H */
