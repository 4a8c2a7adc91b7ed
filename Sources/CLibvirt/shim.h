// libvirt's C API for the libvirt backend (HandoverLibvirt). Host side only: libvirt cannot
// be linked statically, so it stays out of the guest agent.
#ifndef HANDOVER_CLIBVIRT_SHIM_H
#define HANDOVER_CLIBVIRT_SHIM_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#endif
