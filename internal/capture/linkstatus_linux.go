package capture

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InterfaceLinkStatus asks the interface's driver for its link as libpcap
// does (SIOCETHTOOL ETHTOOL_GLINK): unsupported is not applicable, no
// such device unknown.
func InterfaceLinkStatus(name string) LinkStatus {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return LinkStatusUnknown
	}
	defer unix.Close(fd)
	value := &struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GLINK}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte // the rest of struct ifreq's union
	}
	if len(name) >= unix.IFNAMSIZ {
		return LinkStatusUnknown
	}
	copy(ifr.name[:], name)
	ifr.data = uintptr(unsafe.Pointer(value))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(value)
	switch {
	case errno == 0 && value.data != 0:
		return LinkConnected
	case errno == 0:
		return LinkDisconnected
	case errors.Is(errno, unix.EOPNOTSUPP), errors.Is(errno, unix.EINVAL):
		return LinkStatusNotApplicable
	}
	return LinkStatusUnknown
}
