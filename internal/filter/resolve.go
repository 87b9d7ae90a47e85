package filter

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
)

// Resolver looks up the addresses of a host name, as libpcap's
// pcap_nametoaddrinfo does through getaddrinfo. *net.Resolver satisfies
// it (net.DefaultResolver reads /etc/hosts, then asks DNS).
type Resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// The files libpcap reads through getnetbyname and ether_hostton; tests
// point them elsewhere.
var (
	networksPath = "/etc/networks"
	ethersPath   = "/etc/ethers"
)

// names resolves the names in one expression, once for all the programs
// Compile generates from it.
type names struct {
	ctx      context.Context
	resolver Resolver
	hosts    map[string][]net.IP
	hostErr  map[string]error
}

func newNames(ctx context.Context, r Resolver) *names {
	if r == nil {
		r = net.DefaultResolver
	}
	return &names{ctx: ctx, resolver: r, hosts: map[string][]net.IP{}, hostErr: map[string]error{}}
}

// host returns the addresses of name (IPv4 ones as 4 bytes), in the
// resolver's order without duplicates, or fails with "unknown host".
func (n *names) host(name string) []net.IP {
	if ips, ok := n.hosts[name]; ok {
		return ips
	}
	if err, ok := n.hostErr[name]; ok {
		panic(err)
	}
	ips, err := n.resolver.LookupIP(n.ctx, "ip", name)
	var out []net.IP
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		} else if len(ip) != net.IPv6len {
			continue
		}
		dup := false
		for _, o := range out {
			if o.Equal(ip) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, ip)
		}
	}
	if len(out) == 0 {
		ce := &compileError{msg: "filter: unknown host '" + name + "'"}
		var dnsErr *net.DNSError
		if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
			// Not an answer that the name does not exist (a timeout, a
			// cancelled context): keep the cause reachable.
			ce.msg += ": " + err.Error()
			ce.err = err
		}
		n.hostErr[name] = ce
		panic(ce)
	}
	n.hosts[name] = out
	return out
}

// network returns the network number of name in /etc/networks as
// getnetbyname does (host byte order, as inet_network parses it), or 0
// if it has none (libpcap's pcap_nametonetaddr).
func network(name string) uint32 {
	f, err := os.Open(networksPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		match := strings.EqualFold(fields[0], name)
		for _, alias := range fields[2:] {
			match = match || strings.EqualFold(alias, name)
		}
		if !match {
			continue
		}
		v, ok := inetNetwork(fields[1])
		if !ok {
			continue
		}
		return v
	}
	return 0
}

// inetNetwork parses a network number as inet_network(3): one to four
// parts separated by dots, each decimal, octal (leading 0) or hex (0x),
// each at most 255, combined most significant first.
func inetNetwork(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, false
	}
	var v uint32
	for _, p := range parts {
		if p == "" {
			return 0, false
		}
		x, err := strconv.ParseUint(p, 0, 32)
		if err != nil || x > 255 {
			return 0, false
		}
		v = v<<8 | uint32(x)
	}
	return v, true
}

// etherHost returns the MAC address of name in /etc/ethers, as
// ether_hostton(3) (libpcap's pcap_ether_hostton), or nil.
func etherHost(name string) []byte {
	f, err := os.Open(ethersPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[1], name) {
			continue
		}
		if mac := parseEther(fields[0]); mac != nil {
			return mac
		}
	}
	return nil
}

// parseEther parses a MAC address as ether_aton(3): six hex numbers of
// one or two digits separated by colons.
func parseEther(s string) []byte {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil
	}
	mac := make([]byte, 6)
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return nil
		}
		x, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil
		}
		mac[i] = byte(x)
	}
	return mac
}
