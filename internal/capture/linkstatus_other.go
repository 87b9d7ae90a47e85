//go:build !linux

package capture

// InterfaceLinkStatus is unknown where libpcap's Linux query is not.
func InterfaceLinkStatus(string) LinkStatus { return LinkStatusUnknown }
