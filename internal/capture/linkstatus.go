package capture

// LinkStatus is whether an interface is plugged into a network, as
// libpcap reports it in pcap_findalldevs (and tcpdump -D prints it).
type LinkStatus int

const (
	// LinkStatusUnknown: the driver could not be asked.
	LinkStatusUnknown LinkStatus = iota
	// LinkConnected: the link is up (ETHTOOL_GLINK says so).
	LinkConnected
	// LinkDisconnected: the link is down.
	LinkDisconnected
	// LinkStatusNotApplicable: loopback, or a driver without link
	// status (ETHTOOL_GLINK unsupported).
	LinkStatusNotApplicable
)
